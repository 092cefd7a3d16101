//! One delivery attempt: the signed POST, and what its answer means (ORDER-MODEL.md): 2xx is
//! delivered, 410 disables the endpoint, 429 and 503 are retried no sooner than their
//! `Retry-After`, a redirect is not followed (a failure), no answer within the timeout is a
//! failure, and so is any other status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER, USER_AGENT};

use super::address::{self, GuardedResolver};
use super::secrets::SigningKeys;

/// The most of an answer's body that is read (its start is kept as the error of a failure).
const ANSWER_READ_LIMIT: usize = 4 * 1024;
/// The most of an answer's body kept in `last_error`.
const ERROR_EXCERPT: usize = 200;

/// Where an endpoint's deliveries go and how they are signed.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    pub keys: SigningKeys,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Delivered {
        status: u16,
    },
    /// 410: the receiver says the endpoint is gone for good.
    Gone,
    /// 429 or 503: try again, no sooner than `retry_after` if it said.
    Throttled {
        status: u16,
        retry_after: Option<Duration>,
    },
    Failed {
        status: Option<u16>,
        failure: Failure,
        error: String,
    },
}

/// Why an attempt failed, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Status,
    Redirect,
    Timeout,
    Connect,
    RefusedAddress,
}

impl Answer {
    /// The metric label of this outcome (bounded: no URLs, no ids).
    pub fn outcome(&self) -> &'static str {
        match self {
            Answer::Delivered { .. } => "delivered",
            Answer::Gone => "gone",
            Answer::Throttled { .. } => "throttled",
            Answer::Failed { failure, .. } => match failure {
                Failure::Status => "http_error",
                Failure::Redirect => "redirect",
                Failure::Timeout => "timeout",
                Failure::Connect => "connect_error",
                Failure::RefusedAddress => "refused_address",
            },
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Delivered { status } | Answer::Throttled { status, .. } => Some(*status),
            Answer::Gone => Some(410),
            Answer::Failed { status, .. } => *status,
        }
    }

    /// What went wrong, for `last_error`; None for a delivery.
    pub fn error(&self) -> Option<String> {
        match self {
            Answer::Delivered { .. } => None,
            Answer::Gone => Some("410 Gone: the endpoint is disabled".to_owned()),
            Answer::Throttled {
                status,
                retry_after,
            } => Some(match retry_after {
                Some(after) => format!("{status}, Retry-After {}s", after.as_secs()),
                None => format!("{status}"),
            }),
            Answer::Failed { error, .. } => Some(error.clone()),
        }
    }
}

/// A finished attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub answer: Answer,
}

/// The HTTP client of deliveries: no proxy, no redirects, the guarded resolver, a timeout.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// POSTs `body` to `target`, signed for `webhook_id` at this moment.
    pub async fn attempt(&self, target: &Target, webhook_id: &str, body: Bytes) -> Attempt {
        let started_at = Utc::now();
        let clock = Instant::now();
        let answer = self.send(target, webhook_id, body, started_at).await;
        Attempt {
            started_at,
            latency: clock.elapsed(),
            answer,
        }
    }

    async fn send(
        &self,
        target: &Target,
        webhook_id: &str,
        body: Bytes,
        now: DateTime<Utc>,
    ) -> Answer {
        if let Err(refused) = address::check_host(&target.url, self.allow_private) {
            return refused_address(refused.to_string());
        }
        let timestamp = now.timestamp();
        let signature = match target.keys.signature_header(webhook_id, timestamp, &body) {
            Ok(signature) => signature,
            Err(e) => return refused_address(e.to_string()),
        };
        self.post_signed(&target.url, webhook_id, timestamp, &signature, body, now)
            .await
    }

    /// POSTs a body signed already (the benchmark's ceiling posts the same one in a loop).
    pub async fn post_signed(
        &self,
        url: &Url,
        webhook_id: &str,
        timestamp: i64,
        signature: &str,
        body: impl Into<reqwest::Body>,
        now: DateTime<Utc>,
    ) -> Answer {
        let sent = self
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static("orderflow-webhooks/1"))
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => return failed_to_send(&e),
        };
        if let Some(peer) = response.remote_addr()
            && !self.allow_private
            && !address::is_public(peer.ip())
        {
            return refused_address(address::Refused::Private(peer.ip()).to_string());
        }
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now));
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Read a little of the answer: a short one leaves the connection reusable, and its
        // start says what went wrong.
        let mut excerpt = Vec::new();
        while excerpt.len() < ANSWER_READ_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        let code = status.as_u16();
        if status.is_success() {
            Answer::Delivered { status: code }
        } else if code == 410 {
            Answer::Gone
        } else if code == 429 || code == 503 {
            Answer::Throttled {
                status: code,
                retry_after,
            }
        } else if status.is_redirection() {
            Answer::Failed {
                status: Some(code),
                failure: Failure::Redirect,
                error: format!(
                    "{code}: redirects are not followed (to {})",
                    location.as_deref().unwrap_or("nowhere")
                ),
            }
        } else {
            // Printable text only: a NUL would not even fit in a PostgreSQL text column.
            let text = String::from_utf8_lossy(&excerpt);
            let text: String = text
                .chars()
                .filter(|c| !c.is_control())
                .take(ERROR_EXCERPT)
                .collect();
            Answer::Failed {
                status: Some(code),
                failure: Failure::Status,
                error: format!("{code}: {}", text.trim()),
            }
        }
    }
}

fn refused_address(error: String) -> Answer {
    Answer::Failed {
        status: None,
        failure: Failure::RefusedAddress,
        error,
    }
}

fn failed_to_send(e: &reqwest::Error) -> Answer {
    let refused = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source())
        .any(|e| e.downcast_ref::<address::Refused>().is_some());
    let (failure, what) = if refused {
        (Failure::RefusedAddress, "refused")
    } else if e.is_timeout() {
        (Failure::Timeout, "no answer in time")
    } else {
        (Failure::Connect, "could not connect")
    };
    let mut error = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        error.push_str(&format!(": {s}"));
        source = s.source();
    }
    Answer::Failed {
        status: None,
        failure,
        error,
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value.trim()).ok()?.into();
    Some((at - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Thu, 03 Dec 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
