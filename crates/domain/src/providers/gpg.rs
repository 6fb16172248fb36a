//! OpenPGP for the provider registry (the `pgp` crate, pure Rust): reading an organization's
//! ASCII-armored public keys and verifying the detached signature over a version's
//! SHA256SUMS, as Terraform does when it installs the provider.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::ser::Serialize;
use pgp::types::KeyDetails;

use crate::{DomainError, DomainResult};

use super::rules::MAX_ARMOR_BYTES;

/// A public key's long key ID (16 hex digits, upper case), from its ASCII armor.
pub fn key_id(armor: &str) -> DomainResult<String> {
    let invalid = |detail: String| DomainError::invalid("ascii-armor", detail);
    if armor.len() > MAX_ARMOR_BYTES {
        return Err(invalid(format!(
            "the key is larger than {MAX_ARMOR_BYTES} bytes"
        )));
    }
    let (key, _) = SignedPublicKey::from_string(armor).map_err(|e| {
        invalid(format!(
            "not an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----): {e}"
        ))
    })?;
    key.verify_bindings()
        .map_err(|e| invalid(format!("the key's self-signatures do not verify: {e}")))?;
    Ok(hex::encode_upper(key.legacy_key_id().as_ref()))
}

/// Verifies a detached signature (binary or ASCII-armored) over `data` with the key in
/// `armor` (its primary key or one of its subkeys); returns the signature in binary form,
/// as Terraform reads it.
pub fn verify_detached(armor: &str, data: &[u8], signature: &[u8]) -> DomainResult<Vec<u8>> {
    let (key, _) = SignedPublicKey::from_string(armor)
        .map_err(|e| DomainError::bad_request(format!("the stored GPG key does not parse: {e}")))?;
    let parsed = if signature.starts_with(b"-----BEGIN") {
        DetachedSignature::from_armor_single(signature).map(|(s, _)| s)
    } else {
        DetachedSignature::from_bytes(signature)
    }
    .map_err(|e| DomainError::bad_request(format!("not an OpenPGP detached signature: {e}")))?;
    let verified = parsed.verify(&key, data).is_ok()
        || key
            .public_subkeys
            .iter()
            .any(|sub| parsed.verify(sub, data).is_ok());
    if !verified {
        return Err(DomainError::bad_request(
            "the signature does not verify SHA256SUMS with the version's GPG key",
        ));
    }
    parsed
        .to_bytes()
        .map_err(|e| DomainError::bad_request(format!("cannot re-encode the signature: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key, SHA256SUMS and its signatures (binary and armored) made by `gpg --batch`.
    const KEY: &str = include_str!("testdata/key.asc");
    const KEY_ID: &str = include_str!("testdata/key-id.txt");
    const SHASUMS: &[u8] = include_bytes!("testdata/SHA256SUMS");
    const SIG: &[u8] = include_bytes!("testdata/SHA256SUMS.sig");
    const ARMORED_SIG: &[u8] = include_bytes!("testdata/SHA256SUMS.asc");

    #[test]
    fn a_key_is_known_by_its_long_id() {
        assert_eq!(key_id(KEY).unwrap(), KEY_ID.trim());
    }

    #[test]
    fn garbage_is_no_key() {
        for armor in [
            "",
            "hello",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n",
            std::str::from_utf8(ARMORED_SIG).unwrap(),
        ] {
            let err = key_id(armor).unwrap_err();
            assert!(matches!(err, DomainError::Invalid { .. }), "{err}");
        }
    }

    #[test]
    fn signatures_verify_binary_or_armored_and_come_back_binary() {
        assert_eq!(verify_detached(KEY, SHASUMS, SIG).unwrap(), SIG);
        assert_eq!(verify_detached(KEY, SHASUMS, ARMORED_SIG).unwrap(), SIG);
    }

    #[test]
    fn changed_data_or_garbage_does_not_verify() {
        let mut changed = SHASUMS.to_vec();
        changed[0] = b'f';
        assert!(verify_detached(KEY, &changed, SIG).is_err());
        assert!(verify_detached(KEY, SHASUMS, b"garbage").is_err());
        let mut broken = SIG.to_vec();
        let last = broken.len() - 1;
        broken[last] ^= 1;
        assert!(verify_detached(KEY, SHASUMS, &broken).is_err());
    }
}
