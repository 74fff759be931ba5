//! The audit log's writer: who changed what, kept off the request's path.
//!
//! Requests hand their record to [`AuditLog::record`] and go on; one task
//! writes whatever has queued up in one transaction (a burst of writes
//! costs one audit write, not one each). [`AuditLog::flush`] waits until
//! everything handed over before it is stored: `GET /audit` calls it, so an
//! admin always sees their own last change.

use tokio::sync::{mpsc, oneshot};

use crate::store::{AuditRecord, Store};

/// Records queued at most; past it, requests wait for the writer.
const QUEUE: usize = 10_000;
/// Records written in one transaction at most.
const BATCH: usize = 1_000;

enum Message {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// The sending end, cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    queue: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("audit message")
    }
}

impl AuditLog {
    /// Starts the writer on the current tokio runtime. It stops once every
    /// `AuditLog` is dropped and the queue is written.
    pub fn start(store: Store) -> Self {
        let (queue, mut receive) = mpsc::channel::<Message>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::new();
            let mut waiting = Vec::new();
            while let Some(first) = receive.recv().await {
                let mut next = Some(first);
                while let Some(message) = next {
                    match message {
                        Message::Record(r) => batch.push(r),
                        Message::Flush(done) => waiting.push(done),
                    }
                    next = if batch.len() < BATCH { receive.try_recv().ok() } else { None };
                }
                if let Err(e) = store.record_audit(std::mem::take(&mut batch)).await {
                    // The request it records was answered already: say so loudly.
                    tracing::error!(error = %e, "audit records not stored");
                }
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Self { queue }
    }

    /// Queues `record` for the writer.
    pub async fn record(&self, record: AuditRecord) {
        if self.queue.send(Message::Record(record)).await.is_err() {
            tracing::error!("audit record lost: the audit writer stopped");
        }
    }

    /// Waits until every record queued before is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}
