//! Which store the suite runs on. SQLite by default; PostgreSQL when
//! `EM_METRICS_TEST_DATABASE_URL` names a server to make databases on
//! (`scripts/test.sh` starts one of its own and runs the whole suite a
//! second time that way). On PostgreSQL every test gets a new database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The variable that turns the PostgreSQL pass on.
pub const VARIABLE: &str = "EM_METRICS_TEST_DATABASE_URL";

/// The server's URL (its `postgres` database) on the PostgreSQL pass.
pub fn postgres_server() -> Option<String> {
    std::env::var(VARIABLE).ok().filter(|url| !url.trim().is_empty())
}

pub fn on_postgres() -> bool {
    postgres_server().is_some()
}

/// A new, empty database on the pass's server: its URL. None on the SQLite pass.
pub fn fresh_database() -> Option<String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = postgres_server()?;
    let name = format!("em_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let create = format!("CREATE DATABASE {name}");
    // A thread of its own: callers may be inside a runtime already.
    let admin = server.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&admin, tokio_postgres::NoTls).await.expect("the test server accepts");
            tokio::spawn(connection);
            client.batch_execute(&create).await.expect("CREATE DATABASE");
        });
    })
    .join()
    .expect("database made");
    let (base, _) = server.rsplit_once('/').expect("a URL with a database");
    Some(format!("{base}/{name}"))
}

/// The database that stands for the SQLite file `db` on the PostgreSQL
/// pass: the same one each time, so a test that restarts a server (or runs
/// a subcommand) on "the same file" finds its data. None on the SQLite pass.
pub fn database_for(db: &Path) -> Option<String> {
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    postgres_server()?;
    let mut known = DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let known = known.get_or_insert_with(HashMap::new);
    if let Some(url) = known.get(db) {
        return Some(url.clone());
    }
    let url = fresh_database()?;
    known.insert(db.to_path_buf(), url.clone());
    Some(url)
}

/// Points `cmd` at the store of `db`: the file, or its database on the
/// PostgreSQL pass.
pub fn point_at(cmd: &mut Command, db: &Path) {
    match database_for(db) {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env("SQLITE_DB", db),
    };
}

/// A test about SQLite's own file (its WAL, backups, upgrades of old files,
/// a full disk) has no PostgreSQL form: on that pass it says so and returns
/// true, and the test returns.
pub fn sqlite_only() -> bool {
    if on_postgres() {
        eprintln!("skipped on the PostgreSQL pass: this test is about the SQLite file");
        return true;
    }
    false
}
