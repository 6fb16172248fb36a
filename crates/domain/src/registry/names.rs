//! Names and versions in the registry, as terraform's registry addresses take them.

use std::cmp::Ordering;

/// The only registry hosted here; `public` is HCP's public registry.
pub const PRIVATE: &str = "private";

/// Whether a registry address (registry name and namespace, as the TFE API spells them) is
/// `organization`'s own registry: only `private` registries are hosted, and a private
/// registry's namespace is its organization's name.
pub fn is_own_registry(registry: &str, namespace: &str, organization: &str) -> bool {
    registry == PRIVATE && namespace == organization
}

/// A module name: letters, digits, `-` and `_`, starting and ending with a letter or digit,
/// at most 64 characters.
pub fn module_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| {
        format!("{name:?} is not a module name: use letters, digits, '-' and '_' (at most 64), starting and ending with a letter or digit")
    })
}

/// A module's provider (its target system): lowercase letters and digits, at most 64.
pub fn module_provider(provider: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&provider.len())
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then_some(()).ok_or_else(|| {
        format!(
            "{provider:?} is not a module provider: use lowercase letters and digits (at most 64)"
        )
    })
}

/// A version as the registry protocol orders them: `MAJOR.MINOR.PATCH`, optionally with a
/// `-prerelease` and `+build` (semantic versioning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    core: [u64; 3],
    pre: Vec<String>,
}

impl Version {
    pub fn parse(text: &str) -> Result<Version, String> {
        let refused = || format!("{text:?} is not a version: use semantic versioning, like 1.2.3");
        let without_build = match text.split_once('+') {
            Some((v, build)) if valid_identifiers(build) => v,
            Some(_) => return Err(refused()),
            None => text,
        };
        let (core, pre) = match without_build.split_once('-') {
            Some((core, pre)) if valid_identifiers(pre) => (core, pre.split('.').collect()),
            Some(_) => return Err(refused()),
            None => (without_build, Vec::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 || text.len() > 128 {
            return Err(refused());
        }
        let mut numbers = [0u64; 3];
        for (n, part) in numbers.iter_mut().zip(&parts) {
            let leading_zero = part.len() > 1 && part.starts_with('0');
            if part.is_empty() || leading_zero || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refused());
            }
            *n = part.parse().map_err(|_| refused())?;
        }
        Ok(Version {
            core: numbers,
            pre: pre.into_iter().map(str::to_string).collect(),
        })
    }
}

fn valid_identifiers(text: &str) -> bool {
    text.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

impl Ord for Version {
    /// Semantic versioning's precedence: a prerelease comes before its release.
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organization_owns_only_its_private_namespace() {
        assert!(is_own_registry("private", "acme", "acme"));
        assert!(!is_own_registry("public", "acme", "acme"));
        assert!(!is_own_registry("private", "other", "acme"));
        assert!(!is_own_registry("private", "Acme", "acme"));
    }

    #[test]
    fn module_names_and_providers() {
        for good in ["vpc", "my-module", "a_b", "x1", &"a".repeat(64)] {
            assert!(module_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-vpc", "vpc_", "a b", "a/b", "..", "é", &"a".repeat(65)] {
            assert!(module_name(bad).is_err(), "{bad}");
        }
        for good in ["aws", "google", "k8s"] {
            assert!(module_provider(good).is_ok(), "{good}");
        }
        for bad in ["", "AWS", "my-cloud", "a_b", "a.b"] {
            assert!(module_provider(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_parse_as_semantic_versions() {
        for good in [
            "0.0.1",
            "1.2.3",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0+build.5",
            "1.0.0-a-b+c",
        ] {
            assert!(Version::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "v1.2.3",
            "1.2.x",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "1.2.3/../x",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_order_by_precedence() {
        let mut versions: Vec<Version> = [
            "1.10.0",
            "1.2.0",
            "1.2.0-rc.1",
            "1.2.0-beta",
            "1.2.0-rc.10",
            "0.9.9",
        ]
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
        versions.sort();
        let expected: Vec<Version> = [
            "0.9.9",
            "1.2.0-beta",
            "1.2.0-rc.1",
            "1.2.0-rc.10",
            "1.2.0",
            "1.10.0",
        ]
        .iter()
        .map(|v| Version::parse(v).unwrap())
        .collect();
        assert_eq!(versions, expected);
    }
}
