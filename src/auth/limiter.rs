//! Failed authentication, limited per client address.
//!
//! Each address may fail a number of times per window; past it, its
//! attempts are refused (429) without any credential being compared. The
//! count is taken before a comparison starts (a slot is reserved), so
//! parallel attempts never compare more credentials than the limit.
//!
//! For the API the limit counts *distinct* wrong credentials: a
//! misconfigured job that repeats one wrong token uses one of them (its
//! repeats are answered 403 at once, from memory), so the other jobs of a
//! CI fleet behind the same address go on working; someone guessing tries
//! a new credential each time and is stopped. The sign-in form counts every
//! failure.
//!
//! An address that is blocked stays blocked until its window ends, whatever
//! other addresses do: when the table is full, addresses that are not
//! blocked make room, and a newcomer that finds no room is compared but not
//! tracked. A blocked address is logged once per window, not per request.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Addresses tracked at most.
const MAX_TRACKED: usize = 100_000;

type CredentialHash = [u8; 32];

/// The failures of one address in its current window.
#[derive(Debug)]
struct Client {
    since: Instant,
    /// Wrong credentials seen (distinct ones when the limiter counts those).
    failed: HashSet<CredentialHash>,
    /// Failures counted, for a limiter that counts every one.
    failures: u32,
    /// Comparisons under way.
    pending: u32,
    /// Whether its blocking was logged in this window.
    logged: bool,
}

impl Client {
    fn new(now: Instant) -> Self {
        Self { since: now, failed: HashSet::new(), failures: 0, pending: 0, logged: false }
    }
}

/// What an attempt may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Compare the credential, then call [`Limiter::finish`].
    Compare,
    /// This credential already failed from this address in the window: it
    /// is wrong, no need to compare it again.
    KnownWrong,
    /// Too many failures: try again after this long.
    Blocked(Duration),
}

#[derive(Debug)]
pub struct Limiter {
    /// What the log lines call this limiter ("API", "sign-in").
    name: &'static str,
    pub limit: u32,
    pub window: Duration,
    /// Count distinct wrong credentials (the API) or every failure (the form).
    distinct: bool,
    clients: Mutex<HashMap<IpAddr, Client>>,
}

impl Limiter {
    pub fn new(name: &'static str, limit: u32, window: Duration, distinct: bool) -> Self {
        Self { name, limit, window, distinct, clients: Mutex::new(HashMap::new()) }
    }

    /// Before comparing `credential` from `client`: whether to.
    pub fn attempt(&self, client: IpAddr, credential: &[u8]) -> Attempt {
        let now = Instant::now();
        let hash = hash(credential);
        let mut clients = lock(&self.clients);
        if !clients.contains_key(&client) && clients.len() >= MAX_TRACKED && !make_room(&mut clients, now, self) {
            // Full of blocked addresses: compare, but do not track this one.
            return Attempt::Compare;
        }
        let entry = clients.entry(client).or_insert_with(|| Client::new(now));
        if now.duration_since(entry.since) >= self.window {
            *entry = Client { pending: entry.pending, ..Client::new(now) };
        }
        if self.distinct && entry.failed.contains(&hash) {
            return Attempt::KnownWrong;
        }
        let used = if self.distinct { entry.failed.len() as u32 } else { entry.failures };
        if used + entry.pending >= self.limit {
            let wait = self.window.saturating_sub(now.duration_since(entry.since)).max(Duration::from_secs(1));
            if !entry.logged && used >= self.limit {
                entry.logged = true;
                tracing::warn!(%client, limit = self.limit, window_s = self.window.as_secs(),
                    "{}: too many failed authentications from this address; refused for {} s", self.name, wait.as_secs());
            }
            return Attempt::Blocked(wait);
        }
        entry.pending += 1;
        Attempt::Compare
    }

    /// After comparing: a failure is counted, a success only frees its slot.
    pub fn finish(&self, client: IpAddr, credential: &[u8], succeeded: bool) {
        let mut clients = lock(&self.clients);
        let Some(entry) = clients.get_mut(&client) else { return };
        entry.pending = entry.pending.saturating_sub(1);
        if !succeeded {
            entry.failures += 1;
            entry.failed.insert(hash(credential));
        }
    }

