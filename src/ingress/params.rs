//! The formats of the headers and query parameters the API reads, each with the pattern the
//! OpenAPI document states for it (`openapi.rs` writes these constants into the document;
//! the unit tests below hold the parsers to them).

use std::time::Duration;

use axum::http::{HeaderMap, header};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::ApiError;

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub(crate) const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";
/// `If-Match`: an order version, bare or quoted as the ETag shows it. At most 18 digits:
/// versions travel as Avro longs (≤ 2⁶³ − 1, 19 digits, not all of them fit).
pub(crate) const IF_MATCH_PATTERN: &str = "^(\"[0-9]{1,18}\"|[0-9]{1,18})$";
/// `wait`: milliseconds or seconds, e.g. `500ms`, `5s`.
pub(crate) const WAIT_PATTERN: &str = "^[0-9]{1,9}(ms|s)$";
/// `cursor`: a position in the list (microseconds since the epoch of `created_at`, `_`, the
/// order id as 32 hex digits). Any position is a valid cursor.
pub(crate) const CURSOR_PATTERN: &str = "^[0-9]{1,16}_[0-9a-f]{32}$";

pub(super) const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// The `Idempotency-Key` header, if given.
pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if (1..=MAX_IDEMPOTENCY_KEY_LEN).contains(&bytes.len())
        && bytes.iter().all(|b| (b'!'..=b'~').contains(b))
    {
        // Visible ASCII is UTF-8.
        Ok(value.to_str().ok())
    } else {
        Err(ApiError::BadHeader(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters (no spaces)"
        )))
    }
}

/// `If-Match: <version>` (quoted or not) becomes the command's expected version.
pub(super) fn expected_version(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let digits = match bytes {
        [b'"', inner @ .., b'"'] => inner,
        bare => bare,
    };
    if (1..=18).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
        let text = std::str::from_utf8(digits).expect("ASCII digits");
        Ok(Some(text.parse().expect("18 digits fit in a u64")))
    } else {
        let shown = String::from_utf8_lossy(bytes);
        Err(ApiError::BadHeader(format!(
            "If-Match must be an order version such as 3 or \"3\", got {shown:?}"
        )))
    }
}

/// The `wait` of a long poll.
pub(super) fn wait(value: &str) -> Result<Duration, ApiError> {
    let (digits, unit) = match value.strip_suffix("ms") {
        Some(digits) => (digits, Duration::from_millis(1)),
        None => (
            value.strip_suffix('s').unwrap_or_default(),
            Duration::from_secs(1),
        ),
    };
    if (1..=9).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        let n: u32 = digits.parse().expect("9 digits fit in a u32");
        Ok(unit * n)
    } else {
        Err(ApiError::BadQuery(format!(
            "wait must be milliseconds or seconds such as 500ms or 5s, got {value:?}"
        )))
    }
}

/// A keyset position: the (created_at, order_id) of the last order of a page.
pub(super) fn encode_cursor(created_at: DateTime<Utc>, order_id: Uuid) -> String {
    format!("{}_{}", created_at.timestamp_micros(), order_id.simple())
}

pub(super) fn decode_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let bad = || ApiError::BadQuery(format!("cursor must match {CURSOR_PATTERN}"));
    let (micros, id) = cursor.split_once('_').ok_or_else(bad)?;
    let well_formed = (1..=16).contains(&micros.len())
        && micros.bytes().all(|b| b.is_ascii_digit())
        && id.len() == 32
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(bad());
    }
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    let order_id = Uuid::try_parse(id).map_err(|_| bad())?;
    Ok((created_at, order_id))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(name: &'static str, value: &[u8]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_bytes(value).unwrap());
        map
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_without_spaces() {
        let key = |v: &[u8]| idempotency_key(&headers("idempotency-key", v)).map(|k| k.is_some());
        assert!(key(b"a").unwrap());
        assert!(key(b"!~").unwrap());
        assert!(key(&[b'k'; 255]).unwrap());
        assert!(key(&[b'k'; 256]).is_err());
        assert!(key(b"").is_err());
        assert!(key(b"a b").is_err());
        assert!(key(b"a\tb").is_err());
        assert!(key("é".as_bytes()).is_err());
        assert_eq!(idempotency_key(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn if_match_is_a_version_bare_or_quoted() {
        let version = |v: &[u8]| expected_version(&headers("if-match", v));
        assert_eq!(version(b"0").unwrap(), Some(0));
        assert_eq!(version(b"\"42\"").unwrap(), Some(42));
        assert_eq!(
            version(b"999999999999999999").unwrap(),
            Some(999_999_999_999_999_999)
        );
        for bad in [
            &b"null"[..],
            b"",
            b"\"\"",
            b"\"3",
            b"3\"",
            b"-1",
            b"+1",
            b"1.0",
            b"W/\"3\"",
            b"9999999999999999999",
            // Over 2^63 - 1: not an Avro long (was a 503 from the encoder).
            b"9439934148672527706",
        ] {
            assert!(version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wait_is_milliseconds_or_seconds() {
        assert_eq!(wait("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(wait("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(wait("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            wait("999999999s").unwrap(),
            Duration::from_secs(999_999_999)
        );
        for bad in [
            "",
            "s",
            "ms",
            "5",
            "5m",
            "1h",
            "5 s",
            "-1s",
            "1.5s",
            "1000000000s",
        ] {
            assert!(wait(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_cursor_of_the_pattern_is_a_position_and_round_trips() {
        let at = DateTime::from_timestamp_micros(1_796_228_629_123_456).unwrap();
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let cursor = encode_cursor(at, id);
        assert_eq!(cursor, "1796228629123456_0123456789abcdef0123456789abcdef");
        assert_eq!(decode_cursor(&cursor).unwrap(), (at, id));
        assert!(decode_cursor("9999999999999999_00000000000000000000000000000000").is_ok());
        assert!(decode_cursor("0_ffffffffffffffffffffffffffffffff").is_ok());
        for bad in [
            "",
            "_",
            "1_",
            "12345678901234567_00000000000000000000000000000000",
            "1_0123456789ABCDEF0123456789abcdef",
            "1_0123456789abcdef0123456789abcde",
            "-1_0123456789abcdef0123456789abcdef",
            "eyJjcmVhdGVkX2F0IjoiMjAyNiJ9",
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
