//! The `Stripe-Signature` header, verified as Stripe documents it
//! (<https://docs.stripe.com/webhooks#verify-manually>): the header is `t=<unix seconds>`
//! and one or more `v1=<hex>` (several during a secret's rotation); a `v1` is the
//! HMAC-SHA256, keyed with the endpoint's whole secret (`whsec_...`), of `"<t>.<raw body>"`.
//! One matching `v1` suffices, compared in constant time; the timestamp must be within the
//! tolerance of now (Stripe's libraries default to 300 s), which limits replays.

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Stripe's libraries' default tolerance.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a notification is not taken as Stripe's (answered 400, nothing produced).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header has no timestamp (t=...)")]
    NoTimestamp,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    #[error("no v1 signature matches the body")]
    Mismatch,
    #[error("the signature's timestamp is {age_s} s from now, beyond the tolerance")]
    OutsideTolerance { age_s: i64 },
}

/// Verifies `header` for the raw `body` with the endpoint's `secret` at `now` (unix seconds);
/// returns the signed timestamp.
pub fn verify(
    body: &[u8],
    header: &str,
    secret: &SecretString,
    now: i64,
    tolerance: Duration,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            // A v1 that is not hex can match nothing: skipped, as Stripe's libraries do.
            Some(("v1", v1)) => signatures.extend(hex::decode(v1).ok()),
            _ => {} // v0 (test mode's old scheme) and anything newer are not ours to check
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::NoTimestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let mac = signed_payload_mac(body, secret, timestamp);
    if !signatures
        .iter()
        .any(|signature| mac.clone().verify_slice(signature).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let age_s = now.saturating_sub(timestamp);
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age_s.abs() > tolerance {
        return Err(SignatureError::OutsideTolerance { age_s });
    }
    Ok(timestamp)
}

/// The HMAC-SHA256 of Stripe's signed payload, `"<timestamp>.<body>"`, keyed with the whole
/// endpoint secret.
fn signed_payload_mac(body: &[u8], secret: &SecretString, timestamp: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The header Stripe would send for `body` at `timestamp`: for tests, and checked against the
/// official library's output below.
pub fn sign(body: &[u8], secret: &SecretString, timestamp: i64) -> String {
    let mac = signed_payload_mac(body, secret, timestamp);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated with Stripe's official Python library (`stripe` 16.1.0):
    /// `stripe._webhook.WebhookSignature.generate_signature_header(BODY, SECRET,
    /// timestamp=1764760000)`, which its `verify_header` accepts.
    const BODY: &str = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","metadata":{"order_id":"0d3c4a5e-6b7f-4c8d-9e0f-112233445566"}}}}"#;
    const SECRET: &str = "whsec_test_secret_0123456789";
    const AT: i64 = 1_764_760_000;
    const STRIPE_HEADER: &str =
        "t=1764760000,v1=126bd048fc267ef8c7873942aa6f8085cb839b8e08e5038dfb22bd0dc220ae2a";

    fn secret() -> SecretString {
        SecretString::from(SECRET)
    }

    fn check(body: &str, header: &str, now: i64) -> Result<i64, SignatureError> {
        verify(body.as_bytes(), header, &secret(), now, DEFAULT_TOLERANCE)
    }

    #[test]
    fn the_official_librarys_signature_verifies_and_ours_is_the_same() {
        assert_eq!(check(BODY, STRIPE_HEADER, AT + 10), Ok(AT));
        assert_eq!(sign(BODY.as_bytes(), &secret(), AT), STRIPE_HEADER);
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_a_mismatch() {
        let tampered = BODY.replace("pi_1", "pi_2");
        assert_eq!(
            check(&tampered, STRIPE_HEADER, AT),
            Err(SignatureError::Mismatch)
        );
        let other = SecretString::from("whsec_other");
        assert_eq!(
            verify(
                BODY.as_bytes(),
                STRIPE_HEADER,
                &other,
                AT,
                DEFAULT_TOLERANCE
            ),
            Err(SignatureError::Mismatch)
        );
        let retimed = STRIPE_HEADER.replace("t=1764760000", "t=1764760001");
        assert_eq!(check(BODY, &retimed, AT), Err(SignatureError::Mismatch));
    }

    #[test]
    fn one_matching_signature_of_several_suffices() {
        let v1 = STRIPE_HEADER.split_once(",v1=").unwrap().1;
        let rotated = format!("t={AT},v1={},v0=abc,v1={v1}", "0".repeat(64));
        assert_eq!(check(BODY, &rotated, AT), Ok(AT));
        let none_match = format!("t={AT},v1={},v1=not-hex", "0".repeat(64));
        assert_eq!(check(BODY, &none_match, AT), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_timestamp_beyond_the_tolerance_is_refused() {
        assert_eq!(check(BODY, STRIPE_HEADER, AT + 300), Ok(AT));
        assert_eq!(
            check(BODY, STRIPE_HEADER, AT + 301),
            Err(SignatureError::OutsideTolerance { age_s: 301 })
        );
        assert_eq!(
            check(BODY, STRIPE_HEADER, AT - 301),
            Err(SignatureError::OutsideTolerance { age_s: -301 })
        );
    }

    #[test]
    fn a_header_without_timestamp_or_v1_is_refused() {
        let v1 = STRIPE_HEADER.split_once(',').unwrap().1;
        assert_eq!(check(BODY, v1, AT), Err(SignatureError::NoTimestamp));
        assert_eq!(
            check(BODY, &format!("t={AT},v0=abc"), AT),
            Err(SignatureError::NoSignature)
        );
        assert_eq!(check(BODY, "", AT), Err(SignatureError::NoTimestamp));
    }
}
