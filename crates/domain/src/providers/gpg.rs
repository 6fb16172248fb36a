//! The OpenPGP Terraform relies on for providers (RFC 4880, the part it uses): reading an
//! organization's ASCII-armored public keys (version 4 RSA and Ed25519 keys, their user ID and
//! subkey self-signatures checked) and verifying the detached signature over a version's
//! SHA256SUMS. The arithmetic is ring's (already the server's TLS provider); only the packet
//! format is read here, so no second crypto stack comes with the registry.

use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::rules::MAX_ARMOR_BYTES;
use crate::{DomainError, DomainResult};

const TAG_SIGNATURE: u8 = 2;
const TAG_PUBLIC_KEY: u8 = 6;
const TAG_USER_ID: u8 = 13;
const TAG_PUBLIC_SUBKEY: u8 = 14;

/// Signature types: over a binary document, certifying a user ID, binding a subkey.
const SIG_BINARY: u8 = 0x00;
const SIG_CERTIFICATIONS: std::ops::RangeInclusive<u8> = 0x10..=0x13;
const SIG_SUBKEY_BINDING: u8 = 0x18;

/// Ed25519's OID in an EdDSA (algorithm 22) key.
const ED25519_OID: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x0F, 0x01];

/// A public key's long key ID (16 hex digits, upper case), from its ASCII armor.
pub fn key_id(armor: &str) -> DomainResult<String> {
    let invalid = |detail: String| DomainError::invalid("ascii-armor", detail);
    if armor.len() > MAX_ARMOR_BYTES {
        return Err(invalid(format!(
            "the key is larger than {MAX_ARMOR_BYTES} bytes"
        )));
    }
    let keys = read_key_block(armor).map_err(|e| {
        invalid(format!(
            "not an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----): {e}"
        ))
    })?;
    Ok(hex::encode_upper(keys[0].key_id))
}

/// Verifies a detached signature (binary or ASCII-armored) over `data` with the key in
/// `armor` (its primary key or one of its subkeys); returns the signature in binary form,
/// as Terraform reads it.
pub fn verify_detached(armor: &str, data: &[u8], signature: &[u8]) -> DomainResult<Vec<u8>> {
    let keys = read_key_block(armor)
        .map_err(|e| DomainError::bad_request(format!("the stored GPG key does not parse: {e}")))?;
    let not_a_signature =
        |e: String| DomainError::bad_request(format!("not an OpenPGP detached signature: {e}"));
    let binary = if signature.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(signature).map_err(|e| not_a_signature(e.to_string()))?;
        dearmor(text, "PGP SIGNATURE").map_err(not_a_signature)?
    } else {
        signature.to_vec()
    };
    let packets = packets(&binary).map_err(not_a_signature)?;
    let [(TAG_SIGNATURE, body)] = packets.as_slice() else {
        return Err(not_a_signature(
            "expected exactly one signature packet".into(),
        ));
    };
    let sig = Signature::parse(body).map_err(not_a_signature)?;
    if sig.kind != SIG_BINARY {
        return Err(not_a_signature(format!(
            "a signature of type {:#04x}, not over a document",
            sig.kind
        )));
    }
    let verified = keys
        .iter()
        .filter(|key| sig.issuer.is_none_or(|issuer| issuer == key.key_id))
        .any(|key| sig.verify(key, data, false).is_ok());
    if !verified {
        return Err(DomainError::bad_request(
            "the signature does not verify SHA256SUMS with the version's GPG key",
        ));
    }
    Ok(binary)
}

