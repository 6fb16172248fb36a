//! The encrypted blob store: state files, configuration tarballs, logs and registry files go
//! through here, encrypted before they reach the object store (see [`chunked`] for the format).
//! Writes are streamed as multipart uploads, so a blob only becomes visible once it is
//! complete, and neither side ever holds a whole blob in memory.

pub mod chunked;
pub mod cipher;

use std::collections::VecDeque;
use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{GetResult, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart};

pub use self::chunked::CHUNK_SIZE;
use self::chunked::{ChunkOpener, ChunkSealer};
pub use self::cipher::Keyring;
use crate::{StorageError, StorageResult};

/// Size of the parts a blob is uploaded in to a cloud store (S3's minimum), and how many
/// may be in flight: bounds the memory of one upload to about (1 + IN_FLIGHT) parts.
const CLOUD_PART_SIZE: usize = 5 << 20;
/// A local directory takes parts of any size: a frame's worth keeps each upload to about
/// 4 MiB (a frame filling, a part filling, two in flight) rather than the cloud stores' 16.
const LOCAL_PART_SIZE: usize = CHUNK_SIZE;
const IN_FLIGHT: usize = 2;

pub type BlobStream = BoxStream<'static, StorageResult<Bytes>>;

#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    keyring: Arc<Keyring>,
    part_size: usize,
}

impl BlobStore {
    /// A blob store on `store`, uploading in parts that any object store takes.
    pub fn new(store: Arc<dyn ObjectStore>, keyring: Arc<Keyring>) -> BlobStore {
        BlobStore {
            store,
            keyring,
            part_size: CLOUD_PART_SIZE,
        }
    }

    /// Opens the object store named by `url`: a local directory (a path or `file://`),
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`. Credentials and
    /// endpoints come from the providers' usual environment variables (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*`), overridden by `options` (the same keys, e.g. `aws_endpoint`).
    pub fn open(
        url: &str,
        options: &[(String, String)],
        keyring: Arc<Keyring>,
    ) -> StorageResult<BlobStore> {
        let part_size = match is_local(url) {
            true => LOCAL_PART_SIZE,
            false => CLOUD_PART_SIZE,
        };
        Ok(BlobStore {
            part_size,
            ..BlobStore::new(open_object_store(url, options)?, keyring)
        })
    }

    pub fn keyring(&self) -> &Arc<Keyring> {
        &self.keyring
    }

    /// Starts writing the blob `key`; nothing is visible until [`BlobWriter::finish`].
    pub async fn writer(&self, key: &str) -> StorageResult<BlobWriter> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        let sealer = ChunkSealer::new(&self.keyring);
        let mut upload = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        upload.put(Bytes::copy_from_slice(&sealer.header()));
        Ok(BlobWriter {
            sealer,
            pending: ChunkSealer::frame_buffer(),
            upload,
            size: 0,
        })
    }

    /// Writes a whole blob from memory.
    pub async fn put(&self, key: &str, data: &[u8]) -> StorageResult<()> {
        let mut writer = self.writer(key).await?;
        if let Err(err) = writer.write(data).await {
            writer.abort().await;
            return Err(err);
        }
        writer.finish().await?;
        Ok(())
    }

    /// Streams the plaintext of blob `key`. Integrity errors (truncation, tampering) surface
    /// as an error item, at the latest at the end of the stream.
    pub async fn read(&self, key: &str) -> StorageResult<BlobStream> {
        let inner = match self.store.get(&Path::from(key)).await? {
            // A local file: read in large pieces (object_store's own stream reads 8 KiB at a
            // time, each on a blocking thread).
            GetResult {
                payload: GetResultPayload::File(file, _),
                range,
                ..
            } => file_stream(file, range),
            other => other.into_stream(),
        };
        let state = Reader {
            inner,
            opener: ChunkOpener::new(self.keyring.clone()),
            ready: VecDeque::new(),
            done: false,
        };
        Ok(futures::stream::unfold(state, Reader::next).boxed())
    }

    /// Reads a whole blob into memory (for blobs known to be small).
    pub async fn get(&self, key: &str) -> StorageResult<Vec<u8>> {
        let mut stream = self.read(key).await?;
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    pub async fn exists(&self, key: &str) -> StorageResult<bool> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Deletes a blob; deleting one that does not exist is not an error.
    pub async fn delete(&self, key: &str) -> StorageResult<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// The key of every blob, in no particular order.
    pub fn keys(&self) -> BoxStream<'_, StorageResult<String>> {
        self.store
            .list(None)
            .map(|meta| Ok(meta?.location.to_string()))
            .boxed()
    }

    /// Whether blob `key` is sealed with the newest key (its first frame opens with it: a
    /// blob is written whole with one keyring).
    pub async fn sealed_with_newest(&self, key: &str) -> StorageResult<bool> {
        let path = Path::from(key);
        let size = self.store.head(&path).await?.size;
        let probe_end = (chunked::PROBE_LEN as u64).min(size);
        let probe = self.store.get_range(&path, 0..probe_end).await?;
        let frame = chunked::first_frame(&probe)?;
        if frame.end as u64 > size {
            return Err(StorageError::Corrupt("blob is truncated".into()));
        }
        let frame = self
            .store
            .get_range(&path, frame.start as u64..frame.end as u64)
            .await?;
        Ok(chunked::first_frame_is_newest(
            &self.keyring,
            &probe,
            &frame,
        ))
    }

    /// Seals blob `key` again with the newest key, unless it already is. The new blob
    /// replaces the old one only once written whole; a blob deleted meanwhile is not brought
    /// back.
    pub async fn reseal(&self, key: &str) -> StorageResult<Resealed> {
        match self.sealed_with_newest(key).await {
            Ok(true) => return Ok(Resealed::AlreadyNewest),
            Ok(false) => {}
            Err(StorageError::Blob(object_store::Error::NotFound { .. })) => {
                return Ok(Resealed::Gone)
            }
            Err(err) => return Err(err),
        }
        let mut plaintext = self.read(key).await?;
        let mut writer = self.writer(key).await?;
        while let Some(chunk) = plaintext.next().await {
            let written = match chunk {
                Ok(chunk) => writer.write(&chunk).await,
                Err(err) => Err(err),
            };
            if let Err(err) = written {
                writer.abort().await;
                return Err(err);
            }
        }
        if !self.exists(key).await? {
            writer.abort().await;
            return Ok(Resealed::Gone);
        }
        writer.finish().await?;
        Ok(Resealed::Resealed)
    }

    /// Deletes every blob under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> StorageResult<()> {
        let prefix = Path::from(prefix);
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            self.delete(meta?.location.as_ref()).await?;
        }
        Ok(())
    }
}

