//! Writing a checked tarball to disk without ever writing through a symlink.
//!
//! Every directory on the way to an entry must be a real directory, looked at component by
//! component without following symlinks (missing ones are created one at a time); files are
//! created fresh (`O_CREAT | O_EXCL`, which never follows a symlink) after removing whatever
//! earlier entry held their path; modes keep only the executable bit. Symlinks pass the
//! lexical rule when they are made, and once everything is written each one is resolved
//! against the real tree: `s -> .` with `l -> s/..` looks inside but is the parent.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::SlugError;
use crate::walk::Visitor;

/// Symlinks followed in resolving one path, as Linux allows (`MAXSYMLINKS`).
const MAX_FOLLOWS: u32 = 40;

pub(crate) struct Unpacker {
    root: PathBuf,
    symlinks: BTreeSet<PathBuf>,
}

impl Unpacker {
    pub fn new(root: &Path) -> Result<Unpacker, SlugError> {
        let shown = root.display().to_string();
        let root = root
            .canonicalize()
            .map_err(|e| SlugError::write(&shown, e))?;
        if !root.is_dir() {
            return Err(SlugError::write(
                &shown,
                io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            ));
        }
        Ok(Unpacker {
            root,
            symlinks: BTreeSet::new(),
        })
    }

    /// The real directory `names` leads to from the root, creating missing ones; refused if
    /// one of them is a symlink or a file.
    fn directory_of(&self, names: &[&OsStr], shown: &str) -> Result<PathBuf, SlugError> {
        let mut current = self.root.clone();
        for name in names {
            current.push(name);
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(SlugError::unsafe_path(
                        shown,
                        "one of its directories is a symlink or a file",
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&current).map_err(|e| SlugError::write(shown, e))?
                }
                Err(e) => return Err(SlugError::write(shown, e)),
            }
        }
        Ok(current)
    }

    /// The path of a new entry at `path` (not the root), its directory made ready and any
    /// earlier non-directory there removed; and whether a directory is already there.
    fn make_room(&self, path: &Path, shown: &str) -> Result<(PathBuf, bool), SlugError> {
        let names: Vec<&OsStr> = path.iter().collect();
        let (last, parents) = names.split_last().expect("not the root");
        let dest = self.directory_of(parents, shown)?.join(last);
        match fs::symlink_metadata(&dest) {
            Ok(meta) if meta.is_dir() => Ok((dest, true)),
            Ok(_) => {
                fs::remove_file(&dest).map_err(|e| SlugError::write(shown, e))?;
                Ok((dest, false))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((dest, false)),
            Err(e) => Err(SlugError::write(shown, e)),
        }
    }

    /// Resolves every symlink against the real tree; one that leads out is removed and
    /// refused.
    pub fn check_symlinks(&self) -> Result<(), SlugError> {
        for link in &self.symlinks {
            let shown = link.display().to_string();
            let path = self.root.join(link);
            let is_symlink = fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
            if !is_symlink {
                // Replaced by a later entry.
                continue;
            }
            let target = fs::read_link(&path).map_err(|e| SlugError::write(&shown, e))?;
            let base = link.parent().unwrap_or(Path::new(""));
            let mut follows = 0;
            if let Err(reason) = resolve(&self.root, &base.join(&target), &mut follows) {
                let _ = fs::remove_file(&path);
                return Err(SlugError::UnsafeSymlink {
                    path: shown,
                    target: target.display().to_string(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

impl Visitor for Unpacker {
    type File = File;

    fn directory(&mut self, path: &Path, shown: &str) -> Result<(), SlugError> {
        if path.as_os_str().is_empty() {
            return Ok(());
        }
        let (dest, is_dir) = self.make_room(path, shown)?;
        if !is_dir {
            fs::create_dir(&dest).map_err(|e| SlugError::write(shown, e))?;
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, shown: &str, executable: bool) -> Result<File, SlugError> {
        let (dest, is_dir) = self.make_room(path, shown)?;
        if is_dir {
            return Err(SlugError::unsafe_path(
                shown,
                "it would replace a directory",
            ));
        }
        let mode = if executable { 0o755 } else { 0o644 };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&dest)
            .map_err(|e| SlugError::write(shown, e))?;
        // Whatever the umask.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| SlugError::write(shown, e))?;
        Ok(file)
    }

    fn symlink(&mut self, path: &Path, shown: &str, target: &Path) -> Result<(), SlugError> {
        let (dest, is_dir) = self.make_room(path, shown)?;
        if is_dir {
            return Err(SlugError::unsafe_path(
                shown,
                "it would replace a directory",
            ));
        }
        std::os::unix::fs::symlink(target, &dest).map_err(|e| SlugError::write(shown, e))?;
        self.symlinks.insert(path.to_path_buf());
        Ok(())
    }
}

/// Follows `relative` from `root` on the real tree, symlinks included (missing components
/// are taken as plain names), failing if any step leaves `root`.
fn resolve(root: &Path, relative: &Path, follows: &mut u32) -> Result<PathBuf, &'static str> {
    const OUT: &str = "it leads outside the configuration through other symlinks";
    let mut current = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if current == root {
                    return Err(OUT);
                }
                current.pop();
            }
            Component::Normal(name) => {
                let next = current.join(name);
                match fs::symlink_metadata(&next) {
                    Ok(meta) if meta.is_symlink() => {
                        *follows += 1;
                        if *follows > MAX_FOLLOWS {
                            return Err("it goes through too many symlinks");
                        }
                        let target = fs::read_link(&next).map_err(|_| OUT)?;
                        if target.has_root() {
                            return Err(OUT);
                        }
                        let base = current.strip_prefix(root).map_err(|_| OUT)?;
                        current = resolve(root, &base.join(target), follows)?;
                    }
                    _ => current = next,
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(OUT),
        }
    }
    Ok(current)
}
