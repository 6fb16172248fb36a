//! READMEs: a workspace's is the `README.md` of its current configuration, from its working
//! directory or else the configuration's root (any case of the name), as the overview shows
//! it; a module version's is its tarball's root one. Read from the tarball (walked by the
//! same reader that checked it) and kept per tarball, which never changes once uploaded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use futures::StreamExt;
use terrace_auth::policy::Action;

use super::chunks;
use terrace_storage::blob::BlobStream;

use crate::{Caller, DomainResult, Services};

/// The most of a README that is kept and shown.
pub const MAX_README_BYTES: usize = 128 * 1024;

/// READMEs of this many configuration versions are remembered.
const REMEMBERED: usize = 64;

/// A configuration's README.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readme {
    /// Its path in the configuration.
    pub path: String,
    pub markdown: String,
    /// It is longer than [`MAX_README_BYTES`]: only its beginning is here.
    pub truncated: bool,
}

/// READMEs by configuration version (`None`: it has none), a few of them.
#[derive(Default)]
pub(crate) struct Readmes(Mutex<HashMap<String, Option<Readme>>>);

impl Readmes {
    fn get(&self, cv_id: &str) -> Option<Option<Readme>> {
        self.0.lock().ok()?.get(cv_id).cloned()
    }

    fn put(&self, cv_id: &str, readme: Option<Readme>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= REMEMBERED {
                map.clear();
            }
            map.insert(cv_id.to_string(), readme);
        }
    }
}

/// How a path ranks as the README of a configuration run from `working_directory`: its own
/// first, then the root's; `None` for any other file.
pub fn readme_rank(path: &Path, working_directory: &str) -> Option<usize> {
    let named = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("readme.md"));
    if !named {
        return None;
    }
    let parent = path.parent().unwrap_or(Path::new(""));
    let working = Path::new(working_directory.trim_matches('/'));
    if parent == working {
        Some(0)
    } else if parent.as_os_str().is_empty() {
        Some(1)
    } else {
        None
    }
}

impl Services {
    /// The README of the workspace's current configuration, for those who may read its runs;
    /// `None` when it has no configuration or no README (or the README cannot be read: a
    /// page without it is better than no page).
    pub async fn workspace_readme(
        &self,
        caller: &Caller,
        workspace_id: &str,
    ) -> DomainResult<Option<Readme>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadRuns)
            .await?;
        let Some(cv) = self.store.current_configuration_version(&ws.id).await? else {
            return Ok(None);
        };
        // The working directory is part of the key: changing it may change the README.
        let key = format!("{}\0{}", cv.id, ws.working_directory);
        let tarball = self.configuration_tarball(&cv);
        Ok(self
            .remembered_readme(&key, &ws.working_directory, tarball)
            .await)
    }

    /// The README of a tarball (a configuration, or a module version, which is one) run from
    /// `directory`: its own, else the root's. Remembered under `key`, as the tarball never
    /// changes; `tarball` is only opened when it is not. `None` when it has none, or cannot
    /// be read (logged, and tried again next time).
    pub(crate) async fn remembered_readme(
        &self,
        key: &str,
        directory: &str,
        tarball: impl std::future::Future<Output = DomainResult<BlobStream>>,
    ) -> Option<Readme> {
        if let Some(known) = self.readmes.get(key) {
            return known;
        }
        let found = match tarball.await {
            Ok(tarball) => self.tarball_readme(tarball, directory.to_string()).await,
            Err(err) => Err(err.to_string()),
        };
        match found {
            Ok(readme) => {
                self.readmes.put(key, readme.clone());
                readme
            }
            Err(err) => {
                tracing::warn!(error = %err, tarball = %key, "cannot read a tarball for its README");
                None
            }
        }
    }

    async fn tarball_readme(
        &self,
        mut tarball: BlobStream,
        directory: String,
    ) -> Result<Option<Readme>, String> {
        let (to_read, reader) = chunks::channel();
        let limits = self.settings.configuration_limits;
        let find = tokio::task::spawn_blocking(move || {
            terrace_slug::find_file(
                reader,
                &limits,
                |path| readme_rank(path, &directory),
                MAX_README_BYTES,
            )
        });
        // A read error ends the reader early: it then refuses a truncated archive.
        while let Some(Ok(chunk)) = tarball.next().await {
            if to_read.send(chunk).await.is_err() {
                break;
            }
        }
        drop(to_read);
        match find.await {
            Ok(Ok(found)) => Ok(found.map(|f| Readme {
                path: f.path.to_string_lossy().into_owned(),
                markdown: String::from_utf8_lossy(&f.content).into_owned(),
                truncated: f.truncated,
            })),
            Ok(Err(err)) => Err(err.to_string()),
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => Err(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_directorys_readme_comes_before_the_roots() {
        let rank = |path: &str, wd: &str| readme_rank(Path::new(path), wd);
        assert_eq!(rank("README.md", ""), Some(0));
        assert_eq!(rank("readme.MD", ""), Some(0));
        assert_eq!(rank("infra/README.md", "infra"), Some(0));
        assert_eq!(rank("infra/README.md", "/infra/"), Some(0));
        assert_eq!(rank("README.md", "infra"), Some(1));
        assert_eq!(rank("other/README.md", "infra"), None);
        assert_eq!(rank("infra/deep/README.md", "infra"), None);
        assert_eq!(rank("README.txt", ""), None);
        assert_eq!(rank("main.tf", ""), None);
    }
}
