//! Secrets: values that never reach a log, a URL or a page.

use std::fmt;

/// A secret that prints as `[redacted]` in Debug output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `text` with the user information of `url` (`user:password@`) replaced
/// by `[redacted]`: a collector or database URL may carry them, and logs must not.
pub fn redact(text: &str, url: &str) -> String {
    let userinfo = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(rest))
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(userinfo, _)| userinfo)
        .filter(|u| !u.is_empty());
    match userinfo {
        Some(u) => text.replace(&format!("{u}@"), "[redacted]@").replace(u, "[redacted]"),
        None => text.to_string(),
    }
}
