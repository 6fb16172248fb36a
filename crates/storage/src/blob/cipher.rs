//! Fernet encryption with key rotation: several keys, newest first. The newest encrypts;
//! any of them decrypts, so data written before a rotation stays readable. Blobs are sealed
//! with AES-256-GCM under keys derived from the same keys ([`Keyring::chunk_keys`]), so they
//! rotate with them.

use base64::Engine;
use fernet::{Fernet, MultiFernet};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{StorageError, StorageResult};

pub struct Keyring {
    fernet: MultiFernet,
    /// The newest key alone: what data sealed since the last rotation opens with.
    newest: Fernet,
    /// The decoded keys, newest first, for deriving purpose-specific keys.
    raw: Vec<Vec<u8>>,
    /// The blob chunk keys ([`Keyring::chunk_keys`]), derived once.
    chunk_keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keyring({} keys)", self.raw.len())
    }
}

impl Keyring {
    /// Builds the keyring from Fernet keys (32 bytes, URL-safe base64), newest first.
    pub fn new<S: AsRef<str>>(keys: &[S]) -> StorageResult<Keyring> {
        if keys.is_empty() {
            return Err(StorageError::Config(
                "at least one encryption key is required".into(),
            ));
        }
        let mut fernets = Vec::with_capacity(keys.len());
        let mut raw = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let key = key.as_ref().trim();
            let invalid = || {
                StorageError::Config(format!(
                    "encryption key #{} is not a Fernet key (32 bytes, URL-safe base64)",
                    i + 1
                ))
            };
            fernets.push(Fernet::new(key).ok_or_else(invalid)?);
            raw.push(
                base64::engine::general_purpose::URL_SAFE
                    .decode(key)
                    .map_err(|_| invalid())?,
            );
        }
        let mut keyring = Keyring {
            newest: fernets[0].clone(),
            fernet: MultiFernet::new(fernets),
            raw,
            chunk_keys: Vec::new(),
        };
        keyring.chunk_keys = keyring.derived_keys("blob-chunks/v2");
        Ok(keyring)
    }

    /// The keys blob chunks are sealed with (AES-256-GCM, see `blob::chunked`), newest first:
    /// derived from the encryption keys, so they rotate with them.
    pub fn chunk_keys(&self) -> &[[u8; 32]] {
        &self.chunk_keys
    }

    pub fn generate_key() -> String {
        Fernet::generate_key()
    }

    /// Encrypts to a Fernet token (URL-safe base64 text).
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.fernet.encrypt(plaintext)
    }

    pub fn decrypt(&self, token: &str) -> StorageResult<Vec<u8>> {
        self.fernet
            .decrypt(token)
            .map_err(|_| StorageError::Corrupt("token failed authentication with every key".into()))
    }

    /// Encrypts to the binary form of a Fernet token (a third smaller than the text form).
    pub fn encrypt_binary(&self, plaintext: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE
            .decode(self.encrypt(plaintext))
            .expect("fernet tokens are URL-safe base64")
    }

    pub fn decrypt_binary(&self, token: &[u8]) -> StorageResult<Vec<u8>> {
        self.decrypt(&base64::engine::general_purpose::URL_SAFE.encode(token))
    }

    /// Whether `token` was sealed with the newest key (else an older one, or none of them).
    pub fn is_newest(&self, token: &str) -> bool {
        self.newest.decrypt(token).is_ok()
    }

    pub fn is_newest_binary(&self, token: &[u8]) -> bool {
        self.is_newest(&base64::engine::general_purpose::URL_SAFE.encode(token))
    }

    /// `token` sealed again with the newest key; `None` if it already is.
    pub fn reseal(&self, token: &str) -> StorageResult<Option<String>> {
        if self.is_newest(token) {
            return Ok(None);
        }
        Ok(Some(self.encrypt(&self.decrypt(token)?)))
    }

    /// Keys for another purpose (signing URLs, ...), derived from each encryption key with
    /// HMAC-SHA256, newest first: one secret configures the server, and rotation carries over.
    pub fn derived_keys(&self, purpose: &str) -> Vec<[u8; 32]> {
        self.raw
            .iter()
            .map(|key| {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
                mac.update(b"terrace/derived-key/v1/");
                mac.update(purpose.as_bytes());
                mac.finalize().into_bytes().into()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_keys_still_decrypt_old_data() {
        let old = Keyring::generate_key();
        let new = Keyring::generate_key();
        let before = Keyring::new(std::slice::from_ref(&old)).unwrap();
        let token = before.encrypt(b"secret");
        let after = Keyring::new(&[new.clone(), old]).unwrap();
        assert_eq!(after.decrypt(&token).unwrap(), b"secret");
        // The newest key encrypts: a keyring without the old key reads new data.
        let fresh = after.encrypt_binary(b"again");
        assert_eq!(
            Keyring::new(&[new])
                .unwrap()
                .decrypt_binary(&fresh)
                .unwrap(),
            b"again"
        );
    }

    #[test]
    fn resealing_moves_old_tokens_to_the_newest_key_and_leaves_new_ones() {
        let old = Keyring::generate_key();
        let new = Keyring::generate_key();
        let before = Keyring::new(std::slice::from_ref(&old)).unwrap();
        let after = Keyring::new(&[new.clone(), old]).unwrap();
        let token = before.encrypt(b"secret");
        assert!(!after.is_newest(&token));
        let resealed = after
            .reseal(&token)
            .unwrap()
            .expect("an old token is resealed");
        assert!(after.is_newest(&resealed));
        let newest_only = Keyring::new(&[new]).unwrap();
        assert_eq!(newest_only.decrypt(&resealed).unwrap(), b"secret");
        assert_eq!(after.reseal(&resealed).unwrap(), None, "already the newest");
        let stranger = Keyring::new(&[Keyring::generate_key()]).unwrap();
        assert!(
            after.reseal(&stranger.encrypt(b"x")).is_err(),
            "no key opens it"
        );
    }

    #[test]
    fn wrong_key_is_rejected() {
        let a = Keyring::new(&[Keyring::generate_key()]).unwrap();
        let b = Keyring::new(&[Keyring::generate_key()]).unwrap();
        assert!(matches!(
            b.decrypt(&a.encrypt(b"x")),
            Err(StorageError::Corrupt(_))
        ));
        assert!(Keyring::new(&["not-a-key"]).is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_follow_rotation() {
        let k1 = Keyring::generate_key();
        let k2 = Keyring::generate_key();
        let ring = Keyring::new(&[k2, k1.clone()]).unwrap();
        let old = Keyring::new(&[k1]).unwrap();
        assert_ne!(ring.derived_keys("a")[0], ring.derived_keys("b")[0]);
        assert_eq!(ring.derived_keys("a")[1], old.derived_keys("a")[0]);
    }
}
