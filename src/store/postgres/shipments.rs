//! Fulfillments and returns as rows, written with the batch.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::Result;
use crate::domain::Order;

/// The fulfillment and return rows of every order the batch changed that has any: inserted,
/// or brought to the fact as it is now. Orders without them cost nothing.
pub(super) async fn write_shipments(tx: &mut sqlx::PgConnection, orders: &[Order]) -> Result<()> {
    let version = |o: &Order| i64::try_from(o.version).unwrap_or(i64::MAX);
    let fulfillments: Vec<_> = orders
        .iter()
        .flat_map(|o| o.shipments.fulfillments.iter().map(move |f| (o, f)))
        .collect();
    if !fulfillments.is_empty() {
        let column = |f: &dyn Fn(&(&Order, &crate::domain::Fulfillment)) -> Option<String>| {
            fulfillments.iter().map(f).collect::<Vec<_>>()
        };
        sqlx::query(
            "INSERT INTO order_fulfillments (order_id, fulfillment_id, storefront_id, status, lines,
                                             carrier, tracking_number, version, updated_at)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[],
                                  $6::text[], $7::text[], $8::bigint[], $9::timestamptz[])
             ON CONFLICT (order_id, fulfillment_id) DO UPDATE
                 SET status = excluded.status, carrier = excluded.carrier,
                     tracking_number = excluded.tracking_number, version = excluded.version,
                     updated_at = excluded.updated_at
                 WHERE (order_fulfillments.status, order_fulfillments.carrier,
                        order_fulfillments.tracking_number)
                       IS DISTINCT FROM (excluded.status, excluded.carrier, excluded.tracking_number)",
        )
        .bind(fulfillments.iter().map(|(o, _)| o.order_id.0).collect::<Vec<Uuid>>())
        .bind(fulfillments.iter().map(|(_, f)| f.fulfillment_id.as_str()).collect::<Vec<_>>())
        .bind(fulfillments.iter().map(|(o, _)| o.storefront_id.as_str()).collect::<Vec<_>>())
        .bind(fulfillments.iter().map(|(_, f)| f.status.as_str()).collect::<Vec<_>>())
        .bind(fulfillments.iter().map(|(_, f)| Json(&f.lines)).collect::<Vec<_>>())
        .bind(column(&|(_, f)| f.shipping.as_ref().map(|s| s.carrier.clone())))
        .bind(column(&|(_, f)| f.shipping.as_ref().map(|s| s.tracking_number.clone())))
        .bind(fulfillments.iter().map(|(o, _)| version(o)).collect::<Vec<_>>())
        .bind(fulfillments.iter().map(|(o, _)| o.updated_at).collect::<Vec<DateTime<Utc>>>())
        .execute(&mut *tx)
        .await?;
    }
    let returns: Vec<_> = orders
        .iter()
        .flat_map(|o| o.shipments.returns.iter().map(move |r| (o, r)))
        .collect();
    if !returns.is_empty() {
        sqlx::query(
            "INSERT INTO order_returns (order_id, return_id, storefront_id, status, reason, lines,
                                        version, updated_at)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::jsonb[], $7::bigint[], $8::timestamptz[])
             ON CONFLICT (order_id, return_id) DO UPDATE
                 SET status = excluded.status, lines = excluded.lines, version = excluded.version,
                     updated_at = excluded.updated_at
                 WHERE order_returns.status <> excluded.status",
        )
        .bind(
            returns
                .iter()
                .map(|(o, _)| o.order_id.0)
                .collect::<Vec<Uuid>>(),
        )
        .bind(
            returns
                .iter()
                .map(|(_, r)| r.return_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            returns
                .iter()
                .map(|(o, _)| o.storefront_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            returns
                .iter()
                .map(|(_, r)| r.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            returns
                .iter()
                .map(|(_, r)| r.reason.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            returns
                .iter()
                .map(|(_, r)| Json(&r.lines))
                .collect::<Vec<_>>(),
        )
        .bind(returns.iter().map(|(o, _)| version(o)).collect::<Vec<_>>())
        .bind(
            returns
                .iter()
                .map(|(o, _)| o.updated_at)
                .collect::<Vec<DateTime<Utc>>>(),
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
