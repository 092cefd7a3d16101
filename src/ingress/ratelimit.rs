//! Per-API-key rate limits, shared by every ingress replica: GCRA in one atomic Redis Lua
//! script, on Redis's clock. If Redis cannot answer, a per-process limiter (governor) takes
//! over — logged and counted, never silently unlimited.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};
use redis::Script;

use crate::store::Cache;

/// GCRA: one theoretical arrival time (TAT) per key, in microseconds.
/// KEYS[1] = key; ARGV[1] = emission interval (µs), ARGV[2] = burst tolerance (µs).
/// Returns {allowed (0/1), retry after (µs), remaining}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - tolerance > now then
  return {0, tat - tolerance - now, 0}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0, math.floor((now + tolerance - new_tat) / interval) + 1}
";

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed { remaining: u64 },
    Limited { retry_after: Duration },
}

pub struct RateLimiter {
    per_second: u32,
    burst: u32,
    cache: Cache,
    script: Script,
    fallback: DefaultKeyedRateLimiter<String>,
    /// After Redis fails, the fallback decides alone until then, so requests do not each
    /// wait on a dead connection.
    redis_down_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long the fallback decides alone after Redis failed.
const REDIS_RETRY: Duration = Duration::from_secs(1);

impl RateLimiter {
    /// `per_second` requests per key, with bursts of up to `burst`. None: no limit.
    pub fn new(per_second: u32, burst: u32, cache: Cache) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst_nz = NonZeroU32::new(burst.max(1)).expect("at least 1");
        Some(Self {
            per_second,
            burst: burst.max(1),
            cache,
            script: Script::new(GCRA),
            fallback: DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst_nz)),
            redis_down_until: std::sync::Mutex::new(None),
        })
    }

    pub fn limit(&self) -> u32 {
        self.per_second
    }

    pub async fn check(&self, key: &str) -> Verdict {
        let interval = 1_000_000 / u64::from(self.per_second);
        let tolerance = interval * u64::from(self.burst - 1);
        let redis_key = format!("orderflow:rate:{key}");
        let redis_down = self
            .redis_down_until
            .lock()
            .expect("lock")
            .is_some_and(|until| std::time::Instant::now() < until);
        if !redis_down {
            let gcra: redis::RedisResult<(u64, u64, u64)> = self
                .script
                .key(&redis_key)
                .arg(interval)
                .arg(tolerance)
                .invoke_async(&mut self.cache.connection())
                .await;
            match gcra {
                Ok((1, _, remaining)) => return Verdict::Allowed { remaining },
                Ok((_, retry_after_us, _)) => {
                    return Verdict::Limited {
                        retry_after: Duration::from_micros(retry_after_us),
                    };
                }
                Err(error) => {
                    tracing::warn!(%error, "rate limiter store unavailable; limiting per process");
                    *self.redis_down_until.lock().expect("lock") =
                        Some(std::time::Instant::now() + REDIS_RETRY);
                }
            }
        }
        crate::metrics::rate_limit_fallback();
        match self.fallback.check_key(&key.to_owned()) {
            Ok(()) => Verdict::Allowed { remaining: 0 },
            Err(not_until) => {
                let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
                Verdict::Limited {
                    retry_after: not_until.wait_time_from(now),
                }
            }
        }
    }
}
