//! A storefront's endpoints: created with a fresh secret (shown once), listed, changed,
//! deleted, their secret rotated with an overlap. The HTTP API (`/v1/webhooks`) and
//! `orderflow webhooks endpoints` both go through [`Endpoints`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::address;
use super::secrets::{OpenError, SealingKey, SigningKeys, SigningSecret};
use crate::domain::{FieldError, ValidationErrors};
use crate::store::Store;
use crate::store::postgres::{EndpointChanges, EndpointRow};

pub const MAX_URL_LEN: usize = 2048;
pub const MAX_DESCRIPTION_LEN: usize = 500;
pub const MAX_EVENT_TYPES: usize = 32;
/// A rotation's overlap when none is asked for, and the longest one may be.
pub const DEFAULT_OVERLAP: Duration = Duration::from_secs(24 * 3600);
pub const MAX_OVERLAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// A new endpoint.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// Where events are POSTed: http or https, on a public address.
    #[schema(
        max_length = 2048,
        example = "https://shop.example.com/hooks/orderflow"
    )]
    pub url: String,
    /// The event types delivered (e.g. `order.created`); empty or absent: every type.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub event_types: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 500)]
    pub description: String,
    /// Whether events are delivered (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Changes to an endpoint; an absent field is kept.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    #[schema(max_items = 32)]
    pub event_types: Option<Vec<String>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Enabling clears why orderflow disabled it; its pending deliveries resume.
    pub enabled: Option<bool>,
}

/// An endpoint as the API shows it (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    /// Empty: every type.
    pub event_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Why orderflow disabled it: `gone` (it answered 410) or `failing` (every attempt failed
    /// for too long); null when enabled or disabled by the storefront.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Until then deliveries are also signed with the secret before the last rotation.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    fn from_row(row: &EndpointRow, now: DateTime<Utc>) -> Self {
        Self {
            id: row.endpoint_id,
            url: row.url.clone(),
            event_types: row.event_types.clone(),
            description: row.description.clone(),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason.clone(),
            disabled_at: row.disabled_at,
            previous_secret_valid_until: row.previous_secret_until.filter(|until| *until > now),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// An endpoint with its new secret: the only time the secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WithSecret {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_...`: configure the receiver with it (Standard Webhooks). Shown once.
    pub secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("the endpoint breaks validation rules")]
    Invalid(ValidationErrors),
    #[error("no such webhook endpoint")]
    NotFound,
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Endpoint management for one configuration (sealing key, private addresses allowed or not).
#[derive(Clone)]
pub struct Endpoints {
    store: Store,
    key: SealingKey,
    allow_private: bool,
}

impl Endpoints {
    pub fn new(store: Store, key: SealingKey, allow_private: bool) -> Self {
        Self {
            store,
            key,
            allow_private,
        }
    }

    pub async fn create(
        &self,
        storefront: &str,
        new: NewEndpoint,
    ) -> Result<WithSecret, EndpointError> {
        let mut errors = Vec::new();
        self.check_url(&new.url, &mut errors);
        check_event_types(&new.event_types, &mut errors);
        check_description(&new.description, &mut errors);
        if !errors.is_empty() {
            return Err(EndpointError::Invalid(ValidationErrors(errors)));
        }
        let endpoint_id = Uuid::now_v7();
        let secret = SigningSecret::generate();
        let now = Utc::now();
        let row = EndpointRow {
            endpoint_id,
            storefront_id: storefront.to_owned(),
            url: new.url,
            event_types: new.event_types,
            description: new.description,
            enabled: new.enabled,
            disabled_reason: None,
            disabled_at: None,
            secret: self.key.seal(endpoint_id, &secret),
            previous_secret: None,
            previous_secret_until: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_webhook_endpoint(&row).await?;
        Ok(WithSecret {
            endpoint: Endpoint::from_row(&row, now),
            secret: secret.reveal().expose_secret().to_owned(),
        })
    }

    pub async fn list(&self, storefront: &str) -> Result<Vec<Endpoint>, EndpointError> {
        let now = Utc::now();
        Ok(self
            .store
            .webhook_endpoints(storefront)
            .await?
            .iter()
            .map(|row| Endpoint::from_row(row, now))
            .collect())
    }

    pub async fn get(&self, storefront: &str, id: Uuid) -> Result<Endpoint, EndpointError> {
        let row = self.store.webhook_endpoint(storefront, id).await?;
        row.map(|row| Endpoint::from_row(&row, Utc::now()))
            .ok_or(EndpointError::NotFound)
    }

    pub async fn update(
        &self,
        storefront: &str,
        id: Uuid,
        patch: EndpointPatch,
    ) -> Result<Endpoint, EndpointError> {
        let mut errors = Vec::new();
        if let Some(url) = &patch.url {
            self.check_url(url, &mut errors);
        }
        if let Some(types) = &patch.event_types {
            check_event_types(types, &mut errors);
        }
        if let Some(description) = &patch.description {
            check_description(description, &mut errors);
        }
        if !errors.is_empty() {
            return Err(EndpointError::Invalid(ValidationErrors(errors)));
        }
        let changes = EndpointChanges {
            url: patch.url,
            event_types: patch.event_types,
            description: patch.description,
            enabled: patch.enabled,
        };
        let row = self
            .store
            .update_webhook_endpoint(storefront, id, &changes)
            .await?;
        row.map(|row| Endpoint::from_row(&row, Utc::now()))
            .ok_or(EndpointError::NotFound)
    }

    pub async fn delete(&self, storefront: &str, id: Uuid) -> Result<(), EndpointError> {
        match self.store.delete_webhook_endpoint(storefront, id).await? {
            true => Ok(()),
            false => Err(EndpointError::NotFound),
        }
    }

    /// A new secret signs from now on; the one before signs too until `overlap` has passed.
    pub async fn rotate_secret(
        &self,
        storefront: &str,
        id: Uuid,
        overlap: Duration,
    ) -> Result<WithSecret, EndpointError> {
        if overlap > MAX_OVERLAP {
            return Err(EndpointError::Invalid(ValidationErrors(vec![FieldError {
                field: "overlap_seconds".to_owned(),
                reason: format!("at most {} (7 days)", MAX_OVERLAP.as_secs()),
            }])));
        }
        let secret = SigningSecret::generate();
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(overlap).unwrap_or_default();
        let row = self
            .store
            .rotate_webhook_secret(storefront, id, &self.key.seal(id, &secret), until)
            .await?
            .ok_or(EndpointError::NotFound)?;
        Ok(WithSecret {
            endpoint: Endpoint::from_row(&row, now),
            secret: secret.reveal().expose_secret().to_owned(),
        })
    }

    fn check_url(&self, url: &str, errors: &mut Vec<FieldError>) {
        if let Err(reason) = check_url(url, self.allow_private) {
            errors.push(FieldError {
                field: "url".to_owned(),
                reason,
            });
        }
    }
}

/// The secrets `row` signs with at `now`: its own, and during an overlap the one before.
pub fn signing_keys(
    key: &SealingKey,
    row: &EndpointRow,
    now: DateTime<Utc>,
) -> Result<SigningKeys, OpenError> {
    let mut keys = vec![key.open(row.endpoint_id, &row.secret)?];
    if let (Some(previous), Some(until)) = (&row.previous_secret, row.previous_secret_until)
        && until > now
    {
        keys.push(key.open(row.endpoint_id, previous)?);
    }
    Ok(SigningKeys(keys))
}

/// What an endpoint URL looks like without `--webhooks-allow-private` (the OpenAPI document
/// states it): http or https, a host name of letter-led labels (so no literal address, none
/// private), an optional port (1–65535), a path of visible ASCII without a fragment.
pub const PUBLIC_URL_PATTERN: &str = concat!(
    r"^[hH][tT][tT][pP][sS]?://",
    r"[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+\.?",
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"(/[!-\x22$-~]*)?$"
);

static PUBLIC_URL: std::sync::LazyLock<regex_lite::Regex> = std::sync::LazyLock::new(|| {
    regex_lite::Regex::new(PUBLIC_URL_PATTERN).expect("the URL pattern compiles")
});

fn check_url(url: &str, allow_private: bool) -> Result<(), String> {
    if url.len() > MAX_URL_LEN {
        return Err(format!("at most {MAX_URL_LEN} characters"));
    }
    check_parsed(url, allow_private)?;
    if !allow_private && !PUBLIC_URL.is_match(url) {
        return Err(
            "must be http(s)://<host name>[:port][/path]: a host name, not an \
             address (addresses only with --webhooks-allow-private), visible ASCII, no fragment"
                .to_owned(),
        );
    }
    Ok(())
}

fn check_parsed(url: &str, allow_private: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("must be http or https, not {}", parsed.scheme()));
    }
    if parsed.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    if parsed.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    address::check_host(&parsed, allow_private).map_err(|e| e.to_string())
}

