//! Secrets given on the command line or in the environment, or in a file. Every option that
//! takes a secret has a `-file` twin (`--token` and `--token-file`, `TERRACE_X` and
//! `TERRACE_X_FILE`): a process's arguments are readable by every user of the machine
//! (`/proc/PID/cmdline`), a file can be kept to its owner.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The secret of option `flag` (`--token`, a variable like `TERRACE_ADMIN_PASSWORD`, or a
/// configuration file key like `database_url`):
/// its value, or the content of its file. Giving both is a mistake, not a precedence to guess.
pub fn value_or_file(
    flag: &str,
    value: Option<String>,
    file: Option<&Path>,
) -> Result<Option<String>> {
    let file_flag = if flag.starts_with("--") {
        format!("{flag}-file")
    } else if flag.starts_with("TERRACE_") {
        format!("{flag}_FILE")
    } else {
        format!("{flag}_file")
    };
    match (value, file) {
        (Some(_), Some(_)) => bail!("give {flag} or {file_flag}, not both"),
        (Some(value), None) => Ok(Some(value)),
        (None, Some(path)) => read(path)
            .with_context(|| format!("reading {file_flag} {}", path.display()))
            .map(Some),
        (None, None) => Ok(None),
    }
}

/// A secret setting as one layer gives it: its name there, its value, its file.
pub struct Layer<'a> {
    pub name: &'a str,
    pub value: Option<String>,
    pub file: Option<&'a Path>,
}

/// A secret set by a flag (or its variable) or by the configuration file, each as a value or
/// a file: the flag's layer wins, and each refuses both at once.
pub fn flag_or_config(flag: Layer, config: Layer) -> Result<Option<String>> {
    match value_or_file(flag.name, flag.value, flag.file)? {
        Some(value) => Ok(Some(value)),
        None => value_or_file(config.name, config.value, config.file),
    }
}

/// The content of a secret file without its trailing line break; an empty one is refused.
pub fn read(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        bail!("the file is empty");
    }
    Ok(secret.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_or_a_file_without_its_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret \n").unwrap();
        let get = |value: Option<&str>, file: Option<&Path>| {
            value_or_file("--token", value.map(str::to_string), file)
        };
        assert_eq!(
            get(Some("direct"), None).unwrap().as_deref(),
            Some("direct")
        );
        assert_eq!(get(None, Some(&file)).unwrap().as_deref(), Some("s3cret "));
        assert_eq!(get(None, None).unwrap(), None);
        let both = get(Some("direct"), Some(&file)).unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let missing = get(None, Some(&dir.path().join("nope"))).unwrap_err();
        assert!(
            format!("{missing:#}").contains("reading --token-file"),
            "{missing:#}"
        );
        std::fs::write(&file, "\n").unwrap();
        let empty = get(None, Some(&file)).unwrap_err();
        assert!(format!("{empty:#}").contains("empty"), "{empty:#}");
    }
}
