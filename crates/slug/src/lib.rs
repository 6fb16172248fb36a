//! Configuration tarballs (go-slug: a gzip'd tar of files, directories and symlinks), read
//! the same way on both sides: the server [`check`]s an upload with the reader the runner
//! [`unpack`]s it with, so an archive passes on one side exactly when it passes on the other
//! (bar what only a real tree shows: symlinks that escape once resolved through each other).
//!
//! The rules: paths are plain and relative (`./` is fine; no absolute paths, no `..`); entries
//! are regular files, directories and symlinks whose target stays inside (lexically, from the
//! link's own directory), plus tar metadata (GNU long names, pax records), which the `tar`
//! crate interprets, sizes included. Hard links, devices, fifos, sparse files and anything else
//! are refused. Limits hold on the entries, on the bytes actually decompressed (not what
//! headers claim), on a path's length and on metadata; a stream that ends before the
//! end-of-archive marker is refused as truncated.

mod error;
mod limits;
mod paths;
mod stream;
#[cfg(unix)]
mod unpack;
mod walk;

use std::io::{Read, Sink, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use error::SlugError;
pub use limits::Limits;

/// Reads the whole gzip'd tar `reader`, discarding file data, and says whether it is a
/// configuration the runner would unpack.
pub fn check(reader: impl Read, limits: &Limits) -> Result<(), SlugError> {
    walk::walk(reader, limits, &mut Discard)
}

/// Unpacks the gzip'd tar `reader` into `root`, an existing (empty) directory. On an error
/// the tree is left partly written, for the caller to remove.
#[cfg(unix)]
pub fn unpack(reader: impl Read, root: &Path, limits: &Limits) -> Result<(), SlugError> {
    let mut unpacker = unpack::Unpacker::new(root)?;
    walk::walk(reader, limits, &mut unpacker)?;
    unpacker.check_symlinks()
}

/// Reads the whole gzip'd tar `reader` as [`check`] does and returns the file `rank` ranks
/// best (lowest), with up to `max` bytes of its content (and whether there was more), or
/// `None` when `rank` ranks none (`rank` returns `None` for files it does not want).
pub fn find_file(
    reader: impl Read,
    limits: &Limits,
    rank: impl Fn(&Path) -> Option<usize>,
    max: usize,
) -> Result<Option<FoundFile>, SlugError> {
    let mut finder = Finder {
        rank,
        max,
        best: None,
    };
    walk::walk(reader, limits, &mut finder)?;
    Ok(finder.best.map(|(_, path, content)| {
        let capped = std::mem::take(&mut *content.lock().unwrap_or_else(|e| e.into_inner()));
        FoundFile {
            path,
            content: capped.bytes,
            truncated: capped.truncated,
        }
    }))
}

/// A file [`find_file`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub path: PathBuf,
    pub content: Vec<u8>,
    /// The file is longer than the content kept.
    pub truncated: bool,
}

struct Finder<F> {
    rank: F,
    max: usize,
    best: Option<(usize, PathBuf, Arc<Mutex<Capped>>)>,
}

/// A file's first bytes, up to a maximum.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    max: usize,
    truncated: bool,
}

/// Where a file's data goes: kept (up to a maximum) for a candidate, dropped otherwise.
enum Keep {
    Into(Arc<Mutex<Capped>>),
    Drop,
}

impl Write for Keep {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Keep::Into(capped) = self {
            let mut capped = capped.lock().unwrap_or_else(|e| e.into_inner());
            let room = capped.max - capped.bytes.len();
            capped.truncated |= data.len() > room;
            let kept = data.len().min(room);
            capped.bytes.extend_from_slice(&data[..kept]);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<F: Fn(&Path) -> Option<usize>> walk::Visitor for Finder<F> {
    type File = Keep;

    fn directory(&mut self, _: &Path, _: &str) -> Result<(), SlugError> {
        Ok(())
    }

    fn file(&mut self, path: &Path, _: &str, _: bool) -> Result<Keep, SlugError> {
        match (self.rank)(path) {
            // A later entry of the same path replaces an earlier one, as when unpacking.
            Some(rank) if self.best.as_ref().is_none_or(|(best, ..)| rank <= *best) => {
                let capped = Arc::new(Mutex::new(Capped {
                    max: self.max,
                    ..Capped::default()
                }));
                self.best = Some((rank, path.to_path_buf(), capped.clone()));
                Ok(Keep::Into(capped))
            }
            _ => Ok(Keep::Drop),
        }
    }

    fn symlink(&mut self, _: &Path, _: &str, _: &Path) -> Result<(), SlugError> {
        Ok(())
    }
}

struct Discard;

impl walk::Visitor for Discard {
    type File = Sink;

    fn directory(&mut self, _: &Path, _: &str) -> Result<(), SlugError> {
        Ok(())
    }

    fn file(&mut self, _: &Path, _: &str, _: bool) -> Result<Sink, SlugError> {
        Ok(std::io::sink())
    }

    fn symlink(&mut self, _: &Path, _: &str, _: &Path) -> Result<(), SlugError> {
        Ok(())
    }
}
