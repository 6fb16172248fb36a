//! The encrypted blob format: a blob is a header and a sequence of frames, each frame one
//! Fernet token (binary form) sealing up to [`CHUNK_SIZE`] bytes of plaintext. Inside each
//! token the plaintext is prefixed with the blob's random ID, the chunk index and a last-chunk
//! flag, so a reader detects truncation (no last chunk), reordering or dropped chunks (index
//! gap) and splicing in chunks of another blob (ID mismatch). Memory is one chunk, whatever
//! the blob's size.
//!
//! ```text
//! blob  = MAGIC frame*
//! frame = len:u32be token[len]
//! token plaintext = blob_id[16] index:u64be flags:u8 data      (flags bit 0: last chunk)
//! ```

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use rand::Rng;

use super::cipher::Keyring;
use crate::{StorageError, StorageResult};

pub const CHUNK_SIZE: usize = 1 << 20;
const MAGIC: &[u8; 8] = b"TRCBLOB1";
/// The magic and the first frame's length.
pub const HEADER_LEN: usize = MAGIC.len() + 4;
const PREFIX_LEN: usize = 16 + 8 + 1;
/// A frame never exceeds a sealed full chunk; anything larger is corruption, not a reason to
/// buffer without bound.
const MAX_FRAME: usize = CHUNK_SIZE + 4096;
const LAST: u8 = 1;

/// The length of the first frame's token, from the blob's first [`HEADER_LEN`] bytes.
pub fn first_frame_len(header: &[u8]) -> StorageResult<usize> {
    if header.len() < HEADER_LEN || &header[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not an encrypted Terrace blob"));
    }
    let len = u32::from_be_bytes(header[MAGIC.len()..HEADER_LEN].try_into().expect("4 bytes"));
    match len as usize {
        len if len <= MAX_FRAME => Ok(len),
        _ => Err(corrupt("frame length out of range")),
    }
}

/// Seals plaintext chunks into frames.
pub struct ChunkSealer {
    keyring: Arc<Keyring>,
    blob_id: [u8; 16],
    index: u64,
    finished: bool,
}

impl ChunkSealer {
    pub fn new(keyring: Arc<Keyring>) -> ChunkSealer {
        let mut blob_id = [0u8; 16];
        rand::rng().fill_bytes(&mut blob_id);
        ChunkSealer {
            keyring,
            blob_id,
            index: 0,
            finished: false,
        }
    }

    /// Seals one chunk (at most [`CHUNK_SIZE`] bytes) and returns the bytes to append to the
    /// blob, preceded by the header for the first chunk.
    pub fn seal(&mut self, data: &[u8], last: bool) -> Vec<u8> {
        assert!(data.len() <= CHUNK_SIZE, "chunk larger than CHUNK_SIZE");
        assert!(!self.finished, "sealed past the last chunk");
        let mut plaintext = Vec::with_capacity(PREFIX_LEN + data.len());
        plaintext.extend_from_slice(&self.blob_id);
        plaintext.extend_from_slice(&self.index.to_be_bytes());
        plaintext.push(if last { LAST } else { 0 });
        plaintext.extend_from_slice(data);
        let token = self.keyring.encrypt_binary(&plaintext);
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + token.len());
        if self.index == 0 {
            out.extend_from_slice(MAGIC);
        }
        out.extend_from_slice(&(token.len() as u32).to_be_bytes());
        out.extend_from_slice(&token);
        self.index += 1;
        self.finished = last;
        out
    }
}

/// Opens frames as bytes arrive, in any split.
pub struct ChunkOpener {
    keyring: Arc<Keyring>,
    buf: BytesMut,
    header_seen: bool,
    blob_id: Option<[u8; 16]>,
    next_index: u64,
    finished: bool,
}

impl ChunkOpener {
    pub fn new(keyring: Arc<Keyring>) -> ChunkOpener {
        ChunkOpener {
            keyring,
            buf: BytesMut::new(),
            header_seen: false,
            blob_id: None,
            next_index: 0,
            finished: false,
        }
    }

