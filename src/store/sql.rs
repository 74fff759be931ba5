//! The one way the store's queries reach a database, SQLite or PostgreSQL.
//!
//! Every command and list of the store is written once, against [`Conn`]:
//! SQL that both engines read the same way, arguments as [`Arg`]s and rows
//! read through [`Row`]. The two schemas agree column for column (times and
//! flags are 64-bit integers in both, hashes are blobs), so one text of SQL
//! serves both. The few places where the engines' SQL differs ask
//! [`Conn::is_postgres`].
//!
//! Queries are written with SQLite's `?1` and `?` marks; PostgreSQL gets the
//! same text with `$1` (see [`numbered`]). Both sides keep each statement
//! prepared once per connection.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{pin_mut, TryStreamExt};
use rusqlite::types::{ToSqlOutput, ValueRef};
use tokio_postgres::types::{IsNull, Type};

use super::{StoreError, StoreResult};
use crate::domain::{Id, Username};

/// A connection a store command or read runs on.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c PgConn),
}

/// One argument of a query, borrowed from what the caller holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// An argument the query owns (for SQL built at run time).
#[derive(Debug, Clone)]
pub(crate) enum OwnedArg {
    Int(i64),
    Text(String),
}

impl From<i64> for OwnedArg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<u32> for OwnedArg {
    fn from(v: u32) -> Self {
        Self::Int(i64::from(v))
    }
}
impl From<String> for OwnedArg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}
impl From<&str> for OwnedArg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_string())
    }
}
impl From<Id> for OwnedArg {
    fn from(v: Id) -> Self {
        Self::Text(v.as_str().to_string())
    }
}

impl OwnedArg {
    pub fn as_arg(&self) -> Arg<'_> {
        match self {
            Self::Int(v) => Arg::Int(*v),
            Self::Text(s) => Arg::Text(s),
        }
    }
}

/// What can be passed as an [`Arg`].
pub(crate) trait ToArg {
    fn arg(&self) -> Arg<'_>;
}

/// `args![a, b, …]`: the arguments of a query, in the order of `?1, ?2, …`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        [$($crate::store::sql::ToArg::arg(&$value)),*]
    };
}
pub(crate) use args;

impl ToArg for i64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(*self)
    }
}
impl ToArg for u32 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}
impl ToArg for u64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToArg for usize {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}
impl ToArg for u16 {
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}
impl ToArg for bool {
    /// Flags are 0 or 1 in both schemas.
    fn arg(&self) -> Arg<'_> {
        Arg::Int(i64::from(*self))
    }
}
impl ToArg for f64 {
    fn arg(&self) -> Arg<'_> {
        Arg::Real(*self)
    }
}
impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self)
    }
}
impl ToArg for [u8] {
    fn arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}
impl ToArg for Vec<u8> {
    fn arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}
impl<const N: usize> ToArg for [u8; N] {
    fn arg(&self) -> Arg<'_> {
        Arg::Blob(self)
    }
}
impl ToArg for Id {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self.as_str())
    }
}
impl ToArg for Username {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(self.as_str())
    }
}
impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
}
impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        self.as_ref().map_or(Arg::Null, ToArg::arg)
    }
}
impl ToArg for Arg<'_> {
    fn arg(&self) -> Arg<'_> {
        *self
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Null => ValueRef::Null,
            Arg::Int(v) => ValueRef::Integer(v),
            Arg::Real(v) => ValueRef::Real(v),
            Arg::Text(s) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// PostgreSQL types each parameter from where it stands in the query; an
