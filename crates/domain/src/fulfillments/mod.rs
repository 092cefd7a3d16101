//! Fulfillments and returns of an order (ORDER-MODEL.md "Fulfillments", "Returns"): several
//! shipments per order, each of some units of some lines; returns of delivered units. Facts
//! named by the client's id (a retry with the same content is a duplicate, with other content
//! `conflicting_fact`); what the order shows of them is derived here.

use serde::{Deserialize, Serialize};

mod rejection;
mod returns;

pub use rejection::FulfillmentRejection;

use super::values::{LineItem, Recorded, ShippingInfo, Sku, named};

/// Most fulfillments (and, apart, most returns) one order holds.
pub const MAX_FULFILLMENTS: usize = 100;

/// Units of one sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Units {
    pub sku: Sku,
    pub quantity: u32,
}

/// Where a fulfillment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentState {
    Pending,
    Shipped,
    Delivered,
    Cancelled,
}

named!(FulfillmentState {
    Pending => "pending",
    Shipped => "shipped",
    Delivered => "delivered",
    Cancelled => "cancelled",
});

/// One shipment: some units of some lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfillment {
    pub fulfillment_id: String,
    pub lines: Vec<Units>,
    pub status: FulfillmentState,
    /// Carrier and tracking number, once shipped.
    pub shipping: Option<ShippingInfo>,
}

/// How far an order's units have gone, derived from its fulfillments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FulfillmentStatus {
    /// No unit shipped.
    Unfulfilled,
    /// Some units shipped, not all.
    PartiallyFulfilled,
    /// Every unit shipped, none delivered.
    Fulfilled,
    /// Some units delivered, not all.
    PartiallyDelivered,
    /// Every unit delivered.
    Delivered,
}

named!(FulfillmentStatus {
    Unfulfilled => "unfulfilled",
    PartiallyFulfilled => "partially_fulfilled",
    Fulfilled => "fulfilled",
    PartiallyDelivered => "partially_delivered",
    Delivered => "delivered",
});

/// The condition a returned unit arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Resellable,
    Damaged,
}

named!(Condition {
    Resellable => "resellable",
    Damaged => "damaged",
});

/// Where a return is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    Requested,
    Received,
    Cancelled,
}

named!(ReturnState {
    Requested => "requested",
    Received => "received",
    Cancelled => "cancelled",
});

/// Units of one sku coming back, with their condition once received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub sku: Sku,
    pub quantity: u32,
    pub condition: Option<Condition>,
}

/// Units a customer sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    pub return_id: String,
    pub lines: Vec<ReturnLine>,
    pub reason: String,
    pub status: ReturnState,
}

/// Where an order's returns are, derived from them and the refunds that name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    /// No return, or only cancelled ones.
    None,
    /// A return is requested and not yet received.
    Requested,
    /// Every open return is received; not every one refunded.
    Received,
    /// Every received return's value is refunded.
    Refunded,
}

named!(ReturnStatus {
    None => "none",
    Requested => "requested",
    Received => "received",
    Refunded => "refunded",
});

/// What is derived of an order's fulfillments and returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub fulfillment_status: FulfillmentStatus,
    pub return_status: ReturnStatus,
}

impl Progress {
    /// An order with no fulfillment and no return.
    pub const NONE: Self = Self {
        fulfillment_status: FulfillmentStatus::Unfulfilled,
        return_status: ReturnStatus::None,
    };
}

/// Units per sku of `lines` (a sku may appear on several).
pub(super) fn per_sku<'a>(lines: impl Iterator<Item = (&'a Sku, u32)>) -> Vec<(&'a Sku, u64)> {
    let mut out: Vec<(&Sku, u64)> = Vec::new();
    for (sku, quantity) in lines {
        match out.iter_mut().find(|(s, _)| *s == sku) {
            Some((_, n)) => *n += u64::from(quantity),
            None => out.push((sku, u64::from(quantity))),
        }
    }
    out
}

/// An order's fulfillments and returns, in the order they were created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipments {
    #[serde(default)]
    pub fulfillments: Vec<Fulfillment>,
    #[serde(default)]
    pub returns: Vec<Return>,
}

impl Shipments {
    pub fn fulfillment(&self, id: &str) -> Option<&Fulfillment> {
        self.fulfillments.iter().find(|f| f.fulfillment_id == id)
    }

    pub fn return_of(&self, id: &str) -> Option<&Return> {
        self.returns.iter().find(|r| r.return_id == id)
    }

    /// Units of `sku` in fulfillments whose state is one of `states`.
    fn units(&self, sku: &Sku, states: &[FulfillmentState]) -> u64 {
        self.fulfillments
            .iter()
            .filter(|f| states.contains(&f.status))
            .flat_map(|f| &f.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| u64::from(l.quantity))
            .sum()
    }

    /// Units of `sku` in fulfillments that are not cancelled.
    fn fulfilled(&self, sku: &Sku) -> u64 {
        use FulfillmentState::*;
        self.units(sku, &[Pending, Shipped, Delivered])
    }

    /// Delivered units of `sku`.
    pub fn delivered(&self, sku: &Sku) -> u64 {
        self.units(sku, &[FulfillmentState::Delivered])
    }

    /// Units of `sku` in returns not cancelled.
    pub fn returned(&self, sku: &Sku) -> u64 {
        self.returns
            .iter()
            .filter(|r| r.status != ReturnState::Cancelled)
            .flat_map(|r| &r.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| u64::from(l.quantity))
            .sum()
    }

