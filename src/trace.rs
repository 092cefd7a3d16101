//! W3C trace context: a command's `traceparent` continues onto the events it causes.

use crate::domain::EventId;

/// The header name, as W3C Trace Context defines it.
pub const HEADER: &str = "traceparent";

/// The trace id of a valid version-00 `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [version, trace, span, flags]
            if *version == "00"
                && hex(trace, 32)
                && hex(span, 16)
                && hex(flags, 2)
                && trace.bytes().any(|b| b != b'0') =>
        {
            Some(trace)
        }
        _ => None,
    }
}

/// The `traceparent` of an event caused by a command that carried `parent`: same trace and
/// flags, a span id of its own (derived from the event id, so a republished event repeats it).
pub fn child(parent: &str, event: EventId) -> Option<String> {
    child_with_span(parent, &event.0.as_bytes()[..8])
}

/// A `traceparent` continuing `parent` (same trace and flags) with the given span id.
pub fn child_with_span(parent: &str, span: &[u8]) -> Option<String> {
    let trace = trace_id(parent)?;
    let flags = &parent[parent.len() - 2..];
    let span = hex::encode(span);
    Some(format!("00-{trace}-{span}-{flags}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_child_keeps_the_trace_and_flags_with_a_new_span() {
        let event = EventId(uuid::Uuid::from_u128(
            0xaabb_ccdd_eeff_0011_2233_4455_6677_8899,
        ));
        assert_eq!(
            child(PARENT, event).unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-aabbccddeeff0011-01"
        );
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
        assert_eq!(trace_id(PARENT), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }
}
