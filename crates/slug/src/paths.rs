//! Lexical rules for entry paths and symlink targets: what an archive may name, judged
//! without looking at any disk.

use std::path::{Component, Path, PathBuf};

/// The entry's path as plain names (`.` components dropped; empty for the root itself), or
/// why it is unsafe: absolute, `..`, or a Windows prefix.
pub(crate) fn plain(path: &Path) -> Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err("it leads outside the configuration"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed")
            }
        }
    }
    Ok(out)
}

/// Whether a symlink at `link` (a plain path) pointing to `target` stays inside, resolving
/// the target from the link's own directory and `..` lexically.
pub(crate) fn target_inside(link: &Path, target: &Path) -> Result<(), &'static str> {
    if target.has_root() {
        return Err("absolute targets are not allowed");
    }
    let base = link.parent().unwrap_or(Path::new(""));
    let mut depth = base.components().count();
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("it points outside the configuration")?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute targets are not allowed")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_drop_dots_and_refuse_the_rest() {
        assert_eq!(plain(Path::new("./a/./b/")).unwrap(), Path::new("a/b"));
        assert_eq!(plain(Path::new("./")).unwrap(), Path::new(""));
        assert!(plain(Path::new("/etc/passwd")).is_err());
        assert!(plain(Path::new("a/../b")).is_err());
        assert!(plain(Path::new("..")).is_err());
    }

    #[test]
    fn targets_resolve_from_the_links_directory() {
        let ok = |link: &str, target: &str| target_inside(Path::new(link), Path::new(target));
        assert!(ok("a/b/link", "../../main.tf").is_ok());
        assert!(ok("a/b/link", "../../../x").is_err());
        assert!(ok("link", ".").is_ok());
        assert!(ok("link", "..").is_err());
        assert!(ok("link", "a/../..").is_err());
        assert!(ok("link", "/etc").is_err());
    }
}
