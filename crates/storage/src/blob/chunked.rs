//! The encrypted blob format: a header and a sequence of frames, each sealing up to
//! [`CHUNK_SIZE`] bytes of plaintext with authenticated encryption. A reader detects
//! truncation (no last chunk), reordered or dropped chunks and chunks spliced in from another
//! blob, and its memory is one chunk whatever the blob's size.
//!
//! Blobs are written in format 2 (AES-256-GCM, binary); format 1 (Fernet tokens) is still
//! read, so blobs written before format 2 stay readable. The magic tells them apart.
//!
//! ```text
//! format 2 (written):
//! blob     = "TRCBLOB2" salt[32] frame*
//! frame    = last:1 len:31 (u32be) sealed[len]        (len = plaintext length + 16)
//! sealed   = AES-256-GCM(key, nonce, aad = "TRCBLOB2", data): ciphertext ‖ tag[16]
//! key      = HMAC-SHA256(chunk key, "terrace/blob/v2/" ‖ salt)    (one key per blob)
//! nonce    = index:u64be 0:u24 last:u8                 (index: the chunk's position)
//!
//! format 1 (read only):
//! blob     = "TRCBLOB1" frame*
//! frame    = len:u32be token[len]                      (a Fernet token, binary form)
//! token plaintext = blob_id[16] index:u64be flags:u8 data
//! ```
//!
//! In format 2 each blob has its own key, derived from the keyring's chunk key (itself
//! derived from the Fernet key, so rotation carries over) and a random salt: chunks of
//! another blob do not open under it, and nonces (the chunk index and the last-chunk flag)
//! never repeat under one key. The index in the nonce catches reordering and dropped chunks;
//! the last-chunk flag, in clear in the frame so the reader knows which nonce to use, is bound
//! by the nonce too, so flipping it fails authentication and a blob cut at a frame boundary
//! has no last chunk. No base64 and no copies: chunks are sealed and opened in place, with
//! AES-NI where the CPU has it.

use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use sha2::Sha256;

use super::cipher::Keyring;
use crate::{StorageError, StorageResult};

pub const CHUNK_SIZE: usize = 1 << 20;
/// Format 1 (Fernet), read only.
const MAGIC_V1: &[u8; 8] = b"TRCBLOB1";
/// Format 2 (AES-256-GCM), written.
const MAGIC_V2: &[u8; 8] = b"TRCBLOB2";
const MAGIC_LEN: usize = 8;
const SALT_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// The header of a format 2 blob: magic and salt.
pub const HEADER_LEN: usize = MAGIC_LEN + SALT_LEN;
/// Enough of the start of any blob, of either format, to find its first frame.
pub const PROBE_LEN: usize = HEADER_LEN + 4;
/// The bytes a frame adds to its plaintext: the length and the tag.
pub const FRAME_OVERHEAD: usize = 4 + TAG_LEN;
const V1_PREFIX_LEN: usize = 16 + 8 + 1;
/// A frame never exceeds a sealed full chunk; anything larger is corruption, not a reason to
/// buffer without bound.
const MAX_FRAME: usize = CHUNK_SIZE + 4096;
const LAST: u8 = 1;
/// The last-chunk flag in a format 2 frame's length word.
const LAST_BIT: u32 = 1 << 31;

/// Where the first frame's sealed bytes are, from the blob's first [`PROBE_LEN`] bytes (or
/// all of it, if shorter).
pub fn first_frame(probe: &[u8]) -> StorageResult<std::ops::Range<usize>> {
    let start = match probe.get(..MAGIC_LEN) {
        Some(m) if m == MAGIC_V1 => MAGIC_LEN,
        Some(m) if m == MAGIC_V2 => HEADER_LEN,
        _ => return Err(corrupt("not an encrypted Terrace blob")),
    };
    let len = probe
        .get(start..start + 4)
        .ok_or_else(|| corrupt("blob is truncated"))?;
    let (len, _) = frame_len(len.try_into().expect("4 bytes"), start == HEADER_LEN)?;
    Ok(start + 4..start + 4 + len)
}

/// A frame's length and last-chunk flag, from its first four bytes (format 1 has no flag
/// there).
fn frame_len(word: [u8; 4], v2: bool) -> StorageResult<(usize, u8)> {
    let word = u32::from_be_bytes(word);
    let (len, flags) = match v2 {
        true => ((word & !LAST_BIT) as usize, u8::from(word & LAST_BIT != 0)),
        false => (word as usize, 0),
    };
    if len > MAX_FRAME {
        return Err(corrupt("frame length out of range"));
    }
    Ok((len, flags))
}