    /// A new fulfillment of `lines` (pending), or the same one again.
    pub fn create(
        &mut self,
        items: &[LineItem],
        id: &str,
        lines: Vec<Units>,
    ) -> Result<Recorded, FulfillmentRejection> {
        let fulfillment = Fulfillment {
            fulfillment_id: id.to_owned(),
            lines,
            status: FulfillmentState::Pending,
            shipping: None,
        };
        if let Some(known) = self.fulfillment(id) {
            return if known.lines == fulfillment.lines {
                Ok(Recorded::Duplicate)
            } else {
                Err(FulfillmentRejection::ConflictingFact(id.to_owned()))
            };
        }
        if self.fulfillments.len() >= MAX_FULFILLMENTS {
            return Err(FulfillmentRejection::TooMany);
        }
        let ordered = per_sku(items.iter().map(|i| (&i.sku, i.quantity)));
        for (sku, wanted) in per_sku(fulfillment.lines.iter().map(|l| (&l.sku, l.quantity))) {
            let Some(&(_, ordered)) = ordered.iter().find(|(s, _)| *s == sku) else {
                return Err(FulfillmentRejection::UnknownSku(sku.to_string()));
            };
            let wanted = wanted + self.fulfilled(sku);
            if wanted > ordered {
                return Err(FulfillmentRejection::ExceedsOrdered {
                    sku: sku.to_string(),
                    wanted,
                    ordered,
                });
            }
        }
        self.fulfillments.push(fulfillment);
        Ok(Recorded::Applied)
    }

    /// Every unit of `items` not yet in a fulfillment that is not cancelled.
    pub fn unfulfilled(&self, items: &[LineItem]) -> Vec<Units> {
        per_sku(items.iter().map(|i| (&i.sku, i.quantity)))
            .into_iter()
            .filter_map(|(sku, ordered)| {
                let left = ordered.saturating_sub(self.fulfilled(sku));
                (left > 0).then(|| Units {
                    sku: sku.clone(),
                    quantity: u32::try_from(left).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    fn fulfillment_mut(&mut self, id: &str) -> Result<&mut Fulfillment, FulfillmentRejection> {
        self.fulfillments
            .iter_mut()
            .find(|f| f.fulfillment_id == id)
            .ok_or_else(|| FulfillmentRejection::UnknownFulfillment(id.to_owned()))
    }

    /// Moves fulfillment `id` from `from` to `to` (already at `to`: a duplicate, when
    /// `same` says the fact is the same).
    fn transition(
        &mut self,
        id: &str,
        from: FulfillmentState,
        to: FulfillmentState,
        shipping: Option<&ShippingInfo>,
    ) -> Result<Recorded, FulfillmentRejection> {
        let f = self.fulfillment_mut(id)?;
        if f.status == to && (shipping.is_none() || f.shipping.as_ref() == shipping) {
            return Ok(Recorded::Duplicate);
        }
        if f.status != from {
            return Err(FulfillmentRejection::FulfillmentNotInState {
                id: id.to_owned(),
                status: f.status.as_str(),
                wanted: from.as_str(),
            });
        }
        f.status = to;
        if let Some(shipping) = shipping {
            f.shipping = Some(shipping.clone());
        }
        Ok(Recorded::Applied)
    }

    pub fn ship(
        &mut self,
        id: &str,
        shipping: &ShippingInfo,
    ) -> Result<Recorded, FulfillmentRejection> {
        use FulfillmentState::*;
        self.transition(id, Pending, Shipped, Some(shipping))
    }

    pub fn deliver(&mut self, id: &str) -> Result<Recorded, FulfillmentRejection> {
        use FulfillmentState::*;
        self.transition(id, Shipped, Delivered, None)
    }

    /// Cancels a pending fulfillment.
    pub fn cancel(&mut self, id: &str) -> Result<Recorded, FulfillmentRejection> {
        use FulfillmentState::*;
        self.transition(id, Pending, Cancelled, None)
    }

    /// Whether every unit of `items` is in a shipped (or delivered) fulfillment.
    pub fn all_shipped(&self, items: &[LineItem]) -> bool {
        use FulfillmentState::*;
        per_sku(items.iter().map(|i| (&i.sku, i.quantity)))
            .into_iter()
            .all(|(sku, ordered)| self.units(sku, &[Shipped, Delivered]) >= ordered)
    }

    /// Whether any unit is shipped (or delivered).
    pub fn any_shipped(&self) -> bool {
        use FulfillmentState::*;
        self.fulfillments
            .iter()
            .any(|f| matches!(f.status, Shipped | Delivered))
    }

    /// Cancels every pending fulfillment (the order is cancelled).
    pub fn cancel_pending(&mut self) {
        for f in &mut self.fulfillments {
            if f.status == FulfillmentState::Pending {
                f.status = FulfillmentState::Cancelled;
            }
        }
    }

    /// The fulfillment status of an order of `items`.
    pub fn fulfillment_status(&self, items: &[LineItem]) -> FulfillmentStatus {
        use FulfillmentState::*;
        let ordered: u64 = items.iter().map(|i| u64::from(i.quantity)).sum();
        let skus = per_sku(items.iter().map(|i| (&i.sku, i.quantity)));
        let shipped: u64 = skus
            .iter()
            .map(|(s, _)| self.units(s, &[Shipped, Delivered]))
            .sum();
        let delivered: u64 = skus.iter().map(|(s, _)| self.units(s, &[Delivered])).sum();
        match () {
            () if ordered > 0 && delivered == ordered => FulfillmentStatus::Delivered,
            () if delivered > 0 => FulfillmentStatus::PartiallyDelivered,
            () if ordered > 0 && shipped == ordered => FulfillmentStatus::Fulfilled,
            () if shipped > 0 => FulfillmentStatus::PartiallyFulfilled,
            () => FulfillmentStatus::Unfulfilled,
        }
    }
}