/// argument is sent as that type, so one `Arg::Int` serves BIGINT columns
/// and LIMITs alike.
impl tokio_postgres::types::ToSql for Arg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                Type::BOOL => (v != 0).to_sql(ty, out),
                Type::FLOAT8 => (v as f64).to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            Arg::Real(v) => match *ty {
                Type::FLOAT4 => (v as f32).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// One column's value, as both engines hand it over.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Col<'r> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'r str),
    Blob(&'r [u8]),
}

/// A row of a result.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match self {
            Row::Sqlite(row) => row.as_ref().column_count(),
            Row::Postgres(row) => row.len(),
        }
    }

    /// Column `i` as text borrowed from the row (None for NULL).
    pub fn text(&self, i: usize) -> StoreResult<Option<&str>> {
        match self {
            Row::Sqlite(row) => {
                row.get_ref(i)?.as_str_or_null().map_err(|e| StoreError::Internal(format!("column {i}: {e}")))
            }
            Row::Postgres(row) => {
                row.try_get::<_, Option<&str>>(i).map_err(|e| StoreError::Internal(format!("column {i}: {e}")))
            }
        }
    }

    /// Column `i` (from 0) as `T`.
    pub fn get<T: FromCol>(&self, i: usize) -> StoreResult<T> {
        let col = match self {
            Row::Sqlite(row) => match row.get_ref(i)? {
                ValueRef::Null => Col::Null,
                ValueRef::Integer(v) => Col::Int(v),
                ValueRef::Real(v) => Col::Real(v),
                ValueRef::Text(t) => {
                    Col::Text(std::str::from_utf8(t).map_err(|e| StoreError::Internal(format!("column {i}: {e}")))?)
                }
                ValueRef::Blob(b) => Col::Blob(b),
            },
            Row::Postgres(row) => pg_col(row, i)?,
        };
        T::from_col(col).map_err(|why| StoreError::Internal(format!("column {i}: {why}")))
    }
}

fn pg_col(row: &tokio_postgres::Row, i: usize) -> StoreResult<Col<'_>> {
    let ty = row
        .columns()
        .get(i)
        .map(|c| c.type_().clone())
        .ok_or_else(|| StoreError::Internal(format!("no column {i}")))?;
    let bad = |e: tokio_postgres::Error| StoreError::Internal(format!("column {i}: {e}"));
    Ok(match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i).map_err(bad)?.map_or(Col::Null, Col::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).map_err(bad)?.map_or(Col::Null, |v| Col::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i).map_err(bad)?.map_or(Col::Null, |v| Col::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i).map_err(bad)?.map_or(Col::Null, |v| Col::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map_err(bad)?.map_or(Col::Null, Col::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i).map_err(bad)?.map_or(Col::Null, |v| Col::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<&[u8]>>(i).map_err(bad)?.map_or(Col::Null, Col::Blob),
        _ => row.try_get::<_, Option<&str>>(i).map_err(bad)?.map_or(Col::Null, Col::Text),
    })
}

/// A value as either engine gives it back: what [`super::Store::query_sql`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl FromCol for SqlValue {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        Ok(match col {
            Col::Null => Self::Null,
            Col::Int(v) => Self::Int(v),
            Col::Real(v) => Self::Real(v),
            Col::Text(t) => Self::Text(t.to_string()),
            Col::Blob(b) => Self::Blob(b.to_vec()),
        })
    }
}

/// What a column can be read as.
pub(crate) trait FromCol: Sized {
    fn from_col(col: Col<'_>) -> Result<Self, String>;
}

impl FromCol for i64 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Int(v) => Ok(v),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}
impl FromCol for u32 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        u32::try_from(i64::from_col(col)?).map_err(|e| e.to_string())
    }
}
impl FromCol for u64 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        u64::try_from(i64::from_col(col)?).map_err(|e| e.to_string())
    }
}
impl FromCol for u16 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        u16::try_from(i64::from_col(col)?).map_err(|e| e.to_string())
    }
}
impl FromCol for usize {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        usize::try_from(i64::from_col(col)?).map_err(|e| e.to_string())
    }
}
impl FromCol for bool {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        Ok(i64::from_col(col)? != 0)
    }
}
impl FromCol for f64 {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Real(v) => Ok(v),
            Col::Int(v) => Ok(v as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}
impl FromCol for String {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Text(t) => Ok(t.to_string()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}
impl FromCol for Vec<u8> {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Blob(b) => Ok(b.to_vec()),
            Col::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(format!("expected bytes, found {other:?}")),
        }
    }
}
/// Ids and usernames are read back through the same check they passed on
/// the way in: a row edited by hand into a blank id is an error, not a
/// record that breaks a rule.
impl FromCol for Id {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        Id::parse(String::from_col(col)?).map_err(|why| format!("stored id {why}"))
    }
}
impl FromCol for Username {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        Username::parse(String::from_col(col)?).map_err(|why| format!("stored username {why}"))
    }
}
impl<T: FromCol> FromCol for Option<T> {
    fn from_col(col: Col<'_>) -> Result<Self, String> {
        match col {
            Col::Null => Ok(None),
            other => T::from_col(other).map(Some),
        }
    }
}

