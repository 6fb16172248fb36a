//! Password hashing with argon2id (the crate's defaults: 19 MiB, 2 passes), stored as PHC
//! strings so parameters can be raised later without invalidating old hashes.

use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;

/// A PHC string with a fresh random salt (16 bytes, from the OS).
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

/// True if `password` matches the PHC string `hash`; false for a malformed hash too.
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password: spending the same time as a real check when the user does
/// not exist keeps response times from revealing which usernames exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::secret::random_alphanumeric(32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_password() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("correct horse", "not-a-hash"));
        assert_ne!(hash("same"), hash("same"), "salted");
    }

    #[test]
    fn verifies_hashes_stored_by_earlier_versions() {
        // Made by argon2 0.5 (Terrace before the argon2 0.6 upgrade): stored hashes stay valid.
        let stored = "$argon2id$v=19$m=19456,t=2,p=1$mlDMtIX7thdBP9aqeg3lRg$wOnv2jQkwuivh+ZTnmbuVBPGUQqSDiiSusZaWGje5/g";
        assert!(verify("correct horse", stored));
        assert!(!verify("correct horsf", stored));
        // And new hashes have the same shape and parameters.
        assert!(hash("x").starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
