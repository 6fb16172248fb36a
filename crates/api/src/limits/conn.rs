//! Connections: at most `max_connections` at once (more are closed as they arrive, before
//! their TLS handshake costs anything), and a connection with no request in progress and no
//! traffic for the idle timeout is closed. A long poll or a slow handler is a request in
//! progress, so it is never cut; a client that stops reading a response or never sends the
//! rest of its preface is. Every accepted TCP connection sends what it is given at once
//! (`TCP_NODELAY`): with Nagle's algorithm the last segment of a response larger than one
//! segment (a page of workspaces, a state file) waited for the client's delayed
//! acknowledgement, 40 ms on Linux.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum_server::accept::Accept;
use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// How often a full server says so in its log.
const REFUSAL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// An acceptor (plain TCP or TLS) with the connection cap and the idle timeout around it.
#[derive(Clone)]
pub struct ConnectionLimits<A> {
    inner: A,
    slots: Arc<Semaphore>,
    max_connections: usize,
    idle_timeout: Duration,
    last_warning: Arc<Mutex<Option<Instant>>>,
}

impl<A> ConnectionLimits<A> {
    pub fn new(inner: A, max_connections: usize, idle_timeout: Duration) -> ConnectionLimits<A> {
        ConnectionLimits {
            inner,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
            max_connections,
            idle_timeout,
            last_warning: Arc::new(Mutex::new(None)),
        }
    }

    fn warn_refused(&self) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= REFUSAL_WARNING_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                max_connections = self.max_connections,
                "connection limit reached; closing new connections"
            );
        }
    }
}

/// A stream whose writes can be sent at once rather than gathered (TCP's `TCP_NODELAY`).
pub trait SendAtOnce {
    fn send_at_once(&self) -> io::Result<()>;
}

impl SendAtOnce for tokio::net::TcpStream {
    fn send_at_once(&self) -> io::Result<()> {
        self.set_nodelay(true)
    }
}

/// The tests' stand-in for a connection.
#[cfg(test)]
impl SendAtOnce for () {
    fn send_at_once(&self) -> io::Result<()> {
        Ok(())
    }
}

impl<A, I, S> Accept<I, S> for ConnectionLimits<A>
where
    I: SendAtOnce,
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: Unpin + Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = IdleIo<A::Stream>;
    type Service = InFlight<A::Service>;
    type Future = BoxFuture<'static, io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.warn_refused();
            drop(stream);
            return Box::pin(std::future::ready(Err(io::Error::other(
                "too many connections",
            ))));
        };
        if let Err(e) = stream.send_at_once() {
            return Box::pin(std::future::ready(Err(e)));
        }
        let accepted = self.inner.accept(stream, service);
        let idle_timeout = self.idle_timeout;
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            let activity = Arc::new(Activity::new(permit));
            Ok((
                IdleIo::new(stream, activity.clone(), idle_timeout),
                InFlight {
                    inner: service,
                    activity,
                },
            ))
        })
    }
}

/// What a connection is doing; it holds the connection's slot until the connection ends.
struct Activity {
    started: Instant,
    /// Milliseconds after `started` of the last byte read or written.
    last_io: AtomicU64,
    in_flight: AtomicUsize,
    _slot: OwnedSemaphorePermit,
}

impl Activity {
    fn new(slot: OwnedSemaphorePermit) -> Activity {
        Activity {
            started: Instant::now(),
            last_io: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            _slot: slot,
        }
    }

    fn touch(&self) {
        let millis = self.started.elapsed().as_millis() as u64;
        self.last_io.store(millis, Ordering::Relaxed);
    }

    fn last_io(&self) -> Instant {
        self.started + Duration::from_millis(self.last_io.load(Ordering::Relaxed))
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }
}

/// A connection's stream, failing its reads with `TimedOut` once it has been idle too long.
pub struct IdleIo<S> {
    inner: S,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<S> IdleIo<S> {
    fn new(inner: S, activity: Arc<Activity>, idle_timeout: Duration) -> IdleIo<S> {
        activity.touch();
        IdleIo {
            inner,
            activity,
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    /// Ready with an error once the connection is idle: no request in progress and no
    /// traffic for the idle timeout. Registers for a wake-up at the next deadline otherwise.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            let deadline = if self.activity.busy() {
                now + self.idle_timeout
            } else {
                self.activity.last_io() + self.idle_timeout
            };
            if deadline <= now {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ));
            }
            self.timer.as_mut().reset(deadline.into());
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.activity.touch();
                }
                Poll::Ready(result)
            }
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Ready(err) => Poll::Ready(Err(err)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A connection's service, counting its requests in progress (from the call until the
/// response's head is ready; the body then moves as fast as the client reads).
#[derive(Clone)]
pub struct InFlight<S> {
    inner: S,
    activity: Arc<Activity>,
}

struct Busy(Arc<Activity>);

impl Busy {
    fn enter(activity: Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S, R> tower::Service<R> for InFlight<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let busy = Busy::enter(self.activity.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let _busy = busy;
            response.await
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn idle_io(
        timeout: Duration,
    ) -> (
        IdleIo<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
        Arc<Activity>,
    ) {
        let (server, client) = tokio::io::duplex(1024);
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let activity = Arc::new(Activity::new(slot));
        (
            IdleIo::new(server, activity.clone(), timeout),
            client,
            activity,
        )
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_traffic_keeps_it_open() {
        let (mut server, mut client, _) = idle_io(150 * MS);
        let started = Instant::now();
        let mut buf = [0u8; 16];
        for _ in 0..3 {
            tokio::time::sleep(100 * MS).await;
            client.write_all(b"x").await.unwrap();
            assert_eq!(server.read(&mut buf).await.unwrap(), 1);
        }
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let elapsed = started.elapsed();
        assert!(elapsed >= 450 * MS, "{elapsed:?}");
    }

    #[tokio::test]
    async fn a_request_in_progress_is_never_idle() {
        let (mut server, _client, activity) = idle_io(100 * MS);
        let busy = Busy::enter(activity);
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(350 * MS, server.read(&mut buf)).await;
        assert!(read.is_err(), "still waiting after 3.5 timeouts: {read:?}");
        // Once the request is done the countdown starts from its end.
        drop(busy);
        let started = Instant::now();
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= 90 * MS, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn accepted_tcp_connections_send_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "Nagle's algorithm is on by default"
        );
        let limits = ConnectionLimits::new(axum_server::accept::DefaultAcceptor, 2, 60_000 * MS);
        let (accepted, _) = limits.accept(stream, ()).await.unwrap();
        assert!(accepted.inner.nodelay().unwrap());
    }

    #[tokio::test]
    async fn connections_over_the_cap_are_refused_until_one_ends() {
        let limits = ConnectionLimits::new(axum_server::accept::DefaultAcceptor, 2, 60_000 * MS);
        let first = limits.accept((), ()).await.unwrap();
        let _second = limits.accept((), ()).await.unwrap();
        assert!(limits.accept((), ()).await.is_err());
        drop(first);
        assert!(limits.accept((), ()).await.is_ok());
    }
}
