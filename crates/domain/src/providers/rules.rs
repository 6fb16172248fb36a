//! The private provider registry's rules, pure functions of what a request says: names,
//! versions, protocols, platforms, the SHA256SUMS format, and which checksum a binary must
//! have.

use std::collections::BTreeMap;

use crate::registry::names::Version;
pub use crate::registry::names::PRIVATE;
use crate::{DomainError, DomainResult};

/// Largest SHA256SUMS accepted.
pub const MAX_SHASUMS_BYTES: usize = 64 << 10;
/// Largest detached signature accepted.
pub const MAX_SIGNATURE_BYTES: usize = 16 << 10;
/// Largest ASCII-armored public key accepted.
pub const MAX_ARMOR_BYTES: usize = 64 << 10;

/// The registry a request names: only `private` is hosted here.
pub fn registry_name(name: Option<&str>) -> DomainResult<()> {
    match name {
        None | Some("") => Err(DomainError::invalid(
            "registry-name",
            "Registry name can't be blank",
        )),
        Some(PRIVATE) => Ok(()),
        Some("public") => Err(DomainError::invalid(
            "registry-name",
            "public providers are not hosted here: this registry hosts the organization's \
             private providers only (registry-name \"private\")",
        )),
        Some(_) => Err(DomainError::invalid(
            "registry-name",
            "Registry name is not included in the list",
        )),
    }
}

/// A provider's name as Terraform accepts it in a source address (`HOST/NAMESPACE/NAME`):
/// lower-case letters, digits and single dashes inside, at most 64 characters.
pub fn provider_name(name: &str) -> DomainResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "name",
            "Name must be lower-case letters, digits and dashes (not at either end), at most \
             64 characters: Terraform refuses other provider names",
        ))
    }
}

/// A semantic version: `MAJOR.MINOR.PATCH`, optionally `-prerelease` and `+build` (the
/// registry's one rule for modules and providers alike).
pub fn version(value: &str) -> DomainResult<()> {
    Version::parse(value)
        .map(|_| ())
        .map_err(|e| DomainError::invalid("version", e))
}

/// Plugin protocol versions (`"5.0"`, `"6.0"`).
pub fn protocols(protocols: &[String]) -> DomainResult<()> {
    for protocol in protocols {
        let ok = protocol.split_once('.').is_some_and(|(major, minor)| {
            [major, minor]
                .iter()
                .all(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if !ok {
            return Err(DomainError::invalid(
                "protocols",
                format!("protocol {protocol:?} is not a plugin protocol version like \"5.0\""),
            ));
        }
    }
    Ok(())
}

/// A version's `key-id`: the long ID of a GPG key (checked against the organization's keys
/// when the signature is uploaded).
pub fn key_id(value: &str) -> DomainResult<()> {
    if value.is_empty() || value.len() > 64 || value.chars().any(char::is_whitespace) {
        return Err(DomainError::invalid("key-id", "Key ID can't be blank"));
    }
    Ok(())
}

/// A platform's `os` or `arch`: lower-case letters, digits and underscores.
pub fn platform_part(attribute: &str, value: &str) -> DomainResult<()> {
    let ok = !value.is_empty()
        && value.len() <= 32
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            attribute,
            format!("{attribute} must be lower-case letters, digits and underscores"),
        ))
    }
}

/// A platform's archive name: one path segment.
pub fn filename(value: &str) -> DomainResult<()> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && !value.contains(['/', '\\'])
        && value != "."
        && value != ".."
        && !value.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "filename",
            "Filename must be one file name (no slashes)",
        ))
    }
}

pub fn shasum(value: &str) -> DomainResult<()> {
    if value.is_empty() || value.len() > 128 {
        return Err(DomainError::invalid("shasum", "Shasum can't be blank"));
    }
    Ok(())
}

