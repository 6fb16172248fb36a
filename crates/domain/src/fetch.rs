//! Bytes from elsewhere: what the server fetches upstream (release archives, providers and
//! their checksums, through the API crate's HTTP client behind [`Fetcher`]), and streaming a
//! body into the blob store while hashing and bounding it, for every upload and pull.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{DomainError, DomainResult, Services};
use terrace_storage::StorageError;

/// The body of a successful GET.
pub type FetchedBody = BoxStream<'static, Result<Bytes, String>>;

/// What the server fetches upstream files with: the body of a successful GET, `None` for a
/// 404, or why there is none.
pub trait Fetcher: Send + Sync {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Option<FetchedBody>, String>>;
}

/// A body stored in the blob store: its SHA-256 (hexadecimal) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub sha256: String,
    pub size: u64,
}

impl Services {
    /// Installs what the server fetches upstream files with.
    pub fn with_fetcher(mut self, fetcher: std::sync::Arc<dyn Fetcher>) -> Services {
        self.fetcher = Some(fetcher);
        self
    }

    /// A small upstream file, whole (`None`: the upstream has no such file); larger than
    /// `max` bytes or unreachable is an `Upstream` error.
    pub(crate) async fn fetch_small(&self, url: &str, max: usize) -> DomainResult<Option<Vec<u8>>> {
        let fetcher = self
            .fetcher
            .clone()
            .ok_or_else(|| DomainError::Upstream("this server fetches nothing upstream".into()))?;
        let failed = |e: &dyn std::fmt::Display| DomainError::Upstream(format!("{url}: {e}"));
        let Some(mut body) = fetcher.fetch(url).await.map_err(|e| failed(&e))? else {
            return Ok(None);
        };
        let mut data = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| failed(&e))?;
            if data.len() + chunk.len() > max {
                return Err(failed(&format!("larger than {max} bytes")));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(Some(data))
    }

    /// Streams `body` into a new blob at `key`, hashing it, at most `max` bytes (`what` names
    /// it in the error), each chunk also written to `tee` if given. A stream that fails is
    /// `Interrupted`, one too large `TooLarge`; either way no blob is left.
    pub(crate) async fn store_hashed<S, E>(
        &self,
        key: &str,
        mut body: S,
        max: u64,
        what: &str,
        mut tee: Option<&mut tokio::fs::File>,
    ) -> DomainResult<Stored>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let mut writer = self.blobs.writer(key).await?;
        let mut hasher = Sha256::new();
        let received: DomainResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| DomainError::Interrupted(e.to_string()))?;
                if writer.size() + chunk.len() as u64 > max {
                    return Err(DomainError::TooLarge(format!(
                        "{what} is larger than the server's limit of {max} bytes"
                    )));
                }
                hasher.update(&chunk);
                writer.write(&chunk).await?;
                if let Some(file) = tee.as_deref_mut() {
                    file.write_all(&chunk).await.map_err(StorageError::from)?;
                }
            }
            if let Some(file) = tee.as_deref_mut() {
                file.flush().await.map_err(StorageError::from)?;
            }
            Ok(())
        }
        .await;
        if let Err(err) = received {
            writer.abort().await;
            return Err(err);
        }
        let size = writer.finish().await?;
        Ok(Stored {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Deletes a blob nobody will record (a refused or duplicate upload), logging a failure.
    pub(crate) async fn discard_blob(&self, key: &str) {
        if let Err(err) = self.blobs.delete(key).await {
            tracing::warn!(error = %err, "cannot delete a blob nobody records");
        }
    }
}
