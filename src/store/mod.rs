//! SQLite storage: connection handling, embedded migrations and queries.
//!
//! One writer thread owns the write connection and takes every write, in
//! group commits (`writer`): SQLite allows one writer at a time anyway, and
//! serialising in process means concurrent requests never see "database is
//! locked". Reads use a small pool of read-only connections, which WAL mode
//! lets run beside the writer, on tokio's blocking pool, so SQLite never
//! stalls the async runtime.
//!
//! A tour: [`Tx`] is what a command runs in; its commands live in
//! `deployments`, `incidents` and `webhooks`, each loading what a decision
//! needs and saving what it decided; `rows` reads records back; `effects`
//! applies the writes a decision implies to other records; `insights`
//! streams DORA windows; `query` builds filtered SQL; `catalog` lists what
//! the dashboard's filters offer; `idempotency` keeps Idempotency-Key
//! answers; `retention` deletes old events and usernames; `checkpointer`
//! copies the WAL back into the database off the writer's path;
//! `migrations` the schema; `backup` the `backup` subcommand;
//! `environments` renames an environment in every stored event.
//!
//! Nothing above this module knows it is SQLite: it sees [`Store`], [`Tx`]
//! and plain records.

mod audit;
mod backup;
mod catalog;
mod checkpointer;
mod deployments;
mod effects;
mod environments;
mod idempotency;
mod incidents;
mod insights;
pub mod migrations;
pub mod postgres;
mod pull_requests;
mod query;
mod retention;
mod rows;
mod sessions;
pub(crate) mod sql;
mod tokens;
mod webhooks;
mod writer;
#[cfg(test)]
mod writer_tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use self::checkpointer::Checkpointer;
use self::sql::Conn;
use self::writer::Queue;
use crate::domain::Transition;
use crate::events::EventSink;

pub use audit::{AuditFilter, AuditRecord};
pub use backup::{backup, Summary as BackupSummary};
pub use catalog::FilterValues;
pub use deployments::DeploymentFilter;
pub use environments::Renamed;
pub use idempotency::{Claim, KEY_LIFETIME_MS};
pub use incidents::{IncidentFilter, IncidentState};
pub use insights::{ChangeRow, DeployedRow, FailedRow, GroupBy, IncidentRow, WindowFilter, WindowSink};
pub use pull_requests::{CycleTimeRows, MergedRow, PullRequestFilter};
pub use query::{Order, Page, TimeRange};
pub use retention::{keep_for, Purged, BATCH_BUDGET, MIN_RETENTION};
pub use sessions::{PendingSignIn, SessionRecord};
pub use sql::SqlValue;
pub use tokens::LAST_USED_EVERY_MS;

use crate::domain::Rejection;

/// How long a connection waits for a lock held by another process (another
/// em-metrics on the same file, or an operator's sqlite3 shell).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection. rusqlite keeps 16 by default;
/// one webhook delivery that deploys runs more distinct statements than
/// that, and a cache that evicts what the next write needs again re-parses
/// SQL on every write: that halved the deployment_status rate (6,500 to
/// 3,000/s, 35 % of the writer's time in sqlite3_prepare) once pull requests
/// added theirs. The store has about 130 statement texts (counting those
/// written twice, once for each engine), plus the insight and list queries'
/// variants; a cached statement costs memory only once it was used.
pub(super) const STATEMENT_CACHE: usize = 320;
/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The command was refused by the domain rules (400, 404 or 409).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The database cannot take the request now: read-only file, full disk,
    /// locked by another process. Nothing was written; a retry may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The write did not get the database within EM_METRICS_WRITE_TIMEOUT
    /// (queued behind others, or locked by another process). It did not run.
    #[error("storage busy: {0}")]
    Busy(String),
    #[error("storage error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(
                ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::PermissionDenied
                | ErrorCode::OutOfMemory,
            ) => StoreError::Unavailable(err.to_string()),
            _ => StoreError::Internal(err.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Where the events of committed state changes go.
    events: Arc<dyn EventSink>,
}

/// One command's share of a write transaction (a savepoint of the writer's
/// group commit). The store's commands are its methods (`start_deployment`,
/// `open_incident`, `run_delivery`, …): what code above the store holds
/// instead of a database connection.
pub struct Tx<'c> {
    conn: Conn<'c>,
}

/// Records nothing: a store that was not given a sink.
struct NoEvents;

impl EventSink for NoEvents {
    fn record(&self, _: &[crate::domain::DomainEvent]) {}
}

struct Inner {
    /// The writer thread's queue: every write goes through it.
    writer: Queue,
    /// Where reads go.
    engine: Engine,
}

/// The database a store reads: its read connections, pooled.
enum Engine {
    Sqlite {
        path: PathBuf,
        /// The file the connections opened, to notice it being deleted or replaced.
        file: FileGuard,
        readers: Mutex<Vec<Connection>>,
    },
    Postgres(postgres::Readers),
}

