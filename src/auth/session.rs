//! Dashboard sessions: what a sign-in leaves in the browser.
//!
//! A session is a random 256-bit id in an `HttpOnly`, `SameSite=Strict`
//! cookie. The store keeps only the SHA-256 of each id, with who signed in,
//! their role and projects, and when it ends ([`crate::store::SessionRecord`]).
//! So the cookie holds no token, a copy of the database holds no usable
//! cookie, signing out really ends the session, every replica knows it, and
//! revoking a token ends the sessions made with it.
//!
//! The dashboard's forms carry a CSRF token that must match a second cookie
//! (`em_metrics_csrf`): another site can neither read that cookie nor make
//! the browser send it (`SameSite=Strict`), so it cannot fill in the form.

use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Principal;
use crate::domain::Scope;
use crate::store::SessionRecord;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "em_metrics_session";
/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "em_metrics_csrf";
/// How long a session lasts from its sign-in, whatever happens in between.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A new random id (for a session or a CSRF token), base64url, with its
/// SHA-256. None when the OS has no random numbers to give.
pub fn new_id() -> Option<(String, [u8; 32])> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&id);
    Some((id, hash))
}

pub fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Who a stored session is.
pub fn principal(record: &SessionRecord) -> Principal {
    Principal { actor: record.actor.as_str().into(), role: record.role, scope: Scope::from(record.projects.clone()) }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// The hash of the request's session id, when it carries one.
pub fn session_of(headers: &HeaderMap) -> Option<[u8; 32]> {
    cookie(headers, SESSION_COOKIE).map(hash)
}

/// Whether a form's CSRF field matches the request's CSRF cookie.
pub fn csrf_matches(headers: &HeaderMap, field: &str) -> bool {
    cookie(headers, CSRF_COOKIE).is_some_and(|c| !field.is_empty() && bool::from(c.as_bytes().ct_eq(field.as_bytes())))
}

/// The `Set-Cookie` value of a new session. `Secure` when the browser came
/// over https (directly or through a proxy that says so): over plain http
/// the browser would drop a Secure cookie and the sign-in would loop.
pub fn set_cookie(id: &str, https: bool) -> String {
    set(SESSION_COOKIE, id, SESSION_LIFETIME.as_secs(), https)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    set(SESSION_COOKIE, "", 0, https)
}

/// The `Set-Cookie` value of a CSRF token, for the session's length.
pub fn set_csrf_cookie(token: &str, https: bool) -> String {
    set(CSRF_COOKIE, token, SESSION_LIFETIME.as_secs(), https)
}

fn set(name: &str, value: &str, max_age: u64, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(value).expect("header"));
        h
    }

    #[test]
    fn ids_are_random_256_bits_and_found_among_other_cookies() {
        let (id, digest) = new_id().expect("random");
        assert_eq!(id.len(), 43, "256 bits in base64url");
        assert_ne!(new_id().expect("random").0, id);
        let headers = with_cookie(&format!("theme=dark; {SESSION_COOKIE}={id}"));
        assert_eq!(session_of(&headers), Some(digest));
        assert_eq!(session_of(&with_cookie("theme=dark")), None);
    }

    #[test]
    fn a_csrf_field_must_match_its_cookie() {
        let headers = with_cookie(&format!("{CSRF_COOKIE}=abc"));
        assert!(csrf_matches(&headers, "abc"));
        assert!(!csrf_matches(&headers, "abd"));
        assert!(!csrf_matches(&headers, ""));
        assert!(!csrf_matches(&with_cookie(&format!("{CSRF_COOKIE}=")), ""));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_over_https() {
        let plain = set_cookie("abc", false);
        assert_eq!(plain, "em_metrics_session=abc; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict");
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