/// What [`BlobStore::reseal`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resealed {
    Resealed,
    AlreadyNewest,
    /// Deleted before or while it was sealed again.
    Gone,
}

struct Reader {
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    opener: ChunkOpener,
    ready: VecDeque<Bytes>,
    done: bool,
}

impl Reader {
    async fn next(mut self) -> Option<(StorageResult<Bytes>, Reader)> {
        loop {
            if let Some(chunk) = self.ready.pop_front() {
                return Some((Ok(chunk), self));
            }
            if self.done {
                return None;
            }
            let failed = match self.inner.next().await {
                Some(Ok(bytes)) => match self.opener.push(&bytes) {
                    Ok(chunks) => {
                        self.ready.extend(chunks);
                        None
                    }
                    Err(err) => Some(err),
                },
                Some(Err(err)) => Some(err.into()),
                None => {
                    self.done = true;
                    self.opener.finish().err()
                }
            };
            if let Some(err) = failed {
                self.done = true;
                self.ready.clear();
                return Some((Err(err), self));
            }
        }
    }
}

/// A blob being written. Feed it with [`write`](BlobWriter::write), then either
/// [`finish`](BlobWriter::finish) to make it visible or [`abort`](BlobWriter::abort) to drop it.
pub struct BlobWriter {
    sealer: ChunkSealer,
    /// The next frame: room for its length, then plaintext not yet sealed (sealed in place).
    /// A full chunk is only sealed once more data follows, so the final chunk, whatever its
    /// size, is sealed by `finish` with the last-chunk flag.
    pending: BytesMut,
    upload: WriteMultipart,
    size: u64,
}

