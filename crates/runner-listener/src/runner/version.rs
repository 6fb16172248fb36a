//! Which terraform binary runs a job. A workspace asks for `latest`, an exact version or a
//! constraint. An exact version is looked up in the versions directory
//! (`<dir>/<version>/terraform` or `<dir>/terraform_<version>`); otherwise the default binary
//! runs, and an exact request it does not satisfy fails the job with a clear message rather
//! than silently running another version. Constraints are left to the default binary (the
//! server resolves them when it can).

use std::path::{Path, PathBuf};

/// Where to look for a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// A binary of exactly the requested version.
    Versioned(PathBuf),
    /// The default binary; `Some(v)` if it must be version `v`.
    Default { must_be: Option<String> },
}

/// The version if `requested` names exactly one: `1.11.4`, `v1.11.4`, `=1.11.4`,
/// `1.12.0-alpha20250101`.
pub(crate) fn exact_version(requested: &str) -> Option<&str> {
    let v = requested.trim();
    let v = v.strip_prefix('=').unwrap_or(v).trim_start();
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, pre) = match v.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (v, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) {
        return None;
    }
    if let Some(pre) = pre {
        let ok = !pre.is_empty()
            && pre
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !ok {
            return None;
        }
    }
    Some(v)
}

/// Picks the binary for `requested`, looking in `versions_dir` for an exact version.
pub(crate) fn choose(requested: &str, versions_dir: Option<&Path>) -> Choice {
    let Some(version) = exact_version(requested) else {
        return Choice::Default { must_be: None };
    };
    if let Some(dir) = versions_dir {
        for candidate in [
            dir.join(version).join("terraform"),
            dir.join(format!("terraform_{version}")),
        ] {
            if is_executable(&candidate) {
                return Choice::Versioned(candidate);
            }
        }
    }
    Choice::Default {
        must_be: Some(version.to_string()),
    }
}

/// Checks the default binary's version against the requested one.
pub(crate) fn check_default(must_be: Option<&str>, actual: &str) -> Result<(), String> {
    match must_be {
        Some(wanted) if wanted != actual => Err(format!(
            "Terraform {wanted} is not available on this runner (it has {actual})"
        )),
        _ => Ok(()),
    }
}

/// Whether `apply PLANFILE` of `engine` at `version` takes the run's `-var-file`s. terraform
/// 1.10 and OpenTofu 1.11 accept variables that match the saved plan's, and need the ephemeral
/// ones, which a plan does not keep; earlier versions refuse any ("Can't set variables when
/// applying a saved plan") and find every value in the plan file. A version that does not
/// parse is taken for a recent one.
pub(crate) fn apply_takes_var_files(engine: &str, version: &str) -> bool {
    let mut parts = version
        .split(['-', '+'])
        .next()
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse::<u64>());
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return true;
    };
    let since = if engine == "tofu" { (1, 11) } else { (1, 10) };
    (major, minor) >= since
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds `program` on `path` (a PATH value) unless it already names a file.
pub(crate) fn find_program(program: &Path, path: &str) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return is_executable(program).then(|| program.to_path_buf());
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// What `terraform version -json` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    pub version: String,
    pub platform: String,
}

pub(crate) fn parse_version_json(output: &[u8]) -> Option<Reported> {
    let doc: serde_json::Value = serde_json::from_slice(output).ok()?;
    Some(Reported {
        version: doc.get("terraform_version")?.as_str()?.to_string(),
        platform: doc
            .get("platform")
            .and_then(|p| p.as_str())
            .unwrap_or("unknown")
            .to_string(),
    })
}

/// What binaries answered to `version -json`, kept on this node: terraform takes about 50 ms
/// of CPU to answer, a fifth of a small plan job's, and every job asked again. An entry is
/// keyed by the binary's real path and identity (device, inode, size, modification and change
/// times), so a binary replaced, rewritten or touched is asked again. It lives in the tools
/// cache, which jobs' sandboxes cannot write. Failures to read or write it only cost the
/// question.
pub(crate) struct VersionCache {
    dir: PathBuf,
}

impl VersionCache {
    pub fn new(tools_cache: &Path) -> VersionCache {
        VersionCache {
            dir: tools_cache.join("versions"),
        }
    }

    fn entry(&self, binary: &Path) -> Option<PathBuf> {
        use sha2::{Digest, Sha256};
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let path = std::fs::canonicalize(binary).ok()?;
        let m = std::fs::metadata(&path).ok()?;
        let identity = [
            m.dev() as i64,
            m.ino() as i64,
            m.len() as i64,
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ];
        let mut key = Sha256::new();
        key.update(path.as_os_str().as_bytes());
        for n in identity {
            key.update(n.to_le_bytes());
        }
        Some(self.dir.join(hex::encode(key.finalize())))
    }