/// Whether the first frame (`frame`, found by [`first_frame`] in `probe`) opens with the
/// keyring's newest key: a blob is written whole with one key.
pub fn first_frame_is_newest(keyring: &Keyring, probe: &[u8], frame: &[u8]) -> bool {
    if probe.starts_with(MAGIC_V1) {
        return keyring.is_newest_binary(frame);
    }
    let (Some(salt), Some(word)) = (
        probe.get(MAGIC_LEN..HEADER_LEN),
        probe.get(HEADER_LEN..PROBE_LEN),
    ) else {
        return false;
    };
    let Ok((_, flags)) = frame_len(word.try_into().expect("4 bytes"), true) else {
        return false;
    };
    let key = blob_key(&keyring.chunk_keys()[0], salt);
    open_v2(&key, 0, flags, &mut frame.to_vec()).is_ok()
}

/// The AES-256-GCM key of the blob with `salt`, from a chunk key of the keyring.
fn blob_key(chunk_key: &[u8; 32], salt: &[u8]) -> LessSafeKey {
    let mut mac = Hmac::<Sha256>::new_from_slice(chunk_key).expect("HMAC takes any key size");
    mac.update(b"terrace/blob/v2/");
    mac.update(salt);
    let key = mac.finalize().into_bytes();
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("a 32-byte key"))
}

fn nonce(index: u64, flags: u8) -> Nonce {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[..8].copy_from_slice(&index.to_be_bytes());
    nonce[NONCE_LEN - 1] = flags;
    Nonce::assume_unique_for_key(nonce)
}

/// Opens `sealed` (ciphertext and tag) in place; returns the plaintext's length.
fn open_v2(key: &LessSafeKey, index: u64, flags: u8, sealed: &mut [u8]) -> Result<usize, ()> {
    key.open_in_place(nonce(index, flags), Aad::from(MAGIC_V2), sealed)
        .map(|plaintext| plaintext.len())
        .map_err(|_| ())
}

/// Seals plaintext chunks into format 2 frames.
pub struct ChunkSealer {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
    index: u64,
    finished: bool,
}

impl ChunkSealer {
    pub fn new(keyring: &Keyring) -> ChunkSealer {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill_bytes(&mut salt);
        ChunkSealer {
            key: blob_key(&keyring.chunk_keys()[0], &salt),
            salt,
            index: 0,
            finished: false,
        }
    }

    /// The blob's header, written before its first frame.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC_LEN].copy_from_slice(MAGIC_V2);
        header[MAGIC_LEN..].copy_from_slice(&self.salt);
        header
    }

    /// An empty frame: room for the length, to which up to [`CHUNK_SIZE`] bytes of plaintext
    /// are appended before [`seal_frame`](Self::seal_frame).
    pub fn frame_buffer() -> BytesMut {
        let mut frame = BytesMut::with_capacity(CHUNK_SIZE + FRAME_OVERHEAD);
        frame.put_u32(0);
        frame
    }

    /// Seals the plaintext of `frame` (a [`frame_buffer`](Self::frame_buffer) with at most
    /// [`CHUNK_SIZE`] bytes appended) in place, making it a complete frame.
    pub fn seal_frame(&mut self, frame: &mut BytesMut, last: bool) {
        assert!(frame.len() >= 4, "a frame starts with room for its length");
        let len = frame.len() - 4;
        assert!(len <= CHUNK_SIZE, "chunk larger than CHUNK_SIZE");
        assert!(!self.finished, "sealed past the last chunk");
        let flags = if last { LAST } else { 0 };
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(self.index, flags),
                Aad::from(MAGIC_V2),
                &mut frame[4..],
            )
            .expect("a chunk is far below AES-GCM's message limit");
        frame.extend_from_slice(tag.as_ref());
        let word = (len + TAG_LEN) as u32 | if last { LAST_BIT } else { 0 };
        frame[..4].copy_from_slice(&word.to_be_bytes());
        self.index += 1;
        self.finished = last;
    }

    /// Seals one chunk (at most [`CHUNK_SIZE`] bytes) and returns the bytes to append to the
    /// blob, preceded by the header for the first chunk.
    pub fn seal(&mut self, data: &[u8], last: bool) -> Vec<u8> {
        let mut frame = BytesMut::with_capacity(data.len() + FRAME_OVERHEAD);
        frame.put_u32(0);
        frame.extend_from_slice(data);
        let first = self.index == 0;
        self.seal_frame(&mut frame, last);
        let mut out = Vec::with_capacity(HEADER_LEN + frame.len());
        if first {
            out.extend_from_slice(&self.header());
        }
        out.extend_from_slice(&frame);
        out
    }
}

