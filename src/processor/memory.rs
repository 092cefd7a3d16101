//! The orders this member has seen, per partition and assignment generation, so a batch
//! loads from PostgreSQL only what it has not seen. Bounded by a memory budget (moka evicts
//! the least recently used); an evicted order is simply loaded again.
//!
//! Keyed by generation: when a partition is revoked, its entries can no longer be found (a
//! late batch of the old generation writes under the old key), and they age out.

use std::sync::Arc;

use crate::domain::{Order, OrderId};

type Key = (i32, u64, OrderId);

#[derive(Clone)]
pub(super) struct OrderMemory {
    cache: moka::sync::Cache<Key, Arc<Order>>,
}

impl OrderMemory {
    /// Holds orders up to about `budget_bytes` in all.
    pub(super) fn new(budget_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(budget_bytes)
                .weigher(|_, order: &Arc<Order>| weight(order))
                .build(),
        }
    }

    pub(super) fn get(&self, partition: i32, generation: u64, id: OrderId) -> Option<Order> {
        self.cache
            .get(&(partition, generation, id))
            .map(|o| (*o).clone())
    }

    pub(super) fn put(&self, partition: i32, generation: u64, order: Order) {
        self.cache
            .insert((partition, generation, order.order_id), Arc::new(order));
    }

    pub(super) fn forget(&self, partition: i32, generation: u64, id: OrderId) {
        self.cache.invalidate(&(partition, generation, id));
    }

    /// Bytes held (an estimate), after pending evictions ran.
    pub(super) fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }
}

/// Resident bytes per remembered order beyond what `weight` adds up: the cache's own entry
/// (key, node, queues), allocator size classes and slack. Measured with `scripts/soak.sh`:
/// ~2.2 KB of RSS per remembered order where the sum below gave ~0.9 KB.
const ENTRY_OVERHEAD: usize = 1_300;

/// Approximate heap bytes of an order: the struct, its items, adjustments and payments and
/// their strings (each string and map entry also costs an allocation's bookkeeping, counted
/// as 32 bytes), and the entry's overhead.
fn weight(order: &Order) -> u32 {
    const ALLOCATION: usize = 32;
    let a = &order.shipping_address;
    let mut bytes = std::mem::size_of::<Order>()
        + order.items.len() * std::mem::size_of::<crate::domain::LineItem>()
        + [&a.name, &a.line1, &a.city, &a.postal_code, &a.country]
            .iter()
            .map(|s| s.len() + ALLOCATION)
            .sum::<usize>()
        + a.line2.as_ref().map_or(0, |s| s.len() + ALLOCATION)
        + order.customer_id.as_str().len()
        + order.storefront_id.as_str().len()
        + 2 * ALLOCATION
        + ENTRY_OVERHEAD;
    bytes += order
        .items
        .iter()
        .map(|i| i.sku.as_str().len() + ALLOCATION)
        .sum::<usize>();
    bytes += order
        .metadata
        .iter()
        .map(|(k, v)| k.len() + v.len() + 3 * ALLOCATION)
        .sum::<usize>();
    if let Some(s) = &order.shipping {
        bytes += s.carrier.len() + s.tracking_number.len() + 2 * ALLOCATION;
    }
    bytes += order
        .adjustments
        .iter()
        .map(|a| std::mem::size_of_val(a) + a.label.len() + ALLOCATION)
        .sum::<usize>();
    bytes += order
        .payments
        .0
        .iter()
        .map(|t| {
            let optional = [&t.provider_reference, &t.parent_id, &t.return_id]
                .iter()
                .filter_map(|s| s.as_ref())
                .map(|s| s.len() + ALLOCATION)
                .sum::<usize>();
            std::mem::size_of_val(t)
                + t.transaction_id.len()
                + t.provider.len()
                + 2 * ALLOCATION
                + optional
        })
        .sum::<usize>();
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::weight;
    use crate::domain::CommandBody;
    use crate::domain::samples::{apply, order_in, payment};

    #[test]
    fn payments_and_adjustments_weigh_what_they_hold() {
        let order = order_in(crate::domain::OrderStatus::Pending);
        let mut paid = order.clone();
        for n in 0..10 {
            let fact = payment(&format!("t-{n}"), "sale", 1, "succeeded", None);
            paid = apply(Some(&paid), CommandBody::RecordPayment(fact))
                .unwrap()
                .order;
        }
        // Ten transactions: each at least its struct and its two strings.
        let per = std::mem::size_of::<crate::domain::Transaction>() + 2 * 32;
        assert!(weight(&paid) >= weight(&order) + 10 * per as u32);
    }
}
