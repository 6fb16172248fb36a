//! How large a configuration may be once unpacked.

/// The limits a tarball is held to, on the server and on the runner alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the tar stream once decompressed, counted as they are read (file data,
    /// headers, metadata and padding alike), never taken from what a header claims.
    pub max_unpacked_bytes: u64,
    /// Entries: files, directories, symlinks and metadata entries.
    pub max_entries: u64,
    /// Bytes in one entry's path or in a symlink's target.
    pub max_path_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unpacked_bytes: 2 << 30,
            max_entries: 100_000,
            max_path_bytes: 4096,
        }
    }
}

/// Tar metadata (headers, GNU long names, pax records, padding) the reader accepts between
/// two entries, and zero padding after the end of the archive. The `tar` crate holds long
/// names and pax records in memory, so this bounds its memory; real ones are a few KiB.
pub(crate) const MAX_METADATA_BYTES: u64 = 1 << 20;
