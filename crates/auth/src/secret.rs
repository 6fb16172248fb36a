//! Bearer secrets (API tokens, OAuth codes, session cookies). They carry ~285 bits of
//! randomness, so a fast hash is enough to store them: nothing can be brute-forced, and the
//! database never holds a usable secret.

use rand::{distr::Alphanumeric, RngExt};
use sha2::{Digest, Sha256};

/// Prefix of Terrace API tokens, so secret scanners can recognise leaked ones.
pub const TOKEN_PREFIX: &str = "trc1.";

pub fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A new API token secret.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_alphanumeric(48))
}

/// A new opaque secret (OAuth codes, session IDs).
pub fn new_opaque() -> String {
    random_alphanumeric(43)
}

/// The stored form of a secret: SHA-256, hex.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = new_token();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 48);
        assert_ne!(a, new_token());
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), a);
        assert_eq!(hash(&a).len(), 64);
    }
}
