//! Timestamps as clients parse them: UTC, milliseconds, a literal `Z` (go-tfe refuses `+00:00`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn format(at: &DateTime<Utc>) -> String {
    // Not `format("%Y-...")`: that parses its pattern on every call, and every resource
    // carries a few timestamps.
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(at))
}

pub fn serialize_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&format(at)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn always_z() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-22T03:04:05.123456+00:00").unwrap();
        assert_eq!(
            super::format(&at.with_timezone(&chrono::Utc)),
            "2026-11-22T03:04:05.123Z"
        );
        let whole = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z").unwrap();
        assert_eq!(
            super::format(&whole.with_timezone(&chrono::Utc)),
            "2026-01-02T00:00:00.000Z"
        );
    }
}
