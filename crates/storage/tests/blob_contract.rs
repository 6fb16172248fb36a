//! The blob store contract: what the server relies on from a [`BlobStore`], written once and run
//! against every kind of object store. Each test is an `async fn(&Place)` followed by
//! `blob_contract!(name);`, which generates `name::local` (a temporary directory) and `name::s3`
//! (a real S3 server).
//!
//! The S3 tests need `TERRACE_TEST_S3_ENDPOINT`, `_BUCKET`, `_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY`
//! and `_REGION` (`scripts/services.sh start DIR && . DIR/env.sh` provides a SeaweedFS server);
//! each test works under its own random prefix of the bucket, emptied again when it passes.
//! Without the variables the S3 tests fail: a skipped test never counts as a pass.

// A contract test whose `blob_contract!` line is missing would never run; this makes it an error.
#![deny(dead_code)]

use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt};
use terrace_storage::blob::{BlobStore, Keyring, CHUNK_SIZE};
use terrace_storage::{ids, StorageError};

const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Harness: one place per test, opened as a BlobStore with any keyring, and also through a plain
// object_store client to look at (and tamper with) what is really stored there.

struct Place {
    url: String,
    options: Vec<(String, String)>,
    /// The same location without encryption.
    raw: Arc<dyn ObjectStore>,
    /// The directory of a local place (removed on drop).
    dir: Option<tempfile::TempDir>,
}

impl Place {
    fn local() -> Place {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let raw = LocalFileSystem::new_with_prefix(dir.path()).expect("a local object store");
        Place {
            url: dir.path().to_str().expect("a UTF-8 temp path").to_string(),
            options: Vec::new(),
            raw: Arc::new(raw),
            dir: Some(dir),
        }
    }

    fn s3() -> Place {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let names = [
            "TERRACE_TEST_S3_ENDPOINT",
            "TERRACE_TEST_S3_BUCKET",
            "TERRACE_TEST_S3_ACCESS_KEY_ID",
            "TERRACE_TEST_S3_SECRET_ACCESS_KEY",
            "TERRACE_TEST_S3_REGION",
        ];
        let missing: Vec<&str> = names.into_iter().filter(|n| var(n).is_none()).collect();
        assert!(
            missing.is_empty(),
            "{} not set. The S3 blob contract tests need a real S3 server: run \
             `scripts/services.sh start DIR && . DIR/env.sh` first. These tests fail rather than \
             skip, because a skipped test is not a pass.",
            missing.join(", ")
        );
        let bucket = var("TERRACE_TEST_S3_BUCKET").unwrap();
        let options: Vec<(String, String)> = [
            ("aws_endpoint", var("TERRACE_TEST_S3_ENDPOINT").unwrap()),
            (
                "aws_access_key_id",
                var("TERRACE_TEST_S3_ACCESS_KEY_ID").unwrap(),
            ),
            (
                "aws_secret_access_key",
                var("TERRACE_TEST_S3_SECRET_ACCESS_KEY").unwrap(),
            ),
            ("aws_region", var("TERRACE_TEST_S3_REGION").unwrap()),
            ("aws_allow_http", "true".to_string()),
            // Path-style requests (http://endpoint/bucket/key), as local S3 servers expect.
            ("aws_virtual_hosted_style_request", "false".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let prefix = format!("terrace-contract-{}", ids::random_string(16));

        // The S3 client's rustls takes the process's crypto provider (the server's: ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new().with_bucket_name(&bucket);
        for (key, value) in &options {
            builder = builder.with_config(key.parse().expect("an S3 option"), value);
        }
        let raw = PrefixStore::new(builder.build().expect("a raw S3 client"), prefix.as_str());
        Place {
            url: format!("s3://{bucket}/{prefix}"),
            options,
            raw: Arc::new(raw),
            dir: None,
        }
    }

    /// The place as a blob store encrypting with `keyring`.
    fn open(&self, keyring: &Arc<Keyring>) -> BlobStore {
        BlobStore::open(&self.url, &self.options, keyring.clone())
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }

    /// The bytes stored for `key`, as the object store holds them.
    async fn raw_get(&self, key: &str) -> Vec<u8> {
        let object = self.raw.get(&Path::from(key)).await.expect("raw object");
        object.bytes().await.expect("raw object bytes").to_vec()
    }

    async fn raw_put(&self, key: &str, bytes: Vec<u8>) {
        self.raw
            .put(&Path::from(key), bytes.into())
            .await
            .expect("raw put");
    }

    /// Keys of the objects listed at the place.
    async fn raw_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .raw
            .list(None)
            .map(|meta| meta.expect("listing").location.to_string())
            .collect()
            .await;
        keys.sort();
        keys
    }

    /// Everything stored at the place: every object, and for a local place every file in the
    /// directory, staging files of uploads included.
    async fn everything_stored(&self) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        for key in self.raw_keys().await {
            let bytes = self.raw_get(&key).await;
            found.push((key, bytes));
        }
        if let Some(dir) = &self.dir {
            let mut pending = vec![dir.path().to_path_buf()];
            while let Some(path) = pending.pop() {
                for entry in std::fs::read_dir(&path).expect("reading the blob directory") {
                    let path = entry.expect("a directory entry").path();
                    if path.is_dir() {
                        pending.push(path);
                    } else {
                        let bytes = std::fs::read(&path).expect("reading a stored file");
                        found.push((path.display().to_string(), bytes));
                    }
                }
            }
        }
        found
    }

