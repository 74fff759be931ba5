//! `em-metrics copy --to postgres://…`: the SQLite store into an empty
//! PostgreSQL database, row for row, derived state included.
//!
//! The SQLite side is read in one read transaction, a consistent snapshot
//! even while a server writes the file; the PostgreSQL side is written in one
//! transaction with binary COPY, so a copy that fails leaves the target as
//! empty as it found it. Rows stream from one side to the other: memory stays
//! flat whatever the size of the database.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::pin_mut;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::{migrate, reason};

/// Every table of the store, parents before the rows that refer to them.
/// `schema_migrations` is each database's own and is not copied.
const TABLES: &[&str] = &[
    "deployments",
    "changes",
    "incidents",
    "idempotency_keys",
    "webhook_deliveries",
    "pushes",
    "shipped_pushes",
    "tokens",
    "sessions",
    "sign_ins",
    "audit",
    "pull_requests",
    "pull_request_reviews",
    "branch_pushes",
    "hash_keys",
];

/// What a copy moved.
#[derive(Debug)]
pub struct Copied {
    /// Rows per table, in [`TABLES`] order.
    pub tables: Vec<(&'static str, u64)>,
    pub elapsed: Duration,
}

/// Copies the SQLite store at `sqlite` into `target`, which must hold no
/// em-metrics rows (its schema is created or migrated first).
pub async fn copy_from_sqlite(sqlite: &Path, target: &mut Client) -> Result<Copied, String> {
    let started = Instant::now();
    let source = open_source(sqlite)?;
    migrate(target).await?;
    let failed = |what: String, e: tokio_postgres::Error| format!("{what}: {}", reason(&e));
    let tx = target.transaction().await.map_err(|e| failed("cannot begin".into(), e))?;
    for table in TABLES {
        let any = tx
            .query_opt(&format!("SELECT 1 FROM {table} LIMIT 1"), &[])
            .await
            .map_err(|e| failed(format!("cannot read {table}"), e))?;
        if any.is_some() {
            return Err(format!(
                "the target is not empty ({table} has rows): copy only into an empty database, so nothing there \
                 is mixed with or overwritten by this store"
            ));
        }
    }
    // A snapshot: every table as of one moment, whatever a server writes meanwhile.
    source.execute_batch("BEGIN").map_err(|e| format!("SQLITE_DB: {e}"))?;
    let mut tables = Vec::new();
    for table in TABLES {
        let columns = columns_of(&tx, table).await?;
        let rows = copy_table(&source, &tx, table, &columns).await?;
        tables.push((*table, rows));
    }
    // The next audit record numbers on from the copied ones.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('audit', 'seq'), coalesce(max(seq), 0) + 1, false) FROM audit",
        &[],
    )
    .await
    .map_err(|e| failed("cannot move the audit sequence on".into(), e))?;
    tx.commit().await.map_err(|e| failed("cannot commit the copy".into(), e))?;
    // Freshly loaded tables have no statistics and no visibility map: the
    // planner would read the whole changes table for /dora (118 ms for 30
    // days of the 1M-deployment store) instead of its covering index (73 ms).
    let vacuum = format!("VACUUM (ANALYZE) {}", TABLES.join(", "));
    target.batch_execute(&vacuum).await.map_err(|e| failed("cannot VACUUM after the copy".into(), e))?;
    Ok(Copied { tables, elapsed: started.elapsed() })
}

/// The SQLite store, read-only, at the schema this binary writes: a copy of
/// an older file would miss columns, of a newer one would drop them.
fn open_source(path: &Path) -> Result<Connection, String> {
    if !path.is_file() {
        return Err(format!("SQLITE_DB {}: no such file", path.display()));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("SQLITE_DB {}: {e}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let version: Option<i64> = conn
        .query_row("SELECT max(version) FROM schema_migrations", [], |r| r.get(0))
        .map_err(|e| format!("SQLITE_DB {}: not an em-metrics database ({e})", path.display()))?;
    let expected = crate::store::migrations::latest_version();
    if version != Some(expected) {
        return Err(format!(
            "SQLITE_DB {}: schema version {}, this em-metrics copies version {expected}: start this em-metrics on \
             it once (that migrates it), then copy",
            path.display(),
            version.unwrap_or(0)
        ));
    }
    let mut names = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    names.sort();
    let mut known: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
    known.sort();
    if names != known {
        return Err(format!("SQLITE_DB: its tables {names:?} are not the {known:?} this copy knows"));
    }
    Ok(conn)
}

/// The target's columns of `table`, in order, with their types.
async fn columns_of(tx: &tokio_postgres::Transaction<'_>, table: &str) -> Result<Vec<(String, Type)>, String> {
    let rows = tx
        .query(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .map_err(|e| format!("cannot read the columns of {table}: {}", reason(&e)))?;
    rows.iter()
        .map(|r| {
            let name: String = r.get(0);
            let ty = match r.get::<_, &str>(1) {
                "bigint" => Type::INT8,
                "text" => Type::TEXT,
                "bytea" => Type::BYTEA,
                other => return Err(format!("{table}.{name} is of type {other}, which copy does not know")),
            };
            Ok((name, ty))
        })
        .collect()
}

async fn copy_table(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[(String, Type)],
) -> Result<u64, String> {
    let names = columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx
        .copy_in(&format!("COPY {table} ({names}) FROM STDIN (FORMAT binary)"))
        .await
        .map_err(|e| format!("cannot start copying {table}: {}", reason(&e)))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    let mut select = source
        .prepare(&format!("SELECT {names} FROM {table}"))
        .map_err(|e| format!("SQLITE_DB: cannot read {table}: {e}"))?;
    let mut rows = select.query([]).map_err(|e| format!("SQLITE_DB: cannot read {table}: {e}"))?;
    let mut cells: Vec<Cell> = Vec::with_capacity(columns.len());
    while let Some(row) = rows.next().map_err(|e| format!("SQLITE_DB: cannot read {table}: {e}"))? {
        cells.clear();
        for (i, (name, ty)) in columns.iter().enumerate() {
            let value = row.get_ref(i).map_err(|e| format!("{table}.{name}: {e}"))?;
            cells.push(Cell::of(value, ty).map_err(|why| format!("{table}.{name}: {why}"))?);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await.map_err(|e| format!("cannot copy a row of {table}: {}", reason(&e)))?;
    }
    writer.finish().await.map_err(|e| format!("cannot finish copying {table}: {}", reason(&e)))
}

/// One SQLite value, as the target column's type takes it.
#[derive(Debug)]
enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Cell {
    fn of(value: ValueRef<'_>, ty: &Type) -> Result<Self, String> {
        Ok(match (value, ty) {
            (ValueRef::Null, t) if *t == Type::INT8 => Cell::Int(None),
            (ValueRef::Null, t) if *t == Type::TEXT => Cell::Text(None),
            (ValueRef::Null, _) => Cell::Bytes(None),
            (ValueRef::Integer(i), t) if *t == Type::INT8 => Cell::Int(Some(i)),
            (ValueRef::Text(s) | ValueRef::Blob(s), t) if *t == Type::TEXT => {
                Cell::Text(Some(String::from_utf8(s.to_vec()).map_err(|_| "text that is not UTF-8".to_string())?))
            }
            (ValueRef::Blob(b) | ValueRef::Text(b), t) if *t == Type::BYTEA => Cell::Bytes(Some(b.to_vec())),
            (other, t) => return Err(format!("a {:?} value where the target takes {t}", other.data_type())),
        })
    }
}

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Int(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Bytes(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT8 || *ty == Type::TEXT || *ty == Type::BYTEA
    }

    to_sql_checked!();
}