    /// How long `client` must still wait, when it is blocked.
    pub fn blocked_for(&self, client: IpAddr) -> Option<Duration> {
        let clients = lock(&self.clients);
        let entry = clients.get(&client)?;
        let elapsed = entry.since.elapsed();
        let used = if self.distinct { entry.failed.len() as u32 } else { entry.failures };
        (used >= self.limit && elapsed < self.window).then(|| self.window - elapsed)
    }
}

/// Drops what is over, then addresses that are not blocked (fewest failures
/// first); never a blocked one. False when every address is blocked.
fn make_room(clients: &mut HashMap<IpAddr, Client>, now: Instant, limiter: &Limiter) -> bool {
    clients.retain(|_, c| now.duration_since(c.since) < limiter.window || c.pending > 0);
    if clients.len() < MAX_TRACKED {
        return true;
    }
    let used = |c: &Client| if limiter.distinct { c.failed.len() as u32 } else { c.failures };
    let mut open: Vec<(IpAddr, u32)> =
        clients.iter().filter(|(_, c)| used(c) < limiter.limit && c.pending == 0).map(|(a, c)| (*a, used(c))).collect();
    if open.is_empty() {
        return false;
    }
    open.sort_by_key(|(_, n)| *n);
    let excess = clients.len() + 1 - MAX_TRACKED;
    for (address, _) in open.into_iter().take(excess.max(MAX_TRACKED / 10)) {
        clients.remove(&address);
    }
    true
}

fn hash(credential: &[u8]) -> CredentialHash {
    Sha256::digest(credential).into()
}

/// A poisoned lock only means another request panicked mid-update of a map
/// that stays valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn a_repeated_wrong_credential_uses_one_slot_and_new_ones_are_stopped_at_the_limit() {
        let l = Limiter::new("API", 3, Duration::from_secs(600), true);
        let a = ip("192.0.2.1");
        assert_eq!(l.attempt(a, b"wrong"), Attempt::Compare);
        l.finish(a, b"wrong", false);
        for _ in 0..50 {
            assert_eq!(l.attempt(a, b"wrong"), Attempt::KnownWrong, "a misconfigured job's repeats");
        }
        assert_eq!(l.attempt(a, b"right"), Attempt::Compare, "the fleet's other jobs go on");
        l.finish(a, b"right", true);
        for guess in [&b"g1"[..], b"g2"] {
            assert_eq!(l.attempt(a, guess), Attempt::Compare);
            l.finish(a, guess, false);
        }
        assert!(matches!(l.attempt(a, b"g3"), Attempt::Blocked(_)), "three distinct wrong ones: blocked");
        assert_eq!(l.attempt(ip("192.0.2.2"), b"g3"), Attempt::Compare, "another address is not");
    }

    #[test]
    fn parallel_attempts_never_compare_more_credentials_than_the_limit() {
        let l = Limiter::new("sign-in", 5, Duration::from_secs(600), false);
        let a = ip("192.0.2.9");
        let started: Vec<Attempt> = (0..20).map(|i| l.attempt(a, format!("t{i}").as_bytes())).collect();
        assert_eq!(started.iter().filter(|s| **s == Attempt::Compare).count(), 5);
    }

    #[test]
    fn a_blocked_address_stays_blocked_however_many_others_fail() {
        let l = Limiter::new("sign-in", 2, Duration::from_secs(600), false);
        let blocked = ip("10.9.9.9");
        for _ in 0..2 {
            assert_eq!(l.attempt(blocked, b"x"), Attempt::Compare);
            l.finish(blocked, b"x", false);
        }
        for n in 0..(MAX_TRACKED as u32 + 1000) {
            let other = IpAddr::from(std::net::Ipv4Addr::from(0x7f00_0000 + n));
            if l.attempt(other, b"y") == Attempt::Compare {
                l.finish(other, b"y", false);
            }
        }
        assert!(matches!(l.attempt(blocked, b"x"), Attempt::Blocked(_)));
    }
}
