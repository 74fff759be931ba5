//! Dashboard sessions: what a token login leaves in the browser, and the
//! limit on failed logins.
//!
//! A session is a random 256-bit id in an `HttpOnly` cookie; the server
//! keeps only the SHA-256 of each live id and when it expires. So the cookie
//! holds no token, a stolen copy of the server's memory holds no usable
//! cookie, and logging out really ends the session (a signed cookie would
//! stay valid until it expired). Sessions live in memory: a restart signs
//! everyone out, which for a dashboard costs one login.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const SESSION_COOKIE: &str = "em_metrics_session";
/// How long a session lasts from its login, whatever happens in between.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Live sessions kept at most; past it the oldest is dropped. A bound, so a
/// script logging in in a loop cannot grow the server's memory.
const MAX_SESSIONS: usize = 10_000;

/// Failed logins a client address may make per [`FAILED_LOGIN_WINDOW`];
/// more are refused (429) without the token being compared.
pub const MAX_FAILED_LOGINS: u32 = 5;
pub const FAILED_LOGIN_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Client addresses tracked at most.
const MAX_TRACKED_CLIENTS: usize = 10_000;

type IdHash = [u8; 32];

/// The live sessions and the failed logins, shared by every request.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<IdHash, Instant>>,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
}

impl Sessions {
    /// Starts a session and returns its id, for the cookie only.
    pub fn create(&self) -> Option<String> {
        let mut id = [0u8; 32];
        // The OS's generator; without it there is no safe session to give.
        getrandom::fill(&mut id).ok()?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id);
        let now = Instant::now();
        let mut live = lock(&self.live);
        if live.len() >= MAX_SESSIONS {
            live.retain(|_, expires| *expires > now);
        }
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, expires)| **expires).map(|(k, _)| *k) {
                live.remove(&oldest);
            }
        }
        live.insert(hash(&id), now + SESSION_LIFETIME);
        Some(id)
    }

    /// Whether the request carries the cookie of a live session.
    pub fn is_signed_in(&self, headers: &HeaderMap) -> bool {
        let Some(id) = cookie(headers) else { return false };
        let key = hash(id);
        let mut live = lock(&self.live);
        match live.get(&key) {
            Some(expires) if *expires > Instant::now() => true,
            Some(_) => {
                live.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Ends the session of the request's cookie, if any.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            lock(&self.live).remove(&hash(id));
        }
    }

    /// How long `client` must wait before it may try again, when it used up
    /// its failed logins.
    pub fn login_blocked_for(&self, client: IpAddr) -> Option<Duration> {
        let failures = lock(&self.failures).get(&client).copied()?;
        let elapsed = failures.since.elapsed();
        (failures.count >= MAX_FAILED_LOGINS && elapsed < FAILED_LOGIN_WINDOW).then(|| FAILED_LOGIN_WINDOW - elapsed)
    }

    /// Counts a failed login of `client`: a fixed window that starts at its
    /// first failure. Only failures count, so people who type their token
    /// right are never slowed down.
    pub fn login_failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED_CLIENTS {
            failures.retain(|_, f| now.duration_since(f.since) < FAILED_LOGIN_WINDOW);
            if failures.len() >= MAX_TRACKED_CLIENTS {
                // Full of clients failing right now: forget them all rather
                // than grow. A flood from many addresses gets a fresh count.
                failures.clear();
            }
        }
        let entry = failures.entry(client).or_insert(Failures { since: now, count: 0 });
        if now.duration_since(entry.since) >= FAILED_LOGIN_WINDOW {
            *entry = Failures { since: now, count: 0 };
        }
        entry.count += 1;
    }
}

/// The value of the session cookie in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}

fn hash(id: &str) -> IdHash {
    Sha256::digest(id.as_bytes()).into()
}

/// A poisoned lock only means another request panicked mid-update of a
/// map that stays valid; keep serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `Set-Cookie` value of a new session. `Secure` when the browser came
/// over https (directly or through a proxy that says so): over plain http
/// the browser would drop a Secure cookie and the login would loop.
pub fn set_cookie(id: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; Max-Age={}; Path=/; HttpOnly; SameSite=Strict{secure}", SESSION_LIFETIME.as_secs())
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{secure}")
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
    fn a_created_session_is_signed_in_until_it_is_ended() {
        let sessions = Sessions::default();
        let id = sessions.create().expect("random");
        assert_eq!(id.len(), 43, "256 bits in base64url");
        let headers = with_cookie(&format!("theme=dark; {SESSION_COOKIE}={id}"));
        assert!(sessions.is_signed_in(&headers));
        assert!(!sessions.is_signed_in(&with_cookie(&format!("{SESSION_COOKIE}={id}x"))));
        sessions.end(&headers);
        assert!(!sessions.is_signed_in(&headers));
    }

    #[test]
    fn two_sessions_get_different_ids() {
        let sessions = Sessions::default();
        assert_ne!(sessions.create(), sessions.create());
    }

    #[test]
    fn failed_logins_block_a_client_after_the_limit_and_not_others() {
        let sessions = Sessions::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        for _ in 0..MAX_FAILED_LOGINS - 1 {
            sessions.login_failed(a);
        }
        assert_eq!(sessions.login_blocked_for(a), None);
        sessions.login_failed(a);
        let wait = sessions.login_blocked_for(a).expect("blocked");
        assert!(wait <= FAILED_LOGIN_WINDOW && wait > FAILED_LOGIN_WINDOW - Duration::from_secs(5));
        assert_eq!(sessions.login_blocked_for(b), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_over_https() {
        let plain = set_cookie("abc", false);
        assert_eq!(plain, "em_metrics_session=abc; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict");
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
