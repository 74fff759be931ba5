//! API token secrets: `emm_` and 43 URL-safe characters (256 random bits).
//! The prefix lets secret scanners find a leaked one; only the SHA-256 of a
//! secret is ever stored (256 random bits need no slow hash: there is
//! nothing to guess from a dictionary).

use base64::Engine;
use sha2::{Digest, Sha256};

/// What every API token starts with.
pub const PREFIX: &str = "emm_";
/// Random bytes in a secret.
const RANDOM_BYTES: usize = 32;

/// A new secret and its hash. None when the OS has no random numbers to give.
pub fn generate() -> Option<(String, [u8; 32])> {
    let mut bytes = [0u8; RANDOM_BYTES];
    getrandom::fill(&mut bytes).ok()?;
    let secret = format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(secret.as_bytes());
    Some((secret, hash))
}

pub fn hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// The hash of `given` when it is shaped like a token (its prefix and
/// length); else None, and the store is not asked.
pub fn hash_if_shaped(given: &[u8]) -> Option<[u8; 32]> {
    let rest = given.strip_prefix(PREFIX.as_bytes())?;
    (rest.len() == 43 && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
        .then(|| hash(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_the_prefix_and_43_url_safe_characters_and_is_recognised() {
        let (secret, digest) = generate().expect("random");
        assert!(secret.starts_with("emm_") && secret.len() == 47, "{secret}");
        assert_eq!(hash_if_shaped(secret.as_bytes()), Some(digest));
        assert_ne!(generate().expect("random").0, secret);
        assert_eq!(hash_if_shaped(b"emm_short"), None);
        assert_eq!(hash_if_shaped(format!("xyz_{}", &secret[4..]).as_bytes()), None);
    }
}