fn check_event_types(types: &[String], errors: &mut Vec<FieldError>) {
    if types.len() > MAX_EVENT_TYPES {
        errors.push(FieldError {
            field: "event_types".to_owned(),
            reason: format!("at most {MAX_EVENT_TYPES}"),
        });
    }
    for (i, name) in types.iter().enumerate() {
        if !super::is_event_type(name) {
            errors.push(FieldError {
                field: format!("event_types[{i}]"),
                reason: format!("{name:?} is not an event type (see the API's description)"),
            });
        } else if types[..i].contains(name) {
            errors.push(FieldError {
                field: format!("event_types[{i}]"),
                reason: format!("{name:?} is listed twice"),
            });
        }
    }
}

fn check_description(description: &str, errors: &mut Vec<FieldError>) {
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        errors.push(FieldError {
            field: "description".to_owned(),
            reason: format!("at most {MAX_DESCRIPTION_LEN} characters"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_for_scheme_host_credentials_and_address() {
        assert!(check_url("https://shop.example.com/hooks", false).is_ok());
        assert!(check_url("https://Shop.Example.com:8443/h?x=1", false).is_ok());
        for url in [
            "https://a.b*",
            "https://93.184.215.14/",
            "https://1a.example.com/",
            "https://a.example.com:65536/",
        ] {
            assert!(check_url(url, false).is_err(), "{url} accepted");
        }
        for (url, says) in [
            ("ftp://shop.example.com/", "http or https"),
            ("not a url", "not a URL"),
            ("https://user:pw@shop.example.com/", "credentials"),
            ("https://shop.example.com/#x", "fragment"),
            ("http://127.0.0.1:9000/", "--webhooks-allow-private"),
            ("http://169.254.169.254/latest", "--webhooks-allow-private"),
        ] {
            let err = check_url(url, false).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
    }

    #[test]
    fn event_types_must_be_known_and_listed_once() {
        let mut errors = Vec::new();
        let types = ["order.created", "order.nope", "order.created"].map(String::from);
        check_event_types(&types, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["event_types[1]", "event_types[2]"]);
    }
}
