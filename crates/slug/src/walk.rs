//! The one pass over a tarball that both uses share: every entry is read with the `tar`
//! crate (so GNU long names, pax paths, link paths and sizes mean what they mean to it),
//! held to the rules and the limits, and handed to a [`Visitor`] that discards it (the
//! server's check) or writes it (the runner's unpack).

use std::io::{Read, Write};
use std::path::Path;

use tar::EntryType;

use crate::error::SlugError;
use crate::limits::Limits;
use crate::paths;
use crate::stream::{self, Tracker};

/// What is done with each entry once it passed the rules. Paths are plain relative paths
/// (see [`paths::plain`]); `shown` is the path as archived, for messages.
pub(crate) trait Visitor {
    type File: Write;
    fn directory(&mut self, path: &Path, shown: &str) -> Result<(), SlugError>;
    /// Where a regular file's data goes.
    fn file(&mut self, path: &Path, shown: &str, executable: bool)
        -> Result<Self::File, SlugError>;
    fn symlink(&mut self, path: &Path, shown: &str, target: &Path) -> Result<(), SlugError>;
}

/// Paths this long are cut in messages.
const SHOWN_CHARS: usize = 200;

pub(crate) fn walk<R: Read, V: Visitor>(
    reader: R,
    limits: &Limits,
    visitor: &mut V,
) -> Result<(), SlugError> {
    let (stream, tracker) = stream::open(reader, limits);
    let mut archive = tar::Archive::new(stream);
    let mut buf = vec![0u8; 64 << 10];
    let mut count = 0u64;
    // Where the last entry's data (padded to a block) ends in the tar stream.
    let mut end_of_last = 0u64;
    tracker.metadata();
    for entry in archive.entries().map_err(|e| tracker.classify(e))? {
        let mut entry = entry.map_err(|e| tracker.classify(e))?;
        count += 1;
        if count > limits.max_entries {
            return Err(SlugError::TooManyEntries(limits.max_entries));
        }
        end_of_last = entry
            .raw_file_position()
            .saturating_add(entry.size().div_ceil(512).saturating_mul(512));
        visit(&mut entry, &tracker, limits, visitor, &mut buf)?;
        tracker.metadata();
    }
    // The `tar` crate takes the end of the stream at an entry boundary for the end of the
    // archive; a real end is a zero block, which it has read if the stream went on.
    if tracker.unpacked() <= end_of_last {
        return Err(tracker.ended_early("no end-of-archive marker"));
    }
    // After the end, zero padding only (up to the metadata limit).
    let mut rest = archive.into_inner();
    tracker.metadata();
    loop {
        let n = match rest.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(tracker.classify(e)),
        };
        if buf[..n].iter().any(|&b| b != 0) {
            return Err(SlugError::TrailingData);
        }
    }
}

fn visit<R: Read, V: Visitor>(
    entry: &mut tar::Entry<'_, R>,
    tracker: &Tracker,
    limits: &Limits,
    visitor: &mut V,
    buf: &mut [u8],
) -> Result<(), SlugError> {
    let kind = entry.header().entry_type();
    if matches!(
        kind,
        EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    ) {
        // Metadata the `tar` crate did not apply to an entry (global pax headers, or
        // extensions in a pre-POSIX header): nothing to unpack.
        return Ok(());
    }
    let raw = entry.path_bytes().into_owned();
    let shown = shown(&raw);
    if raw.len() > limits.max_path_bytes {
        return Err(SlugError::PathTooLong {
            path: shown,
            max: limits.max_path_bytes,
        });
    }
    if raw.contains(&0) {
        return Err(SlugError::unsafe_path(&shown, "it contains a NUL byte"));
    }
    let path = entry.path().map_err(|e| tracker.classify(e))?;
    let path = paths::plain(&path).map_err(|reason| SlugError::unsafe_path(&shown, reason))?;
    let is_root = path.as_os_str().is_empty();
    match kind {
        EntryType::Directory => visitor.directory(&path, &shown),
        EntryType::Regular | EntryType::Continuous => {
            if is_root {
                return Err(SlugError::unsafe_path(&shown, "it names the root directory"));
            }
            // A first look at the size (the pax one if any, as the `tar` crate reads it); the
            // count of bytes actually read is what holds.
            if tracker.unpacked().saturating_add(entry.size()) > tracker.max_unpacked_bytes() {
                return Err(SlugError::TooLarge(tracker.max_unpacked_bytes()));
            }
            let executable = entry.header().mode().is_ok_and(|mode| mode & 0o111 != 0);
            let mut out = visitor.file(&path, &shown, executable)?;
            tracker.data();
            let mut copied = 0u64;
            loop {
                let n = match entry.read(buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(tracker.classify(e)),
                };
                out.write_all(&buf[..n])
                    .map_err(|e| SlugError::write(&shown, e))?;
                copied += n as u64;
            }
            out.flush().map_err(|e| SlugError::write(&shown, e))?;
            if copied < entry.size() {
                return Err(tracker.ended_early(&format!("{shown} ends early")));
            }
            Ok(())
        }
        EntryType::Symlink => {
            if is_root {
                return Err(SlugError::unsafe_path(&shown, "it names the root directory"));
            }
            let target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let target_shown = self::shown(&target);
            let refuse = |reason| SlugError::UnsafeSymlink {
                path: shown.clone(),
                target: target_shown.clone(),
                reason,
            };
            if target.is_empty() {
                return Err(refuse("it has no target"));
            }
            if target.len() > limits.max_path_bytes {
                return Err(SlugError::PathTooLong {
                    path: format!("{shown} -> {target_shown}"),
                    max: limits.max_path_bytes,
                });
            }
            if target.contains(&0) {
                return Err(refuse("its target contains a NUL byte"));
            }
            let target = entry
                .link_name()
                .map_err(|e| tracker.classify(e))?
                .unwrap_or_default()
                .into_owned();
            paths::target_inside(&path, &target).map_err(refuse)?;
            visitor.symlink(&path, &shown, &target)
        }
        EntryType::Link => Err(SlugError::unsupported(
            &shown,
            "hard links are not supported (archive the file itself, e.g. with tar --hard-dereference)",
        )),
        EntryType::Char | EntryType::Block | EntryType::Fifo => Err(SlugError::unsupported(
            &shown,
            "device and fifo entries are not allowed",
        )),
        EntryType::GNUSparse => Err(SlugError::unsupported(
            &shown,
            "sparse files are not supported",
        )),
        other => Err(SlugError::unsupported(
            &shown,
            format!("unsupported tar entry type {:?}", other.as_byte() as char),
        )),
    }
}

/// A path for messages: lossy UTF-8, long ones cut.
fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}
