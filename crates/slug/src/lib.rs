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

use std::io::{Read, Sink};
use std::path::Path;

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
