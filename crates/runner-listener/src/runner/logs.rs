//! The job log: terraform's output and the runner's own lines, sent to the server in batches
//! (every 500 ms or 64 KiB, whichever comes first). Each answer says whether the job must
//! stop; while nothing is written the log is polled every few seconds for the same reason.
//!
//! The log starts with a preamble. The CLI drops the first 3 lines of an apply log (CLI ref
//! §4.3.2): in text mode the preamble is those 3 lines; in JSON mode it is 2 lines and the
//! 3rd is terraform's own `version` line (which the CLI would hide anyway). Should the runner
//! itself write a line before terraform starts (a warning), a 3rd preamble line goes first so
//! the warning is not the line dropped.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use terrace_protocol::LogAck;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{ClientError, ClientResult, JobClient};

const BATCH_BYTES: usize = 64 * 1024;
const BATCH_DELAY: Duration = Duration::from_millis(500);
/// How often an idle job asks whether it must stop.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Log kept while the server is unreachable; beyond it output is dropped (and said so).
const MAX_BUFFER: usize = 16 * 1024 * 1024;
const THIRD_LINE: &str = "Initializing plugins and modules...";

/// Whether the job must stop, in increasing order of urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    Running,
    /// Interrupt terraform (SIGINT), kill it after the grace period.
    Cancel,
    /// Kill terraform now.
    Force,
    /// The job no longer exists on the server (its token is refused): kill terraform, report
    /// nothing.
    Gone,
}

/// Raises the stop level (it never goes down).
pub(crate) fn raise(stop: &watch::Sender<Stop>, to: Stop) {
    stop.send_if_modified(|current| {
        if to > *current {
            *current = to;
            true
        } else {
            false
        }
    });
}

enum Message {
    /// The version is unknown if the binary could not be run.
    Preamble {
        /// `Terraform` or `OpenTofu`.
        tool: String,
        version: Option<String>,
        platform: String,
    },
    Output(Vec<u8>),
    Note(String),
}

/// The writing end of the job log.
pub(crate) struct JobLog {
    tx: mpsc::Sender<Message>,
    task: JoinHandle<()>,
}

impl JobLog {
    /// `offset`: where the log continues (the server may have written to it already).
    pub fn start(client: JobClient, json: bool, offset: u64, stop: watch::Sender<Stop>) -> JobLog {
        let (tx, rx) = mpsc::channel(256);
        let uploader = Uploader {
            client,
            json,
            stop,
            buf: Vec::new(),
            offset,
            dead: false,
            dropped: 0,
            next_flush: None,
            next_poll: Instant::now() + IDLE_POLL,
            terraform_started: false,
            third_line_pending: false,
            at_line_start: true,
        };
        JobLog {
            tx,
            task: tokio::spawn(uploader.run(rx)),
        }
    }

    pub async fn preamble(&self, tool: &str, version: Option<&str>, platform: &str) {
        let _ = self
            .tx
            .send(Message::Preamble {
                tool: tool.to_string(),
                version: version.map(str::to_string),
                platform: platform.to_string(),
            })
            .await;
    }

    /// Terraform's output, as it comes.
    pub async fn output(&self, bytes: Vec<u8>) {
        let _ = self.tx.send(Message::Output(bytes)).await;
    }

    /// One line of the runner's own.
    pub async fn note(&self, line: impl Into<String>) {
        let _ = self.tx.send(Message::Note(line.into())).await;
    }

