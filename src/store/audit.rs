//! The audit log: every authorized write and admin action, and sign-ins.

use super::query::{Page, Select, TimeRange};
use super::sql::args;
use super::{Store, StoreResult};
use crate::time::Timestamp;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Timestamp,
    /// A token's name, `settings`, `sso:<email or subject>` or `webhook:<source>`.
    pub actor: String,
    pub method: String,
    /// The route template (`/deployments/{id}/deployed`), never the raw URI.
    pub route: String,
    /// The id the request was about, when there is one.
    pub target: Option<String>,
    pub status: u16,
}

/// `GET /audit` filters.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub range: TimeRange,
    pub actor: Option<String>,
    pub page: Page,
}

impl Store {
    /// Keeps a batch of records in one write.
    pub async fn record_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(move |tx| {
            let sql = "INSERT INTO audit (at, actor, method, route, target, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
            for r in &records {
                tx.conn.execute(sql, &args![r.at.millis(), r.actor, r.method, r.route, r.target, r.status])?;
            }
            Ok(())
        })
        .await
    }

    /// The records of `filter`, newest first.
    pub async fn audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.read(move |conn| {
            let mut select = Select::new("SELECT at, actor, method, route, target, status FROM audit WHERE 1 = 1");
            select.range("at", filter.range);
            if let Some(actor) = filter.actor {
                select.condition("actor = ?").bind(actor);
            }
            select.page(&["at", "seq"], filter.page).collect(conn, |r| {
                Ok(AuditRecord {
                    at: Timestamp::from_millis(r.get(0)?),
                    actor: r.get(1)?,
                    method: r.get(2)?,
                    route: r.get(3)?,
                    target: r.get(4)?,
                    status: r.get(5)?,
                })
            })
        })
        .await
    }
}