/// The SQLite writer's connection: one file, one writer at a time.
struct SqliteWriter {
    conn: Connection,
    file: FileGuard,
    checkpointer: Checkpointer,
}

impl writer::Session for SqliteWriter {
    fn begin(&mut self, deadline: std::time::Instant) -> StoreResult<()> {
        // No write starts on a file that was deleted or replaced under us.
        self.file.check()?;
        let wait = deadline.saturating_duration_since(std::time::Instant::now()).max(Duration::from_millis(1));
        let begun = self.conn.busy_timeout(wait).and_then(|()| self.conn.execute_batch("BEGIN IMMEDIATE"));
        begun.map_err(|e| match StoreError::from(e) {
            // Another process holds the lock: a retry may succeed.
            StoreError::Unavailable(m) if m.contains("locked") || m.contains("busy") => StoreError::Busy(m),
            other => other,
        })
    }

    fn conn(&self) -> Conn<'_> {
        Conn::Sqlite(&self.conn)
    }

    fn control(&self, sql: &str) -> StoreResult<()> {
        // These run for every command: cached, they are parsed once.
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    fn committed(&mut self) {
        self.checkpointer.committed();
    }
}

/// The database file as it was opened.
#[derive(Debug, Clone)]
pub(crate) struct FileGuard {
    path: PathBuf,
    identity: FileIdentity,
}

/// Device and inode of the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    fn of(path: &Path) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(path)?;
            Ok(Self { device: meta.dev(), inode: meta.ino() })
        }
        #[cfg(not(unix))]
        {
            std::fs::metadata(path).map(|_| Self { device: 0, inode: 0 })
        }
    }
}

impl FileGuard {
    /// The open connections still write the file at `path`. A file deleted
    /// (or replaced) under a running server keeps working through the open
    /// descriptor, so writes would succeed into a file no one will read
    /// again: they must get 503 instead, and /ready must say so.
    pub(crate) fn check(&self) -> StoreResult<()> {
        match FileIdentity::of(&self.path) {
            Ok(now) if now == self.identity => Ok(()),
            Ok(_) => Err(StoreError::Unavailable(format!(
                "{} was replaced by another file while the server ran; restart em-metrics to use it",
                self.path.display()
            ))),
            Err(e) => Err(StoreError::Unavailable(format!(
                "{} is gone ({e}) while the server ran; restore it, or restart em-metrics",
                self.path.display()
            ))),
        }
    }
}

