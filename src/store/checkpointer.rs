//! Checkpoints the WAL on a thread of its own, so that writes rarely wait
//! for a disk flush.
//!
//! A checkpoint copies committed pages from the WAL back into the database
//! file, and with `synchronous=NORMAL` it flushes both files to disk
//! (fsync) to do so safely. Left to SQLite's automatic checkpoint, it runs
//! inside the COMMIT of whichever group crosses the threshold, and every
//! queued write waits for those flushes: under load that was about 55
//! checkpoints a second of about 3 ms each, 16 % of the writer's time
//! (bench/RESULTS.md, 2026-11-30).
//!
//! Here a thread with its own connection runs PASSIVE checkpoints after
//! commits, at most once per [`MIN_INTERVAL`]. A PASSIVE checkpoint takes no
//! lock the writer needs, so the writer goes on appending meanwhile. What it
//! cannot do under steady writes is restart the WAL: SQLite restarts it only
//! when a write begins with every frame already copied, and the writer keeps
//! adding frames. So the writer's own automatic checkpoint stays on, at
//! [`WRITER_CHECKPOINT_PAGES`]: by the time it fires, this thread has copied
//! and flushed nearly all of the WAL, the writer finishes the rest, and its
//! next transaction starts the WAL again from the beginning. The WAL stays
//! bounded whether or not this thread keeps up.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, StoreResult};

/// WAL pages at which the writer checkpoints itself (SQLite's default is
/// 1,000): 32 MB of WAL at the default 4 KiB page.
pub const WRITER_CHECKPOINT_PAGES: u32 = 8_000;
/// Shortest pause between two background checkpoints: each one flushes
/// twice, so running one per commit would spend the disk on flushes.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The writer's handle on the checkpoint thread, which ends when this is dropped.
pub struct Checkpointer {
    wake: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the database at `path`.
    pub fn start(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        // One pending wake-up is enough: the checkpoint it starts copies
        // every frame committed before it.
        let (wake, woken) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("em-metrics-checkpoint".into())
            .spawn(move || run(conn, woken))
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { wake })
    }

    /// Called after a commit; never blocks. An idle server sends none, so
    /// the thread sleeps until the next write.
    pub fn committed(&self) {
        let _ = self.wake.try_send(());
    }
}

fn run(conn: Connection, woken: Receiver<()>) {
    let mut failing = false;
    while woken.recv().is_ok() {
        match checkpoint(&conn) {
            Ok(()) if failing => {
                tracing::info!("background checkpoints work again");
                failing = false;
            }
            Ok(()) => {}
            // Said once, not at every commit: the writer's own checkpoints
            // still keep the WAL bounded, so nothing is lost meanwhile.
            Err(e) if !failing => {
                tracing::warn!(error = %e, "background checkpoint failed; the writer checkpoints by itself meanwhile");
                failing = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(MIN_INTERVAL);
    }
}

/// Copies what it can of the WAL into the database file, waiting for no one.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}
