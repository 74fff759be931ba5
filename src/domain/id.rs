//! [`Id`] and [`Username`]: identifier-like values, checked once where they
//! enter.

use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::MAX_ID_CHARS;

/// An id, project, environment, commit sha or incident reference: not blank,
/// at most [`MAX_ID_CHARS`] characters. It can only be made through
/// [`Id::parse`] or by deserialising, so a value that reaches the domain is
/// always valid. JSON numbers are taken as their decimal text: pipelines send
/// `"id": $GITHUB_RUN_ID` without quotes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(String);

impl Id {
    /// The reason is a phrase to follow the field name: "project_id must not be blank".
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err("must not be blank".into());
        }
        if value.chars().count() > MAX_ID_CHARS {
            return Err(format!("is longer than {MAX_ID_CHARS} characters"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct IdVisitor;

        impl Visitor<'_> for IdVisitor {
            type Value = Id;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Id::parse(v).map_err(E::custom)
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Id, E> {
                Id::parse(v).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }

        de.deserialize_any(IdVisitor)
    }
}

/// The person behind a deployment, as a pipeline or Git host names them:
/// not blank, at most [`MAX_ID_CHARS`] characters. Personal data: kept only
/// with EM_METRICS_STORE_USERNAMES, and erased by `DELETE /usernames/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// The reason is a phrase to follow the field name, as for [`Id::parse`].
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err("must not be blank".into());
        }
        if value.chars().count() > MAX_ID_CHARS {
            return Err(format!("is longer than {MAX_ID_CHARS} characters"));
        }
        Ok(Self(value))
    }

    /// A username field that may be missing: blank counts as none (CI
    /// variables are often empty), too long is an error.
    pub fn optional(value: Option<String>) -> Result<Option<Self>, String> {
        value.filter(|v| !v.trim().is_empty()).map(Self::parse).transpose()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Username {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username in a JSON body: blank counts as none; a name that is too long
/// is refused, naming the field.
impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Username::parse(String::deserialize(de)?).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(text: &str) -> Result<Id, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn numbers_are_taken_as_their_decimal_text() {
        assert_eq!(from_json("12345").expect("ok").as_str(), "12345");
        assert_eq!(from_json("-7").expect("ok").as_str(), "-7");
    }

    #[test]
    fn blank_and_overlong_values_are_refused_with_a_reason() {
        assert!(from_json("\"  \"").expect_err("blank").contains("blank"));
        let long = format!("\"{}\"", "é".repeat(MAX_ID_CHARS + 1));
        assert!(from_json(&long).expect_err("long").contains("longer than 200"));
        let exactly = format!("\"{}\"", "é".repeat(MAX_ID_CHARS));
        assert!(from_json(&exactly).is_ok(), "200 characters, not bytes, is the limit");
        assert!(from_json("true").expect_err("bool").contains("a string"));
    }

    #[test]
    fn a_blank_username_counts_as_none_and_a_long_one_is_refused() {
        assert_eq!(Username::optional(Some("  ".into())), Ok(None));
        assert_eq!(Username::optional(None), Ok(None));
        assert_eq!(Username::optional(Some("jane".into())).expect("ok").as_deref(), Some("jane"));
        assert!(Username::optional(Some("j".repeat(MAX_ID_CHARS + 1))).expect_err("long").contains("longer"));
        assert!(Username::parse(" ").expect_err("blank").contains("blank"));
    }
}
