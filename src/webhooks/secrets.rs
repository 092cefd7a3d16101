//! Endpoint secrets: generated per endpoint (`whsec_` and 32 random bytes, base64), shown
//! once, stored sealed with a key from configuration, and used to sign deliveries the
//! Standard Webhooks way (the `standardwebhooks` crate computes each signature).

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use uuid::Uuid;

const PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// An endpoint's signing secret. `Debug` never shows it; clones share it.
#[derive(Clone)]
pub struct SigningSecret(Arc<SecretBox<Vec<u8>>>);

impl SigningSecret {
    pub fn generate() -> Self {
        let mut key = vec![0; SECRET_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self(Arc::new(SecretBox::new(Box::new(key))))
    }

    /// A `whsec_<base64>` secret (or the base64 alone).
    pub fn parse(s: &str) -> Result<Self, String> {
        let key = STANDARD
            .decode(s.strip_prefix(PREFIX).unwrap_or(s))
            .map_err(|e| format!("not a whsec_ secret: {e}"))?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "a secret is 24 to 64 bytes, this one {}",
                key.len()
            ));
        }
        Ok(Self(Arc::new(SecretBox::new(Box::new(key)))))
    }

    /// The `whsec_...` form a storefront configures its receiver with: shown once.
    pub fn reveal(&self) -> SecretString {
        format!("{PREFIX}{}", STANDARD.encode(self.0.expose_secret())).into()
    }

    /// The Standard Webhooks signature `v1,<base64>` of `id.timestamp.body`.
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignError> {
        standardwebhooks::Webhook::from_bytes(self.0.expose_secret().clone())
            .and_then(|w| w.sign(id, timestamp, body))
            .map_err(|_| SignError)
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(redacted)")
    }
}

/// A body that is not UTF-8 (ours are JSON, so never).
#[derive(Debug, thiserror::Error)]
#[error("a webhook body must be UTF-8")]
pub struct SignError;

/// The secrets an endpoint signs with now: during a rotation's overlap, the new one and the
/// one before it.
#[derive(Debug, Clone)]
pub struct SigningKeys(pub Vec<SigningSecret>);

impl SigningKeys {
    /// The `webhook-signature` header: one `v1,<signature>` per secret, space-separated.
    pub fn signature_header(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, SignError> {
        let signatures: Result<Vec<String>, SignError> = self
            .0
            .iter()
            .map(|secret| secret.sign(id, timestamp, body))
            .collect();
        Ok(signatures?.join(" "))
    }
}

/// The key that seals endpoint secrets at rest (`--webhooks-secret-key`): 32 bytes, base64.
#[derive(Clone)]
pub struct SealingKey(Arc<SecretBox<[u8; 32]>>);

impl SealingKey {
    pub fn parse(base64: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(base64.trim())
            .map_err(|e| format!("not base64: {e}"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "the key is 32 bytes (e.g. `openssl rand -base64 32`), this one {}",
                b.len()
            )
        })?;
        Ok(Self(Arc::new(SecretBox::new(Box::new(key)))))
    }

    /// A new random key, base64 (for `orderflow webhooks generate-key`).
    pub fn generate_base64() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.expose_secret().into())
    }

    /// `secret` sealed for `endpoint`: nonce, then ciphertext and tag. The endpoint id is
    /// associated data, so a sealed secret copied to another endpoint's row does not open.
    pub fn seal(&self, endpoint: Uuid, secret: &SigningSecret) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.0.expose_secret(),
                    aad: endpoint.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any message shorter than 256 GiB");
        [nonce.as_slice(), &sealed].concat()
    }

    pub fn open(&self, endpoint: Uuid, sealed: &[u8]) -> Result<SigningSecret, OpenError> {
        if sealed.len() <= NONCE_BYTES {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce's length");
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: endpoint.as_bytes(),
                },
            )
            .map(|key| SigningSecret(Arc::new(SecretBox::new(Box::new(key)))))
            .map_err(|_| OpenError)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(redacted)")
    }
}

/// A stored secret that does not open with this key: another key sealed it, or the row was
/// altered.
#[derive(Debug, thiserror::Error)]
#[error("an endpoint secret does not open with the configured --webhooks-secret-key")]
pub struct OpenError;

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's published example (its reference libraries'
    /// `test_sign`): this secret, id, timestamp and body sign to exactly this.
    #[test]
    fn signatures_match_the_specifications_published_vector() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let keys = SigningKeys(vec![secret]);
        let header = keys
            .signature_header(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn during_an_overlap_each_secret_signs() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        let both = SigningKeys(vec![a.clone(), b.clone()]);
        let header = both.signature_header("msg_1", 1, b"{}").unwrap();
        let alone = |s: &SigningSecret| {
            SigningKeys(vec![s.clone()])
                .signature_header("msg_1", 1, b"{}")
                .unwrap()
        };
        assert_eq!(header, format!("{} {}", alone(&a), alone(&b)));
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_for_its_endpoint() {
        let key = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
        let other = SealingKey::parse(&SealingKey::generate_base64()).unwrap();
        let (endpoint, elsewhere) = (Uuid::new_v4(), Uuid::new_v4());
        let secret = SigningSecret::generate();
        let sealed = key.seal(endpoint, &secret);
        assert!(
            !sealed
                .windows(SECRET_BYTES)
                .any(|w| w == secret.0.expose_secret().as_slice()),
            "the secret is stored in the clear"
        );
        let opened = key.open(endpoint, &sealed).unwrap();
        assert_eq!(
            opened.reveal().expose_secret(),
            secret.reveal().expose_secret()
        );
        assert!(other.open(endpoint, &sealed).is_err());
        assert!(key.open(elsewhere, &sealed).is_err());
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let secret = SigningSecret::generate();
        let shown = secret.reveal();
        let key_b64 = SealingKey::generate_base64();
        let key = SealingKey::parse(&key_b64).unwrap();
        let debug = format!("{secret:?} {:?} {key:?}", SigningKeys(vec![secret.clone()]));
        assert!(
            !debug.contains(&shown.expose_secret()[PREFIX.len()..]),
            "{debug}"
        );
        assert!(!debug.contains(&key_b64), "{debug}");
    }

    #[test]
    fn bad_keys_and_secrets_say_what_is_wrong() {
        assert!(
            SealingKey::parse("c2hvcnQ=")
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(
            SigningSecret::parse("whsec_!!")
                .unwrap_err()
                .contains("whsec_")
        );
        assert!(
            SigningSecret::parse("whsec_c2hvcnQ=")
                .unwrap_err()
                .contains("24 to 64")
        );
    }
}
