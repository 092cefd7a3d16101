//! The payment ledger as rows: written with the batch, read to find an order by its
//! provider's reference.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Result, Store};
use crate::domain::{Order, OrderId};

/// The ledger rows of every order the batch changed that has payments: inserted, or brought
/// to the transaction's current status (a settlement). Orders without payments cost nothing.
pub(super) async fn write_payments(tx: &mut sqlx::PgConnection, orders: &[Order]) -> Result<()> {
    let mut c = PaymentColumns::default();
    for o in orders {
        for t in &o.payments.0 {
            c.orders.push(o.order_id.0);
            c.ids.push(&t.transaction_id);
            c.storefronts.push(o.storefront_id.as_str());
            c.kinds.push(t.kind.as_str());
            c.amounts.push(t.amount.0);
            c.statuses.push(t.status.as_str());
            c.providers.push(&t.provider);
            c.references.push(t.provider_reference.as_deref());
            c.parents.push(t.parent_id.as_deref());
            c.returns.push(t.return_id.as_deref());
            c.versions
                .push(i64::try_from(o.version).unwrap_or(i64::MAX));
            c.updated.push(o.updated_at);
        }
    }
    if c.orders.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_payments (order_id, transaction_id, storefront_id, kind, amount, status,
                                     provider, provider_reference, parent_id, return_id, version,
                                     updated_at)
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                              $11::bigint[], $12::timestamptz[])
         ON CONFLICT (order_id, transaction_id) DO UPDATE
             SET status = excluded.status, version = excluded.version,
                 updated_at = excluded.updated_at
             WHERE order_payments.status <> excluded.status",
    )
    .bind(c.orders)
    .bind(c.ids)
    .bind(c.storefronts)
    .bind(c.kinds)
    .bind(c.amounts)
    .bind(c.statuses)
    .bind(c.providers)
    .bind(c.references)
    .bind(c.parents)
    .bind(c.returns)
    .bind(c.versions)
    .bind(c.updated)
    .execute(tx)
    .await?;
    Ok(())
}

/// Ledger rows as the column arrays UNNEST takes.
#[derive(Default)]
struct PaymentColumns<'a> {
    orders: Vec<Uuid>,
    ids: Vec<&'a str>,
    storefronts: Vec<&'a str>,
    kinds: Vec<&'static str>,
    amounts: Vec<i64>,
    statuses: Vec<&'static str>,
    providers: Vec<&'a str>,
    references: Vec<Option<&'a str>>,
    parents: Vec<Option<&'a str>>,
    returns: Vec<Option<&'a str>>,
    versions: Vec<i64>,
    updated: Vec<DateTime<Utc>>,
}

impl Store {
    /// The transactions recorded with a provider's reference (a Stripe PaymentIntent, say):
    /// (order, its storefront, transaction id). How a notification that does not name its
    /// order finds it, and a refund its parent.
    pub async fn payments_of_reference(
        &self,
        provider: &str,
        reference: &str,
    ) -> Result<Vec<(OrderId, String, String)>> {
        let rows = sqlx::query!(
            "SELECT order_id, storefront_id, transaction_id FROM order_payments
             WHERE provider = $1 AND provider_reference = $2",
            provider,
            reference,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (OrderId(r.order_id), r.storefront_id, r.transaction_id))
            .collect())
    }
}