    /// Empties the place after a passing test (a failing one keeps it for inspection).
    async fn remove(self) {
        for key in self.raw_keys().await {
            self.raw
                .delete(&Path::from(key.as_str()))
                .await
                .unwrap_or_else(|e| panic!("deleting {key}: {e}"));
        }
    }
}

/// Runs the contract test `$name` (an `async fn(&Place)`) on each kind of object store.
macro_rules! blob_contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn local() {
                let place = super::Place::local();
                super::$name(&place).await;
                place.remove().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn s3() {
                let place = super::Place::s3();
                super::$name(&place).await;
                place.remove().await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn keyring(keys: &[&str]) -> Arc<Keyring> {
    Arc::new(Keyring::new(keys).expect("valid keys"))
}

fn new_keyring() -> Arc<Keyring> {
    keyring(&[&Keyring::generate_key()])
}

/// `len` bytes that never repeat a pattern (xorshift), so a misplaced chunk cannot go unnoticed.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Reads the blob as a stream: the plaintext delivered before the first error, and that error.
async fn read_until_error(store: &BlobStore, key: &str) -> (Vec<u8>, Option<StorageError>) {
    let mut stream = match store.read(key).await {
        Ok(stream) => stream,
        Err(err) => return (Vec::new(), Some(err)),
    };
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(err) => return (out, Some(err)),
        }
    }
    (out, None)
}

