//! Unpacks a configuration tarball (go-slug: gzip'd tar of files, directories and symlinks)
//! without letting it write or point outside the target directory. The server checks uploads
//! too; the runner checks again because it is what actually writes to disk.
//!
//! The `tar` crate's `unpack_in` alone is not enough: it silently strips a leading `/` and
//! silently skips `..` entries (an archive we should refuse), and it creates symlinks with any
//! target. It does refuse to write through a symlink leading out. So: every path must be
//! made of plain components, every link must resolve inside, and after unpacking every
//! symlink is resolved again against the real tree (a link can be made to escape by another
//! link created after it).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context};

/// Unpacks the gzip'd tar `reader` into `root` (an existing, empty directory).
pub(crate) fn unpack(reader: impl Read, root: &Path) -> anyhow::Result<()> {
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot open {}", root.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    archive.set_overwrite(true);
    archive.set_preserve_permissions(false);
    archive.set_unpack_xattrs(false);
    let mut symlinks = Vec::new();
    let entries = archive
        .entries()
        .context("the configuration is not a tar.gz archive")?;
    for entry in entries {
        let mut entry = entry.context("the configuration archive is corrupt")?;
        let path = entry
            .path()
            .context("the configuration archive has an invalid path")?
            .into_owned();
        let kind = entry.header().entry_type();
        let Some(relative) = plain_path(&path) else {
            bail!(
                "the configuration archive has an unsafe path: {}",
                path.display()
            );
        };
        if relative.as_os_str().is_empty() {
            // `./`, the root itself.
            continue;
        }
        match kind {
            tar::EntryType::Directory => {
                // Created here rather than by the tar crate: an archived read-only mode would
                // stop the directory's files from being written.
                std::fs::create_dir_all(root.join(&relative))
                    .with_context(|| format!("cannot create {}", relative.display()))?;
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink => {
                let target = link_target(&mut entry, &path)?;
                // A first, lexical check; the real one is after unpacking.
                let base = relative.parent().unwrap_or(Path::new(""));
                if target.is_absolute() || lexically_inside(&base.join(&target)).is_none() {
                    bail!(
                        "the configuration archive has a symlink pointing outside it: {} -> {}",
                        path.display(),
                        target.display()
                    );
                }
                symlinks.push(relative.clone());
            }
            tar::EntryType::Link => {
                let target = link_target(&mut entry, &path)?;
                let Some(target) = plain_path(&target) else {
                    bail!(
                        "the configuration archive has a hard link to an unsafe path: {} -> {}",
                        path.display(),
                        target.display()
                    );
                };
                // The link's source must be a file already unpacked, found without leaving
                // the tree; the tar crate checks this too.
                let resolved = resolve_inside(&root, &target, 0)?;
                if !resolved.is_file() {
                    bail!(
                        "the configuration archive has a hard link to a missing file: {}",
                        path.display()
                    );
                }
            }
            tar::EntryType::XGlobalHeader => continue,
            other => bail!(
                "the configuration archive has an unsupported entry ({other:?}): {}",
                path.display()
            ),
        }
        // Its directory must not lead out through a symlink (the tar crate checks this too).
        let parent = relative.parent().unwrap_or(Path::new(""));
        if resolve_inside(&root, parent, 0).is_err() {
            bail!(
                "the configuration archive writes outside it through a symlink: {}",
                path.display()
            );
        }
        // The entry replaces whatever an earlier entry left there (a symlink above all,
        // which would otherwise be written through).
        let dest = root.join(&relative);
        if let Ok(meta) = dest.symlink_metadata() {
            if !meta.is_dir() {
                std::fs::remove_file(&dest)
                    .with_context(|| format!("cannot replace {}", relative.display()))?;
            }
        }
        let unpacked = entry
            .unpack_in(&root)
            .with_context(|| format!("cannot unpack {}", relative.display()))?;
        if !unpacked {
            bail!(
                "the configuration archive has an unsafe path: {}",
                path.display()
            );
        }
    }
    for link in symlinks {
        let is_symlink =
            std::fs::symlink_metadata(root.join(&link)).is_ok_and(|m| m.file_type().is_symlink());
        if !is_symlink {
            // Replaced by a later entry.
            continue;
        }
        let target = std::fs::read_link(root.join(&link))
            .with_context(|| format!("cannot read the symlink {}", link.display()))?;
        let base = link.parent().unwrap_or(Path::new(""));
        resolve_inside(&root, &base.join(&target), 0).map_err(|_| {
            anyhow!(
                "the configuration archive has a symlink pointing outside it: {} -> {}",
                link.display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

fn link_target(entry: &mut tar::Entry<'_, impl Read>, path: &Path) -> anyhow::Result<PathBuf> {
    match entry.link_name() {
        Ok(Some(target)) if !target.as_os_str().is_empty() => Ok(target.into_owned()),
        _ => bail!(
            "the configuration archive has a link without a target: {}",
            path.display()
        ),
    }
}

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

/// Resolves `..` in a relative path without looking at the disk; `None` if it climbs out.
fn lexically_inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Follows `relative` from `root` on the real tree, symlinks included (missing components
/// are taken as plain names), and fails if any step leaves `root`.
fn resolve_inside(root: &Path, relative: &Path, depth: u32) -> anyhow::Result<PathBuf> {
    if depth > 40 {
        bail!("too many levels of symlinks");
    }
    let mut current = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if current == root {
                    bail!("leaves the directory");
                }
                current.pop();
            }
            Component::Normal(name) => {
                let next = current.join(name);
                match std::fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        let target = std::fs::read_link(&next)?;
                        if target.is_absolute() {
                            bail!("absolute symlink");
                        }
                        let base = current.strip_prefix(root).unwrap_or(Path::new(""));
                        current = resolve_inside(root, &base.join(target), depth + 1)?;
                    }
                    _ => current = next,
                }
            }
            Component::RootDir | Component::Prefix(_) => bail!("absolute path"),
        }
        if !current.starts_with(root) {
            bail!("leaves the directory");
        }
    }
    Ok(current)
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
    use flate2::write::GzEncoder;
    use tar::{EntryType, Header};

    /// An entry written byte by byte, so that paths the `tar` builder refuses (`..`,
    /// absolute) can be made.
    fn raw_entry(out: &mut Vec<u8>, path: &str, kind: EntryType, link: &str, data: &[u8]) {
        let mut header = Header::new_ustar();
        {
            let raw = header.as_old_mut();
            raw.name[..path.len()].copy_from_slice(path.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_size(data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    type Entry<'a> = (&'a str, EntryType, &'a str, &'a [u8]);

    fn tarball(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (path, kind, link, data) in entries {
            raw_entry(&mut tar, path, *kind, link, data);
        }
        tar.extend_from_slice(&[0; 1024]);
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    fn file<'a>(path: &'a str, data: &'a [u8]) -> Entry<'a> {
        (path, EntryType::Regular, "", data)
    }

    fn symlink<'a>(path: &'a str, target: &'a str) -> Entry<'a> {
        (path, EntryType::Symlink, target, b"")
    }

    /// Unpacks into `<tmp>/root`, leaving `<tmp>` as the "outside" to check.
    fn try_unpack(entries: &[Entry<'_>]) -> (tempfile::TempDir, anyhow::Result<()>) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let result = unpack(&tarball(entries)[..], &root);
        (tmp, result)
    }

    fn refused(entries: &[Entry<'_>], what: &str) {
        let (tmp, result) = try_unpack(entries);
        let err = result.expect_err(what).to_string();
        assert!(
            err.contains("unsafe path")
                || err.contains("outside")
                || err.contains("cannot unpack")
                || err.contains("hard link"),
            "{what}: {err}"
        );
        // Nothing landed next to the root.
        let outside: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(outside, ["root"], "{what}");
    }

    #[test]
    fn a_go_slug_tarball_unpacks() {
        let (tmp, result) = try_unpack(&[
            ("./", EntryType::Directory, "", b""),
            file("main.tf", b"resource \"terraform_data\" \"a\" {}\n"),
            ("modules/", EntryType::Directory, "", b""),
            ("modules/net/", EntryType::Directory, "", b""),
            file("modules/net/main.tf", b"# net\n"),
            file(".terraform.lock.hcl", b"# lock\n"),
            symlink("shared", "modules/net"),
            symlink("modules/net/up", "../.."),
            symlink("dangling", "does/not/exist"),
            ("copy.tf", EntryType::Link, "main.tf", b""),
        ]);
        result.unwrap();
        let root = tmp.path().join("root");
        assert_eq!(
            std::fs::read_to_string(root.join("shared/main.tf")).unwrap(),
            "# net\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("copy.tf")).unwrap(),
            "resource \"terraform_data\" \"a\" {}\n"
        );
        assert!(root.join(".terraform.lock.hcl").is_file());
        assert!(root.join("modules/net/up/main.tf").is_file());
    }

    #[test]
    fn absolute_paths_are_refused() {
        refused(&[file("/tmp/terrace-evil", b"x")], "absolute path");
    }

    #[test]
    fn parent_components_are_refused() {
        refused(&[file("../evil", b"x")], "..");
        refused(&[file("a/../../evil", b"x")], "nested ..");
    }

    #[test]
    fn escaping_symlinks_are_refused() {
        refused(&[symlink("evil", "..")], "link to the parent");
        refused(&[symlink("evil", "/etc")], "absolute link");
        refused(&[symlink("a/evil", "../../x")], "link climbing out");
        // Lexically inside, but `here` is the root itself, so `here/..` is its parent.
        refused(
            &[symlink("here", "."), symlink("evil", "here/../x")],
            "link through a link",
        );
        // The same with the entries the other way round (the link made escaping afterwards).
        refused(
            &[symlink("evil", "here/../x"), symlink("here", ".")],
            "link made escaping later",
        );
    }

    #[test]
    fn writing_through_a_symlink_is_refused() {
        // `evil` passes the lexical check (`here/..` looks like the root) but really is the
        // root's parent: a file under it must not be written.
        refused(
            &[
                symlink("here", "."),
                symlink("evil", "here/.."),
                file("evil/escaped", b"x"),
            ],
            "write through a link",
        );
    }

    #[test]
    fn the_tar_crate_refuses_to_write_through_an_escaping_symlink() {
        // What `unpack_in` does on its own (checked because `unpack` relies on it too).
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("..", root.join("up")).unwrap();
        let data = tarball(&[file("up/escaped", b"x")]);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert!(entry.unpack_in(&root).is_err());
        assert!(!tmp.path().join("escaped").exists());
        // And it skips `..` entries silently instead of failing: hence our own check.
        let data = tarball(&[file("../escaped", b"x")]);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert!(!entry.unpack_in(&root).unwrap());
        assert!(!tmp.path().join("escaped").exists());
    }

    #[test]
    fn hard_links_must_stay_inside() {
        refused(
            &[("evil", EntryType::Link, "/etc/passwd", b"")],
            "absolute hard link",
        );
        refused(
            &[("evil", EntryType::Link, "../outside", b"")],
            "hard link climbing out",
        );
    }

    #[test]
    fn a_later_file_replaces_a_symlink_rather_than_writing_through_it() {
        let (tmp, result) = try_unpack(&[
            file("target.tf", b"original"),
            symlink("link.tf", "target.tf"),
            file("link.tf", b"replacement"),
        ]);
        result.unwrap();
        let root = tmp.path().join("root");
        assert_eq!(
            std::fs::read_to_string(root.join("target.tf")).unwrap(),
            "original"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("link.tf")).unwrap(),
            "replacement"
        );
    }

    #[test]
    fn not_a_tarball() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(unpack(&b"plain text"[..], tmp.path()).is_err());
    }

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
