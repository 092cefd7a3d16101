//! The ingress's fast idempotency check: the first request's fingerprint per key, in Redis.
//! (The durable check is the processor's, in PostgreSQL: `idempotency_conflict`.)

use std::time::Duration;

use crate::store::Cache;

/// Remembers the fingerprint of the first request with an idempotency key; returns the
/// fingerprint already remembered, if any. Keys expire after `ttl`.
pub(super) async fn remember(
    cache: &Cache,
    key: &str,
    fingerprint: &str,
    ttl: Duration,
) -> redis::RedisResult<Option<String>> {
    redis::cmd("SET")
        .arg(format!("orderflow:idem:{key}"))
        .arg(fingerprint)
        .arg("NX")
        .arg("GET")
        .arg("PX")
        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
        .query_async(&mut cache.connection())
        .await
}