/// Parses a SHA256SUMS file (`<64 hex digits>  <filename>` a line, as `shasum -a 256` and
/// `sha256sum` write it) into file name → lower-case digest.
pub fn parse_shasums(text: &str) -> DomainResult<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            DomainError::bad_request(format!(
                "SHA256SUMS line {} is not \"<64 hex digits>  <filename>\"",
                n + 1
            ))
        };
        let (digest, name) = line.split_once(' ').ok_or_else(bad)?;
        let name = name.trim_start_matches(' ').trim_start_matches('*');
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
            return Err(bad());
        }
        if sums
            .insert(name.to_string(), digest.to_ascii_lowercase())
            .is_some()
        {
            return Err(DomainError::bad_request(format!(
                "SHA256SUMS lists {name} twice"
            )));
        }
    }
    if sums.is_empty() {
        return Err(DomainError::bad_request("SHA256SUMS lists no file"));
    }
    Ok(sums)
}

/// The digest a platform's binary must have: the platform's `shasum`, which the version's
/// (signed) SHA256SUMS must list for its filename.
pub fn expected_binary_digest(
    shasums: &BTreeMap<String, String>,
    filename: &str,
    shasum: &str,
) -> DomainResult<String> {
    let listed = shasums.get(filename).ok_or_else(|| {
        DomainError::bad_request(format!(
            "the version's SHA256SUMS has no line for {filename}"
        ))
    })?;
    if !listed.eq_ignore_ascii_case(shasum) {
        return Err(DomainError::bad_request(format!(
            "the platform's shasum {shasum} is not the one SHA256SUMS lists for {filename} \
             ({listed})"
        )));
    }
    Ok(listed.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_private_registries_are_hosted() {
        assert!(registry_name(Some("private")).is_ok());
        let public = registry_name(Some("public")).unwrap_err().to_string();
        assert!(public.contains("not hosted here"), "{public}");
        assert!(registry_name(None).is_err());
        assert!(registry_name(Some("other")).is_err());
    }

    #[test]
    fn names_are_what_terraform_accepts() {
        for ok in ["aws", "my-provider", "x1", "test-registry-provider-0a1b"] {
            assert!(provider_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Aws",
            "a b",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a/b",
            &"a".repeat(65),
        ] {
            assert!(provider_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_are_semantic() {
        for ok in [
            "1.0.0",
            "0.1.10",
            "1.2.3-beta.1",
            "1.2.3+build.5",
            "1.0.0-rc1+x",
        ] {
            assert!(version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "1", "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0.0", "a.b.c", "1.0.0+",
        ] {
            assert!(version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocols_are_major_minor() {
        assert!(protocols(&["5.0".into(), "6.0".into()]).is_ok());
        assert!(protocols(&[]).is_ok());
        assert!(protocols(&["5".into()]).is_err());
        assert!(protocols(&["five.0".into()]).is_err());
    }

    #[test]
    fn platforms_and_files() {
        assert!(platform_part("os", "linux").is_ok());
        assert!(platform_part("arch", "amd64").is_ok());
        assert!(platform_part("os", "").is_err());
        assert!(platform_part("os", "Linux").is_err());
        assert!(filename("terraform-provider-x_1.0.0_linux_amd64.zip").is_ok());
        assert!(filename("../x.zip").is_err());
        assert!(filename("").is_err());
    }

    const A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn shasums_parse_both_formats() {
        let text = format!("{A}  a.zip\n{}  *b.zip\n\n", A.to_uppercase());
        let sums = parse_shasums(&text).unwrap();
        assert_eq!(sums["a.zip"], A);
        assert_eq!(sums["b.zip"], A);
        assert!(parse_shasums("").is_err());
        assert!(parse_shasums("nothex  a.zip").is_err());
        assert!(parse_shasums(&format!("{A}  a\n{A}  a")).is_err());
        assert!(parse_shasums(A).is_err());
    }

    #[test]
    fn a_binary_must_match_both_the_platform_and_shasums() {
        let sums = parse_shasums(&format!("{A}  a.zip")).unwrap();
        assert_eq!(expected_binary_digest(&sums, "a.zip", A).unwrap(), A);
        assert!(expected_binary_digest(&sums, "a.zip", &A.to_uppercase()).is_ok());
        assert!(expected_binary_digest(&sums, "b.zip", A).is_err());
        let other = A.replace('0', "1");
        assert!(expected_binary_digest(&sums, "a.zip", &other).is_err());
    }
}
