//! Request bodies are JSON to the letter: exactly one value and nothing after it, and no
//! object that names a member twice (RFC 8259 leaves duplicates to the parser; serde would
//! silently keep the last one, so two readers of the same body could disagree).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Checks `body`; the error names where it went wrong (`metadata: duplicate member "a"`).
pub(super) fn check(body: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize::<_, Strict>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        }
    })?;
    de.end()
        .map_err(|e| format!("nothing may follow the JSON value: {e}"))
}

/// Any JSON value, checked on the way.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom(format!("duplicate member {name:?}")));
            }
            map.next_value::<Strict>()?;
        }
        Ok(Strict)
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn one_value_with_distinct_members_passes() {
        assert_eq!(
            check(br#" {"a": [1, {"b": null}], "c": {"a": "x"}} "#),
            Ok(())
        );
    }

    #[test]
    fn anything_after_the_value_is_refused() {
        let error = check(br#"{"a": 1} {"a": 2}"#).unwrap_err();
        assert!(error.starts_with("nothing may follow"), "{error}");
        assert!(check(br#"{"a": 1}x"#).is_err());
    }

    #[test]
    fn a_member_named_twice_is_refused_with_its_path() {
        assert_eq!(
            check(br#"{"customer_id": "a", "customer_id": "b"}"#).unwrap_err(),
            "duplicate member \"customer_id\" at line 1 column 34"
        );
        let nested = check(br#"{"metadata": {"k": "1", "k": "2"}}"#).unwrap_err();
        assert!(
            nested.starts_with("metadata: duplicate member \"k\""),
            "{nested}"
        );
        let in_list = check(br#"{"items": [{}, {"sku": 1, "sku": 2}]}"#).unwrap_err();
        assert!(
            in_list.starts_with("items[1]: duplicate member"),
            "{in_list}"
        );
    }
}
