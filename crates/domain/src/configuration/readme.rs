//! A workspace's README: the `README.md` of its current configuration, from its working
//! directory or else the configuration's root (any case of the name), as the overview shows
//! it. Read from the tarball (walked by the same reader that checked it) and kept per
//! configuration version, which never changes once uploaded.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use futures::StreamExt;
use terrace_auth::policy::Action;

use super::chunks;
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
        if let Some(known) = self.readmes.get(&key) {
            return Ok(known);
        }
        let mut tarball = match self.configuration_tarball(&cv).await {
            Ok(tarball) => tarball,
            Err(err) => {
                tracing::warn!(error = %err, configuration = %cv.id, "cannot read a configuration for its README");
                return Ok(None);
            }
        };
        let (to_read, reader) = chunks::channel();
        let limits = self.settings.configuration_limits;
        let working_directory = ws.working_directory.clone();
        let find = tokio::task::spawn_blocking(move || {
            terrace_slug::find_file(
                reader,
                &limits,
                |path| readme_rank(path, &working_directory),
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
        let readme = match find.await {
            Ok(Ok(found)) => found.map(|f| Readme {
                path: f.path.to_string_lossy().into_owned(),
                markdown: String::from_utf8_lossy(&f.content).into_owned(),
                truncated: f.truncated,
            }),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, configuration = %cv.id, "cannot read a configuration for its README");
                return Ok(None);
            }
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => return Ok(None),
        };
        self.readmes.put(&key, readme.clone());
        Ok(readme)
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