impl BlobWriter {
    pub async fn write(&mut self, mut data: &[u8]) -> StorageResult<()> {
        self.size += data.len() as u64;
        while !data.is_empty() {
            let room = CHUNK_SIZE + 4 - self.pending.len();
            if room == 0 {
                self.seal_pending(false).await?;
                continue;
            }
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    async fn seal_pending(&mut self, last: bool) -> StorageResult<()> {
        self.sealer.seal_frame(&mut self.pending, last);
        let frame = std::mem::replace(
            &mut self.pending,
            if last {
                BytesMut::new()
            } else {
                ChunkSealer::frame_buffer()
            },
        );
        self.upload.wait_for_capacity(IN_FLIGHT).await?;
        // Handed over as it is: the upload keeps the sealed frame without copying it.
        self.upload.put(frame.freeze());
        Ok(())
    }

    /// Plaintext bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Seals the last chunk and completes the upload; returns the plaintext size.
    pub async fn finish(mut self) -> StorageResult<u64> {
        self.seal_pending(true).await?;
        self.upload.finish().await?;
        Ok(self.size)
    }

    /// Abandons the upload; the blob never becomes visible.
    pub async fn abort(self) {
        if let Err(err) = self.upload.abort().await {
            tracing::warn!(error = %err, "could not abort a blob upload");
        }
    }
}

/// Size of the reads from a local file: a frame and a bit, so most frames arrive in one read.
const FILE_READ: usize = CHUNK_SIZE + 64 * 1024;

/// The bytes `range` of a local file, read on blocking threads in [`FILE_READ`] pieces.
fn file_stream(
    file: std::fs::File,
    range: std::ops::Range<u64>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    use std::io::{Read, Seek, SeekFrom};
    let state = (Some(file), range.start, range.end);
    futures::stream::try_unfold(state, |(file, at, end)| async move {
        let Some(mut file) = file.filter(|_| at < end) else {
            return Ok(None);
        };
        let want = (end - at).min(FILE_READ as u64) as usize;
        let (file, buf) = tokio::task::spawn_blocking(move || {
            let mut buf = BytesMut::zeroed(want);
            file.seek(SeekFrom::Start(at))?;
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(|e| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        })?
        .map_err(|e| object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        })?;
        Ok(Some((buf.freeze(), (Some(file), at + want as u64, end))))
    })
    .boxed()
}

/// The raw object store named by `url` (as [`BlobStore::open`] takes it): what is stored
/// there is not decrypted. For copying blobs as they are.
pub fn open_object_store(
    url: &str,
    options: &[(String, String)],
) -> StorageResult<Arc<dyn ObjectStore>> {
    let Some(parsed) = store_url(url) else {
        return local_store(FsPath::new(url));
    };
    // The cloud stores' HTTP client (reqwest, rustls) takes the process's default crypto
    // provider: ring, as everywhere in Terrace (a no-op when one is installed already).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "file" => {
            let path = parsed
                .to_file_path()
                .map_err(|_| StorageError::Config(format!("{url} is not a local path")))?;
            return local_store(&path);
        }
        "s3" | "s3a" => Arc::new(
            with_options(
                AmazonS3Builder::from_env().with_url(url),
                options,
                |b, k, v| b.with_config(k, v),
            )?
            .build()?,
        ),
        "gs" => Arc::new(
            with_options(
                GoogleCloudStorageBuilder::from_env().with_url(url),
                options,
                |b, k, v| b.with_config(k, v),
            )?
            .build()?,
        ),
        "az" | "azure" | "abfs" | "abfss" => Arc::new(
            with_options(
                MicrosoftAzureBuilder::from_env().with_url(url),
                options,
                |b, k, v| b.with_config(k, v),
            )?
            .build()?,
        ),
        other => {
            return Err(StorageError::Config(format!(
            "unsupported storage URL scheme {other}: (use a path, file://, s3://, gs:// or az://)"
        )))
        }
    };
    // The builders take the bucket from the URL; its path is our prefix inside the bucket.
    let prefix = parsed.path().trim_matches('/');
    Ok(if prefix.is_empty() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

/// Applies `options` to a store builder, parsing each key as that provider's config key.
fn with_options<B, K>(
    mut builder: B,
    options: &[(String, String)],
    set: impl Fn(B, K, &str) -> B,
) -> StorageResult<B>
where
    K: std::str::FromStr,
    K::Err: std::fmt::Display,
{
    for (key, value) in options {
        let parsed = key
            .parse()
            .map_err(|e| StorageError::Config(format!("storage option {key}: {e}")))?;
        builder = set(builder, parsed, value);
    }
    Ok(builder)
}

/// `url` parsed, unless it is a plain path (a one-letter scheme is a Windows drive).
fn store_url(url: &str) -> Option<url::Url> {
    url::Url::parse(url).ok().filter(|u| u.scheme().len() > 1)
}

/// Whether `url` names a local directory rather than a cloud store.
fn is_local(url: &str) -> bool {
    store_url(url).is_none_or(|u| u.scheme() == "file")
}

fn local_store(path: &FsPath) -> StorageResult<Arc<dyn ObjectStore>> {
    std::fs::create_dir_all(path).map_err(|e| {
        StorageError::Config(format!(
            "cannot create blob directory {}: {e}",
            path.display()
        ))
    })?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(path)?))
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn local_directories_are_told_from_cloud_stores() {
        for local in [
            "/var/lib/terrace/blobs",
            "data/blobs",
            "file:///srv/blobs",
            "C:\\blobs",
        ] {
            assert!(is_local(local), "{local}");
        }
        for cloud in ["s3://bucket/state", "gs://bucket", "az://container/prefix"] {
            assert!(!is_local(cloud), "{cloud}");
        }
    }
}
