//! A listener's directory for its runners' jobs: a fresh `terrace-runs-XXXXXX` in the work
//! directory, private to the runners' user, removed when the listener stops. A listener that
//! is killed cannot remove its own (with its cache of terraform binaries, hundreds of MB), so
//! each directory holds a lock for its listener's life, and the next listener to start in the
//! same work directory removes every one whose lock nobody holds.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::confine::RunAs;

const PREFIX: &str = "terrace-runs-";
/// Inside each directory: the listener's lock, with its process ID once held.
const LOCK: &str = ".listener.lock";

/// The directory, removed when dropped.
pub struct RunsDir {
    dir: tempfile::TempDir,
    _lock: File,
}

impl RunsDir {
    /// Makes a fresh directory inside `parent` (handed to `run_as`, who runs the jobs), then
    /// removes what killed listeners left in `parent`.
    pub fn create(parent: &Path, run_as: Option<RunAs>) -> anyhow::Result<RunsDir> {
        std::fs::create_dir_all(parent)
            .map_err(|err| anyhow::anyhow!("cannot create {}: {err}", parent.display()))?;
        let cannot = |err: std::io::Error| {
            anyhow::anyhow!("cannot make a directory in {}: {err}", parent.display())
        };
        // tempfile makes it 0700, with a name nobody can guess in advance.
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(parent)
            .map_err(cannot)?;
        // The lock file stays the listener's own: a runner cannot make one that passes for
        // a listener's, so it cannot get another directory removed.
        let mut lock = File::create_new(dir.path().join(LOCK)).map_err(cannot)?;
        lock.lock().map_err(cannot)?;
        // Written once held: an empty lock file is a listener still starting.
        write!(lock, "{}", std::process::id()).map_err(cannot)?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).map_err(
                |err| {
                    anyhow::anyhow!(
                        "cannot hand {} to the runners' user {}: {err}",
                        dir.path().display(),
                        user.uid
                    )
                },
            )?;
        }
        for removed in remove_abandoned(parent, dir.path()) {
            tracing::info!(dir = %removed.display(), "removed the runs directory of a listener that was killed");
        }
        Ok(RunsDir { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the runs directories in `parent`, other than `own`, whose listener is gone: the
/// lock file is this process's user's, nobody holds it, and it names a process. Returns them.
fn remove_abandoned(parent: &Path, own: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let uid = unsafe { libc::geteuid() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(PREFIX);
        // A symbolic link is not a directory here: nothing is followed.
        let is_dir = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if !ours || !is_dir || path == own {
            continue;
        }
        // Checked on the open file, never through a link: the runners' user owns the
        // directory and could swap what the name points at.
        let Ok(mut lock) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path.join(LOCK))
        else {
            continue;
        };
        let is_listeners = lock
            .metadata()
            .is_ok_and(|meta| meta.is_file() && meta.uid() == uid);
        if !is_listeners {
            continue;
        }
        // Held while removing, so that two listeners starting together do not both try.
        if lock.try_lock().is_err() {
            continue;
        }
        let mut pid = String::new();
        if lock.read_to_string(&mut pid).is_err() || pid.is_empty() {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(err) => {
                tracing::warn!(dir = %path.display(), error = %err, "cannot remove the runs directory of a listener that was killed")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// A directory as a killed listener leaves it: its lock file names a process, unheld.
    fn killed_listeners(parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir_all(dir.join("terrace-job-1/config")).unwrap();
        std::fs::write(dir.join(LOCK), "4242").unwrap();
        dir
    }

    #[test]
    fn a_new_listener_removes_only_what_killed_listeners_left() {
        let parent = tempfile::tempdir().unwrap();
        let dead = killed_listeners(parent.path(), "terrace-runs-dead");
        let live = RunsDir::create(parent.path(), None).unwrap();
        assert!(!dead.exists(), "the killed listener's directory is removed");

        // Still starting (its lock file empty), another program's, a runner's fake (no lock
        // file), and a symbolic link to somewhere else: all left alone.
        let starting = parent.path().join("terrace-runs-starting");
        std::fs::create_dir(&starting).unwrap();
        std::fs::write(starting.join(LOCK), "").unwrap();
        let other = killed_listeners(parent.path(), "other-dir");
        let fake = parent.path().join("terrace-runs-fake");
        std::fs::create_dir(&fake).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = killed_listeners(elsewhere.path(), "target");
        std::os::unix::fs::symlink(&target, parent.path().join("terrace-runs-link")).unwrap();

        let second = RunsDir::create(parent.path(), None).unwrap();
        assert!(live.path().exists(), "a running listener's directory stays");
        assert!(starting.exists() && other.exists() && fake.exists() && target.exists());

        // Once dropped, a listener's directory is gone, and the other's is untouched.
        let first = live.path().to_path_buf();
        drop(live);
        assert!(!first.exists());
        assert!(second.path().exists());
    }

    #[test]
    fn it_reports_what_it_removed() {
        let parent = tempfile::tempdir().unwrap();
        killed_listeners(parent.path(), "terrace-runs-a");
        killed_listeners(parent.path(), "terrace-runs-b");
        let own = parent.path().join("terrace-runs-own");
        std::fs::create_dir(&own).unwrap();
        let mut removed = names(&remove_abandoned(parent.path(), &own));
        removed.sort();
        assert_eq!(removed, ["terrace-runs-a", "terrace-runs-b"]);
        assert!(own.exists());
    }
}
