//! Audit events written in groups. Every append waits until its event is stored; the events
//! that arrive while a write runs go together into the next one, as one statement. Under load
//! (many requests changing things at once) that is one statement for many events, where each
//! took its own before; alone, an event is written at once.

use std::sync::{Arc, OnceLock};

use terrace_storage::model::AuditEvent;
use terrace_storage::store::MAX_AUDIT_BATCH;
use terrace_storage::Store;
use tokio::sync::{mpsc, oneshot};

/// An event and who waits for it to be stored.
type Queued = (AuditEvent, oneshot::Sender<()>);

/// The queue in front of the task that writes the groups (started by the first append, so it
/// runs on the server's runtime; it ends when the services are dropped).
#[derive(Default)]
pub(crate) struct AuditWriter {
    queue: OnceLock<mpsc::UnboundedSender<Queued>>,
}

impl AuditWriter {
    /// Stores `event` with whatever else is waiting, and returns once it is written. A failed
    /// write is logged, not returned: recording never fails a request.
    pub async fn append(&self, store: &Arc<dyn Store>, event: AuditEvent) {
        let queue = self.queue.get_or_init(|| {
            let (queue, waiting) = mpsc::unbounded_channel();
            tokio::spawn(write_groups(store.clone(), waiting));
            queue
        });
        let (done, written) = oneshot::channel();
        if queue.send((event, done)).is_ok() {
            let _ = written.await;
        }
    }
}

async fn write_groups(store: Arc<dyn Store>, mut waiting: mpsc::UnboundedReceiver<Queued>) {
    let mut group = Vec::with_capacity(MAX_AUDIT_BATCH);
    while waiting.recv_many(&mut group, MAX_AUDIT_BATCH).await > 0 {
        let (events, done): (Vec<AuditEvent>, Vec<_>) = group.drain(..).unzip();
        write(&*store, &events).await;
        for done in done {
            let _ = done.send(());
        }
    }
}

/// Writes a group in one statement; should that fail, each event alone, so that one event
/// the database refuses does not take the others with it.
async fn write(store: &dyn Store, events: &[AuditEvent]) {
    match store.append_audit_events(events).await {
        Ok(()) => {}
        Err(err) if events.len() == 1 => not_recorded(&err, &events[0]),
        Err(_) => {
            for event in events {
                if let Err(err) = store.append_audit_events(std::slice::from_ref(event)).await {
                    not_recorded(&err, event);
                }
            }
        }
    }
}

fn not_recorded(err: &terrace_storage::StorageError, event: &AuditEvent) {
    tracing::error!(error = %err, action = event.action, "could not record an audit event");
}
