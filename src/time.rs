//! Points in time as the API accepts and returns them.
//!
//! Stored as integer milliseconds since the Unix epoch (UTC), so that SQLite
//! sorts and compares them as plain integers and range queries use indexes.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Largest accepted time: 9999-12-31T23:59:59Z, the last second RFC 3339 can write.
const MAX_SECONDS: i64 = 253_402_300_799;
/// Smallest accepted RFC 3339 time: 0001-01-01T00:00:00Z. (Unix seconds start at
/// 0: a negative number there is far more likely a bug than a date.)
const MIN_SECONDS: i64 = -62_135_596_800;

/// The sentence every bad time gets, so users learn both accepted forms at once.
pub const TIME_FORMS: &str = "an RFC 3339 time with an offset (2024-05-01T10:00:00Z) or an integer of Unix seconds";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        (0..=MAX_SECONDS).contains(&seconds).then(|| Self(seconds * 1000))
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// Seconds from `earlier` to `self`, with millisecond precision.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1000.0
    }

    /// Parses the two accepted input forms: RFC 3339 with an offset, or Unix
    /// seconds (as a JSON integer or a string of digits, which is what
    /// `$(date +%s)` inside a quoted JSON string produces).
    pub fn parse(input: &str) -> Result<Self, String> {
        let text = input.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return match text.parse::<i64>() {
                Ok(n) => Self::from_unix_number(n),
                Err(_) => Err(format!("`{}` is out of range: expected {TIME_FORMS}", short(text))),
            };
        }
        let parsed =
            DateTime::parse_from_rfc3339(text).map_err(|_| format!("`{}` is not {TIME_FORMS}", short(text)))?;
        let ms = parsed.timestamp_millis();
        if !(MIN_SECONDS * 1000..=MAX_SECONDS * 1000 + 999).contains(&ms) {
            return Err(format!("`{}` is out of range (years 0001 to 9999): expected {TIME_FORMS}", short(text)));
        }
        Ok(Self(ms))
    }

    /// Unix seconds, with a message that helps when they were milliseconds:
    /// a 13-digit number is what `Date.now()` and `date +%s%3N` print.
    fn from_unix_number(n: i64) -> Result<Self, String> {
        if (1_000_000_000_000..10_000_000_000_000).contains(&n) {
            return Err(format!("{n} looks like Unix milliseconds: send Unix seconds ({}) or RFC 3339", n / 1000));
        }
        Self::from_unix_seconds(n).ok_or_else(|| format!("{n} is out of range: expected {TIME_FORMS}"))
    }

    pub fn to_rfc3339(self) -> String {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            // Unreachable for values built by this module; keep the raw number visible.
            None => self.0.to_string(),
        }
    }
}

/// Keeps error messages short when someone sends a megabyte as a time.
fn short(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(TIME_FORMS)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Timestamp::from_unix_number(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            /// `1714557600.0` is an integer to JSON Schema, so it is one here too.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if v.fract() == 0.0 && (0.0..=MAX_SECONDS as f64).contains(&v) {
                    return self.visit_i64(v as i64);
                }
                Err(E::custom(format!("{v} is not {TIME_FORMS}")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// In the OpenAPI document a time is either form the API accepts.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).maximum(Some(MAX_SECONDS)))
            .description(Some(TIME_FORMS))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offset_is_normalised_to_utc_milliseconds() {
        let t = Timestamp::parse("2024-05-01T12:00:00+02:00").expect("valid");
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00.000Z");
    }

    #[test]
    fn unix_seconds_as_digits_are_accepted() {
        let t = Timestamp::parse("1714557600").expect("valid");
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00.000Z");
    }

    #[test]
    fn times_without_offset_or_out_of_range_are_rejected() {
        assert!(Timestamp::parse("2024-05-01T10:00:00").is_err());
        assert!(Timestamp::parse("-0001-12-31T23:59:59Z").is_err());
        assert!(Timestamp::parse("99999999999999999999").is_err());
        assert!(Timestamp::parse("").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn rfc3339_times_before_1970_are_kept_and_sort_first() {
        let old = Timestamp::parse("1969-07-20T20:17:40Z").expect("valid");
        assert!(old < Timestamp::parse("1970-01-01T00:00:00Z").expect("valid"));
        assert_eq!(old.to_rfc3339(), "1969-07-20T20:17:40.000Z");
        assert!(Timestamp::parse("0001-01-01T00:00:00Z").is_ok());
    }

    #[test]
    fn thirteen_digit_numbers_are_taken_for_milliseconds_and_refused_with_the_seconds() {
        let err = serde_json::from_str::<Timestamp>("1714557600000").expect_err("milliseconds");
        assert!(err.to_string().contains("looks like Unix milliseconds") && err.to_string().contains("1714557600"));
        assert!(Timestamp::parse("1714557600000").expect_err("as text too").contains("milliseconds"));
        assert!(Timestamp::parse("99999999999999").expect_err("14 digits").contains("out of range"));
    }

    #[test]
    fn json_integers_and_strings_both_deserialize() {
        let a: Timestamp = serde_json::from_str("1714557600").expect("int");
        let b: Timestamp = serde_json::from_str("\"2024-05-01T10:00:00Z\"").expect("str");
        assert_eq!(a, b);
        assert!(serde_json::from_str::<Timestamp>("1.5").is_err());
        assert_eq!(serde_json::from_str::<Timestamp>("1714557600.0").ok(), Some(a));
        assert!(serde_json::from_str::<Timestamp>("-5").is_err());
    }
}
