//! The store's PostgreSQL connections: the writer's session and the pool of
//! read connections, each opened again by itself after an outage.
//!
//! Replicas share the database, so a decision that reads and then writes
//! (is this commit a new change? is this delivery id new? is this key
//! free?) must not interleave with another replica's. Each writer takes one
//! transaction-level advisory lock, the same for every replica, for each
//! group of commands: as in SQLite, one group writes at a time, and every
//! decision sees everything committed before it. That is the simplest rule
//! that covers every read-then-write of the store at once, including the
//! ones added later; its price is that replicas add availability, not
//! write throughput (see bench/RESULTS.md). Reads take no lock and run in
//! parallel on every replica.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};

use super::super::sql::{Conn, PgConn, Runner};
use super::super::writer::Session;
use super::super::{lock, StoreError, StoreResult};
use super::{reason, DatabaseUrl};

/// How long /ready waits for PostgreSQL: a probe's own timeout is about 1 s.
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a read waits for a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;
/// The advisory lock every replica's writer holds while its group's
/// transaction runs ("em-write" in ASCII): other keys are someone else's.
const WRITE_LOCK: i64 = 0x656d_2d77_7269_7465;

/// The runtime that drives the store's PostgreSQL connections: the store's
/// own, so that it works the same whatever runtime (or none) its caller
/// runs on, and a caller's blocking thread can wait on it.
pub struct Driver {
    runtime: Option<Runtime>,
}

impl Driver {
    pub fn start() -> StoreResult<Arc<Self>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("em-metrics-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot start the PostgreSQL runtime: {e}")))?;
        Ok(Arc::new(Self { runtime: Some(runtime) }))
    }

    pub fn handle(&self) -> Handle {
        match &self.runtime {
            Some(runtime) => runtime.handle().clone(),
            None => unreachable!("the runtime is only taken on drop"),
        }
    }

    /// Runs `work` to completion from a thread of its own: callable from
    /// async code too, where blocking on a runtime is not allowed.
    pub fn run<T: Send>(&self, work: impl std::future::Future<Output = T> + Send) -> T {
        let handle = self.handle();
        std::thread::scope(|scope| match scope.spawn(move || handle.block_on(work)).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }
}

/// Dropped from async code too (a test's end): shutting down in the
/// background never blocks.
impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Opens a connection, driven on `runtime`, within `deadline`.
fn open(config: &tokio_postgres::Config, runtime: &Runner, deadline: Instant) -> StoreResult<PgConn> {
    // The timer is made inside the runtime: it needs the runtime's clock.
    let connecting =
        runtime.block_on(async { tokio::time::timeout_at(deadline.into(), super::tls::connect(config)).await });
    let (client, connection) = connecting
        .map_err(|_| StoreError::Unavailable("PostgreSQL did not accept a connection in time".into()))?
        .map_err(|why| StoreError::Unavailable(format!("PostgreSQL: {why}")))?;
    runtime.spawn(async move {
        if let Err(e) = connection.await {
            // The call that meets the closed connection reports it.
            tracing::debug!(error = %reason(&e), "PostgreSQL connection closed");
        }
    });
    Ok(PgConn::new(client, runtime.clone()))
}

/// The writer's connection, opened again before a group when it was lost.
pub struct Writer {
    config: tokio_postgres::Config,
    /// The writer thread's own runtime: the thread drives its connection itself.
    runtime: Runner,
    conn: Option<PgConn>,
}

impl Writer {
    pub fn new(url: &DatabaseUrl) -> StoreResult<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("cannot start the writer's runtime: {e}")))?;
        Ok(Self { config: url.config().clone(), runtime: Runner::Own(Arc::new(runtime)), conn: None })
    }
}

impl Session for Writer {
    fn begin(&mut self, deadline: Instant) -> StoreResult<()> {
        let conn = match self.conn.take() {
            Some(conn) if conn.usable() => conn,
            _ => open(&self.config, &self.runtime, deadline)?,
        };
        conn.set_deadline(Some(deadline));
        // Waits for another replica's group, within the deadline.
        let begun = conn.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"));
        if begun.is_err() && conn.usable() {
            let _ = conn.batch("ROLLBACK");
        }
        self.conn = Some(conn);
        begun
    }

    fn conn(&self) -> Conn<'_> {
        match &self.conn {
            Some(conn) => Conn::Postgres(conn),
            // The writer asks only after `begin` succeeded, which sets it.
            None => unreachable!("the PostgreSQL writer has no connection before begin"),
        }
    }

    fn control(&self, sql: &str) -> StoreResult<()> {
        match &self.conn {
            Some(conn) => conn.batch(sql),
            None => Err(StoreError::Unavailable("no connection to PostgreSQL".into())),
        }
    }
}

/// Idle read connections, shared by the store's clones.
#[derive(Clone)]
pub struct Readers {
    inner: Arc<ReadersInner>,
}

struct ReadersInner {
    config: tokio_postgres::Config,
    runtime: Runner,
    idle: Mutex<Vec<PgConn>>,
    /// Keeps the runtime alive while the connections are.
    _driver: Arc<Driver>,
}

impl Readers {
    pub fn new(url: &DatabaseUrl, driver: Arc<Driver>) -> Self {
        let runtime = Runner::Shared(driver.handle());
        let inner =
            ReadersInner { config: url.config().clone(), runtime, idle: Mutex::new(Vec::new()), _driver: driver };
        Self { inner: Arc::new(inner) }
    }

    /// Runs `f` on an idle connection (or a new one); each of its calls may
    /// take `timeout` (the default call timeout when None). A connection
    /// that failed is dropped, not pooled: the next read opens a new one.
    pub fn with<T>(&self, timeout: Option<Duration>, f: impl FnOnce(Conn) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = lock(&self.inner.idle).pop();
        let conn = match pooled {
            Some(conn) if conn.usable() => conn,
            _ => {
                let deadline = Instant::now() + timeout.unwrap_or(CONNECT_TIMEOUT);
                open(&self.inner.config, &self.inner.runtime, deadline)?
            }
        };
        conn.set_deadline(timeout.map(|t| Instant::now() + t));
        let out = f(Conn::Postgres(&conn));
        conn.set_deadline(None);
        let mut idle = lock(&self.inner.idle);
        if conn.usable() && idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }
}
