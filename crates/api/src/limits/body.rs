//! Request bodies that stop arriving. Each part of a body must arrive within the body timeout
//! of the handler asking for it, so a client that starts an upload and then sends nothing
//! (or a trickle slower than one part per timeout) is cut off, while large uploads at any
//! real speed are not limited in their total time.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

/// The middleware: wraps every request body that has one in a [`ReadTimeoutBody`].
pub async fn read_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    if http_body::Body::is_end_stream(request.body()) {
        return next.run(request).await;
    }
    next.run(request.map(|body| Body::new(ReadTimeoutBody::new(body, timeout))))
        .await
}

/// A body whose every frame must arrive within `timeout` of being asked for.
pub struct ReadTimeoutBody {
    inner: Body,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl ReadTimeoutBody {
    pub fn new(inner: Body, timeout: Duration) -> ReadTimeoutBody {
        ReadTimeoutBody {
            inner,
            timeout,
            sleep: None,
        }
    }
}

/// The error a body that stopped arriving ends with.
#[derive(Debug)]
pub struct BodyTimeout(Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body stopped arriving (nothing for {} s)",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyTimeout {}

impl http_body::Body for ReadTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// A body sending `parts` chunks, `gap` apart.
    fn trickle(parts: usize, gap: Duration) -> Body {
        Body::from_stream(futures::stream::iter(0..parts).then(move |i| async move {
            tokio::time::sleep(gap).await;
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; i + 1]))
        }))
    }

    async fn read_all(body: ReadTimeoutBody) -> Result<usize, String> {
        let mut stream = Body::new(body).into_data_stream();
        let mut total = 0;
        while let Some(chunk) = stream.next().await {
            total += chunk.map_err(|e| e.to_string())?.len();
        }
        Ok(total)
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn a_steady_body_arrives_whatever_its_total_time() {
        // 400 ms in all, four times the timeout, but never 100 ms without a part.
        let body = ReadTimeoutBody::new(trickle(10, 40 * MS), 100 * MS);
        assert_eq!(read_all(body).await, Ok((1..=10).sum()));
    }

    #[tokio::test]
    async fn a_body_that_stops_is_cut_off() {
        let body = ReadTimeoutBody::new(trickle(3, 300 * MS), 100 * MS);
        let err = read_all(body).await.unwrap_err();
        assert!(err.contains("stopped arriving"), "{err}");
    }
}