    /// What `binary` answered before, if it is the same file. Only entries this user wrote
    /// count (a default work directory is under a shared `/tmp`).
    pub fn get(&self, binary: &Path) -> Option<Reported> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        let mut file = std::fs::File::open(self.entry(binary)?).ok()?;
        // SAFETY: geteuid has no preconditions.
        if file.metadata().ok()?.uid() != unsafe { libc::geteuid() } {
            return None;
        }
        let mut output = Vec::new();
        file.read_to_end(&mut output).ok()?;
        parse_version_json(&output)
    }

    /// Keeps `binary`'s answer (`version -json`'s output).
    pub fn put(&self, binary: &Path, output: &[u8]) {
        let Some(entry) = self.entry(binary) else {
            return;
        };
        let written = (|| {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.dir)?;
            // Written aside and renamed: a runner reading at the same time sees all or nothing.
            let partial = entry.with_extension(format!("partial-{}", std::process::id()));
            std::fs::write(&partial, output)?;
            std::fs::rename(&partial, &entry)
        })();
        if let Err(e) = written {
            tracing::debug!(error = %e, "cannot keep the binary's version");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn executable(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn exact_versions() {
        assert_eq!(exact_version("1.11.4"), Some("1.11.4"));
        assert_eq!(exact_version("v1.11.4"), Some("1.11.4"));
        assert_eq!(exact_version("= 1.11.4"), Some("1.11.4"));
        assert_eq!(
            exact_version("1.12.0-alpha20250101"),
            Some("1.12.0-alpha20250101")
        );
        for not_exact in [
            "latest",
            "",
            "~> 1.11",
            ">= 1.0",
            "1.11",
            "1.11.x",
            "1.11.4, < 2",
            "1..4",
        ] {
            assert_eq!(exact_version(not_exact), None, "{not_exact}");
        }
    }

    #[test]
    fn versions_dir_layouts() {
        let dir = tempfile::tempdir().unwrap();
        executable(&dir.path().join("1.9.0/terraform"));
        executable(&dir.path().join("terraform_1.10.5"));
        // Present but not executable: ignored.
        std::fs::write(dir.path().join("terraform_1.8.0"), "").unwrap();

        assert_eq!(
            choose("1.9.0", Some(dir.path())),
            Choice::Versioned(dir.path().join("1.9.0/terraform"))
        );
        assert_eq!(
            choose("v1.10.5", Some(dir.path())),
            Choice::Versioned(dir.path().join("terraform_1.10.5"))
        );
        assert_eq!(
            choose("1.8.0", Some(dir.path())),
            Choice::Default {
                must_be: Some("1.8.0".into())
            }
        );
        assert_eq!(
            choose("latest", Some(dir.path())),
            Choice::Default { must_be: None }
        );
        assert_eq!(
            choose("~> 1.9.0", Some(dir.path())),
            Choice::Default { must_be: None }
        );
        assert_eq!(
            choose("1.11.4", None),
            Choice::Default {
                must_be: Some("1.11.4".into())
            }
        );
    }

    #[test]
    fn the_default_binary_must_match_an_exact_request() {
        assert!(check_default(None, "1.11.4").is_ok());
        assert!(check_default(Some("1.11.4"), "1.11.4").is_ok());
        assert_eq!(
            check_default(Some("1.5.7"), "1.11.4").unwrap_err(),
            "Terraform 1.5.7 is not available on this runner (it has 1.11.4)"
        );
    }

    #[test]
    fn saved_plans_take_variables_from_terraform_1_10_and_tofu_1_11() {
        for (engine, version, takes) in [
            ("terraform", "1.5.7", false),
            ("terraform", "1.9.8", false),
            ("terraform", "1.10.0", true),
            ("terraform", "1.11.4", true),
            ("terraform", "2.0.0", true),
            ("terraform", "1.10.0-beta1", true),
            ("tofu", "1.10.6", false),
            ("tofu", "1.11.0", true),
            ("tofu", "1.12.6", true),
            ("terraform", "unknown", true),
        ] {
            assert_eq!(
                apply_takes_var_files(engine, version),
                takes,
                "{engine} {version}"
            );
        }
    }

    #[test]
    fn programs_are_found_on_path() {
        let dir = tempfile::tempdir().unwrap();
        executable(&dir.path().join("bin/terraform"));
        let path = format!("/nonexistent:{}", dir.path().join("bin").display());
        assert_eq!(
            find_program(Path::new("terraform"), &path),
            Some(dir.path().join("bin/terraform"))
        );
        assert_eq!(find_program(Path::new("terraform"), "/nonexistent"), None);
        let absolute = dir.path().join("bin/terraform");
        assert_eq!(find_program(&absolute, ""), Some(absolute.clone()));
    }

    #[test]
    fn version_json() {
        let out = br#"{"terraform_version":"1.11.4","platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}"#;
        assert_eq!(
            parse_version_json(out),
            Some(Reported {
                version: "1.11.4".into(),
                platform: "linux_amd64".into()
            })
        );
        assert_eq!(parse_version_json(b"Terraform v1.11.4"), None);
    }

    #[test]
    fn versions_are_kept_until_the_binary_changes() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("bin/terraform");
        executable(&binary);
        let cache = VersionCache::new(&dir.path().join("cache"));
        assert_eq!(cache.get(&binary), None);
        let answer = br#"{"terraform_version":"1.11.4","platform":"linux_amd64"}"#;
        cache.put(&binary, answer);
        let reported = Reported {
            version: "1.11.4".into(),
            platform: "linux_amd64".into(),
        };
        assert_eq!(cache.get(&binary), Some(reported.clone()));
        // Through a symlink, it is the same binary.
        let link = dir.path().join("terraform-link");
        std::os::unix::fs::symlink(&binary, &link).unwrap();
        assert_eq!(cache.get(&link), Some(reported));
        // Replaced by another binary at the same path: asked again.
        std::fs::remove_file(&binary).unwrap();
        executable(&binary);
        assert_eq!(cache.get(&binary), None);
        // Rewritten in place (same inode, same size): asked again.
        cache.put(&binary, answer);
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&binary, "#!/bin/sh\n").unwrap();
        assert_eq!(cache.get(&binary), None);
        assert_eq!(cache.get(&dir.path().join("missing")), None);
    }
}
