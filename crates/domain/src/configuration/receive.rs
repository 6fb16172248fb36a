//! Receiving a Terraform tarball (a configuration, a registry module): the chunks go to the
//! blob store and, through a channel, to `terrace_slug::check` on a blocking thread; the
//! tarball is stored only if both succeed and it stays within a size bound.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::chunks;
use crate::{DomainError, DomainResult, Services};

/// How receiving a tarball ended.
pub(crate) enum Received {
    /// Checked and written whole at the key.
    Stored { size: u64 },
    /// The tarball is refused (not a gzip'd tar, reaching outside itself, too large): the
    /// uploader's fault. Nothing is left at the key.
    Content(DomainError),
    /// The upload broke off (a dropped connection). Nothing is left at the key.
    Transport(DomainError),
}

impl Services {
    /// Streams `body` to the blob at `key` while checking it; `what` names it in errors.
    pub(crate) async fn receive_checked_tarball<S, E>(
        &self,
        key: &str,
        mut body: S,
        max: u64,
        what: &str,
    ) -> DomainResult<Received>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let mut writer = self.blobs.writer(key).await?;
        let (to_check, reader) = chunks::channel();
        let limits = self.settings.configuration_limits;
        let check = tokio::task::spawn_blocking(move || terrace_slug::check(reader, &limits));
        let mut cut_short = false;
        let received: Result<(), Received> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|e| Received::Transport(DomainError::Interrupted(e.to_string())))?;
                if writer.size() + chunk.len() as u64 > max {
                    return Err(Received::Content(DomainError::TooLarge(format!(
                        "the {what} is larger than the server's limit of {max} bytes"
                    ))));
                }
                if to_check.send(chunk.clone()).await.is_err() {
                    // The check stopped reading: it has refused the tarball.
                    cut_short = true;
                    break;
                }
                writer
                    .write(&chunk)
                    .await
                    .map_err(|e| Received::Transport(e.into()))?;
            }
            Ok(())
        }
        .await;
        // The check's reader ends here; on a transport failure its verdict does not matter
        // (it sees a truncated archive and ends by itself).
        drop(to_check);
        let verdict = match received {
            Ok(()) => match check.await {
                Ok(Ok(())) if !cut_short => None,
                // The check reads to the end of the upload, so it cannot have accepted a part.
                Ok(Ok(())) => Some(Received::Content(DomainError::bad_request(
                    "the archive has data after its end",
                ))),
                Ok(Err(err)) if err.is_content() => {
                    Some(Received::Content(DomainError::bad_request(err.to_string())))
                }
                Ok(Err(err)) => Some(Received::Transport(DomainError::Interrupted(
                    err.to_string(),
                ))),
                Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
                Err(err) => Some(Received::Transport(DomainError::Interrupted(format!(
                    "the {what} check stopped: {err}"
                )))),
            },
            Err(failure) => Some(failure),
        };
        match verdict {
            None => Ok(Received::Stored {
                size: writer.finish().await?,
            }),
            Some(failure) => {
                writer.abort().await;
                Ok(failure)
            }
        }
    }
}
