//! Request bodies a handler did not read. hyper closes an HTTP/1.1 connection whose request
//! body was left unread, so a client still sending one (a document with a wrong token, a
//! rate-limited upload, a route that refuses before parsing) gets a broken pipe or a TLS EOF
//! instead of the answer meant for it, and loses its kept-alive connection. [`drain_unread`]
//! reads and drops what is left of a body that announced its length, up to [`DRAIN_LIMIT`]
//! bytes within [`DRAIN_TIME`], before the answer goes out, as a lingering close would; a
//! larger or unannounced rest closes the connection as before, so nobody makes the server
//! read a large upload it refused.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};

/// The most of a refused body read to keep the connection: API documents are smaller.
pub const DRAIN_LIMIT: u64 = 1 << 20;
/// How long the rest of a body may take to arrive before the answer goes out without it.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The middleware: hands the handler a [`SharedBody`] and drains what it leaves.
pub async fn drain_unread(request: Request, next: Next) -> Response {
    // Only bodies that announce a small length: the others go through untouched, as before.
    let announced = request.body().size_hint().upper();
    if request.body().is_end_stream() || announced.is_none_or(|length| length > DRAIN_LIMIT) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let slot = Arc::new(Mutex::new(Some(body)));
    let request = Request::from_parts(parts, Body::new(SharedBody(slot.clone())));
    let response = next.run(request).await;
    let left = slot.lock().unwrap().take();
    if let Some(body) = left {
        let _ = tokio::time::timeout(DRAIN_TIME, drain(body, DRAIN_LIMIT)).await;
    }
    response
}

/// Reads `body` to its end if it announced (`Content-Length`) at most `limit` bytes left;
/// true if it reached the end. A body of unknown length is left alone: reading some of a
/// chunked stream and then closing anyway would only make the client's loss of its answer
/// likelier (hyper closes on it with data unread either way).
async fn drain(mut body: Body, limit: u64) -> bool {
    if body.size_hint().upper().is_none_or(|left| left > limit) {
        return false;
    }
    let mut read = 0u64;
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return true,
            Some(Err(_)) => return false,
            Some(Ok(frame)) => {
                read += frame.data_ref().map_or(0, |d| d.len() as u64);
                if read > limit {
                    return false;
                }
            }
        }
    }
}

/// The request body, left in a slot the middleware can take it back from once the handler
/// is done. A handler never reads after answering, so the slot is not contended.
struct SharedBody(Arc<Mutex<Option<Body>>>);

impl http_body::Body for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut slot = self.0.lock().unwrap();
        let Some(body) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::pin::Pin::new(&mut *body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || body.is_end_stream() {
            // Read to the end: nothing is left to drain.
            *slot = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .unwrap()
            .as_ref()
            .is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .unwrap()
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(n: usize, size: usize) -> Body {
        Body::from_stream(futures::stream::iter(
            (0..n).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size]))),
        ))
    }

    #[tokio::test]
    async fn a_small_announced_rest_is_read_to_its_end() {
        assert!(drain(Body::from(vec![b'x'; 5000]), 5000).await);
        assert!(drain(Body::empty(), 0).await);
    }

    #[tokio::test]
    async fn a_large_or_unannounced_rest_is_left_alone() {
        // Known length over the limit: not read at all.
        assert!(!drain(Body::from(vec![b'x'; 5001]), 5000).await);
        // Unknown length (chunked), however small.
        assert!(!drain(chunks(10, 10), 1 << 20).await);
    }

    #[tokio::test]
    async fn what_the_handler_reads_is_not_read_again() {
        use futures::StreamExt;
        let slot = Arc::new(Mutex::new(Some(chunks(3, 10))));
        let mut stream = Body::new(SharedBody(slot.clone())).into_data_stream();
        let mut total = 0;
        while let Some(chunk) = stream.next().await {
            total += chunk.unwrap().len();
        }
        assert_eq!(total, 30);
        assert!(slot.lock().unwrap().is_none(), "a body read whole is gone");
    }
}