/// Reading `key` fails, and nothing but a true prefix of `original` came out before the error.
async fn assert_read_fails(store: &BlobStore, key: &str, original: &[u8], what: &str) {
    let (delivered, err) = read_until_error(store, key).await;
    assert!(
        err.is_some(),
        "{what}: read succeeded with {} bytes",
        delivered.len()
    );
    assert!(
        original.starts_with(&delivered),
        "{what}: delivered {} bytes that are not the blob's",
        delivered.len()
    );
    assert!(store.get(key).await.is_err(), "{what}: get succeeded");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Round trips

/// Blobs of every size around the chunk boundaries read back identical.
async fn round_trip_sizes(place: &Place) {
    let store = place.open(&new_keyring());
    let sizes = [
        0,
        1,
        100,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        5 * MIB + 3,
    ];
    for (i, size) in sizes.into_iter().enumerate() {
        let key = format!("blobs/{size}");
        let plaintext = data(size, i as u64);
        store.put(&key, &plaintext).await.unwrap();
        assert!(store.exists(&key).await.unwrap(), "{size} bytes");
        let got = store.get(&key).await.unwrap();
        assert!(got == plaintext, "{size} bytes read back as {}", got.len());
    }
}
blob_contract!(round_trip_sizes);

/// A 20 MiB blob streamed in through odd-sized writes streams back out chunk by chunk.
async fn large_blob_streams_both_ways(place: &Place) {
    let store = place.open(&new_keyring());
    let plaintext = data(20 * MIB, 7);
    let mut writer = store.writer("big").await.unwrap();
    let pieces = [
        1,
        4093,
        65_537,
        CHUNK_SIZE + 1,
        7,
        333_333,
        2 * CHUNK_SIZE - 5,
    ];
    let mut written = 0;
    for piece in pieces.iter().cycle() {
        if written == plaintext.len() {
            break;
        }
        let end = (written + piece).min(plaintext.len());
        writer.write(&plaintext[written..end]).await.unwrap();
        written = end;
        assert_eq!(writer.size(), written as u64);
    }
    assert!(!store.exists("big").await.unwrap(), "visible before finish");
    assert_eq!(writer.finish().await.unwrap(), plaintext.len() as u64);

    let mut stream = store.read("big").await.unwrap();
    let mut got = Vec::with_capacity(plaintext.len());
    let mut items = 0;
    while let Some(item) = stream.next().await {
        let bytes = item.unwrap();
        // Never more than a chunk at a time: the reader does not buffer the blob.
        assert!(
            bytes.len() <= CHUNK_SIZE,
            "an item of {} bytes",
            bytes.len()
        );
        got.extend_from_slice(&bytes);
        items += 1;
    }
    assert!(items >= 20, "only {items} items for 20 MiB");
    assert!(
        got == plaintext,
        "20 MiB read back as {} different bytes",
        got.len()
    );
}
blob_contract!(large_blob_streams_both_ways);

/// Writing a key again replaces the blob, whatever the sizes.
async fn overwrite_replaces(place: &Place) {
    let store = place.open(&new_keyring());
    let big = data(3 * MIB + 11, 1);
    let small = data(10, 2);
    store.put("state", &big).await.unwrap();
    store.put("state", &small).await.unwrap();
    assert_eq!(store.get("state").await.unwrap(), small);
    let bigger = data(4 * MIB, 3);
    store.put("state", &bigger).await.unwrap();
    assert!(store.get("state").await.unwrap() == bigger);
    assert_eq!(place.raw_keys().await, ["state"]);
}
blob_contract!(overwrite_replaces);

// ---------------------------------------------------------------------------------------------
// Encryption

/// The object store never sees the plaintext: not in the object, not in any staging file.
async fn stored_bytes_are_not_plaintext(place: &Place) {
    let store = place.open(&new_keyring());
    let marker = b"resource aws_db_instance password = hunter2-".to_vec();
    let plaintext: Vec<u8> = marker
        .iter()
        .copied()
        .cycle()
        .take(2 * CHUNK_SIZE + 12_345)
        .collect();
    store.put("states/sv-1", &plaintext).await.unwrap();
    store.put("states/small", &marker).await.unwrap();

    let stored = place.everything_stored().await;
    assert!(
        stored.iter().any(|(name, _)| name.ends_with("states/sv-1")),
        "the blob is stored under its key: {:?}",
        stored.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    for (name, bytes) in &stored {
        assert!(!contains(bytes, &marker), "{name} holds plaintext");
        assert!(!contains(bytes, &marker[..16]), "{name} holds plaintext");
    }
    let raw = place.raw_get("states/sv-1").await;
    assert!(raw.len() > plaintext.len());

    // The same plaintext encrypts differently each time.
    store.put("states/sv-2", &plaintext).await.unwrap();
    assert!(place.raw_get("states/sv-2").await != raw);
}
blob_contract!(stored_bytes_are_not_plaintext);

/// A keyring without the key that wrote a blob cannot read it.
async fn wrong_key_cannot_read(place: &Place) {
    let writer_key = Keyring::generate_key();
    let plaintext = data(CHUNK_SIZE + 99, 4);
    place
        .open(&keyring(&[&writer_key]))
        .put("secret", &plaintext)
        .await
        .unwrap();

    let stranger = place.open(&new_keyring());
    assert!(stranger.exists("secret").await.unwrap());
    let (delivered, err) = read_until_error(&stranger, "secret").await;
    assert!(delivered.is_empty(), "{} bytes delivered", delivered.len());
    assert!(
        matches!(err, Some(StorageError::Corrupt(_))),
        "expected Corrupt, got {err:?}"
    );
}
blob_contract!(wrong_key_cannot_read);

/// After a rotation ([new, old]) old blobs stay readable and new ones are written with the new
/// key only.
async fn rotated_keyring_reads_old_blobs(place: &Place) {
    let old = Keyring::generate_key();
    let new = Keyring::generate_key();
    let before = data(2 * CHUNK_SIZE + 1, 5);
    place
        .open(&keyring(&[&old]))
        .put("before", &before)
        .await
        .unwrap();

    let rotated = place.open(&keyring(&[&new, &old]));
    assert!(rotated.get("before").await.unwrap() == before);

    let after = data(1000, 6);
    rotated.put("after", &after).await.unwrap();
    assert_eq!(
        place.open(&keyring(&[&new])).get("after").await.unwrap(),
        after
    );
    assert!(place.open(&keyring(&[&old])).get("after").await.is_err());
}
blob_contract!(rotated_keyring_reads_old_blobs);

/// Resealing moves every listed blob written under an old key to the newest one, whole, and
/// leaves blobs already under it (and deleted ones) alone.
async fn resealing_moves_blobs_to_the_newest_key(place: &Place) {
    use terrace_storage::blob::Resealed;
    let old = Keyring::generate_key();
    let new = Keyring::generate_key();
    let large = data(2 * CHUNK_SIZE + 7, 7);
    let before = place.open(&keyring(&[&old]));
    before.put("dir/large", &large).await.unwrap();
    before.put("small", b"small").await.unwrap();
    let rotated = place.open(&keyring(&[&new, &old]));
    rotated.put("already", b"new").await.unwrap();

    let mut keys: Vec<String> = rotated.keys().map(|k| k.unwrap()).collect().await;
    keys.sort();
    assert_eq!(keys, ["already", "dir/large", "small"]);
    assert!(!rotated.sealed_with_newest("dir/large").await.unwrap());
    assert!(rotated.sealed_with_newest("already").await.unwrap());
    assert_eq!(
        rotated.reseal("dir/large").await.unwrap(),
        Resealed::Resealed
    );
    assert_eq!(rotated.reseal("small").await.unwrap(), Resealed::Resealed);
    assert_eq!(
        rotated.reseal("already").await.unwrap(),
        Resealed::AlreadyNewest
    );
    assert_eq!(rotated.reseal("gone").await.unwrap(), Resealed::Gone);

    let newest_only = place.open(&keyring(&[&new]));
    assert!(newest_only.get("dir/large").await.unwrap() == large);
    assert_eq!(newest_only.get("small").await.unwrap(), b"small");
    assert!(place.open(&keyring(&[&old])).get("small").await.is_err());
}
blob_contract!(resealing_moves_blobs_to_the_newest_key);

/// A blob written in format 1 (Fernet chunks, before format 2) stays readable, with its key
/// alone or after a rotation; resealing writes it again in format 2.
async fn format_1_blobs_stay_readable(place: &Place) {
    use base64::Engine;
    use terrace_storage::blob::Resealed;
    // The fixture of blob/chunked.rs: written by the format 1 code with this key.
    let v1_key = "bRk2mK4k7Wn6eb3F1dQmV1WmkRYyE0pCtgHhGnbJqIY=";
    let blob = base64::engine::general_purpose::STANDARD
        .decode(include_str!("../src/blob/testdata/format1.blob.b64").trim())
        .unwrap();
    place.raw_put("old", blob).await;
    let plaintext = b"first chunk, second chunk, last chunk";
    assert_eq!(
        place.open(&keyring(&[v1_key])).get("old").await.unwrap(),
        plaintext
    );
    let new = Keyring::generate_key();
    let rotated = place.open(&keyring(&[&new, v1_key]));
    assert_eq!(rotated.get("old").await.unwrap(), plaintext);
    assert!(!rotated.sealed_with_newest("old").await.unwrap());
    assert_eq!(rotated.reseal("old").await.unwrap(), Resealed::Resealed);
    assert!(place.raw_get("old").await.starts_with(b"TRCBLOB2"));
    assert_eq!(
        place.open(&keyring(&[&new])).get("old").await.unwrap(),
        plaintext
    );
}
blob_contract!(format_1_blobs_stay_readable);

/// Any change to the stored object (a flipped byte, a cut, extra bytes) makes reading fail
/// instead of returning wrong or partial data as if it were whole.
async fn tampering_is_detected(place: &Place) {
    let store = place.open(&new_keyring());
    let plaintext = data(2 * CHUNK_SIZE + 500, 8);
    store.put("original", &plaintext).await.unwrap();
    let stored = place.raw_get("original").await;
    // From the documented format (2): an 8-byte magic and a 32-byte salt, then frames of
    // `last:1 len:31 sealed[len]`.
    let header = 40;
    let frame_len = |at: usize| {
        (u32::from_be_bytes(stored[at..at + 4].try_into().unwrap()) & 0x7fff_ffff) as usize
    };
    let first_frame_end = header + 4 + frame_len(header);
    let mut last_frame = header;
    while last_frame + 4 + frame_len(last_frame) < stored.len() {
        last_frame += 4 + frame_len(last_frame);
    }
    assert_eq!(last_frame + 4 + frame_len(last_frame), stored.len());

    let flip = |at: usize| {
        let mut bytes = stored.clone();
        bytes[at] ^= 0x01;
        (format!("byte {at} flipped"), bytes)
    };
    let cut = |len: usize| (format!("cut to {len} bytes"), stored[..len].to_vec());
    let mut variants = vec![
        flip(0),
        flip(9),
        flip(header - 1),
        flip(header + 3),
        flip(header + 4 + 40),
        flip(first_frame_end / 2),
        flip(first_frame_end + 100),
        flip(stored.len() / 2),
        flip(stored.len() - 1),
        cut(stored.len() - 1),
        cut(stored.len() / 2),
        // Cut at a frame boundary: every remaining frame is intact.
        cut(first_frame_end),
        cut(last_frame),
        cut(header + 4),
        cut(header),
        cut(8),
        cut(0),
    ];
    // The last frame's last-chunk flag cleared, or set on the first.
    let mut unflagged = stored.clone();
    unflagged[last_frame] &= 0x7f;
    variants.push(("last-chunk flag cleared".into(), unflagged));
    let mut early_last = stored[..first_frame_end].to_vec();
    early_last[header] |= 0x80;
    variants.push(("first frame flagged last, the rest cut".into(), early_last));
    let mut trailing = stored.clone();
    trailing.extend_from_slice(&stored[header..first_frame_end]);
    variants.push(("a frame appended".into(), trailing));
    let mut doubled_first = stored[..first_frame_end].to_vec();
    doubled_first.extend_from_slice(&stored[header..]);
    variants.push(("first frame repeated".into(), doubled_first));

    for (what, bytes) in variants {
        place.raw_put("tampered", bytes).await;
        assert_read_fails(&store, "tampered", &plaintext, &what).await;
    }
    // The untouched original still reads.
    assert!(store.get("original").await.unwrap() == plaintext);
}
blob_contract!(tampering_is_detected);

// ---------------------------------------------------------------------------------------------
// Visibility and deletion

/// A blob appears only when its writer finishes; an aborted writer leaves nothing behind.
async fn aborted_write_leaves_nothing(place: &Place) {
    let store = place.open(&new_keyring());
    let mut writer = store.writer("aborted").await.unwrap();
    writer.write(&data(3 * MIB, 9)).await.unwrap();
    assert!(!store.exists("aborted").await.unwrap());
    writer.abort().await;

    assert!(!store.exists("aborted").await.unwrap());
    assert_read_fails(&store, "aborted", &[], "aborted blob").await;
    assert_eq!(place.raw_keys().await, Vec::<String>::new());
    let left: Vec<String> = place
        .everything_stored()
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert!(
        left.is_empty(),
        "left behind by an aborted upload: {left:?}"
    );
}
blob_contract!(aborted_write_leaves_nothing);

/// Aborting a rewrite keeps the previous version of the blob.
async fn aborted_rewrite_keeps_previous(place: &Place) {
    let store = place.open(&new_keyring());
    let first = data(CHUNK_SIZE + 10, 10);
    store.put("state", &first).await.unwrap();
    let mut writer = store.writer("state").await.unwrap();
    writer.write(&data(2 * MIB, 11)).await.unwrap();
    writer.abort().await;
    assert!(store.get("state").await.unwrap() == first);
}
blob_contract!(aborted_rewrite_keeps_previous);

/// Reading a blob that was never written is an error, not an empty blob.
async fn missing_blob_is_an_error(place: &Place) {
    let store = place.open(&new_keyring());
    assert!(!store.exists("never-written").await.unwrap());
    assert!(store.read("never-written").await.is_err());
    assert!(store.get("never-written").await.is_err());
}
blob_contract!(missing_blob_is_an_error);

/// `delete` removes one blob (and accepts a missing one); `delete_prefix` removes every blob
/// under a path prefix, by whole path segments.
async fn delete_and_delete_prefix(place: &Place) {
    let store = place.open(&new_keyring());
    for key in ["ws-1/a", "ws-1/b/c", "ws-10/a", "ws-2/a", "top"] {
        store.put(key, key.as_bytes()).await.unwrap();
    }

    // A path prefix is not a blob.
    assert!(!store.exists("ws-1").await.unwrap());
    assert!(store.get("ws-1").await.is_err());

    store.delete("ws-2/a").await.unwrap();
    assert!(!store.exists("ws-2/a").await.unwrap());
    assert!(store.get("ws-2/a").await.is_err());
    store.delete("ws-2/a").await.unwrap();
    store.delete("never-written").await.unwrap();

    store.delete_prefix("ws-1").await.unwrap();
    assert!(!store.exists("ws-1/a").await.unwrap());
    assert!(!store.exists("ws-1/b/c").await.unwrap());
    // `ws-10` is not under `ws-1`.
    assert_eq!(store.get("ws-10/a").await.unwrap(), b"ws-10/a");
    assert_eq!(store.get("top").await.unwrap(), b"top");
    store.delete_prefix("nothing-here").await.unwrap();
    assert_eq!(place.raw_keys().await, ["top", "ws-10/a"]);
}
blob_contract!(delete_and_delete_prefix);
