//! Returns: delivered units coming back, received with their condition, and what they and
//! the refunds naming them make of the order's return status.

use super::super::values::{LineItem, Recorded, Sku};
use super::{
    Condition, FulfillmentRejection, MAX_FULFILLMENTS, Return, ReturnState, ReturnStatus,
    Shipments, per_sku,
};

impl Shipments {
    /// A new return (requested), or the same one again.
    pub fn request_return(&mut self, ret: Return) -> Result<Recorded, FulfillmentRejection> {
        if let Some(known) = self.return_of(&ret.return_id) {
            return if known.lines == ret.lines && known.reason == ret.reason {
                Ok(Recorded::Duplicate)
            } else {
                Err(FulfillmentRejection::ConflictingFact(ret.return_id))
            };
        }
        if self.returns.len() >= MAX_FULFILLMENTS {
            return Err(FulfillmentRejection::TooMany);
        }
        for (sku, wanted) in per_sku(ret.lines.iter().map(|l| (&l.sku, l.quantity))) {
            let wanted = wanted + self.returned(sku);
            let delivered = self.delivered(sku);
            if wanted > delivered {
                return Err(FulfillmentRejection::ExceedsDelivered {
                    sku: sku.to_string(),
                    wanted,
                    delivered,
                });
            }
        }
        self.returns.push(ret);
        Ok(Recorded::Applied)
    }

    fn return_mut(&mut self, id: &str) -> Result<&mut Return, FulfillmentRejection> {
        self.returns
            .iter_mut()
            .find(|r| r.return_id == id)
            .ok_or_else(|| FulfillmentRejection::UnknownReturn(id.to_owned()))
    }

    /// Receives a requested return: `conditions` names each of its skus once.
    pub fn receive_return(
        &mut self,
        id: &str,
        conditions: &[(Sku, Condition)],
    ) -> Result<Recorded, FulfillmentRejection> {
        let ret = self.return_mut(id)?;
        let mut skus: Vec<&Sku> = ret.lines.iter().map(|l| &l.sku).collect();
        // A sku may be on several lines: each is named once.
        skus.sort();
        skus.dedup();
        let named_once = conditions.len() == skus.len()
            && skus
                .iter()
                .all(|s| conditions.iter().filter(|(c, _)| c == *s).count() == 1);
        if !named_once {
            return Err(FulfillmentRejection::ConditionsMismatch);
        }
        let condition_of = |sku: &Sku| conditions.iter().find(|(s, _)| s == sku).map(|(_, c)| *c);
        if ret.status == ReturnState::Received {
            let same = ret
                .lines
                .iter()
                .all(|l| l.condition == condition_of(&l.sku));
            return if same {
                Ok(Recorded::Duplicate)
            } else {
                Err(FulfillmentRejection::ConflictingFact(id.to_owned()))
            };
        }
        if ret.status != ReturnState::Requested {
            return Err(FulfillmentRejection::ReturnNotRequested {
                id: id.to_owned(),
                status: ret.status.as_str(),
            });
        }
        for line in &mut ret.lines {
            line.condition = condition_of(&line.sku);
        }
        ret.status = ReturnState::Received;
        Ok(Recorded::Applied)
    }

    /// Cancels a requested return.
    pub fn cancel_return(&mut self, id: &str) -> Result<Recorded, FulfillmentRejection> {
        let ret = self.return_mut(id)?;
        match ret.status {
            ReturnState::Cancelled => Ok(Recorded::Duplicate),
            ReturnState::Requested => {
                ret.status = ReturnState::Cancelled;
                Ok(Recorded::Applied)
            }
            ReturnState::Received => Err(FulfillmentRejection::ReturnNotRequested {
                id: id.to_owned(),
                status: ret.status.as_str(),
            }),
        }
    }

    /// The value of a return: its units at their line's unit price (the first line of the
    /// sku), in minor units.
    pub fn return_value(ret: &Return, items: &[LineItem]) -> i64 {
        ret.lines
            .iter()
            .map(|l| {
                let price = items
                    .iter()
                    .find(|i| i.sku == l.sku)
                    .map_or(0, |i| i.unit_price.0);
                price.saturating_mul(i64::from(l.quantity))
            })
            .fold(0i64, i64::saturating_add)
    }

    /// The return status, given what succeeded refunds name each return (`refunded(id)`).
    pub fn return_status(
        &self,
        items: &[LineItem],
        refunded: impl Fn(&str) -> i64,
    ) -> ReturnStatus {
        let open: Vec<&Return> = self
            .returns
            .iter()
            .filter(|r| r.status != ReturnState::Cancelled)
            .collect();
        if open.is_empty() {
            ReturnStatus::None
        } else if open.iter().any(|r| r.status == ReturnState::Requested) {
            ReturnStatus::Requested
        } else if open
            .iter()
            .all(|r| refunded(&r.return_id) >= Self::return_value(r, items))
        {
            ReturnStatus::Refunded
        } else {
            ReturnStatus::Received
        }
    }
}
