//! The mirror's rules, pure: which provider addresses it answers for, and which archives an
//! upstream's signed SHA256SUMS vouches for.

use std::collections::BTreeMap;

use crate::providers::gpg;

/// A provider's address as the network mirror protocol names it, normalised: lower case,
/// each part a plain name (no path tricks reach the cache or an upstream URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorAddress {
    pub hostname: String,
    pub namespace: String,
    pub kind: String,
}

impl MirrorAddress {
    pub fn parse(hostname: &str, namespace: &str, kind: &str) -> Option<MirrorAddress> {
        let (host, port) = hostname.split_once(':').unwrap_or((hostname, "80"));
        let host_ok = host.len() <= 253
            && host.contains('.')
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && !port.is_empty()
            && port.len() <= 5
            && port.chars().all(|c| c.is_ascii_digit());
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        };
        (host_ok && name_ok(namespace) && name_ok(kind)).then(|| MirrorAddress {
            hostname: hostname.to_ascii_lowercase(),
            namespace: namespace.to_ascii_lowercase(),
            kind: kind.to_ascii_lowercase(),
        })
    }
}

/// A version as the mirror serves it: `MAJOR.MINOR.PATCH` with an optional pre-release, no
/// path separators.
pub fn version_ok(version: &str) -> bool {
    crate::registry::names::Version::parse(version).is_ok()
}

/// The archive a registry publishes for a platform (HashiCorp's release naming, which
/// terraform's own installer and `terraform providers mirror` use too).
pub fn archive_filename(kind: &str, version: &str, os: &str, arch: &str) -> String {
    format!("terraform-provider-{kind}_{version}_{os}_{arch}.zip")
}

/// The platforms' archives the signed SHA256SUMS vouches for, as (os, arch, filename,
/// sha256): the signature must verify with one of `keys` (the upstream's signing keys), and
/// a platform is kept only if SHA256SUMS lists its archive. Errors say why nothing is.
pub fn vouched_archives(
    shasums: &str,
    signature: &[u8],
    keys: &[String],
    kind: &str,
    version: &str,
    platforms: &[(String, String)],
) -> Result<Vec<(String, String, String, String)>, String> {
    if !keys
        .iter()
        .any(|key| gpg::verify_detached(key, shasums.as_bytes(), signature).is_ok())
    {
        return Err(format!(
            "the upstream's SHA256SUMS of {kind} {version} is not signed by any of its {} \
             signing key(s)",
            keys.len()
        ));
    }
    let sums: BTreeMap<String, String> = crate::providers::rules::parse_shasums(shasums)
        .map_err(|e| format!("the upstream's SHA256SUMS of {kind} {version}: {e}"))?;
    let archives: Vec<_> = platforms
        .iter()
        .filter_map(|(os, arch)| {
            let filename = archive_filename(kind, version, os, arch);
            sums.get(&filename)
                .map(|sha| (os.clone(), arch.clone(), filename, sha.clone()))
        })
        .collect();
    if archives.is_empty() {
        return Err(format!(
            "the upstream's SHA256SUMS of {kind} {version} lists none of its platforms' archives"
        ));
    }
    Ok(archives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_names_not_paths() {
        let a = MirrorAddress::parse("Registry.Terraform.io", "HashiCorp", "null").unwrap();
        assert_eq!(
            (a.hostname.as_str(), a.namespace.as_str(), a.kind.as_str()),
            ("registry.terraform.io", "hashicorp", "null")
        );
        assert!(MirrorAddress::parse("127.0.0.1:8443", "acme", "hello").is_some());
        for (host, ns, kind) in [
            ("localhost", "a", "b"),
            ("..", "a", "b"),
            ("example.com/x", "a", "b"),
            ("example.com", "..", "b"),
            ("example.com", "a", "b/c"),
            ("example.com", "a", ""),
            ("example.com", "a", "b%2F"),
        ] {
            assert!(
                MirrorAddress::parse(host, ns, kind).is_none(),
                "{host}/{ns}/{kind}"
            );
        }
    }

    #[test]
    fn versions_are_semantic() {
        assert!(version_ok("1.2.3"));
        assert!(version_ok("1.2.3-beta.1"));
        assert!(!version_ok("../1.2.3"));
        assert!(!version_ok("latest"));
    }

    #[test]
    fn archives_follow_the_release_naming() {
        assert_eq!(
            archive_filename("null", "3.2.1", "linux", "amd64"),
            "terraform-provider-null_3.2.1_linux_amd64.zip"
        );
    }

    const KEY: &str = include_str!("../providers/testdata/key.asc");
    const OTHER_KEY: &str = include_str!("../providers/testdata/ed25519-key.asc");
    const SHASUMS: &str = include_str!("../providers/testdata/SHA256SUMS");
    const SIG: &[u8] = include_bytes!("../providers/testdata/SHA256SUMS.sig");

    #[test]
    fn a_signed_sums_file_vouches_for_the_platforms_it_lists() {
        let platforms = [
            ("linux".to_string(), "amd64".to_string()),
            ("darwin".to_string(), "arm64".to_string()),
        ];
        let keys = [OTHER_KEY.to_string(), KEY.to_string()];
        let archives = vouched_archives(SHASUMS, SIG, &keys, "x", "1.0.0", &platforms).unwrap();
        assert_eq!(
            archives,
            [(
                "linux".to_string(),
                "amd64".to_string(),
                "terraform-provider-x_1.0.0_linux_amd64.zip".to_string(),
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_string()
            )]
        );
        let err = vouched_archives(SHASUMS, SIG, &keys[..1], "x", "1.0.0", &platforms).unwrap_err();
        assert!(err.contains("not signed"), "{err}");
        let err = vouched_archives(SHASUMS, SIG, &keys, "x", "1.0.0", &platforms[1..]).unwrap_err();
        assert!(err.contains("none of its platforms"), "{err}");
    }

    #[test]
    fn an_unsigned_sums_file_vouches_for_nothing() {
        let err = vouched_archives(
            "aa  terraform-provider-x_1.0.0_linux_amd64.zip\n",
            b"not a signature",
            &["-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----".into()],
            "x",
            "1.0.0",
            &[("linux".into(), "amd64".into())],
        )
        .unwrap_err();
        assert!(err.contains("not signed"), "{err}");
        let none = vouched_archives("", b"", &[], "x", "1.0.0", &[]).unwrap_err();
        assert!(none.contains("0 signing key"), "{none}");
    }
}
