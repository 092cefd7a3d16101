//! Redis: a read cache of orders, written only by the processor, version-guarded.

use std::time::Duration;

use std::num::NonZeroUsize;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::caching::{CacheConfig, CacheMode};
use redis::{CommandCacheConfig, ProtocolVersion, Script};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::{Order, OrderId, OrderStatus};

pub type Result<T, E = redis::RedisError> = std::result::Result<T, E>;

/// Longest a locally cached order is kept without asking Redis again. Invalidations arrive
/// long before; this bounds what missed ones cost (while Redis is unreachable, say, when
/// reads would otherwise fall back to PostgreSQL).
const LOCAL_TTL: Duration = Duration::from_secs(5);

/// Writes the order only if the cached copy is older, so a late writer never rolls it back.
/// KEYS[1] = order key; ARGV = version, JSON body, TTL in milliseconds, storefront.
const PUT_IF_NEWER: &str = r"
local cached = redis.call('HGET', KEYS[1], 'v')
if cached and tonumber(cached) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'body', ARGV[2], 's', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Replaces the order by a tombstone of the delete's version, unless the cache already holds
/// a newer version. The tombstone has a version and no body: reads find nothing, and a late
/// write of an older version (from a member that lost the partition) cannot pass it. It lives
/// as long as an order entry would, so it outlasts any write it has to stop.
/// KEYS[1] = order key; ARGV[1] = version of the delete, ARGV[2] = TTL in milliseconds.
const EVICT_IF_NEWER: &str = r"
local cached = redis.call('HGET', KEYS[1], 'v')
if cached and tonumber(cached) > tonumber(ARGV[1]) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'deleted', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// An order as the cache holds it.
#[derive(Debug, Clone)]
pub struct CachedOrder {
    pub json: String,
    pub version: u64,
    pub storefront: String,
}

#[derive(Clone)]
pub struct Cache {
    conn: ConnectionManager,
    put_if_newer: Script,
    evict_if_newer: Script,
    ttl: Duration,
}

/// The Redis key of an order's cached JSON.
fn redis_key(id: OrderId) -> String {
    format!("orderflow:order:{id}")
}

impl Cache {
    /// Connects lazily: Redis being down at start (or later) never stops orderflow; each
    /// call fails fast and the caller decides (the processor retries later, reads fall back).
    ///
    /// `local_entries` > 0 keeps that many cached orders in this process as well, fresh by
    /// Redis's own invalidation messages (server-assisted client-side caching over RESP3):
    /// a hot order is read without a round trip, and a write by any processor evicts it here.
    pub fn connect(
        url: &str,
        password: Option<&SecretString>,
        ttl: Duration,
        local_entries: usize,
    ) -> Result<Self> {
        let mut info: redis::ConnectionInfo = url.parse()?;
        let mut settings = info.redis_settings().clone();
        if let Some(password) = password {
            settings = settings.set_password(password.expose_secret());
        }
        let local = NonZeroUsize::new(local_entries);
        if local.is_some() {
            settings = settings.set_protocol(ProtocolVersion::RESP3);
        }
        info = info.set_redis_settings(settings);
        let client = redis::Client::open(info)?;
        let mut config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1);
        if let Some(size) = local {
            config = config.set_cache_config(
                CacheConfig::new()
                    .set_mode(CacheMode::OptIn)
                    .set_size(size)
                    .set_default_client_ttl(LOCAL_TTL),
            );
        }
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            put_if_newer: Script::new(PUT_IF_NEWER),
            evict_if_newer: Script::new(EVICT_IF_NEWER),
            ttl,
        })
    }

    /// Writes every order of a batch in one round trip; deleted orders are evicted.
    pub async fn put_orders(&self, orders: &[Order]) -> Result<()> {
        if orders.is_empty() {
            return Ok(());
        }
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut pipe = redis::pipe();
        // Loading is idempotent and cheap; it keeps the pipeline valid after a Redis restart.
        pipe.load_script(&self.put_if_newer).ignore();
        pipe.load_script(&self.evict_if_newer).ignore();
        for order in orders {
            let key = redis_key(order.order_id);
            if order.status == OrderStatus::Deleted {
                let mut invocation = self.evict_if_newer.key(key);
                invocation.arg(order.version).arg(ttl_ms);
                pipe.invoke_script(&invocation).ignore();
            } else {
                let body = serde_json::to_string(order).expect("an order serializes to JSON");
                let mut invocation = self.put_if_newer.key(key);
                invocation
                    .arg(order.version)
                    .arg(body)
                    .arg(ttl_ms)
                    .arg(order.storefront_id.as_str());
                pipe.invoke_script(&invocation).ignore();
            }
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> Result<()> {
        redis::cmd("PING").query_async(&mut self.conn.clone()).await
    }

    /// The cached JSON of an order (exactly as GET returns it), its version and storefront.
    pub async fn get_order_json(&self, id: OrderId) -> Result<Option<CachedOrder>> {
        let (body, version, storefront): (Option<String>, Option<u64>, Option<String>) =
            redis::cmd("HMGET")
                .arg(redis_key(id))
                .arg("body")
                .arg("v")
                .arg("s")
                .set_cache_config(CommandCacheConfig::new())
                .query_async(&mut self.conn.clone())
                .await?;
        Ok(match (body, version, storefront) {
            (Some(json), Some(version), Some(storefront)) => Some(CachedOrder {
                json,
                version,
                storefront,
            }),
            _ => None,
        })
    }

    /// Hits, misses and invalidations of the in-process copy (None without one).
    pub fn local_statistics(&self) -> Option<redis::caching::CacheStatistics> {
        self.conn.get_cache_statistics()
    }

    /// The connection, for the ingress's own keys (rate limits, idempotency keys), which are
    /// not the order cache's.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}
