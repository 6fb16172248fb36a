//! The chunks of an upload as a blocking reader, so that the tarball check (synchronous, on a
//! blocking thread) reads the upload as the async side receives it, a few chunks at a time.

use std::io::Read;

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

/// Chunks in flight between the upload and the check.
const IN_FLIGHT: usize = 8;

/// A sender for the upload's chunks and the reader that receives them. The reader ends when
/// the sender is dropped; it must only be used off the async runtime (`spawn_blocking`).
pub(super) fn channel() -> (mpsc::Sender<Bytes>, ChunkReader) {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    (
        tx,
        ChunkReader {
            rx,
            current: Bytes::new(),
        },
    )
}

pub(super) struct ChunkReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_the_chunks_in_order_then_ends() {
        let (tx, mut reader) = channel();
        let read = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            reader.read_to_end(&mut all).map(|_| all)
        });
        for chunk in ["ab", "", "cde", "f"] {
            tx.send(Bytes::from(chunk)).await.unwrap();
        }
        drop(tx);
        assert_eq!(read.await.unwrap().unwrap(), b"abcdef");
    }
}
