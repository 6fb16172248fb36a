//! The stream under the tar reader: the compressed bytes, gunzipped, counted.
//!
//! The `tar` crate rewraps the errors of the reader it is given, so each layer records what
//! went wrong in a shared [`Tracker`]; [`Tracker::classify`] then reports an error for what
//! it was (the reader failed, the gzip stream is corrupt, a limit was crossed, the tar stream
//! ended early or is not tar) whatever the `tar` crate made of it.

use std::cell::{Cell, RefCell};
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use flate2::bufread::MultiGzDecoder;

use crate::error::SlugError;
use crate::limits::{Limits, MAX_METADATA_BYTES};

/// The decompressed tar stream of `reader`, and the tracker watching it.
pub(crate) fn open<R: Read>(reader: R, limits: &Limits) -> (Counted<R>, Rc<Tracker>) {
    let tracker = Rc::new(Tracker {
        max_unpacked_bytes: limits.max_unpacked_bytes,
        ..Tracker::default()
    });
    let source = Source {
        inner: reader,
        tracker: tracker.clone(),
    };
    let counted = Counted {
        inner: MultiGzDecoder::new(BufReader::new(source)),
        tracker: tracker.clone(),
    };
    (counted, tracker)
}

#[derive(Clone, Copy)]
enum Crossed {
    Unpacked,
    Metadata,
}

#[derive(Default)]
pub(crate) struct Tracker {
    max_unpacked_bytes: u64,
    compressed: Cell<u64>,
    read_error: RefCell<Option<io::Error>>,
    gzip_error: RefCell<Option<io::Error>>,
    /// Decompressed bytes read so far.
    unpacked: Cell<u64>,
    /// The decompressed stream has ended.
    eof: Cell<bool>,
    crossed: Cell<Option<Crossed>>,
    /// Where the current stretch of metadata (or of padding after the end) started.
    metadata_from: Cell<Option<u64>>,
}

impl Tracker {
    pub fn unpacked(&self) -> u64 {
        self.unpacked.get()
    }

    pub fn max_unpacked_bytes(&self) -> u64 {
        self.max_unpacked_bytes
    }

    /// From now on the bytes read are metadata (headers, long names, pax records, padding,
    /// entry data nobody reads) until [`data`](Tracker::data).
    pub fn metadata(&self) {
        self.metadata_from.set(Some(self.unpacked.get()));
    }

    /// From now on the bytes read are an entry's data.
    pub fn data(&self) {
        self.metadata_from.set(None);
    }

    /// What an error that came out of the tar reader (or the stream) really is.
    pub fn classify(&self, err: io::Error) -> SlugError {
        if let Some(err) = self.read_error.borrow_mut().take() {
            return SlugError::Read(err);
        }
        match self.crossed.get() {
            Some(Crossed::Unpacked) => return SlugError::TooLarge(self.max_unpacked_bytes),
            Some(Crossed::Metadata) => return SlugError::MetadataTooLarge,
            None => {}
        }
        if let Some(err) = self.gzip_error.borrow().as_ref() {
            return if self.compressed.get() == 0 {
                SlugError::NotGzip("it is empty".into())
            } else if err.kind() == io::ErrorKind::UnexpectedEof {
                SlugError::Truncated("the gzip stream ends early".into())
            } else {
                SlugError::NotGzip(err.to_string())
            };
        }
        if self.eof.get() {
            return self.ended_early("it ends in the middle of an entry");
        }
        SlugError::NotTar(err.to_string())
    }

    /// The tar stream ended before the archive did.
    pub fn ended_early(&self, what: &str) -> SlugError {
        if self.compressed.get() == 0 {
            SlugError::NotGzip("it is empty".into())
        } else {
            SlugError::Truncated(what.into())
        }
    }
}

/// The compressed bytes, counted; a failure is the reader's, not the archive's.
struct Source<R> {
    inner: R,
    tracker: Rc<Tracker>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let t = &self.tracker;
                t.compressed.set(t.compressed.get() + n as u64);
                Ok(n)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Err(err),
            Err(err) => {
                let copy = io::Error::new(err.kind(), err.to_string());
                *self.tracker.read_error.borrow_mut() = Some(err);
                Err(copy)
            }
        }
    }
}

/// The decompressed stream, held to the limits.
pub(crate) struct Counted<R> {
    inner: MultiGzDecoder<BufReader<Source<R>>>,
    tracker: Rc<Tracker>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = &self.tracker;
        if t.crossed.get().is_some() {
            return Err(io::Error::other("over the limit"));
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Err(err),
            Err(err) => {
                if t.read_error.borrow().is_none() {
                    *t.gzip_error.borrow_mut() = Some(io::Error::new(err.kind(), err.to_string()));
                }
                return Err(err);
            }
        };
        if n == 0 && !buf.is_empty() {
            t.eof.set(true);
        }
        let unpacked = t.unpacked.get() + n as u64;
        t.unpacked.set(unpacked);
        if unpacked > t.max_unpacked_bytes {
            t.crossed.set(Some(Crossed::Unpacked));
        } else if t
            .metadata_from
            .get()
            .is_some_and(|from| unpacked - from > MAX_METADATA_BYTES)
        {
            t.crossed.set(Some(Crossed::Metadata));
        }
        if t.crossed.get().is_some() {
            return Err(io::Error::other("over the limit"));
        }
        Ok(n)
    }
}