    /// Feeds bytes of the blob; returns the plaintext of every chunk completed by them.
    pub fn push(&mut self, data: &[u8]) -> StorageResult<Vec<Bytes>> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        if !self.header_seen {
            if self.buf.len() < MAGIC.len() {
                return Ok(out);
            }
            if &self.buf[..MAGIC.len()] != MAGIC {
                return Err(corrupt("not an encrypted Terrace blob"));
            }
            self.buf.advance(MAGIC.len());
            self.header_seen = true;
        }
        while self.buf.len() >= 4 {
            let len = u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
            if len > MAX_FRAME {
                return Err(corrupt("frame length out of range"));
            }
            if self.buf.len() < 4 + len {
                break;
            }
            if self.finished {
                return Err(corrupt("data after the last chunk"));
            }
            self.buf.advance(4);
            let token = self.buf.split_to(len);
            out.push(self.open(&token)?);
        }
        Ok(out)
    }

    fn open(&mut self, token: &[u8]) -> StorageResult<Bytes> {
        let plaintext = self.keyring.decrypt_binary(token)?;
        if plaintext.len() < PREFIX_LEN {
            return Err(corrupt("chunk too short"));
        }
        let blob_id: [u8; 16] = plaintext[..16].try_into().expect("16 bytes");
        let index = u64::from_be_bytes(plaintext[16..24].try_into().expect("8 bytes"));
        let flags = plaintext[24];
        if *self.blob_id.get_or_insert(blob_id) != blob_id {
            return Err(corrupt("chunk belongs to another blob"));
        }
        if index != self.next_index {
            return Err(corrupt("chunks out of order or missing"));
        }
        self.next_index += 1;
        self.finished = flags & LAST != 0;
        Ok(Bytes::from(plaintext).slice(PREFIX_LEN..))
    }

    /// Checks the blob ended properly: the last chunk was seen and nothing trails it.
    pub fn finish(&self) -> StorageResult<()> {
        if !self.finished || !self.buf.is_empty() {
            return Err(corrupt("blob is truncated"));
        }
        Ok(())
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::Corrupt(what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Arc<Keyring> {
        Arc::new(Keyring::new(&[Keyring::generate_key()]).unwrap())
    }

    /// Seals `data` in chunks of `chunk` bytes and returns the frames separately.
    fn seal_frames(keys: &Arc<Keyring>, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut sealer = ChunkSealer::new(keys.clone());
        let pieces: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(chunk).collect()
        };
        let n = pieces.len();
        pieces
            .iter()
            .enumerate()
            .map(|(i, p)| sealer.seal(p, i + 1 == n))
            .collect()
    }

    fn open_all(keys: &Arc<Keyring>, blob: &[u8], split: usize) -> StorageResult<Vec<u8>> {
        let mut opener = ChunkOpener::new(keys.clone());
        let mut out = Vec::new();
        for piece in blob.chunks(split.max(1)) {
            for chunk in opener.push(piece)? {
                out.extend_from_slice(&chunk);
            }
        }
        opener.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trips_in_any_split() {
        let keys = keyring();
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let blob = seal_frames(&keys, &data, 4096).concat();
        for split in [1, 7, 4096, blob.len()] {
            assert_eq!(open_all(&keys, &blob, split).unwrap(), data);
        }
        let empty = seal_frames(&keys, &[], 10).concat();
        assert_eq!(open_all(&keys, &empty, 3).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn detects_truncation_reordering_and_splicing() {
        let keys = keyring();
        let frames = seal_frames(&keys, &[7u8; 300], 100);
        // Truncated: the last chunk is missing.
        assert!(open_all(&keys, &frames[..2].concat(), 50).is_err());
        // Cut inside a frame.
        let whole = frames.concat();
        assert!(open_all(&keys, &whole[..whole.len() - 5], 50).is_err());
        // Reordered.
        let reordered = [frames[0].clone(), frames[2].clone(), frames[1].clone()].concat();
        assert!(open_all(&keys, &reordered, 50).is_err());
        // Spliced: chunk 1 of another blob with the same key.
        let other = seal_frames(&keys, &[9u8; 300], 100);
        let spliced = [frames[0].clone(), other[1].clone(), frames[2].clone()].concat();
        assert!(open_all(&keys, &spliced, 50).is_err());
        // Extra data after the last chunk.
        let trailing = [whole.clone(), other[1].clone()].concat();
        assert!(open_all(&keys, &trailing, 50).is_err());
        // A flipped bit anywhere in a token.
        let mut flipped = whole.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 1;
        assert!(open_all(&keys, &flipped, 50).is_err());
    }
}
