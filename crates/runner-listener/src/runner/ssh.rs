//! The workspace's SSH key, for `git::ssh://` module sources: fetched by the runner itself
//! with its job token (so the listener, its environment and a Kubernetes Job's spec never
//! hold it), written with mode 0600 into the job's own directory (removed with it), and named
//! to git through `GIT_SSH_COMMAND`. Hosts are learnt per job (`accept-new` into the job's own
//! `known_hosts`): the runner's and the system's known hosts are not the workspace's.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The directory under the job's root that holds the key and the known hosts.
const DIR: &str = "ssh";
const KEY: &str = "id";
const KNOWN_HOSTS: &str = "known_hosts";
pub(crate) const VAR: &str = "GIT_SSH_COMMAND";
/// Makes git skip `/etc/gitconfig`.
pub(crate) const NO_SYSTEM_CONFIG: &str = "GIT_CONFIG_NOSYSTEM";

/// A key as ssh reads it: LF line ends and a final newline (OpenSSH refuses a key without
/// one, and keys pasted from Windows come with CRLF).
pub(crate) fn normalize(key: &str) -> String {
    let mut text = key.replace("\r\n", "\n").trim().to_string();
    text.push('\n');
    text
}

/// Single-quotes a word for the shell git runs `GIT_SSH_COMMAND` with.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The ssh command git runs: only `key` (if any) as identity, no agent, no prompts, and the
/// job's own known hosts.
pub(crate) fn command(key: Option<&Path>, known_hosts: &Path) -> String {
    let mut cmd = String::from("ssh");
    if let Some(key) = key {
        cmd.push_str(&format!(" -i {} -o IdentitiesOnly=yes", quote(key)));
    }
    cmd.push_str(&format!(
        " -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
         -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
        quote(known_hosts)
    ));
    cmd
}

/// Writes the key (if any) into `<root>/ssh/` and returns the `GIT_SSH_COMMAND` for it.
pub(crate) fn prepare(root: &Path, key: Option<&str>) -> std::io::Result<String> {
    let dir = root.join(DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let known_hosts = dir.join(KNOWN_HOSTS);
    let path: Option<PathBuf> = match key {
        Some(key) => {
            let path = dir.join(KEY);
            let _ = std::fs::remove_file(&path);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            file.write_all(normalize(key).as_bytes())?;
            file.sync_all()?;
            Some(path)
        }
        None => None,
    };
    Ok(command(path.as_deref(), &known_hosts))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn keys_get_lf_and_a_final_newline() {
        assert_eq!(normalize("a\r\nb\r\n\r\n"), "a\nb\n");
        assert_eq!(normalize("a\nb"), "a\nb\n");
    }

    #[test]
    fn the_command_names_only_the_job_key_and_known_hosts() {
        let cmd = command(
            Some(Path::new("/runs/j 1/ssh/id")),
            Path::new("/runs/j'1/ssh/known_hosts"),
        );
        assert!(cmd.starts_with("ssh -i '/runs/j 1/ssh/id' -o IdentitiesOnly=yes"));
        assert!(cmd.contains("UserKnownHostsFile='/runs/j'\\''1/ssh/known_hosts'"));
        assert!(cmd.contains("StrictHostKeyChecking=accept-new"));
        assert!(cmd.contains("BatchMode=yes"));
        assert!(!command(None, Path::new("/k")).contains(" -i "));
    }

    #[test]
    fn the_key_is_written_private_in_the_job_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let cmd = prepare(tmp.path(), Some("secret\r\n")).unwrap();
        let key = tmp.path().join("ssh/id");
        assert_eq!(std::fs::read_to_string(&key).unwrap(), "secret\n");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir = std::fs::metadata(tmp.path().join("ssh")).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        assert!(cmd.contains(&key.display().to_string()));
        assert!(!cmd.contains("secret"));
    }
}