impl<'c> Conn<'c> {
    pub fn is_postgres(self) -> bool {
        matches!(self, Conn::Postgres(_))
    }

    /// Runs a statement; the number of rows it changed.
    pub fn execute(self, sql: &str, args: &[Arg]) -> StoreResult<usize> {
        match self {
            Conn::Sqlite(conn) => Ok(conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args))?),
            Conn::Postgres(pg) => pg.execute(sql, args).map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// Statements without arguments, separated by `;`, not cached.
    pub fn batch(self, sql: &str) -> StoreResult<()> {
        match self {
            Conn::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Conn::Postgres(pg) => pg.batch(sql),
        }
    }

    /// The first row, if any, through `map`.
    pub fn query_opt<T>(
        self,
        sql: &str,
        args: &[Arg],
        map: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut map = Some(map);
        let mut out = None;
        self.each_until(sql, args, &mut |row| {
            if let Some(map) = map.take() {
                out = Some(map(row)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row through `map`; a query that finds none is an error.
    pub fn query_row<T>(self, sql: &str, args: &[Arg], map: impl FnOnce(&Row) -> StoreResult<T>) -> StoreResult<T> {
        self.query_opt(sql, args, map)?.ok_or_else(|| StoreError::Internal(format!("no row from: {sql}")))
    }

    /// Every row through `map`.
    pub fn query_vec<T>(
        self,
        sql: &str,
        args: &[Arg],
        mut map: impl FnMut(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut out = Vec::new();
        self.for_each(sql, args, |row| {
            out.push(map(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams every row to `f`, without collecting them.
    pub fn for_each(self, sql: &str, args: &[Arg], mut f: impl FnMut(&Row) -> StoreResult<()>) -> StoreResult<()> {
        self.each_until(sql, args, &mut |row| f(row).map(|()| true))
    }

    /// Runs `f` in one read transaction, so that the queries it makes see
    /// one state of the database; rolled back if it fails, so the
    /// connection goes back to its pool between transactions.
    pub fn snapshot<T>(self, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
        self.batch(match self {
            Conn::Sqlite(_) => "BEGIN",
            Conn::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        })?;
        match f() {
            Ok(value) => {
                self.batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Streams rows to `f` while it answers true.
    pub fn each_until(self, sql: &str, args: &[Arg], f: &mut dyn FnMut(&Row) -> StoreResult<bool>) -> StoreResult<()> {
        match self {
            Conn::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
                while let Some(row) = rows.next()? {
                    if !f(&Row::Sqlite(row))? {
                        break;
                    }
                }
                Ok(())
            }
            Conn::Postgres(pg) => pg.each_until(sql, args, f),
        }
    }
}

/// `?1`-style and bare `?` marks as PostgreSQL's `$1`, numbered the way
/// SQLite numbers them (a bare `?` is one more than the largest so far).
/// Quoted text is copied as it is.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut largest = 0u32;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                let n = match digits.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => largest + 1,
                };
                largest = largest.max(n);
                out.push('$');
                out.push_str(&n.to_string());
            }
            other => out.push(other),
        }
    }
    out
}

/// Where a connection's calls run.
#[derive(Clone)]
pub(crate) enum Runner {
    /// The store's shared runtime, whose worker threads drive the
    /// connections: for the read pool, used from any blocking thread.
    Shared(tokio::runtime::Handle),
    /// A runtime of one thread's own, which drives its connection inside
    /// each call: no switch to another thread and back per statement (they
    /// were 60 % of the writer's CPU time on PostgreSQL).
    Own(std::sync::Arc<tokio::runtime::Runtime>),
}

impl Runner {
    pub fn block_on<F: std::future::Future>(&self, work: F) -> F::Output {
        match self {
            Runner::Shared(handle) => handle.block_on(work),
            Runner::Own(runtime) => runtime.block_on(work),
        }
    }

    pub fn spawn<F>(&self, work: F)
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Runner::Shared(handle) => drop(handle.spawn(work)),
            Runner::Own(runtime) => drop(runtime.spawn(work)),
        }
    }
}

/// How long a PostgreSQL call may take when the caller set no deadline (a
/// read: a query and all its rows, such as a year of changes).
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A PostgreSQL connection used from a blocking thread: each call runs on
/// the runtime that drives the connection, within the deadline of the
/// request it serves, so a database that hangs costs a 503, never a thread
/// that waits forever. A connection whose call failed or timed out midway is
/// marked broken, and its owner replaces it.
pub(crate) struct PgConn {
    client: tokio_postgres::Client,
    runtime: Runner,
    statements: RefCell<HashMap<String, tokio_postgres::Statement>>,
    deadline: Cell<Option<Instant>>,
    broken: Cell<bool>,
}

impl PgConn {
    pub fn new(client: tokio_postgres::Client, runtime: Runner) -> Self {
        Self {
            client,
            runtime,
            statements: RefCell::new(HashMap::new()),
            deadline: Cell::new(None),
            broken: Cell::new(false),
        }
    }

    /// Calls from now on must finish by `deadline` (None: the default timeout each).
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.deadline.set(deadline);
    }

    /// Whether this connection can still be used.
    pub fn usable(&self) -> bool {
        !self.broken.get() && !self.client.is_closed()
    }

    /// Runs `call` on the runtime, within the deadline.
    fn call<T>(&self, call: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>) -> StoreResult<T> {
        let deadline = self.deadline.get().unwrap_or_else(|| Instant::now() + DEFAULT_CALL_TIMEOUT);
        // The timer is made inside the runtime: it needs the runtime's clock.
        let outcome = self.runtime.block_on(async { tokio::time::timeout_at(deadline.into(), call).await });
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                let err = pg_error(&e);
                if matches!(err, StoreError::Unavailable(_)) || self.client.is_closed() {
                    self.broken.set(true);
                }
                Err(err)
            }
            Err(_) => {
                // The answer may still come: this connection's state is unknown.
                self.broken.set(true);
                Err(StoreError::Unavailable("PostgreSQL did not answer in time".into()))
            }
        }
    }

    fn statement(&self, sql: &str) -> StoreResult<tokio_postgres::Statement> {
        if let Some(stmt) = self.statements.borrow().get(sql) {
            return Ok(stmt.clone());
        }
        let text = numbered(sql);
        let stmt = self.call(self.client.prepare(&text))?;
        self.statements.borrow_mut().insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    fn execute(&self, sql: &str, args: &[Arg]) -> StoreResult<u64> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        self.call(self.client.execute(&stmt, &params))
    }

    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        self.call(self.client.batch_execute(sql))
    }

    fn each_until(&self, sql: &str, args: &[Arg], f: &mut dyn FnMut(&Row) -> StoreResult<bool>) -> StoreResult<()> {
        let stmt = self.statement(sql)?;
        // The whole stream in one call: a call per row cost a timer and two
        // thread switches each (a year of changes on PostgreSQL took 1.4 s).
        // `f` is plain code that makes no call of its own, so it may run
        // inside the runtime's wait.
        let mut refused = None;
        self.call(async {
            let stream = self.client.query_raw(&stmt, args.iter()).await?;
            pin_mut!(stream);
            while let Some(row) = stream.try_next().await? {
                match f(&Row::Postgres(&row)) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        refused.map_or(Ok(()), Err)
    }
}

/// Errors of PostgreSQL: a database that cannot be reached, or that is
/// shutting down or out of room, is unavailable (503, retry); others are
/// the store's own faults.
pub(crate) fn pg_error(err: &tokio_postgres::Error) -> StoreError {
    let text = super::postgres::reason(err);
    match err.code().map(|c| c.code()) {
        // 40001 serialization failure, 40P01 deadlock: another replica won; retry.
        Some("40001" | "40P01" | "55P03") => StoreError::Busy(text),
        Some(code) if code.starts_with("08") || code.starts_with("53") || code.starts_with("57") || code == "25006" => {
            StoreError::Unavailable(text)
        }
        Some(_) => StoreError::Internal(text),
        None => StoreError::Unavailable(text),
    }
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn marks_are_numbered_the_way_sqlite_numbers_them() {
        assert_eq!(numbered("a = ?1 AND b = ?2 OR c = ?1"), "a = $1 AND b = $2 OR c = $1");
        assert_eq!(numbered("a IN (?, ?) AND b < ?"), "a IN ($1, $2) AND b < $3");
        assert_eq!(numbered("a = ?2 AND b = ?"), "a = $2 AND b = $3");
        assert_eq!(numbered("x = '?' AND y = ?1"), "x = '?' AND y = $1");
    }
}
