//! The orders whose Redis write failed, kept until Redis answers again. Up to a limit they
//! are kept whole and written as they are; beyond it only their ids are kept (16 bytes each)
//! and their rows are read from PostgreSQL when Redis is back; beyond ten times the limit
//! the ids are dropped, counted (`orderflow_processor_faults_total{kind="cache_backlog"}`),
//! and such an order may be served at an older version until its next write or the
//! partition's next assignment, whose relay rewrites the orders flagged `cache_pending`
//! (which also covers a backlog lost with its process).

use std::collections::{HashMap, HashSet};

use crate::domain::{Order, OrderId};

/// Ids kept per whole order allowed.
const IDS_PER_ORDER: usize = 10;

pub(super) struct CacheBacklog {
    orders: HashMap<OrderId, Order>,
    ids: HashSet<OrderId>,
    orders_limit: usize,
}

/// What to write to Redis: orders as they are, and ids whose rows must be read first.
#[derive(Default)]
pub(super) struct Pending {
    pub orders: HashMap<OrderId, Order>,
    pub ids: HashSet<OrderId>,
}

impl CacheBacklog {
    pub(super) fn new(orders_limit: usize) -> Self {
        Self {
            orders: HashMap::new(),
            ids: HashSet::new(),
            orders_limit,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.ids.is_empty()
    }

    /// Up to `n` whole orders and, beyond them, ids up to `n` in all, removed from the backlog.
    pub(super) fn take_chunk(&mut self, n: usize) -> Pending {
        let whole: Vec<OrderId> = self.orders.keys().take(n).copied().collect();
        let orders: HashMap<OrderId, Order> = whole
            .iter()
            .filter_map(|id| self.orders.remove_entry(id))
            .collect();
        let rest = n.saturating_sub(orders.len());
        let ids: HashSet<OrderId> = self.ids.iter().take(rest).copied().collect();
        for id in &ids {
            self.ids.remove(id);
        }
        Pending { orders, ids }
    }

    /// Forgets what Redis now holds at these versions or newer: whole orders at an older or
    /// equal version, and ids (the batch wrote the newest row this owner committed). Returns
    /// each forgotten order with the version written.
    pub(super) fn forget_written(&mut self, written: &[Order]) -> Vec<(OrderId, u64)> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut forgotten = Vec::new();
        for order in written {
            let id = order.order_id;
            let whole = self
                .orders
                .get(&id)
                .is_some_and(|kept| kept.version <= order.version);
            if whole {
                self.orders.remove(&id);
            }
            if self.ids.remove(&id) || whole {
                forgotten.push((id, order.version));
            }
        }
        forgotten
    }

    /// Keeps what could not be written; returns how many orders were dropped.
    pub(super) fn keep(&mut self, pending: Pending) -> usize {
        for (id, order) in pending.orders {
            let newer = self
                .orders
                .get(&id)
                .is_none_or(|b| b.version < order.version);
            if !newer {
                continue;
            }
            if self.orders.len() < self.orders_limit || self.orders.contains_key(&id) {
                self.ids.remove(&id);
                self.orders.insert(id, order);
            } else {
                self.ids.insert(id);
            }
        }
        for id in pending.ids {
            if !self.orders.contains_key(&id) {
                self.ids.insert(id);
            }
        }
        let ids_limit = self.orders_limit.saturating_mul(IDS_PER_ORDER);
        let over = self.ids.len().saturating_sub(ids_limit);
        if over > 0 {
            let dropped: Vec<OrderId> = self.ids.iter().take(over).copied().collect();
            for id in &dropped {
                self.ids.remove(id);
            }
        }
        over
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderStatus;
    use crate::domain::samples::order_in;

    fn order(version_bumps: u64) -> Order {
        let mut order = order_in(OrderStatus::Pending);
        order.version += version_bumps;
        order
    }

    fn pending(orders: &[Order]) -> Pending {
        Pending {
            orders: orders.iter().map(|o| (o.order_id, o.clone())).collect(),
            ids: HashSet::new(),
        }
    }

    #[test]
    fn orders_beyond_the_limit_are_kept_as_ids_and_beyond_ten_times_dropped_and_counted() {
        let mut backlog = CacheBacklog::new(2);
        let orders: Vec<Order> = (0..25).map(|_| order(0)).collect();
        let dropped = backlog.keep(pending(&orders));
        assert_eq!(dropped, 3, "25 orders: 2 whole, 20 ids, 3 dropped");
        let first = backlog.take_chunk(15);
        assert_eq!(
            (first.orders.len(), first.ids.len()),
            (2, 13),
            "whole orders first"
        );
        let rest = backlog.take_chunk(15);
        assert_eq!((rest.orders.len(), rest.ids.len()), (0, 7));
        assert!(backlog.is_empty());
    }

    #[test]
    fn an_order_written_at_a_newer_version_leaves_the_backlog_and_an_older_write_does_not() {
        let mut backlog = CacheBacklog::new(10);
        let (a, b) = (order(1), order(0));
        backlog.keep(pending(&[a.clone(), b.clone()]));
        let mut a_newer = a.clone();
        a_newer.version += 1;
        let mut b_older = b.clone();
        b_older.version -= 1;
        let forgotten = backlog.forget_written(&[a_newer.clone(), b_older]);
        assert_eq!(forgotten, [(a.order_id, a_newer.version)]);
        let left = backlog.take_chunk(usize::MAX);
        assert!(
            !left.orders.contains_key(&a.order_id),
            "never written after the newer one"
        );
        assert_eq!(
            left.orders[&b.order_id].version, b.version,
            "still newer than Redis"
        );
    }

    #[test]
    fn a_newer_version_replaces_a_kept_one_and_an_older_never_does() {
        let mut backlog = CacheBacklog::new(10);
        let v1 = order(0);
        let mut v3 = v1.clone();
        v3.version = 3;
        backlog.keep(pending(std::slice::from_ref(&v3)));
        backlog.keep(pending(std::slice::from_ref(&v1)));
        let all = backlog.take_chunk(usize::MAX);
        assert_eq!(all.orders[&v1.order_id].version, 3);
    }

    #[test]
    fn a_newer_order_kept_later_is_never_shadowed_by_its_older_copy() {
        let mut backlog = CacheBacklog::new(1);
        let (a, b) = (order(0), order(0));
        backlog.keep(pending(&[a.clone(), b.clone()]));
        let mut newer_b = b.clone();
        newer_b.version = 2;
        backlog.keep(pending(std::slice::from_ref(&newer_b)));
        let all = backlog.take_chunk(usize::MAX);
        // Either whole at its newest, or by id (read from PostgreSQL, the newest there is).
        match all.orders.get(&b.order_id) {
            Some(kept) => assert_eq!(kept.version, 2),
            None => assert!(all.ids.contains(&b.order_id)),
        }
        assert_eq!(all.orders.len() + all.ids.len(), 2);
    }
}