enum Format {
    /// The magic has not arrived yet.
    Unknown,
    V1 {
        blob_id: Option<[u8; 16]>,
    },
    V2 {
        salt: [u8; SALT_LEN],
        /// Found by the first frame: the blob key of whichever keyring key opens it (boxed:
        /// an expanded AES key is half a kilobyte).
        key: Option<Box<LessSafeKey>>,
    },
}

/// Opens frames as bytes arrive, in any split.
pub struct ChunkOpener {
    keyring: Arc<Keyring>,
    buf: BytesMut,
    format: Format,
    next_index: u64,
    finished: bool,
}

impl ChunkOpener {
    pub fn new(keyring: Arc<Keyring>) -> ChunkOpener {
        ChunkOpener {
            keyring,
            buf: BytesMut::new(),
            format: Format::Unknown,
            next_index: 0,
            finished: false,
        }
    }

    /// Feeds bytes of the blob; returns the plaintext of every chunk completed by them.
    pub fn push(&mut self, data: &[u8]) -> StorageResult<Vec<Bytes>> {
        if self.buf.is_empty() && self.buf.capacity() < data.len() {
            // Room for a whole frame at once: fewer reallocations while it arrives.
            self.buf
                .reserve(data.len().max(CHUNK_SIZE + FRAME_OVERHEAD));
        }
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        if let Format::Unknown = self.format {
            if self.buf.len() < MAGIC_LEN {
                return Ok(out);
            }
            if &self.buf[..MAGIC_LEN] == MAGIC_V1 {
                self.buf.advance(MAGIC_LEN);
                self.format = Format::V1 { blob_id: None };
            } else if &self.buf[..MAGIC_LEN] == MAGIC_V2 {
                if self.buf.len() < HEADER_LEN {
                    return Ok(out);
                }
                let salt = self.buf[MAGIC_LEN..HEADER_LEN].try_into().expect("salt");
                self.buf.advance(HEADER_LEN);
                self.format = Format::V2 { salt, key: None };
            } else {
                return Err(corrupt("not an encrypted Terrace blob"));
            }
        }
        while self.buf.len() >= 4 {
            let v2 = matches!(self.format, Format::V2 { .. });
            let (len, flags) = frame_len(self.buf[..4].try_into().expect("4 bytes"), v2)?;
            if self.buf.len() < 4 + len {
                break;
            }
            if self.finished {
                return Err(corrupt("data after the last chunk"));
            }
            self.buf.advance(4);
            let frame = self.buf.split_to(len);
            out.push(match self.format {
                Format::V1 { .. } => self.open_v1(&frame)?,
                _ => self.open_v2(frame, flags)?,
            });
            self.next_index += 1;
        }
        Ok(out)
    }

    fn open_v1(&mut self, token: &[u8]) -> StorageResult<Bytes> {
        let plaintext = self.keyring.decrypt_binary(token)?;
        if plaintext.len() < V1_PREFIX_LEN {
            return Err(corrupt("chunk too short"));
        }
        let blob_id: [u8; 16] = plaintext[..16].try_into().expect("16 bytes");
        let index = u64::from_be_bytes(plaintext[16..24].try_into().expect("8 bytes"));
        let flags = plaintext[24];
        let Format::V1 { blob_id: seen } = &mut self.format else {
            unreachable!("a format 1 blob");
        };
        if *seen.get_or_insert(blob_id) != blob_id {
            return Err(corrupt("chunk belongs to another blob"));
        }
        if index != self.next_index {
            return Err(corrupt("chunks out of order or missing"));
        }
        self.finished = flags & LAST != 0;
        Ok(Bytes::from(plaintext).slice(V1_PREFIX_LEN..))
    }

