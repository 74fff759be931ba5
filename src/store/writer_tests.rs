//! The writer's own guarantees, driven with raw SQL on a table of notes:
//! group commits with a savepoint per command, and checkpoints that keep
//! the WAL copied back and bounded.

use rusqlite::Connection;

use super::sql::args;
use super::{Store, StoreError};

/// A store whose database also has a table of test notes.
async fn store_with_notes(db: &std::path::Path) -> Store {
    let store = Store::open(db).expect("store");
    store
        .write(|c| {
            c.conn.batch("CREATE TABLE notes (n INTEGER PRIMARY KEY, body TEXT)")?;
            Ok(())
        })
        .await
        .expect("table");
    store
}

/// Commands queued together commit together, each in its own savepoint: one
/// that writes and then fails leaves nothing, the others all commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_command_in_a_group_commit_rolls_back_only_its_own_writes() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store_with_notes(&dir.path().join("em.db")).await;
    let tasks: Vec<_> = (0..200)
        .map(|n: i64| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .write(move |c| {
                        c.conn.execute("INSERT INTO notes (n) VALUES (?1)", &args![n])?;
                        if n % 3 == 0 {
                            return Err(StoreError::Internal("refused after writing".into()));
                        }
                        Ok(n)
                    })
                    .await
            })
        })
        .collect();
    let mut ok = Vec::new();
    for t in tasks {
        if let Ok(n) = t.await.expect("task") {
            ok.push(n);
        }
    }
    let stored: Vec<i64> = store
        .write(|c| c.conn.query_vec("SELECT n FROM notes ORDER BY n", &[], |r| r.get::<i64>(0)))
        .await
        .expect("read back");
    ok.sort_unstable();
    assert_eq!(stored, ok, "exactly the commands that succeeded");
    assert_eq!(ok.len(), 133, "200 minus the 67 multiples of 3");
}

/// Rows in the database file alone, read from a copy made without its WAL:
/// what a checkpoint has copied back so far.
fn rows_in_the_main_file(db: &std::path::Path, copy: &std::path::Path) -> Option<i64> {
    std::fs::copy(db, copy).ok()?;
    let conn = Connection::open(copy).ok()?;
    let rows = conn.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)).ok();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
    rows
}

/// SQLite on its own checkpoints only once the WAL holds 1,000 pages, inside
/// the COMMIT of a write. Here a thread of the store's copies commits back
/// into the database file soon after them, without a write waiting on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_copied_into_the_database_file_in_the_background() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let store = store_with_notes(&db).await;
    for n in 0..300_i64 {
        store
            .write(move |c| {
                c.conn.execute("INSERT INTO notes (n, body) VALUES (?1, 'a note')", &args![n])?;
                Ok(())
            })
            .await
            .expect("insert");
    }
    let wal_pages = std::fs::metadata(dir.path().join("em.db-wal")).expect("wal").len() / 4096;
    assert!(wal_pages < 1000, "few enough pages that SQLite alone would not have checkpointed: {wal_pages}");

    let copy = dir.path().join("copy.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        seen = rows_in_the_main_file(&db, &copy);
        if seen == Some(300) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the database file alone still holds {seen:?} of 300 rows after 10 s");
}

/// The background checkpoints cannot restart the WAL while writes keep
/// coming, so the writer's own checkpoint must: under 8 writers that never
/// pause, the WAL stays within a few times its 8,000-page (32 MB) threshold.
/// (It goes past the threshold while a slow background checkpoint holds the
/// checkpoint lock: 34 to 63 MB in runs here. Without the writer's own
/// checkpoint it grew to 485 MB in the same 4 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_writes_that_never_pause() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let store = store_with_notes(&db).await;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let writers: Vec<_> = (0..8_i64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = w;
                while std::time::Instant::now() < until {
                    // A random-looking key touches pages all over the table,
                    // as real ids do: many WAL frames per commit.
                    let key = n.wrapping_mul(2_654_435_761) % 1_000_000_007;
                    store
                        .write(move |c| {
                            c.conn.execute(
                                "INSERT OR REPLACE INTO notes (n, body) VALUES (?1, hex(randomblob(200)))",
                                &args![key],
                            )?;
                            Ok(())
                        })
                        .await
                        .expect("insert");
                    n += 8;
                }
                n / 8
            })
        })
        .collect();
    let mut writes = 0;
    for w in writers {
        writes += w.await.expect("writer");
    }
    let wal = std::fs::metadata(dir.path().join("em.db-wal")).expect("wal").len();
    println!("{writes} writes in 4 s; WAL file {:.1} MB", wal as f64 / 1e6);
    assert!(wal < 128_000_000, "the WAL grew to {wal} bytes");
}

/// Every fixed statement of the store stays in a connection's statement
/// cache, with as much room again for the list and insight queries'
/// variants: a cache smaller than what one write runs re-parses SQL on every
/// write (see `STATEMENT_CACHE`).
#[test]
fn the_statement_cache_holds_every_statement_of_the_store_twice_over() {
    fn count(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .expect("src/store")
            .map(|entry| entry.expect("entry").path())
            .map(|path| match path.is_dir() {
                true => count(&path),
                false if path.extension().is_some_and(|e| e == "rs") => {
                    // A statement's text starts a string literal.
                    let source = std::fs::read_to_string(&path).expect("source");
                    ["\"SELECT ", "\"INSERT ", "\"UPDATE ", "\"DELETE ", "\"WITH "]
                        .iter()
                        .map(|start| source.matches(start).count())
                        .sum()
                }
                false => 0,
            })
            .sum()
    }
    let statements = count(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store"));
    assert!(statements > 50, "the count found the store's statements: {statements}");
    assert!(
        statements * 2 <= super::STATEMENT_CACHE,
        "{statements} cached statements need a STATEMENT_CACHE of at least {}",
        statements * 2
    );
}
