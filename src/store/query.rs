//! Building the SQL of filtered lists and windows: one place for `IN (…)`
//! filters, time ranges and pages, so every list reads the same way.

use serde::Deserialize;
use utoipa::ToSchema;

use super::sql::{Arg, Conn, OwnedArg, Row};
use super::StoreResult;
use crate::time::Timestamp;

/// `order=` of the list routes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first (the default).
    #[default]
    Asc,
    /// Newest first: `order=desc&limit=1` is the latest.
    Desc,
}

impl Order {
    fn sql(self) -> &'static str {
        match self {
            Self::Asc => "ASC",
            Self::Desc => "DESC",
        }
    }
}

/// Which page of a list, in which order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page {
    pub limit: u32,
    pub offset: u64,
    pub order: Order,
}

/// `[from, to)` on a list's time column; either end may be open.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// A SELECT with its bound arguments, grown one condition at a time.
pub(super) struct Select {
    sql: String,
    args: Vec<OwnedArg>,
}

impl Select {
    /// `base` must end in a WHERE clause that conditions can be ANDed to.
    pub fn new(base: impl Into<String>) -> Self {
        Self { sql: base.into(), args: Vec::new() }
    }

    pub fn condition(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(" AND ");
        self.sql.push_str(sql);
        self
    }

    pub fn bind(&mut self, value: impl Into<OwnedArg>) -> &mut Self {
        self.args.push(value.into());
        self
    }

    /// `AND column IN (?, …)` for a non-empty list of accepted values.
    pub fn any_of(&mut self, column: &str, values: &[String]) -> &mut Self {
        if !values.is_empty() {
            let marks = vec!["?"; values.len()].join(", ");
            self.sql.push_str(&format!(" AND {column} IN ({marks})"));
            self.args.extend(values.iter().map(|v| OwnedArg::Text(v.clone())));
        }
        self
    }

    pub fn range(&mut self, column: &str, range: TimeRange) -> &mut Self {
        if let Some(from) = range.from {
            self.condition(&format!("{column} >= ?")).bind(from.millis());
        }
        if let Some(to) = range.to {
            self.condition(&format!("{column} < ?")).bind(to.millis());
        }
        self
    }

    /// Appends SQL that binds nothing (an ORDER BY, a LIMIT).
    pub fn tail(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// `ORDER BY` the columns (all in the page's direction), then the page.
    pub fn page(&mut self, order_by: &[&str], page: Page) -> &mut Self {
        let direction = page.order.sql();
        let columns: Vec<String> = order_by.iter().map(|c| format!("{c} {direction}")).collect();
        self.sql.push_str(&format!(" ORDER BY {} LIMIT ? OFFSET ?", columns.join(", ")));
        self.bind(page.limit).bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn args(&self) -> Vec<Arg<'_>> {
        self.args.iter().map(OwnedArg::as_arg).collect()
    }

    /// Runs the query and maps every row.
    pub fn collect<T>(&self, conn: Conn, map: impl FnMut(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
        conn.query_vec(&self.sql, &self.args(), map)
    }
}