    /// Opens a format 2 frame in place. The chunk's index and last-chunk flag are in its
    /// nonce: a frame opens only at its own position, and only as what it was sealed as.
    fn open_v2(&mut self, mut sealed: BytesMut, flags: u8) -> StorageResult<Bytes> {
        let index = self.next_index;
        let Format::V2 { salt, key } = &mut self.format else {
            unreachable!("a format 2 blob");
        };
        let opened = match key {
            Some(key) => open_v2(key, index, flags, &mut sealed).ok(),
            None => {
                // The first frame: whichever key of the keyring opens it is the blob's. A
                // failed attempt wipes the buffer, so all but the last try a copy.
                let keys = self.keyring.chunk_keys();
                keys.iter().enumerate().find_map(|(i, chunk_key)| {
                    let candidate = blob_key(chunk_key, salt);
                    let len = if i + 1 < keys.len() {
                        let mut copy = sealed.to_vec();
                        let len = open_v2(&candidate, index, flags, &mut copy).ok()?;
                        sealed[..len].copy_from_slice(&copy[..len]);
                        Some(len)
                    } else {
                        open_v2(&candidate, index, flags, &mut sealed).ok()
                    };
                    len.inspect(|_| *key = Some(Box::new(candidate)))
                })
            }
        };
        let len = opened.ok_or_else(|| {
            corrupt("chunk failed authentication (tampered, misplaced or another key)")
        })?;
        self.finished = flags & LAST != 0;
        sealed.truncate(len);
        Ok(sealed.freeze())
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

    /// Splits `data` in pieces of `chunk` bytes (one empty piece for no data).
    fn pieces(data: &[u8], chunk: usize) -> Vec<&[u8]> {
        if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(chunk).collect()
        }
    }

