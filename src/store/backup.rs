//! `em-metrics backup FILE`: a consistent copy of the live database.
//!
//! The copy is made with `VACUUM INTO` inside one read transaction, so it is
//! the database as of one instant, even while a running server keeps
//! writing (WAL lets the read run beside the writer; nothing waits on it).
//! It goes to a temporary file beside FILE, is checked with
//! `PRAGMA integrity_check`, and only then renamed over FILE: a failed or
//! interrupted backup never leaves a half-written FILE, and an older backup
//! at FILE survives until the new one is known to be good.
//!
//! SQLite's online backup API (rusqlite's `backup` feature) was the other
//! choice; it restarts its copy whenever another process writes, so under a
//! steady write load it may never finish. `VACUUM INTO` cannot be starved.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// How long the backup waits for a lock (a writer checkpointing).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub bytes: u64,
    pub deployments: u64,
    pub incidents: u64,
    pub elapsed: Duration,
}

/// Copies `source` to `target`; Err is one line saying what went wrong.
pub fn backup(source: &Path, target: &Path) -> Result<Summary, String> {
    let started = Instant::now();
    if !source.is_file() {
        return Err(format!("SQLITE_DB {} does not exist: nothing to back up", source.display()));
    }
    if let Some(which) = one_of_the_database_files(source, target) {
        return Err(format!(
            "{} is {which}: renaming a copy over it would lose acknowledged writes; back up to another file",
            target.display()
        ));
    }
    let partial = partial_path(target);
    let _ = std::fs::remove_file(&partial);
    let result = copy(source, &partial).and_then(|()| check(&partial));
    let (deployments, incidents) = match result {
        Ok(counts) => counts,
        Err(why) => {
            let _ = std::fs::remove_file(&partial);
            return Err(why);
        }
    };
    std::fs::rename(&partial, target).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot move the copy to {}: {e}", target.display())
    })?;
    let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
    Ok(Summary { bytes, deployments, incidents, elapsed: started.elapsed() })
}

fn copy(source: &Path, partial: &Path) -> Result<(), String> {
    // Read-only: a backup never creates, migrates or changes the database.
    let conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("cannot open SQLITE_DB {}: {e}", source.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let is_ours: bool = conn
        .query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'schema_migrations'", [], |r| r.get(0))
        .map_err(|e| format!("SQLITE_DB {} is not a readable SQLite database: {e}", source.display()))?;
    if !is_ours {
        return Err(format!("SQLITE_DB {} is not an em-metrics database", source.display()));
    }
    let target = partial.to_str().ok_or_else(|| format!("{} is not a UTF-8 path", partial.display()))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    Ok(())
}

/// `PRAGMA integrity_check` of the copy, and what it holds.
fn check(copy: &Path) -> Result<(u64, u64), String> {
    let conn = Connection::open_with_flags(copy, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the copy {}: {e}", copy.display()))?;
    let verdict: String =
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| format!("integrity_check: {e}"))?;
    if verdict != "ok" {
        return Err(format!("the copy failed PRAGMA integrity_check: {verdict}"));
    }
    let count = |table: &str| -> Result<u64, String> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).map_err(|e| e.to_string())
    };
    Ok((count("deployments")?, count("incidents")?))
}

/// A name beside `target`, on the same file system, so the rename is atomic.
fn partial_path(target: &Path) -> PathBuf {
    let name = target.file_name().map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Which of SQLite's files of `database` `target` is (or resolves to,
/// through symbolic links and `..`): the database, its WAL, its shared
/// memory index or its rollback journal. Whether or not they exist yet.
fn one_of_the_database_files(database: &Path, target: &Path) -> Option<&'static str> {
    let database = resolved(database, 0)?;
    let target = resolved(target, 0)?;
    [("", "the database itself"), ("-wal", "its WAL"), ("-shm", "its shared-memory index"), ("-journal", "its journal")]
        .into_iter()
        .find(|(suffix, _)| {
            let mut name = database.clone().into_os_string();
            name.push(suffix);
            name == target.as_os_str()
        })
        .map(|(_, which)| which)
}

/// `path` with its folder resolved (links, `..`) and, when it exists, the
/// file too: a link named like anything still points at what it points at,
/// even a link to a file that does not exist yet (a WAL between runs).
fn resolved(path: &Path, links_followed: u32) -> Option<PathBuf> {
    if let Ok(whole) = std::fs::canonicalize(path) {
        return Some(whole);
    }
    if let Ok(to) = std::fs::read_link(path) {
        // As the kernel does, give up on a chain of links this long (a loop).
        if links_followed >= 40 {
            return None;
        }
        let to = if to.is_absolute() { to } else { path.parent()?.join(to) };
        return resolved(&to, links_followed + 1);
    }
    let folder = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(folder) => std::fs::canonicalize(folder).ok()?,
        None => std::env::current_dir().ok()?,
    };
    Some(folder.join(path.file_name()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_database_is_refused_without_creating_one() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("nope.db");
        let err = backup(&missing, &dir.path().join("b.db")).expect_err("no source");
        assert!(err.contains("does not exist"), "{err}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_target_that_is_the_database_or_one_of_its_files_is_refused_however_it_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("em.db");
        drop(crate::store::Store::open(&db).expect("database"));
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        let link = dir.path().join("link-to-wal");
        std::os::unix::fs::symlink(dir.path().join("em.db-wal"), &link).expect("link");
        for (target, which) in [
            (db.clone(), "the database itself"),
            (dir.path().join("em.db-wal"), "its WAL"),
            (dir.path().join("sub/../em.db-shm"), "its shared-memory index"),
            (dir.path().join("em.db-journal"), "its journal"),
            (link, "its WAL"),
        ] {
            let err = backup(&db, &target).expect_err("refused");
            assert!(err.contains(which), "{}: {err}", target.display());
            assert_eq!(err.lines().count(), 1);
        }
        assert!(backup(&db, &dir.path().join("em.db-backup")).is_ok(), "a name that merely starts the same is fine");
    }

    #[test]
    fn a_file_that_is_not_ours_is_refused_and_leaves_no_partial_copy() {
        let dir = tempfile::tempdir().expect("dir");
        let other = dir.path().join("other.db");
        Connection::open(&other).and_then(|c| c.execute_batch("CREATE TABLE t (x)")).expect("db");
        let err = backup(&other, &dir.path().join("b.db")).expect_err("not em-metrics");
        assert!(err.contains("not an em-metrics database"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(left.len(), 1, "only the source remains");
    }
}