/// The primary key and the subkeys of an armored key block whose self-signatures verify.
fn read_key_block(armor: &str) -> Result<Vec<PublicKey>, String> {
    let binary = dearmor(armor, "PGP PUBLIC KEY BLOCK")?;
    let packets = packets(&binary)?;
    let mut iter = packets.into_iter().peekable();
    let Some((TAG_PUBLIC_KEY, primary_body)) = iter.next() else {
        return Err("the block does not start with a public key".into());
    };
    let primary = PublicKey::parse(primary_body)?;
    let mut keys = vec![primary.clone()];
    let mut certified = false;
    let mut current_user_id: Option<&[u8]> = None;
    let mut current_subkey: Option<PublicKey> = None;
    for (tag, body) in iter {
        match tag {
            TAG_USER_ID => {
                current_user_id = Some(body);
                current_subkey = None;
            }
            TAG_PUBLIC_SUBKEY => {
                current_user_id = None;
                current_subkey = Some(PublicKey::parse(body)?);
            }
            TAG_SIGNATURE => {
                let sig = Signature::parse(body)?;
                if sig.issuer.is_some_and(|issuer| issuer != primary.key_id) {
                    continue; // A third party's certification: not ours to check.
                }
                match (&current_user_id, &current_subkey) {
                    (Some(uid), _) if SIG_CERTIFICATIONS.contains(&sig.kind) => {
                        let mut hashed = primary.hash_prefix();
                        hashed.push(0xB4);
                        hashed.extend((uid.len() as u32).to_be_bytes());
                        hashed.extend_from_slice(uid);
                        sig.verify(&primary, &hashed, true).map_err(|e| {
                            format!("a user ID's self-signature does not verify: {e}")
                        })?;
                        certified = true;
                    }
                    (_, Some(subkey)) if sig.kind == SIG_SUBKEY_BINDING => {
                        let mut hashed = primary.hash_prefix();
                        hashed.extend(subkey.hash_prefix());
                        sig.verify(&primary, &hashed, true).map_err(|e| {
                            format!("a subkey's binding signature does not verify: {e}")
                        })?;
                        keys.push(subkey.clone());
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !certified {
        return Err("the key has no user ID certified by itself".into());
    }
    Ok(keys)
}

/// The binary inside an ASCII armor of `kind` (`PGP PUBLIC KEY BLOCK`), its checksum checked.
fn dearmor(text: &str, kind: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {kind}-----");
    let end = format!("-----END {kind}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("no {begin} line"))?;
    let rest = &text[start + begin.len()..];
    let stop = rest.find(&end).ok_or_else(|| format!("no {end} line"))?;
    let mut lines = rest[..stop]
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty());
    // Armor headers (`Version: ...`) end at the first blank line.
    let mut body = String::new();
    let mut checksum = None;
    let mut in_headers = true;
    for line in lines.by_ref() {
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            if line.contains(": ") {
                continue;
            }
            in_headers = false;
        }
        if let Some(crc) = line.strip_prefix('=') {
            checksum = Some(crc.to_string());
            break;
        }
        body.push_str(line);
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|e| format!("the armor is not base64: {e}"))?;
    if let Some(crc) = checksum {
        let expected = base64::engine::general_purpose::STANDARD
            .decode(crc.as_bytes())
            .map_err(|e| format!("the armor's checksum is not base64: {e}"))?;
        if expected != crc24(&data).to_be_bytes()[1..] {
            return Err("the armor's checksum does not match".into());
        }
    }
    if data.is_empty() {
        return Err("the armor is empty".into());
    }
    Ok(data)
}

/// The armor's CRC-24 (RFC 4880 section 6.1).
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for byte in data {
        crc ^= u32::from(*byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

/// The packets of a binary OpenPGP message: (tag, body).
fn packets(mut data: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut out = Vec::new();
    while let Some((&ctb, rest)) = data.split_first() {
        if ctb & 0x80 == 0 {
            return Err("not an OpenPGP packet".into());
        }
        let (tag, len, rest) = if ctb & 0x40 != 0 {
            let tag = ctb & 0x3F;
            let (&first, rest) = rest.split_first().ok_or("a truncated packet")?;
            match first {
                0..=191 => (tag, usize::from(first), rest),
                192..=223 => {
                    let (&second, rest) = rest.split_first().ok_or("a truncated packet")?;
                    let len = ((usize::from(first) - 192) << 8) + usize::from(second) + 192;
                    (tag, len, rest)
                }
                255 => {
                    let bytes = rest.get(..4).ok_or("a truncated packet")?;
                    let len = u32::from_be_bytes(bytes.try_into().unwrap()) as usize;
                    (tag, len, &rest[4..])
                }
                _ => return Err("partial packet lengths are not used by keys or signatures".into()),
            }
        } else {
            let tag = (ctb >> 2) & 0x0F;
            let size = match ctb & 0x03 {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => return Err("indeterminate packet lengths are not supported".into()),
            };
            let bytes = rest.get(..size).ok_or("a truncated packet")?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (tag, len, &rest[size..])
        };
        let body = rest.get(..len).ok_or("a truncated packet")?;
        out.push((tag, body));
        data = &rest[len..];
    }
    Ok(out)
}

/// A multiprecision integer: its bytes, and what follows it.
fn mpi(data: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let bits = data.get(..2).ok_or("a truncated number")?;
    let bits = usize::from(u16::from_be_bytes([bits[0], bits[1]]));
    let len = bits.div_ceil(8);
    let value = data.get(2..2 + len).ok_or("a truncated number")?;
    Ok((value, &data[2 + len..]))
}

#[derive(Debug, Clone)]
enum KeyMaterial {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519 { point: [u8; 32] },
}

#[derive(Debug, Clone)]
struct PublicKey {
    /// The packet body, as fingerprints and self-signatures hash it.
    body: Vec<u8>,
    key_id: [u8; 8],
    material: KeyMaterial,
}

impl PublicKey {
    fn parse(body: &[u8]) -> Result<PublicKey, String> {
        let [version, _, _, _, _, algorithm, fields @ ..] = body else {
            return Err("a truncated public key".into());
        };
        if *version != 4 {
            return Err(format!(
                "a version {version} key (only version 4 keys are read)"
            ));
        }
        let material = match algorithm {
            1..=3 => {
                let (n, rest) = mpi(fields)?;
                let (e, _) = mpi(rest)?;
                KeyMaterial::Rsa {
                    n: n.to_vec(),
                    e: e.to_vec(),
                }
            }
            22 => {
                let (&oid_len, rest) = fields.split_first().ok_or("a truncated key")?;
                let oid = rest.get(..usize::from(oid_len)).ok_or("a truncated key")?;
                if oid != ED25519_OID {
                    return Err("an EdDSA key on another curve than Ed25519".into());
                }
                let (point, _) = mpi(&rest[usize::from(oid_len)..])?;
                match point {
                    [0x40, key @ ..] if key.len() == 32 => KeyMaterial::Ed25519 {
                        point: key.try_into().unwrap(),
                    },
                    _ => return Err("an Ed25519 key of the wrong form".into()),
                }
            }
            other => {
                return Err(format!(
                    "a key of algorithm {other} (RSA and Ed25519 keys are supported)"
                ))
            }
        };
        let mut key = PublicKey {
            body: body.to_vec(),
            key_id: [0; 8],
            material,
        };
        let fingerprint =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &key.hash_prefix());
        key.key_id.copy_from_slice(&fingerprint.as_ref()[12..20]);
        Ok(key)
    }

    /// How signatures hash a key: 0x99, its length, its body.
    fn hash_prefix(&self) -> Vec<u8> {
        let mut out = vec![0x99];
        out.extend((self.body.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

#[derive(Debug)]
struct Signature<'a> {
    kind: u8,
    hash_algorithm: u8,
    /// The hashed part: version through the hashed subpackets.
    hashed: &'a [u8],
    issuer: Option<[u8; 8]>,
    /// The signature values (RSA: one number; EdDSA: r and s).
    values: Vec<&'a [u8]>,
}

impl<'a> Signature<'a> {
    fn parse(body: &'a [u8]) -> Result<Signature<'a>, String> {
        let [version, kind, _public_key_algorithm, hash_algorithm, l1, l2, ..] = body else {
            return Err("a truncated signature".into());
        };
        if *version != 4 {
            return Err(format!(
                "a version {version} signature (only version 4 signatures are read)"
            ));
        }
        let hashed_len = usize::from(u16::from_be_bytes([*l1, *l2]));
        let hashed_end = 6 + hashed_len;
        let hashed_subpackets = body.get(6..hashed_end).ok_or("a truncated signature")?;
        let lens = body
            .get(hashed_end..hashed_end + 2)
            .ok_or("a truncated signature")?;
        let unhashed_len = usize::from(u16::from_be_bytes([lens[0], lens[1]]));
        let unhashed_end = hashed_end + 2 + unhashed_len;
        let unhashed = body
            .get(hashed_end + 2..unhashed_end)
            .ok_or("a truncated signature")?;
        let issuer = issuer(hashed_subpackets)?.or(issuer(unhashed)?);
        // Two bytes of the digest's start, then the values.
        let mut rest = body
            .get(unhashed_end + 2..)
            .ok_or("a truncated signature")?;
        let mut values = Vec::new();
        while !rest.is_empty() {
            let (value, after) = mpi(rest)?;
            values.push(value);
            rest = after;
        }
        Ok(Signature {
            kind: *kind,
            hash_algorithm: *hash_algorithm,
            hashed: &body[..hashed_end],
            issuer,
            values,
        })
    }

    /// Checks the signature over `data` (the document, or what a self-signature covers)
    /// with `key`. SHA-1 is accepted only for self-signatures, as old keys made them.
    fn verify(&self, key: &PublicKey, data: &[u8], self_signature: bool) -> Result<(), String> {
        let mut message = data.to_vec();
        message.extend_from_slice(self.hashed);
        message.extend([0x04, 0xFF]);
        message.extend((self.hashed.len() as u32).to_be_bytes());
        match &key.material {
            KeyMaterial::Rsa { n, e } => {
                let params: &signature::RsaParameters = match self.hash_algorithm {
                    2 if self_signature => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    8 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    9 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    10 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    other => return Err(format!("hash algorithm {other} is not accepted")),
                };
                let [value] = self.values.as_slice() else {
                    return Err("an RSA signature has one value".into());
                };
                // An MPI drops its leading zeros (one signature in 256 is a byte short);
                // the RSA check wants the modulus' length.
                let value = left_pad(value, n.len())
                    .ok_or("an RSA signature is longer than the key's modulus")?;
                RsaPublicKeyComponents { n, e }
                    .verify(params, &message, &value)
                    .map_err(|_| "the RSA signature does not verify".to_string())
            }
            KeyMaterial::Ed25519 { point } => {
                let digest = match self.hash_algorithm {
                    2 if self_signature => {
                        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &message)
                    }
                    8 => ring::digest::digest(&ring::digest::SHA256, &message),
                    9 => ring::digest::digest(&ring::digest::SHA384, &message),
                    10 => ring::digest::digest(&ring::digest::SHA512, &message),
                    other => return Err(format!("hash algorithm {other} is not accepted")),
                };
                let [r, s] = self.values.as_slice() else {
                    return Err("an EdDSA signature has two values".into());
                };
                let mut sig = [0u8; 64];
                for (part, out) in [r, s].into_iter().zip(sig.chunks_mut(32)) {
                    if part.len() > 32 {
                        return Err("an EdDSA signature value is too long".into());
                    }
                    out[32 - part.len()..].copy_from_slice(part);
                }
                UnparsedPublicKey::new(&signature::ED25519, point)
                    .verify(digest.as_ref(), &sig)
                    .map_err(|_| "the Ed25519 signature does not verify".to_string())
            }
        }
    }
}

/// The issuer key ID of a subpacket area (subpacket 16, or the fingerprint's last 8 bytes
/// of subpacket 33).
fn issuer(mut area: &[u8]) -> Result<Option<[u8; 8]>, String> {
    while let Some((&first, rest)) = area.split_first() {
        let (len, rest) = match first {
            0..=191 => (usize::from(first), rest),
            192..=254 => {
                let (&second, rest) = rest.split_first().ok_or("a truncated subpacket")?;
                (
                    ((usize::from(first) - 192) << 8) + usize::from(second) + 192,
                    rest,
                )
            }
            255 => {
                let bytes = rest.get(..4).ok_or("a truncated subpacket")?;
                (
                    u32::from_be_bytes(bytes.try_into().unwrap()) as usize,
                    &rest[4..],
                )
            }
        };
        let packet = rest.get(..len).ok_or("a truncated subpacket")?;
        area = &rest[len..];
        match packet {
            [kind, id @ ..] if kind & 0x7F == 16 && id.len() == 8 => {
                return Ok(Some(id.try_into().unwrap()))
            }
            [kind, 4, fingerprint @ ..] if kind & 0x7F == 33 && fingerprint.len() == 20 => {
                return Ok(Some(fingerprint[12..].try_into().unwrap()))
            }
            _ => {}
        }
    }
    Ok(None)
}

/// `value` with zeros in front up to `len` bytes (`None` if it is longer).
fn left_pad(value: &[u8], len: usize) -> Option<Vec<u8>> {
    let zeros = len.checked_sub(value.len())?;
    let mut padded = vec![0u8; zeros];
    padded.extend_from_slice(value);
    Some(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key, SHA256SUMS and its signatures (binary and armored) made by `gpg --batch`.
    #[test]
    fn an_rsa_signature_a_byte_shorter_than_its_modulus_verifies() {
        // gpg made this one with a leading zero byte, which the MPI drops (2039 bits).
        let key = include_str!("testdata/short-sig-key.asc");
        let data = include_bytes!("testdata/short-sig-data");
        let sig = include_bytes!("testdata/short-sig-data.sig");
        verify_detached(key, data, sig).unwrap();
        assert!(verify_detached(key, b"other data", sig).is_err());
    }

    #[test]
    fn short_mpis_are_padded_to_the_modulus() {
        assert_eq!(left_pad(&[1, 2], 4), Some(vec![0, 0, 1, 2]));
        assert_eq!(left_pad(&[1, 2], 2), Some(vec![1, 2]));
        assert_eq!(left_pad(&[1, 2, 3], 2), None);
    }

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
    fn a_key_whose_self_signature_was_altered_is_refused() {
        let binary = dearmor(KEY, "PGP PUBLIC KEY BLOCK").unwrap();
        let mut altered = binary.clone();
        // Flip a bit in the last packet's signature value (the block ends with signatures).
        let last = altered.len() - 3;
        altered[last] ^= 1;
        let armor = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{}\n-----END PGP PUBLIC KEY BLOCK-----\n",
            base64::engine::general_purpose::STANDARD.encode(&altered)
        );
        assert!(key_id(&armor).is_err());
        // The armor's checksum catches changes in transit too.
        let tampered = KEY.replacen("mQEN", "mQEM", 1);
        assert!(key_id(&tampered).is_err());
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

    #[test]
    fn ed25519_keys_verify_too() {
        const ED_KEY: &str = include_str!("testdata/ed25519-key.asc");
        const ED_SIG: &[u8] = include_bytes!("testdata/SHA256SUMS.ed25519.sig");
        assert_eq!(key_id(ED_KEY).unwrap(), "D5DF30AFE7536189");
        assert_eq!(verify_detached(ED_KEY, SHASUMS, ED_SIG).unwrap(), ED_SIG);
        let mut changed = SHASUMS.to_vec();
        changed[1] ^= 1;
        assert!(verify_detached(ED_KEY, &changed, ED_SIG).is_err());
        // Neither key verifies the other's signature.
        assert!(verify_detached(KEY, SHASUMS, ED_SIG).is_err());
        assert!(verify_detached(ED_KEY, SHASUMS, SIG).is_err());
    }

    #[test]
    fn the_armor_checksum_is_crc24() {
        // RFC 4880's CRC-24 of "123456789".
        assert_eq!(crc24(b"123456789"), 0x21CF02);
    }
}