    /// Seals `data` in chunks of `chunk` bytes and returns the frames separately, the header
    /// in front of the first.
    fn seal_frames(keys: &Arc<Keyring>, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut sealer = ChunkSealer::new(keys);
        let pieces = pieces(data, chunk);
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
        assert_eq!(&blob[..MAGIC_LEN], MAGIC_V2, "written in format 2");
        for split in [1, 7, 4096, blob.len()] {
            assert_eq!(open_all(&keys, &blob, split).unwrap(), data);
        }
        let empty = seal_frames(&keys, &[], 10).concat();
        assert_eq!(open_all(&keys, &empty, 3).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn full_chunks_seal_in_place() {
        let keys = keyring();
        let mut sealer = ChunkSealer::new(&keys);
        let data: Vec<u8> = (0..CHUNK_SIZE * 2).map(|i| (i % 251) as u8).collect();
        let mut blob = sealer.header().to_vec();
        for (i, piece) in data.chunks(CHUNK_SIZE).enumerate() {
            let mut frame = ChunkSealer::frame_buffer();
            frame.extend_from_slice(piece);
            sealer.seal_frame(&mut frame, i == 1);
            assert_eq!(frame.len(), piece.len() + FRAME_OVERHEAD);
            blob.extend_from_slice(&frame);
        }
        assert_eq!(open_all(&keys, &blob, 100_000).unwrap(), data);
        let frame = first_frame(&blob[..PROBE_LEN]).unwrap();
        assert!(first_frame_is_newest(
            &keys,
            &blob[..PROBE_LEN],
            &blob[frame]
        ));
    }

    /// Every way of rearranging or cutting frames fails, and so does any flipped bit.
    fn assert_tampering_detected(
        keys: &Arc<Keyring>,
        frames: &[Vec<u8>],
        other: &[Vec<u8>],
        header: usize,
    ) {
        // Truncated: the last chunk is missing.
        assert!(open_all(keys, &frames[..2].concat(), 50).is_err());
        // Cut inside a frame.
        let whole = frames.concat();
        assert!(open_all(keys, &whole[..whole.len() - 5], 50).is_err());
        // Reordered.
        let reordered = [frames[0].clone(), frames[2].clone(), frames[1].clone()].concat();
        assert!(open_all(keys, &reordered, 50).is_err());
        // Spliced: chunk 1 of another blob with the same key.
        let spliced = [frames[0].clone(), other[1].clone(), frames[2].clone()].concat();
        assert!(open_all(keys, &spliced, 50).is_err());
        // Extra data after the last chunk.
        let trailing = [whole.clone(), other[1].clone()].concat();
        assert!(open_all(keys, &trailing, 50).is_err());
        // The first frame again after the last.
        let repeated = [whole.clone(), frames[0][header..].to_vec()].concat();
        assert!(open_all(keys, &repeated, 50).is_err());
        // A flipped bit anywhere: magic, salt, lengths and flags, ciphertexts, tags.
        for at in 0..whole.len() {
            let mut flipped = whole.clone();
            flipped[at] ^= 1;
            assert!(
                open_all(keys, &flipped, 64).is_err(),
                "bit flipped at byte {at}"
            );
        }
        // Untouched, it opens.
        assert!(open_all(keys, &whole, 50).is_ok());
    }

    #[test]
    fn detects_truncation_reordering_splicing_and_tampering() {
        let keys = keyring();
        let frames = seal_frames(&keys, &[7u8; 300], 100);
        let other = seal_frames(&keys, &[9u8; 300], 100);
        assert_tampering_detected(&keys, &frames, &other, HEADER_LEN);
        // The last frame's flag cleared (a blob cut after it would look whole if it were not
        // bound by the nonce): its length word is found right after the previous frames.
        let mut unflagged = frames.clone();
        unflagged[2][0] &= 0x7f;
        assert!(open_all(&keys, &unflagged.concat(), 50).is_err());
        // A blob of another key does not open.
        assert!(open_all(&keyring(), &frames.concat(), 50).is_err());
    }

    #[test]
    fn rotated_keyring_opens_blobs_of_older_keys() {
        let old = Keyring::generate_key();
        let new = Keyring::generate_key();
        let before = Arc::new(Keyring::new(std::slice::from_ref(&old)).unwrap());
        let after = Arc::new(Keyring::new(&[new.clone(), old]).unwrap());
        let data = vec![5u8; 250];
        let blob = seal_frames(&before, &data, 100).concat();
        assert_eq!(open_all(&after, &blob, 7).unwrap(), data);
        let probe = &blob[..PROBE_LEN];
        let frame = &blob[first_frame(probe).unwrap()];
        assert!(first_frame_is_newest(&before, probe, frame));
        assert!(!first_frame_is_newest(&after, probe, frame));
        let fresh = seal_frames(&after, &data, 100).concat();
        let only_new = Arc::new(Keyring::new(&[new]).unwrap());
        assert_eq!(open_all(&only_new, &fresh, 50).unwrap(), data);
        assert!(open_all(&only_new, &blob, 50).is_err());
    }

    /// Format 1 as it was written before format 2: each chunk a Fernet token of
    /// `blob_id index flags data` (the sealing code of that version, kept to test reading).
    struct V1Sealer {
        keyring: Arc<Keyring>,
        blob_id: [u8; 16],
        index: u64,
    }

    impl V1Sealer {
        fn new(keyring: Arc<Keyring>) -> V1Sealer {
            let mut blob_id = [0u8; 16];
            rand::rng().fill_bytes(&mut blob_id);
            V1Sealer {
                keyring,
                blob_id,
                index: 0,
            }
        }

        fn seal(&mut self, data: &[u8], last: bool) -> Vec<u8> {
            let mut plaintext = Vec::with_capacity(V1_PREFIX_LEN + data.len());
            plaintext.extend_from_slice(&self.blob_id);
            plaintext.extend_from_slice(&self.index.to_be_bytes());
            plaintext.push(if last { LAST } else { 0 });
            plaintext.extend_from_slice(data);
            let token = self.keyring.encrypt_binary(&plaintext);
            let mut out = Vec::with_capacity(MAGIC_LEN + 4 + token.len());
            if self.index == 0 {
                out.extend_from_slice(MAGIC_V1);
            }
            out.extend_from_slice(&(token.len() as u32).to_be_bytes());
            out.extend_from_slice(&token);
            self.index += 1;
            out
        }
    }

    fn seal_v1_frames(keys: &Arc<Keyring>, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut sealer = V1Sealer::new(keys.clone());
        let pieces = pieces(data, chunk);
        let n = pieces.len();
        pieces
            .iter()
            .enumerate()
            .map(|(i, p)| sealer.seal(p, i + 1 == n))
            .collect()
    }

    /// The Fernet key and a blob written with it by the format 1 code (Terrace before format
    /// 2): chunks "first chunk, " "second chunk, " "last chunk".
    const V1_KEY: &str = "bRk2mK4k7Wn6eb3F1dQmV1WmkRYyE0pCtgHhGnbJqIY=";
    const V1_BLOB: &str = include_str!("testdata/format1.blob.b64");

    #[test]
    fn reads_blobs_written_in_format_1() {
        let keys = Arc::new(Keyring::new(&[V1_KEY]).unwrap());
        let blob =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, V1_BLOB.trim())
                .unwrap();
        assert_eq!(&blob[..MAGIC_LEN], MAGIC_V1);
        for split in [1, 13, blob.len()] {
            assert_eq!(
                open_all(&keys, &blob, split).unwrap(),
                b"first chunk, second chunk, last chunk"
            );
        }
        // After a rotation, with the old key second.
        let rotated = Arc::new(Keyring::new(&[Keyring::generate_key().as_str(), V1_KEY]).unwrap());
        assert!(open_all(&rotated, &blob, 50).is_ok());
        let probe = &blob[..PROBE_LEN];
        let frame = &blob[first_frame(probe).unwrap()];
        assert!(first_frame_is_newest(&keys, probe, frame));
        assert!(!first_frame_is_newest(&rotated, probe, frame));
        // Any flipped bit still fails.
        for at in 0..blob.len() {
            let mut flipped = blob.clone();
            flipped[at] ^= 1;
            assert!(
                open_all(&keys, &flipped, 64).is_err(),
                "bit flipped at byte {at}"
            );
        }
    }

    #[test]
    fn format_1_detects_truncation_reordering_and_splicing() {
        let keys = keyring();
        let frames = seal_v1_frames(&keys, &[7u8; 300], 100);
        assert_eq!(
            open_all(&keys, &frames.concat(), 9).unwrap(),
            vec![7u8; 300]
        );
        let other = seal_v1_frames(&keys, &[9u8; 300], 100);
        assert_tampering_detected(&keys, &frames, &other, MAGIC_LEN);
    }

    /// Sealing and opening 100 MB in each format (`cargo test --release -p terrace-storage
    /// --lib seal_throughput -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn seal_throughput() {
        let keys = keyring();
        let data: Vec<u8> = (0..100_000_000u32).map(|i| (i % 251) as u8).collect();
        let ms = |t: std::time::Instant| t.elapsed().as_secs_f64() * 1e3;
        let time_open = |blob: &[u8]| {
            let started = std::time::Instant::now();
            let mut opener = ChunkOpener::new(keys.clone());
            let mut n = 0;
            for piece in blob.chunks(CHUNK_SIZE + 64 * 1024) {
                n += opener
                    .push(piece)
                    .unwrap()
                    .iter()
                    .map(|c| c.len())
                    .sum::<usize>();
            }
            opener.finish().unwrap();
            assert_eq!(n, data.len());
            ms(started)
        };
        let started = std::time::Instant::now();
        let v1 = seal_v1_frames(&keys, &data, CHUNK_SIZE).concat();
        let (v1_seal, v1_open) = (ms(started), time_open(&v1));
        let started = std::time::Instant::now();
        let mut sealer = ChunkSealer::new(&keys);
        let mut v2 = sealer.header().to_vec();
        let n = data.len().div_ceil(CHUNK_SIZE);
        for (i, piece) in data.chunks(CHUNK_SIZE).enumerate() {
            let mut frame = ChunkSealer::frame_buffer();
            frame.extend_from_slice(piece);
            sealer.seal_frame(&mut frame, i + 1 == n);
            v2.extend_from_slice(&frame);
        }
        let (v2_seal, v2_open) = (ms(started), time_open(&v2));
        println!("100 MB, format 1 (Fernet): seal {v1_seal:.0} ms, open {v1_open:.0} ms, {} bytes stored", v1.len());
        println!("100 MB, format 2 (AES-256-GCM): seal {v2_seal:.0} ms, open {v2_open:.0} ms, {} bytes stored", v2.len());
    }

    /// Prints a format 1 blob for `testdata/format1.blob.b64` (run with `--ignored`).
    #[test]
    #[ignore]
    fn print_format_1_fixture() {
        let keys = Arc::new(Keyring::new(&[V1_KEY]).unwrap());
        let mut sealer = V1Sealer::new(keys);
        let blob = [
            sealer.seal(b"first chunk, ", false),
            sealer.seal(b"second chunk, ", false),
            sealer.seal(b"last chunk", true),
        ]
        .concat();
        println!(
            "{}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &blob)
        );
    }
}
