//! The directory terraform runs in: the workspace's working directory inside the unpacked
//! configuration (which `terrace_slug::unpack` wrote).

use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail};

/// The path if it is relative and made only of plain names (`.` components dropped).
fn plain_path(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The directory to run in: `working_directory` inside the configuration, which must exist
/// and stay inside it (after following symlinks).
pub(crate) fn working_dir(root: &Path, working_directory: &str) -> anyhow::Result<PathBuf> {
    let trimmed = working_directory.trim_matches('/');
    let Some(relative) = plain_path(Path::new(trimmed)) else {
        bail!("the working directory {working_directory:?} leaves the configuration");
    };
    let root = root.canonicalize()?;
    let dir = root.join(relative);
    let real = dir.canonicalize().map_err(|_| {
        anyhow!("the working directory {working_directory:?} does not exist in the configuration")
    })?;
    if !real.starts_with(&root) {
        bail!("the working directory {working_directory:?} leaves the configuration");
    }
    if !real.is_dir() {
        bail!("the working directory {working_directory:?} is not a directory");
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_directories_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("envs/prod")).unwrap();
        std::os::unix::fs::symlink("/", root.join("out")).unwrap();
        let real = root.canonicalize().unwrap();
        assert_eq!(working_dir(root, "").unwrap(), real);
        assert_eq!(working_dir(root, "/").unwrap(), real);
        assert_eq!(
            working_dir(root, "envs/prod/").unwrap(),
            real.join("envs/prod")
        );
        assert!(working_dir(root, "../x").is_err());
        assert!(working_dir(root, "envs/../../x").is_err());
        assert!(working_dir(root, "out").is_err());
        assert!(working_dir(root, "missing").is_err());
    }
}
