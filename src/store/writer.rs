//! The one writer: a thread that owns the write connection, behind a
//! bounded queue, committing queued commands in groups.
//!
//! SQLite takes one writer at a time, and a commit costs about as much as the
//! work before it. On PostgreSQL the writer of each replica takes a lock
//! shared by all replicas for each group (see `postgres::session`), so
//! there too one group writes at a time. So the writer drains whatever is queued (up to
//! [`MAX_GROUP`]) into one transaction, each command in its own SAVEPOINT: a
//! command that fails rolls back only its own savepoint, the others commit
//! together. Every caller is answered only after the COMMIT that holds its
//! command, and its after-commit work (recording events) runs on the writer
//! thread then, so a caller that went away cannot skip it.
//!
//! Each command has a deadline (EM_METRICS_WRITE_TIMEOUT, queueing
//! included). A caller whose deadline passes while its command is still
//! queued cancels it and answers 503: a cancelled command never runs, so a
//! 503 never hides a write that happened. Waiting callers only await a
//! channel and hold no thread, so reads and /ready go on meanwhile.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::sql::Conn;
use super::{StoreError, StoreResult};

/// The writer's connection, with what a group's transaction needs of it.
pub(super) trait Session: Send + 'static {
    /// Begins the group's transaction, which must not wait past `deadline`;
    /// once it returns, no other writer writes until `commit` or `rollback`.
    fn begin(&mut self, deadline: Instant) -> StoreResult<()>;
    fn conn(&self) -> Conn<'_>;
    /// Runs a statement of transaction control (SAVEPOINT, RELEASE …).
    fn control(&self, sql: &str) -> StoreResult<()>;
    /// After a group committed.
    fn committed(&mut self) {}
}

/// Most commands committed in one transaction.
pub const MAX_GROUP: usize = 256;
/// Commands that may wait in the queue; more wait to enqueue, within their deadline.
pub const QUEUE_CAPACITY: usize = 4096;

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// What the writer does with a queued command.
trait Command: Send {
    /// Runs it on `conn`; true when it succeeded (its savepoint is kept).
    fn run(&mut self, conn: Conn) -> bool;
    /// Answers the caller once the group's COMMIT is known.
    fn finish(self: Box<Self>, committed: StoreResult<()>);
}

struct Pending<T, F, A> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    after_commit: Option<A>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F, A> Command for Pending<T, F, A>
where
    T: Send,
    F: FnOnce(Conn) -> StoreResult<T> + Send,
    A: FnOnce(&T) + Send,
{
    fn run(&mut self, conn: Conn) -> bool {
        let outcome = match self.work.take() {
            Some(work) => work(conn),
            None => Err(StoreError::Internal("a command ran twice".into())),
        };
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn finish(mut self: Box<Self>, committed: StoreResult<()>) {
        let result = match (self.outcome.take(), committed) {
            (Some(Ok(value)), Ok(())) => {
                if let Some(after) = self.after_commit.take() {
                    after(&value);
                }
                Ok(value)
            }
            // Its own rejection says more than the group's outcome.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)) | None, Err(e)) => Err(e),
            (None, Ok(())) => Err(StoreError::Internal("the command's savepoint could not be opened".into())),
        };
        // The caller may have gone away; the work is done either way.
        let _ = self.reply.send(result);
    }
}

struct Job {
    deadline: Instant,
    state: Arc<AtomicU8>,
    command: Box<dyn Command>,
}

/// The writer's end: where commands are queued.
#[derive(Clone)]
pub struct Queue {
    sender: mpsc::Sender<Job>,
    timeout: Duration,
}

impl Queue {
    /// Starts the writer thread on `session`; it ends when the store is
    /// dropped (and with it what the session owns, such as the checkpoint thread).
    pub fn start(session: impl Session, timeout: Duration) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        std::thread::Builder::new().name("em-metrics-writer".into()).spawn(move || run(session, receiver))?;
        Ok(Self { sender, timeout })
    }

    /// Runs `work` in the next group's transaction and returns its result once
    /// that transaction committed; `after_commit` runs right after the commit.
    pub async fn execute<T, F, A>(&self, work: F, after_commit: A) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> StoreResult<T> + Send + 'static,
        A: FnOnce(&T) + Send + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        let state = Arc::new(AtomicU8::new(QUEUED));
        let (reply, mut answer) = oneshot::channel();
        let command = Pending { work: Some(work), outcome: None, after_commit: Some(after_commit), reply };
        let job = Job { deadline, state: state.clone(), command: Box::new(command) };
        let busy = || StoreError::Busy(format!("the database did not take the write within {:?}", self.timeout));
        let stopped = || StoreError::Internal("the writer has stopped".into());
        match tokio::time::timeout_at(deadline.into(), self.sender.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(stopped()),
            Err(_) => return Err(busy()),
        }
        match tokio::time::timeout_at(deadline.into(), &mut answer).await {
            Ok(result) => result.unwrap_or_else(|_| Err(stopped())),
            Err(_) if state.compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire).is_ok() => {
                Err(busy())
            }
            // It started just in time: its outcome is the answer.
            Err(_) => answer.await.unwrap_or_else(|_| Err(stopped())),
        }
    }
}

/// Until the store (and so the last sender) is dropped.
fn run(mut session: impl Session, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if commit_group(&mut session, group) {
            session.committed();
        }
    }
}

/// Runs and commits one group; true when a transaction committed.
fn commit_group(session: &mut impl Session, group: Vec<Job>) -> bool {
    let now = Instant::now();
    // Claim each job; one whose caller gave up (or whose deadline passed) never runs.
    let mut live: Vec<Box<dyn Command>> = Vec::with_capacity(group.len());
    let mut first_deadline = None::<Instant>;
    for job in group {
        let claimed = job.deadline > now
            && job.state.compare_exchange(QUEUED, STARTED, Ordering::AcqRel, Ordering::Acquire).is_ok();
        if claimed {
            first_deadline = Some(first_deadline.map_or(job.deadline, |d| d.min(job.deadline)));
            live.push(job.command);
        } else {
            // Answered, not dropped: its caller's own timer may not have
            // fired yet, and a closed channel would read as a crash.
            let _ = job.state.compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire);
            job.command.finish(Err(StoreError::Busy("the write waited longer than EM_METRICS_WRITE_TIMEOUT".into())));
        }
    }
    let Some(first_deadline) = first_deadline else { return false };
    // The lock may be held by another process: wait at most until the
    // earliest deadline of the group.
    if let Err(e) = session.begin(first_deadline) {
        for command in live {
            command.finish(Err(e.clone()));
        }
        return false;
    }
    for command in live.iter_mut() {
        let savepoint = session.control("SAVEPOINT command");
        let ok = savepoint.is_ok() && command.run(session.conn());
        if savepoint.is_ok() {
            // A failed command takes back only its own writes.
            if ok {
                let _ = session.control("RELEASE command");
            } else {
                let _ = session.control("ROLLBACK TO command");
                let _ = session.control("RELEASE command");
            }
        }
    }
    let committed = session.control("COMMIT");
    if committed.is_err() {
        let _ = session.control("ROLLBACK");
    }
    let ok = committed.is_ok();
    for command in live {
        command.finish(committed.clone());
    }
    ok
}
