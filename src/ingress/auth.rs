//! Who is calling: an API key mapped to a storefront, a bearer JWT with a storefront claim
//! (when a JWKS is configured, see `jwt`), or — with `--auth none`, for local runs only —
//! the `default` storefront. Every read and write is scoped to it.

use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use super::jwt::Verifier;
use super::ratelimit::Verdict;
use super::{ApiError, AppState};
use crate::domain::StorefrontId;
use crate::store::Store;

/// How callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// `Authorization: Bearer <key>` or `X-Api-Key: <key>`, created by `orderflow apikeys create`.
    ApiKey,
    /// No authentication; every caller is storefront `default`. Local runs only.
    None,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub storefront: StorefrontId,
    /// The API key's id (never the key), for logs, audit and rate limits.
    pub key_id: String,
}

/// Resolves API keys, remembering answers briefly so a request costs no query.
pub struct Keys {
    mode: AuthMode,
    store: Store,
    jwt: Option<Verifier>,
    /// By key hash: when it was looked up, and who it is (None: not a valid key). Entries
    /// outlive `REMEMBER` (least recently used evicted beyond `KNOWN_KEYS`), so a known caller
    /// keeps its answer while PostgreSQL is down.
    known: moka::sync::Cache<[u8; 32], Remembered>,
}

type Remembered = (Instant, Option<Caller>);

const REMEMBER: Duration = Duration::from_secs(30);
const KNOWN_KEYS: u64 = 10_000;

impl Keys {
    pub fn new(mode: AuthMode, store: Store, jwt: Option<Verifier>) -> Self {
        if mode == AuthMode::None {
            tracing::warn!(
                "AUTHENTICATION IS OFF (--auth none): every caller is storefront `default`; never expose this"
            );
        }
        Self {
            mode,
            store,
            jwt,
            known: moka::sync::Cache::new(KNOWN_KEYS),
        }
    }

    async fn caller(&self, key: Option<&str>) -> Result<Caller, ApiError> {
        if self.mode == AuthMode::None {
            return Ok(Caller {
                storefront: StorefrontId::default_storefront(),
                key_id: "none".to_owned(),
            });
        }
        let key = key.ok_or(ApiError::Unauthorized("an API key is required"))?;
        // A JWT is three dot-separated parts; API keys never contain a dot.
        if let Some(jwt) = &self.jwt
            && key.matches('.').count() == 2
        {
            let verified = jwt.verify(key).await?;
            return Ok(Caller {
                key_id: format!("jwt:{}", verified.subject),
                storefront: verified.storefront,
            });
        }
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let remembered = self.known.get(&hash);
        if let Some((at, caller)) = &remembered
            && at.elapsed() < REMEMBER
        {
            return caller
                .clone()
                .ok_or(ApiError::Unauthorized("the API key is not valid"));
        }
        let found = match self.store.api_key(&hash).await {
            Ok(found) => found,
            // PostgreSQL is down: a caller this ingress already knows keeps its answer (writes
            // go to Kafka and need no database); an unknown one gets a 503 to retry.
            Err(error) => {
                let error = ApiError::from_store(error);
                return match (&error, remembered) {
                    (ApiError::DatabaseUnavailable(_), Some((_, Some(caller)))) => Ok(caller),
                    _ => Err(error),
                };
            }
        };
        let caller = found.and_then(|(key_id, storefront)| {
            Some(Caller {
                storefront: StorefrontId::parse(storefront).ok()?,
                key_id,
            })
        });
        self.known.insert(hash, (Instant::now(), caller.clone()));
        caller.ok_or(ApiError::Unauthorized("the API key is not valid"))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let header = parts.headers.get("x-api-key").and_then(|v| v.to_str().ok());
        let caller = state.keys.caller(bearer.or(header)).await?;
        if let Some(limiter) = &state.rate_limiter
            && let Verdict::Limited { retry_after } = limiter.check(&caller.key_id).await
        {
            crate::metrics::rate_limited();
            return Err(ApiError::RateLimited {
                limit: limiter.limit(),
                retry_after,
            });
        }
        Ok(caller)
    }
}

/// Creates an API key for `storefront`: returns (key id, key). Only the key's hash is stored.
pub async fn create_key(
    store: &Store,
    storefront: &StorefrontId,
) -> anyhow::Result<(String, String)> {
    let random = |n| {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(n)
            .map(char::from)
            .collect::<String>()
    };
    let key_id = format!("key_{}", random(12));
    let key = format!("of_{}", random(40));
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    store
        .insert_api_key(&key_id, &hash, storefront.as_str())
        .await?;
    Ok((key_id, key))
}
