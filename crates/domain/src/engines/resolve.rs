//! Which catalogue entry a workspace's `terraform-version` means, as pure functions of the
//! catalogue. `latest` is the newest enabled version that is neither beta nor a pre-release;
//! an exact version is that entry if enabled; a constraint (`~> 1.5`, `>= 1.5, < 2.0`) is the
//! newest enabled non-beta release matching every clause (pre-releases and beta versions
//! only when named exactly, as terraform's own constraints treat pre-releases). Deprecated
//! versions still resolve: workspaces pinned to them keep running, new ones are not given them.

use std::cmp::Ordering;

use terrace_storage::model::ToolVersion;

/// A version number: `MAJOR.MINOR.PATCH[-pre]` (a leading `v` allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub numbers: [u64; 3],
    pub pre: Option<String>,
}

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        let numbers = parse_numbers(core)?;
        (numbers.len() == 3).then(|| Version {
            numbers: [numbers[0], numbers[1], numbers[2]],
            pre,
        })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                // A pre-release comes before its release.
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn parse_numbers(core: &str) -> Option<Vec<u64>> {
    core.split('.')
        .map(|part| {
            (!part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
                .then(|| part.parse().ok())
                .flatten()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// `~>`: at least this version, below the next increment of its second-to-last number.
    Pessimistic,
}

/// One clause of a constraint: an operator and a (possibly partial) version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    op: Op,
    numbers: Vec<u64>,
    pre: Option<String>,
}

fn parse_clause(text: &str) -> Option<Clause> {
    let text = text.trim();
    let (op, rest) = [
        ("~>", Op::Pessimistic),
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
    ]
    .iter()
    .find_map(|(prefix, op)| text.strip_prefix(prefix).map(|rest| (*op, rest)))
    .unwrap_or((Op::Eq, text));
    let rest = rest.trim();
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) if !pre.is_empty() => (core, Some(pre.to_string())),
        Some(_) => return None,
        None => (rest, None),
    };
    let numbers = parse_numbers(core)?;
    if numbers.is_empty() || numbers.len() > 3 || (pre.is_some() && numbers.len() != 3) {
        return None;
    }
    Some(Clause { op, numbers, pre })
}

fn padded(numbers: &[u64]) -> [u64; 3] {
    let mut out = [0; 3];
    out[..numbers.len()].copy_from_slice(numbers);
    out
}

impl Clause {
    fn matches(&self, v: &Version) -> bool {
        let bound = Version {
            numbers: padded(&self.numbers),
            pre: self.pre.clone(),
        };
        match self.op {
            Op::Eq => v == &bound,
            Op::Ne => v != &bound,
            Op::Gt => v > &bound,
            Op::Ge => v >= &bound,
            Op::Lt => v < &bound,
            Op::Le => v <= &bound,
            Op::Pessimistic => {
                // `~> 1.5.2` is >= 1.5.2, < 1.6.0; `~> 1.5` is >= 1.5.0, < 2.0.0; `~> 1` is >= 1.0.0.
                let mut upper = padded(&self.numbers);
                let pos = self.numbers.len().saturating_sub(2);
                if self.numbers.len() > 1 {
                    upper[pos] += 1;
                    for n in upper.iter_mut().skip(pos + 1) {
                        *n = 0;
                    }
                }
                v >= &bound
                    && (self.numbers.len() == 1
                        || v < &Version {
                            numbers: upper,
                            pre: None,
                        })
            }
        }
    }

    /// Names one version exactly (`1.2.3`, `= 1.2.3`): the only way to ask for a pre-release.
    fn exact(&self) -> bool {
        self.op == Op::Eq && self.numbers.len() == 3
    }
}

/// A workspace's request: `latest`, or a constraint (an exact version is a constraint of one
/// clause). `None` when it is neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Latest,
    Constraint(Vec<Clause>),
}

impl Request {
    pub fn parse(text: &str) -> Option<Request> {
        let text = text.trim();
        if text == "latest" || text.is_empty() {
            return Some(Request::Latest);
        }
        text.split(',')
            .map(parse_clause)
            .collect::<Option<Vec<_>>>()
            .map(Request::Constraint)
    }
}

/// Why a request resolves to nothing: the versions it could have named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub allowed: Vec<String>,
}

/// The enabled versions of the catalogue, newest first (what a refusal names).
pub fn allowed_versions(catalogue: &[ToolVersion]) -> Vec<String> {
    let mut versions: Vec<(Version, &ToolVersion)> = catalogue
        .iter()
        .filter(|v| v.enabled)
        .filter_map(|v| Version::parse(&v.version).map(|parsed| (parsed, v)))
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions
        .into_iter()
        .map(|(_, v)| v.version.clone())
        .collect()
}

/// The entry `requested` means in the catalogue. `Ok(None)` when the catalogue is empty: the
/// runner's own binary runs, as before there was a catalogue.
pub fn resolve<'c>(
    requested: &str,
    catalogue: &'c [ToolVersion],
) -> Result<Option<&'c ToolVersion>, Unavailable> {
    if catalogue.is_empty() {
        return Ok(None);
    }
    let unavailable = || Unavailable {
        allowed: allowed_versions(catalogue),
    };
    let request = Request::parse(requested).ok_or_else(unavailable)?;
    let candidates = catalogue
        .iter()
        .filter(|v| v.enabled)
        .filter_map(|v| Version::parse(&v.version).map(|parsed| (parsed, v)));
    let best = match &request {
        Request::Latest => candidates
            .filter(|(parsed, v)| !v.beta && parsed.pre.is_none())
            .max_by(|a, b| a.0.cmp(&b.0)),
        Request::Constraint(clauses) => {
            let exact = clauses.len() == 1 && clauses[0].exact();
            candidates
                .filter(|(parsed, v)| exact || (!v.beta && parsed.pre.is_none()))
                .filter(|(parsed, _)| clauses.iter().all(|c| c.matches(parsed)))
                .max_by(|a, b| a.0.cmp(&b.0))
        }
    };
    best.map(|(_, v)| Some(v)).ok_or_else(unavailable)
}