/// The default of EM_METRICS_WRITE_TIMEOUT.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// [`Store::open_with`] the default write timeout.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        Self::open_with(path, DEFAULT_WRITE_TIMEOUT)
    }

    /// Opens (creating the file and its folder if missing), migrates, and
    /// starts the writer; a write waits at most `write_timeout` in all.
    pub fn open_with(path: impl AsRef<Path>, write_timeout: Duration) -> StoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create folder {}: {e}", dir.display())))?;
        }
        let mut writer = Connection::open(&path).map_err(|e| match e.sqlite_error_code() {
            Some(ErrorCode::CannotOpen) => StoreError::Unavailable(format!(
                "cannot open it ({e}): is its folder read-only, or not a folder this process may write?"
            )),
            _ => e.into(),
        })?;
        // SQLite quietly opens a file it may not write read-only; the server
        // would then report ready and answer every write with 503.
        if writer.is_readonly(rusqlite::MAIN_DB)? {
            return Err(StoreError::Unavailable(
                "the file is read-only (permissions, or a read-only mount): em-metrics must be able to write it".into(),
            ));
        }
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode NORMAL never loses a committed transaction when the
        // process dies; only a power cut or kernel crash can lose the last ones.
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        // Deleted and overwritten content is zeroed in the pages, so an erased
        // username (or a purged event) leaves no bytes behind in the file.
        writer.pragma_update(None, "secure_delete", "ON")?;
        configure(&writer)?;
        // A thread of its own does most checkpoints (see `checkpointer`);
        // the writer's automatic ones only restart the WAL.
        writer.pragma_update(None, "wal_autocheckpoint", checkpointer::WRITER_CHECKPOINT_PAGES)?;
        migrations::apply(&mut writer)?;
        let identity = FileIdentity::of(&path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let file = FileGuard { path: path.clone(), identity };
        let checkpointer = Checkpointer::start(&path)?;
        let session = SqliteWriter { conn: writer, file: file.clone(), checkpointer };
        let writer = Queue::start(session, write_timeout)
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        let engine = Engine::Sqlite { path, file, readers: Mutex::new(Vec::new()) };
        Ok(Self { inner: Arc::new(Inner { writer, engine }), events: Arc::new(NoEvents) })
    }

    /// Connects to PostgreSQL at `url`, migrates it (under the migration
    /// lock, so replicas starting together migrate once) and starts the
    /// writer; a write waits at most `write_timeout` in all. The store's
    /// connections run on a small runtime of its own.
    pub fn open_postgres(url: &postgres::DatabaseUrl, write_timeout: Duration) -> StoreResult<Self> {
        let driver = postgres::Driver::start()?;
        driver.run(async {
            let mut client = postgres::connect(url).await.map_err(StoreError::Unavailable)?;
            postgres::migrate(&mut client).await.map_err(StoreError::Unavailable)
        })?;
        let writer = Queue::start(postgres::Writer::new(url)?, write_timeout)
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        let engine = Engine::Postgres(postgres::Readers::new(url, driver));
        Ok(Self { inner: Arc::new(Inner { writer, engine }), events: Arc::new(NoEvents) })
    }

    /// Runs `sql` as written, without arguments, in a write of its own: for
    /// tests that set rows up or age them by hand, on either engine.
    #[doc(hidden)]
    pub async fn run_sql(&self, sql: impl Into<String>) -> StoreResult<()> {
        let sql = sql.into();
        self.write(move |tx| tx.conn.batch(&sql)).await
    }

    /// The rows of `sql`, every column as the engine gave it back: for tests.
    #[doc(hidden)]
    pub async fn query_sql(&self, sql: impl Into<String>) -> StoreResult<Vec<Vec<sql::SqlValue>>> {
        let sql = sql.into();
        self.read(move |conn| conn.query_vec(&sql, &[], |row| (0..row.len()).map(|i| row.get(i)).collect())).await
    }

    /// The same store, recording the events of committed changes to `sink`.
    pub fn recording_to(self, sink: Arc<dyn EventSink>) -> Self {
        Self { events: sink, ..self }
    }

    /// The one way a state change is written: `step` (a command of [`Tx`]:
    /// load, let the domain decide, save) runs on the writer in its own
    /// savepoint of the next group commit; once that committed, its events
    /// are recorded, on the writer thread, so a client that went away
    /// cannot skip them.
    pub async fn apply<T, F>(&self, step: F) -> StoreResult<Transition<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Tx) -> StoreResult<Transition<T>> + Send + 'static,
    {
        let sink = self.events.clone();
        self.inner.writer.execute(move |conn| step(&Tx { conn }), move |t: &Transition<T>| sink.record(&t.events)).await
    }

    /// Runs `f` on the writer like [`Store::apply`]; an Err rolls back all it
    /// wrote. For writes that report no events (the demo's batches, keys).
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx) -> StoreResult<T> + Send + 'static,
    {
        self.inner.writer.execute(move |conn| f(&Tx { conn }), |_: &T| {}).await
    }

    /// Runs `f` on a read-only connection.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Conn) -> StoreResult<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || match &inner.engine {
            Engine::Sqlite { path, readers, .. } => {
                let pooled = lock(readers).pop();
                let conn = match pooled {
                    Some(conn) => conn,
                    None => open_reader(path)?,
                };
                let out = f(Conn::Sqlite(&conn));
                let mut idle = lock(readers);
                if idle.len() < MAX_IDLE_READERS {
                    idle.push(conn);
                }
                out
            }
            Engine::Postgres(readers) => readers.with(None, f),
        })
        .await
    }

    /// Copies the whole WAL into the database file and truncates the WAL to
    /// nothing (`wal_checkpoint(TRUNCATE)`): after an erasure, so the old
    /// pages are in no file. Waits for readers and the writer to be between
    /// transactions, up to the busy timeout.
    pub(crate) async fn truncate_wal(&self) -> StoreResult<()> {
        // PostgreSQL keeps no WAL of ours to truncate: see docs/postgres.md
        // on what erasure leaves in its files until VACUUM.
        let Engine::Sqlite { path, .. } = &self.inner.engine else { return Ok(()) };
        let path = path.clone();
        run_blocking(move || {
            let conn = Connection::open(&path)?;
            configure(&conn)?;
            // A checkpoint that meets another one running (the background
            // checkpointer's) gives up at once rather than wait: try again.
            let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
            loop {
                let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
                if busy == 0 {
                    return Ok(());
                }
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Busy("the WAL could not be truncated: the database stayed busy".into()));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .await
    }

    /// Whether the database answers a query, from the file it was opened
    /// on: the readiness probe.
    pub async fn ping(&self) -> StoreResult<()> {
        let probe = |conn: Conn| conn.query_row("SELECT count(*) FROM schema_migrations", &[], |_| Ok(()));
        match &self.inner.engine {
            Engine::Sqlite { file, .. } => {
                file.check()?;
                self.read(probe).await
            }
            Engine::Postgres(readers) => {
                let readers = readers.clone();
                run_blocking(move || readers.with(Some(postgres::PING_TIMEOUT), probe)).await
            }
        }
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn)?;
    Ok(conn)
}

/// A panic while holding a connection leaves no half-done transaction (it is
/// rolled back on drop), so a poisoned lock is safe to keep using.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run_blocking<T, F>(f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Internal(format!("storage task failed: {e}")))?
}
