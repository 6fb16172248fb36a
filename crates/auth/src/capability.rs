//! Capability URLs: the token in the path *is* the authorization. Clients that send no
//! credentials (the CLI's upload PUTs and log reads, runners) get URLs whose last path segment
//! names what it grants (a purpose and a resource ID), until when, and an HMAC over both.
//! Signing uses the newest key; verification accepts any key, so rotation keeps live URLs valid.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

/// Bytes of HMAC-SHA256 kept in the URL: 128 bits is plenty against forgery and keeps URLs short.
const MAC_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// What may be done (`state-upload`, ...).
    #[serde(rename = "p")]
    pub purpose: String,
    /// To what (an ID).
    #[serde(rename = "r")]
    pub resource: String,
    /// Unix seconds after which the capability is void.
    #[serde(rename = "e")]
    pub expires: i64,
    /// Who it was issued to, for capabilities whose use re-checks the holder's access (log
    /// URLs); absent from those that stand alone (uploads).
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CapabilityError {
    #[error("the URL is malformed")]
    Malformed,
    #[error("the URL's signature does not match: it was altered or not issued by this server")]
    BadSignature,
    #[error("the URL expired at {0}")]
    Expired(DateTime<Utc>),
}

pub struct Signer {
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} keys)", self.keys.len())
    }
}

impl Signer {
    /// `keys` newest first; must not be empty.
    pub fn new(keys: Vec<[u8; 32]>) -> Signer {
        assert!(!keys.is_empty(), "a signer needs a key");
        Signer { keys }
    }

    pub fn sign(&self, capability: &Capability) -> String {
        let payload = B64.encode(serde_json::to_vec(capability).expect("serializable"));
        let mac = mac(&self.keys[0], payload.as_bytes());
        format!("{payload}.{}", B64.encode(&mac[..MAC_LEN]))
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Capability, CapabilityError> {
        let capability = self.open(token)?;
        if now.timestamp() > capability.expires {
            let at = DateTime::from_timestamp(capability.expires, 0).unwrap_or(now);
            return Err(CapabilityError::Expired(at));
        }
        Ok(capability)
    }

    /// A genuine capability, expired or not: for purposes whose validity depends on more than
    /// the expiry (a log URL lives as long as its phase runs).
    pub fn open(&self, token: &str) -> Result<Capability, CapabilityError> {
        let (payload, signature) = token.split_once('.').ok_or(CapabilityError::Malformed)?;
        let signature = B64
            .decode(signature)
            .map_err(|_| CapabilityError::Malformed)?;
        let genuine = self.keys.iter().any(|key| {
            let expected = mac(key, payload.as_bytes());
            signature.len() == MAC_LEN
                && subtle::ConstantTimeEq::ct_eq(&expected[..MAC_LEN], &signature[..]).into()
        });
        if !genuine {
            return Err(CapabilityError::BadSignature);
        }
        B64.decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(CapabilityError::Malformed)
    }
}

fn mac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn capability(expires: DateTime<Utc>) -> Capability {
        Capability {
            purpose: "state-upload".into(),
            resource: "sv-abc".into(),
            expires: expires.timestamp(),
            holder: None,
        }
    }

    #[test]
    fn round_trip_and_url_safe() {
        let signer = Signer::new(vec![[1; 32]]);
        let now = Utc::now();
        let token = signer.sign(&capability(now + Duration::minutes(5)));
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        assert_eq!(signer.verify(&token, now).unwrap().resource, "sv-abc");
    }

    #[test]
    fn rejects_tampering_expiry_and_foreign_keys() {
        let signer = Signer::new(vec![[1; 32]]);
        let now = Utc::now();
        let token = signer.sign(&capability(now + Duration::minutes(5)));
        // Swap in another resource but keep the signature.
        let forged_payload = B64.encode(
            serde_json::to_vec(&Capability {
                resource: "sv-other".into(),
                ..capability(now)
            })
            .unwrap(),
        );
        let forged = format!("{forged_payload}.{}", token.split_once('.').unwrap().1);
        assert_eq!(
            signer.verify(&forged, now),
            Err(CapabilityError::BadSignature)
        );
        assert_eq!(
            signer.verify("garbage", now),
            Err(CapabilityError::Malformed)
        );
        assert!(matches!(
            signer.verify(&token, now + Duration::minutes(6)),
            Err(CapabilityError::Expired(_))
        ));
        let other = Signer::new(vec![[2; 32]]);
        assert_eq!(
            other.verify(&token, now),
            Err(CapabilityError::BadSignature)
        );
        // After rotation the old key still verifies.
        let rotated = Signer::new(vec![[2; 32], [1; 32]]);
        assert!(rotated.verify(&token, now).is_ok());
    }
}
