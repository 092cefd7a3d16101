//! Stripe in: its webhook notifications become payment facts (ORDER-MODEL.md "Payments").
//! `signature` verifies the `Stripe-Signature` header, `events` reads what a notification
//! means, `webhook` is the endpoint: the storefront is the one whose secret verified, the
//! order comes from the PaymentIntent's metadata (or from the ledger's rows, by
//! PaymentIntent), and the facts go out as RecordPayment/SettlePayment commands.

pub mod events;
pub mod signature;
mod webhook;

pub(super) use webhook::*;

use std::time::Duration;

use secrecy::SecretString;

use crate::domain::StorefrontId;
use signature::SignatureError;

/// One storefront's Stripe webhook endpoint secret (`whsec_...`). Its `Debug` never shows
/// the secret.
#[derive(Debug, Clone)]
pub struct EndpointSecret {
    pub storefront: StorefrontId,
    pub secret: SecretString,
}

impl std::str::FromStr for EndpointSecret {
    type Err = String;

    /// `<storefront>=<secret>`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (storefront, secret) = text
            .split_once('=')
            .ok_or("expected <storefront>=<whsec_...>")?;
        let storefront =
            StorefrontId::parse(storefront.trim()).map_err(|e| format!("the storefront {e}"))?;
        let secret = secret.trim();
        if secret.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Self {
            storefront,
            secret: SecretString::from(secret),
        })
    }
}

/// Every configured endpoint secret (several for one storefront while a secret rotates).
#[derive(Debug)]
pub struct StripeWebhooks {
    secrets: Vec<EndpointSecret>,
    tolerance: Duration,
}

impl StripeWebhooks {
    /// None when no secret is configured: the endpoint then answers 404.
    pub fn new(secrets: Vec<EndpointSecret>) -> Option<Self> {
        (!secrets.is_empty()).then_some(Self {
            secrets,
            tolerance: signature::DEFAULT_TOLERANCE,
        })
    }

    /// `--stripe-webhook-secret` values, then the lines of `--stripe-webhook-secrets-file`
    /// (blank lines and `#` comments skipped).
    pub fn from_config(
        given: &[EndpointSecret],
        file: Option<&std::path::Path>,
    ) -> anyhow::Result<Option<Self>> {
        let mut secrets = given.to_vec();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                secrets.push(
                    line.parse()
                        .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?,
                );
            }
        }
        Ok(Self::new(secrets))
    }

    /// The storefront whose secret signed `body`. A stale timestamp under a matching
    /// signature is refused as such; a header that carries no signature at all as that.
    pub fn verify(
        &self,
        body: &[u8],
        header: &str,
        now: i64,
    ) -> Result<&StorefrontId, SignatureError> {
        for endpoint in &self.secrets {
            match signature::verify(body, header, &endpoint.secret, now, self.tolerance) {
                Ok(_) => return Ok(&endpoint.storefront),
                Err(SignatureError::Mismatch) => {}
                Err(other) => return Err(other),
            }
        }
        Err(SignatureError::Mismatch)
    }

    /// How many secrets are configured (for the start-up log: never the secrets).
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    #[cfg(test)]
    fn secret_of(&self, storefront: &str) -> &str {
        self.secrets
            .iter()
            .find(|s| s.storefront.as_str() == storefront)
            .map(|s| secrecy::ExposeSecret::expose_secret(&s.secret))
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_that_verifies_names_the_storefront_and_debug_never_shows_a_secret() {
        let secrets: Vec<EndpointSecret> = ["shop-a=whsec_a", "shop-b = whsec_b "]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let webhooks = StripeWebhooks::new(secrets).unwrap();
        assert_eq!(webhooks.secret_of("shop-b"), "whsec_b");
        let body = br#"{"id":"evt_1"}"#;
        let signed = signature::sign(body, &SecretString::from("whsec_b"), 1_000);
        assert_eq!(
            webhooks.verify(body, &signed, 1_010).unwrap().as_str(),
            "shop-b"
        );
        let foreign = signature::sign(body, &SecretString::from("whsec_c"), 1_000);
        assert_eq!(
            webhooks.verify(body, &foreign, 1_010),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            webhooks.verify(body, &signed, 2_000),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        let shown = format!("{webhooks:?}");
        assert!(
            !shown.contains("whsec_a") && !shown.contains("whsec_b"),
            "{shown}"
        );
        assert!("shop-a".parse::<EndpointSecret>().is_err());
        assert!("shop-a=".parse::<EndpointSecret>().is_err());
    }
}