    /// Sends what is left; returns once the server has it (or it cannot be sent).
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

struct Uploader {
    client: JobClient,
    json: bool,
    stop: watch::Sender<Stop>,
    /// Not yet acknowledged; `offset` bytes were before it.
    buf: Vec<u8>,
    offset: u64,
    /// The server will take no more (the job is gone or refuses the log).
    dead: bool,
    dropped: u64,
    next_flush: Option<Instant>,
    next_poll: Instant,
    terraform_started: bool,
    third_line_pending: bool,
    at_line_start: bool,
}

/// One log request in flight: how many bytes of the buffer it carries, and its answer.
type Upload = Pin<Box<dyn Future<Output = (usize, ClientResult<LogAck>)> + Send>>;

async fn next(upload: &mut Option<Upload>) -> (usize, ClientResult<LogAck>) {
    match upload {
        Some(upload) => upload.await,
        None => std::future::pending().await,
    }
}

impl Uploader {
    /// Receives while a request is in flight, so that a slow or unreachable server never
    /// blocks terraform's output (up to `MAX_BUFFER`).
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut open = true;
        let mut in_flight: Option<Upload> = None;
        let mut final_failures = 0;
        loop {
            if !open && in_flight.is_none() {
                // The last words: the client retries each call for a while; a few calls more.
                if self.dead || self.buf.is_empty() || final_failures >= 3 {
                    break;
                }
                in_flight = self.start_upload();
                if in_flight.is_none() {
                    break;
                }
            }
            let deadline = self.next_flush.unwrap_or(self.next_poll);
            tokio::select! {
                message = rx.recv(), if open => match message {
                    Some(message) => self.accept(message),
                    None => open = false,
                },
                (n, result) = next(&mut in_flight), if in_flight.is_some() => {
                    in_flight = None;
                    match result {
                        Ok(ack) => self.sent(n, ack),
                        Err(err) => {
                            self.failed(err).await;
                            if !open {
                                final_failures += 1;
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline), if open && in_flight.is_none() => {
                    in_flight = self.start_upload();
                }
            }
        }
        if !self.buf.is_empty() && !self.dead {
            tracing::warn!(
                bytes = self.buf.len(),
                "could not send the end of the job log"
            );
        }
    }

    /// The next chunk of the buffer (an empty one to poll when there is nothing), unless
    /// there is no one to send it to or nothing to learn.
    fn start_upload(&mut self) -> Option<Upload> {
        self.next_flush = None;
        self.next_poll = Instant::now() + IDLE_POLL;
        if self.dead || (self.buf.is_empty() && *self.stop.borrow() >= Stop::Force) {
            return None;
        }
        let n = self.buf.len().min(BATCH_BYTES);
        let chunk = Bytes::copy_from_slice(&self.buf[..n]);
        let (client, offset) = (self.client.clone(), self.offset);
        Some(Box::pin(async move {
            (n, client.append_log(offset, chunk).await)
        }))
    }

    fn sent(&mut self, n: usize, ack: LogAck) {
        self.offset += n as u64;
        self.buf.drain(..n);
        if ack.force_cancel {
            raise(&self.stop, Stop::Force);
        } else if ack.cancel {
            raise(&self.stop, Stop::Cancel);
        }
        if self.buf.is_empty() && self.dropped > 0 {
            let dropped = std::mem::take(&mut self.dropped);
            self.line(&format!(
                "[{dropped} bytes of log were dropped while the server was unreachable]"
            ));
        }
        // What came in meanwhile goes out after the usual delay, at once if it is a batch.
        if self.buf.len() >= BATCH_BYTES {
            self.next_flush = Some(Instant::now());
        } else if !self.buf.is_empty() {
            self.next_flush = Some(Instant::now() + BATCH_DELAY);
        }
    }

    fn accept(&mut self, message: Message) {
        match message {
            Message::Preamble {
                tool,
                version,
                platform,
            } => {
                match version {
                    Some(version) => self.line(&format!("{tool} v{version}")),
                    None => self.line(&tool),
                }
                self.line(&format!("on {platform}"));
                if self.json {
                    self.third_line_pending = true;
                } else {
                    self.line(THIRD_LINE);
                }
            }
            Message::Note(text) => {
                if self.third_line_pending && !self.terraform_started {
                    self.third_line_pending = false;
                    self.line(THIRD_LINE);
                }
                for line in text.lines() {
                    self.line(line);
                }
            }
            Message::Output(bytes) => {
                self.terraform_started = true;
                if let Some(last) = bytes.last() {
                    self.at_line_start = *last == b'\n';
                }
                self.push(&bytes);
            }
        }
    }

    fn line(&mut self, line: &str) {
        if !self.at_line_start {
            self.push(b"\n");
        }
        self.push(line.as_bytes());
        self.push(b"\n");
        self.at_line_start = true;
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.dead {
            return;
        }
        if self.buf.len() + bytes.len() > MAX_BUFFER {
            self.dropped += bytes.len() as u64;
            return;
        }
        if self.buf.is_empty() {
            self.next_flush = Some(Instant::now() + BATCH_DELAY);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= BATCH_BYTES {
            self.next_flush = Some(Instant::now());
        }
    }

    async fn failed(&mut self, err: ClientError) {
        match &err {
            ClientError::Unauthorized(_) => self.gone(),
            // A gap, or (more likely) the job is over: ask the job itself.
            ClientError::Status { status: 409, .. } => match self.client.spec().await {
                Err(ClientError::Unauthorized(_))
                | Err(ClientError::Status { status: 409, .. }) => self.gone(),
                _ => {
                    tracing::warn!(error = %err, "the server refuses the job log; no more is sent");
                    self.dead = true;
                    self.buf.clear();
                }
            },
            err if err.is_transient() => {
                // The client has retried for a while already; keep the log and try again.
                tracing::warn!(error = %err, "cannot send the job log; will retry");
                self.next_flush = Some(Instant::now() + Duration::from_secs(2));
            }
            _ => {
                tracing::warn!(error = %err, "the server refuses the job log; no more is sent");
                self.dead = true;
                self.buf.clear();
            }
        }
    }

    fn gone(&mut self) {
        tracing::info!("the job is gone from the server (canceled or deleted)");
        raise(&self.stop, Stop::Gone);
        self.dead = true;
        self.buf.clear();
    }
}
