//! OAuth2 bearer JWTs, next to API keys: RS256 tokens verified against the keys of a JWKS
//! (a file, or a URL fetched at start and again when a token names a key it does not hold,
//! at most once a minute), with the caller's storefront in a claim.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::ApiError;
use crate::domain::StorefrontId;

/// Where the signing keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// How bearer JWTs are checked.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub jwks: JwksSource,
    /// Required `iss`, if set.
    pub issuer: Option<String>,
    /// Required `aud`, if set.
    pub audience: Option<String>,
    /// The claim that names the caller's storefront.
    pub storefront_claim: String,
}

/// Shortest time between two fetches of a JWKS URL.
const REFETCH_AFTER: Duration = Duration::from_secs(60);

pub struct Verifier {
    settings: JwtSettings,
    validation: Validation,
    /// Keys by `kid`, and when they were fetched.
    keys: RwLock<(Instant, HashMap<String, DecodingKey>)>,
}

/// The claims of a token that verified.
pub struct Verified {
    /// From the configured storefront claim.
    pub storefront: StorefrontId,
    /// `sub`, or `-` when the token has none.
    pub subject: String,
}

impl Verifier {
    /// Loads the keys; an unreadable JWKS stops the start, naming the flag.
    pub async fn load(settings: JwtSettings) -> anyhow::Result<Self> {
        let keys = fetch(&settings.jwks).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = settings.audience.is_some();
        if let Some(audience) = &settings.audience {
            validation.set_audience(&[audience]);
        }
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self {
            settings,
            validation,
            keys: RwLock::new((Instant::now(), keys)),
        })
    }

    /// What a token that verifies says, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<Verified, ApiError> {
        let invalid = |_| ApiError::Unauthorized("the bearer token is not valid");
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        let kid = header.kid.ok_or(ApiError::Unauthorized(
            "the bearer token names no key (kid)",
        ))?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refetch().await;
                self.key(&kid)
                    .ok_or(ApiError::Unauthorized("the bearer token's key is unknown"))?
            }
        };
        let claims = jsonwebtoken::decode::<HashMap<String, Value>>(token, &key, &self.validation)
            .map_err(invalid)?
            .claims;
        let storefront = claims
            .get(&self.settings.storefront_claim)
            .and_then(Value::as_str)
            .and_then(|s| StorefrontId::parse(s).ok())
            .ok_or(ApiError::Unauthorized(
                "the bearer token has no valid storefront claim",
            ))?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned();
        Ok(Verified {
            storefront,
            subject,
        })
    }

    fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().expect("lock").1.get(kid).cloned()
    }

    /// A URL's keys may have rotated: fetch them again, unless that was done a moment ago.
    async fn refetch(&self) {
        let JwksSource::Url(_) = &self.settings.jwks else {
            return;
        };
        {
            // Checked and stamped under one lock: concurrent requests fetch once.
            let mut keys = self.keys.write().expect("lock");
            if keys.0.elapsed() < REFETCH_AFTER {
                return;
            }
            keys.0 = Instant::now();
        }
        match fetch(&self.settings.jwks).await {
            Ok(keys) => self.keys.write().expect("lock").1 = keys,
            Err(error) => tracing::warn!(error = format!("{error:#}"), "refetching the JWKS"),
        }
    }
}

/// The RS256 keys of a JWKS, by `kid` (keys without one, or of another kind, are skipped).
async fn fetch(source: &JwksSource) -> anyhow::Result<HashMap<String, DecodingKey>> {
    let set: JwkSet = match source {
        JwksSource::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --jwks-file {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("parsing --jwks-file {}", path.display()))?
        }
        JwksSource::Url(url) => reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("fetching --jwks-url {url}"))?
            .json()
            .await
            .with_context(|| format!("parsing the JWKS at --jwks-url {url}"))?,
    };
    let keys: HashMap<String, DecodingKey> = set
        .keys
        .iter()
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
        .collect();
    anyhow::ensure!(!keys.is_empty(), "the JWKS holds no usable signing key");
    Ok(keys)
}
