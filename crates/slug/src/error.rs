//! Why a tarball was refused, in words the server and the runner show users as they are.

use crate::limits::MAX_METADATA_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum SlugError {
    #[error("not a gzip-compressed tar archive ({0})")]
    NotGzip(String),
    #[error("not a valid tar archive ({0})")]
    NotTar(String),
    #[error("the archive is truncated ({0})")]
    Truncated(String),
    #[error("the archive has data after its end-of-archive marker")]
    TrailingData,
    #[error("the archive has more than {0} entries")]
    TooManyEntries(u64),
    #[error("the archive unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("the archive has more than {MAX_METADATA_BYTES} bytes of tar metadata or padding in one place")]
    MetadataTooLarge,
    #[error("{path}: the path is longer than {max} bytes")]
    PathTooLong { path: String, max: usize },
    #[error("unsafe path {path}: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    #[error("unsafe symlink {path} -> {target}: {reason}")]
    UnsafeSymlink {
        path: String,
        target: String,
        reason: &'static str,
    },
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
    /// The reader under the archive failed (a file, a connection): not the archive's fault.
    #[error("cannot read the archive: {0}")]
    Read(std::io::Error),
    /// Writing the unpacked tree failed: not the archive's fault.
    #[error("cannot unpack {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl SlugError {
    /// Whether the archive itself is at fault (rather than the reader under it or the disk
    /// it is unpacked to).
    pub fn is_content(&self) -> bool {
        !matches!(self, SlugError::Read(_) | SlugError::Write { .. })
    }

    pub(crate) fn unsafe_path(path: &str, reason: &'static str) -> SlugError {
        SlugError::UnsafePath {
            path: path.to_string(),
            reason,
        }
    }

    pub(crate) fn unsupported(path: &str, reason: impl Into<String>) -> SlugError {
        SlugError::Unsupported {
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn write(path: &str, source: std::io::Error) -> SlugError {
        SlugError::Write {
            path: path.to_string(),
            source,
        }
    }
}