/// The version a new workspace gets: the newest enabled official release that is neither beta
/// nor deprecated (else the newest enabled release); `latest` with an empty catalogue.
pub fn default_version(catalogue: &[ToolVersion]) -> String {
    let releases = || {
        catalogue
            .iter()
            .filter(|v| v.enabled && !v.beta)
            .filter_map(|v| Version::parse(&v.version).map(|parsed| (parsed, v)))
            .filter(|(parsed, _)| parsed.pre.is_none())
    };
    releases()
        .filter(|(_, v)| v.official && !v.deprecated)
        .max_by(|a, b| a.0.cmp(&b.0))
        .or_else(|| releases().max_by(|a, b| a.0.cmp(&b.0)))
        .map(|(_, v)| v.version.clone())
        .unwrap_or_else(|| "latest".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use terrace_storage::model::{Engine, JsonText};

    fn entry(version: &str) -> ToolVersion {
        ToolVersion {
            id: format!("tool-{version}"),
            engine: Engine::Terraform,
            version: version.into(),
            official: true,
            enabled: true,
            beta: false,
            deprecated: false,
            deprecated_reason: None,
            archs: JsonText(Vec::new()),
            created_at: Utc::now(),
        }
    }

    fn catalogue() -> Vec<ToolVersion> {
        let mut disabled = entry("1.6.0");
        disabled.enabled = false;
        let mut beta = entry("1.7.0");
        beta.beta = true;
        let mut deprecated = entry("1.4.0");
        deprecated.deprecated = true;
        vec![
            entry("1.5.7"),
            entry("1.5.2"),
            entry("1.11.4"),
            entry("1.12.0-rc1"),
            disabled,
            beta,
            deprecated,
        ]
    }

    fn resolved(requested: &str) -> Result<Option<String>, Unavailable> {
        let catalogue = catalogue();
        resolve(requested, &catalogue).map(|v| v.map(|v| v.version.clone()))
    }

    #[test]
    fn versions_order_numerically_with_pre_releases_first() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.11.4") > v("1.5.7"));
        assert!(v("1.12.0-rc1") < v("1.12.0"));
        assert!(v("1.0.18446744073709551615") > v("1.0.4"));
        assert_eq!(Version::parse("1.2"), None);
        assert_eq!(Version::parse("1.2.x"), None);
    }

    #[test]
    fn latest_is_the_newest_enabled_release() {
        assert_eq!(resolved("latest").unwrap().as_deref(), Some("1.11.4"));
        assert_eq!(resolved("").unwrap().as_deref(), Some("1.11.4"));
    }

    #[test]
    fn exact_versions_must_be_enabled_entries() {
        assert_eq!(resolved("1.5.7").unwrap().as_deref(), Some("1.5.7"));
        assert_eq!(resolved("= 1.5.7").unwrap().as_deref(), Some("1.5.7"));
        assert_eq!(resolved("v1.5.7").unwrap().as_deref(), Some("1.5.7"));
        // Pre-releases and beta versions only when named exactly.
        assert_eq!(
            resolved("1.12.0-rc1").unwrap().as_deref(),
            Some("1.12.0-rc1")
        );
        assert_eq!(resolved("1.7.0").unwrap().as_deref(), Some("1.7.0"));
        // Deprecated versions keep resolving for the workspaces pinned to them.
        assert_eq!(resolved("1.4.0").unwrap().as_deref(), Some("1.4.0"));
        let refusal = resolved("1.6.0").unwrap_err();
        assert_eq!(
            refusal.allowed,
            ["1.12.0-rc1", "1.11.4", "1.7.0", "1.5.7", "1.5.2", "1.4.0"]
        );
        assert!(resolved("1.9.9").is_err());
        assert!(resolved("nonsense").is_err());
    }

    #[test]
    fn constraints_pick_the_newest_match() {
        assert_eq!(resolved("~> 1.5.0").unwrap().as_deref(), Some("1.5.7"));
        assert_eq!(resolved("~> 1.5").unwrap().as_deref(), Some("1.11.4"));
        assert_eq!(resolved("~> 1").unwrap().as_deref(), Some("1.11.4"));
        assert_eq!(resolved(">= 1.5, < 1.6").unwrap().as_deref(), Some("1.5.7"));
        assert_eq!(resolved("< 1.5.7").unwrap().as_deref(), Some("1.5.2"));
        assert_eq!(
            resolved(">= 1.5, != 1.11.4").unwrap().as_deref(),
            Some("1.5.7")
        );
        // Neither the beta 1.7.0 nor the pre-release match a range.
        assert_eq!(resolved("~> 1.7.0").unwrap_err().allowed.len(), 6);
        assert!(resolved(">= 2.0").is_err());
    }

    #[test]
    fn an_empty_catalogue_leaves_the_choice_to_the_runner() {
        assert_eq!(resolve("1.5.7", &[]), Ok(None));
        assert_eq!(default_version(&[]), "latest");
    }

    #[test]
    fn new_workspaces_get_the_newest_official_release() {
        assert_eq!(default_version(&catalogue()), "1.11.4");
        let mut unofficial = catalogue();
        for v in &mut unofficial {
            v.official = false;
        }
        assert_eq!(default_version(&unofficial), "1.11.4");
        let mut newest_deprecated = catalogue();
        newest_deprecated[2].deprecated = true;
        assert_eq!(default_version(&newest_deprecated), "1.5.7");
    }
}
