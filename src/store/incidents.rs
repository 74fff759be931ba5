//! Incident queries and the transactions that apply incident state changes.

use serde::Deserialize;
use utoipa::ToSchema;

use super::effects;
use super::query::{Page, Select, TimeRange};
use super::rows::{self, incident_from_row, INCIDENT_SELECT};
use super::sql::{args, Conn};
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::incident::{self, AttributionQuery, Correction, Link, LinkedDeployment, NewIncident, Relink};
use crate::domain::{Context, DeploymentLink, Id, Incident, Rejection, Transition, Write, MAX_ID_CHARS};
use crate::time::Timestamp;

/// `filter=` of `GET /incidents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentState {
    /// Not restored yet.
    InProgress,
    /// Not finished yet.
    Unfinished,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub state: Option<IncidentState>,
    pub project_ids: Vec<String>,
    pub team_ids: Vec<String>,
    pub environments: Vec<String>,
    /// On started_at.
    pub range: TimeRange,
    /// Ordered by started_at, then id.
    pub page: Page,
}

/// The incident commands: each loads what the domain needs, lets it decide
/// and writes the decision, inside the caller's transaction.
impl Tx<'_> {
    /// `POST /incidents`. Without an id the next free
    /// `incident_<project>_<n>` is used; without a deployment_id one may be inferred.
    pub fn open_incident(&self, cmd: NewIncident, ctx: &Context) -> StoreResult<Transition<Incident>> {
        let tx = self.conn;
        let (id, existing) = match &cmd.id {
            Some(id) => (id.clone(), rows::incident(tx, id)?),
            None => (next_free_id(tx, incident::project_of(&cmd)?)?, None),
        };
        let link = match &cmd.deployment_id {
            Some(deployment_id) => Some(Link::Explicit(linked(tx, deployment_id, None)?)),
            // Inference runs only when an incident is created.
            None if existing.is_none() => match incident::attribution(&cmd, ctx)? {
                Some(query) => infer(tx, &query)?.map(Link::Inferred),
                None => None,
            },
            None => None,
        };
        let t = incident::open(id, existing, cmd, link, ctx)?;
        save(tx, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /incidents/{id}/restored`.
    pub fn restore_incident(
        &self,
        id: &Id,
        date: Option<Timestamp>,
        ctx: &Context,
    ) -> StoreResult<Transition<Incident>> {
        let t = incident::restore(id, rows::incident(self.conn, id)?, date, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /incidents/{id}/finished`.
    pub fn finish_incident(
        &self,
        id: &Id,
        date: Option<Timestamp>,
        ctx: &Context,
    ) -> StoreResult<Transition<Incident>> {
        let t = incident::finish(id, rows::incident(self.conn, id)?, date, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `PATCH /incidents/{id}`.
    pub fn correct_incident(&self, id: &Id, cmd: Correction, ctx: &Context) -> StoreResult<Transition<Incident>> {
        let tx = self.conn;
        let existing = rows::incident(tx, id)?;
        let mut relink = Relink::default();
        if let (Some(wanted), Some(stored)) = (&cmd.deployment_id, &existing) {
            if let Some(old) = &stored.deployment_id {
                relink.old = Some(linked(tx, old, Some(id))?);
            }
            if let Some(new) = wanted {
                relink.new = Some(linked(tx, new, Some(id))?);
            }
        }
        let t = incident::correct(id, existing, cmd, relink, ctx)?;
        save(tx, &t, ctx.now)?;
        Ok(t)
    }

    /// `DELETE /incidents/{id}`.
    pub fn delete_incident(&self, id: &Id, ctx: &Context) -> StoreResult<Transition<Incident>> {
        let tx = self.conn;
        let existing = rows::incident(tx, id)?;
        let deployment = match existing.as_ref().and_then(|i| i.deployment_id.as_deref()) {
            Some(deployment_id) => Some(linked(tx, deployment_id, Some(id))?),
            None => None,
        };
        let t = incident::remove(id, existing, deployment, ctx)?;
        save(tx, &t, ctx.now)?;
        Ok(t)
    }
}

impl Store {
    pub async fn incident(&self, id: Id) -> StoreResult<Option<Incident>> {
        self.read(move |conn| rows::incident(conn, &id)).await
    }

    pub async fn incidents(&self, filter: IncidentFilter) -> StoreResult<Vec<Incident>> {
        self.read(move |conn| list(conn, &filter)).await
    }
}

/// The deployment an incident links to, with the number of other incidents
/// (besides `excluding`) that link to it.
fn linked(conn: Conn, deployment_id: &str, excluding: Option<&str>) -> StoreResult<LinkedDeployment> {
    let d = rows::deployment(conn, deployment_id)?
        .ok_or_else(|| Rejection::invalid("deployment_id", format!("deployment `{deployment_id}` does not exist")))?;
    let other_links: u64 = conn.query_row(
        "SELECT count(*) FROM incidents WHERE deployment_id = ?1 AND id IS DISTINCT FROM ?2",
        &args![deployment_id, excluding],
        |r| r.get(0),
    )?;
    Ok(LinkedDeployment {
        id: d.id,
        project_id: d.project_id,
        team_id: d.team_id,
        environment: d.environment,
        deployed_at: d.deployed_at,
        marks: d.marks,
        other_links,
    })
}

/// The latest deployment the attribution rule finds, if any.
fn infer(conn: Conn, q: &AttributionQuery) -> StoreResult<Option<LinkedDeployment>> {
    let mut select = Select::new("SELECT id FROM deployments WHERE project_id = ?");
    select
        .bind(q.project_id.clone())
        .condition("deployed_at IS NOT NULL")
        .condition("deployed_at >= ?")
        .bind(q.earliest.millis())
        .condition("deployed_at <= ?")
        .bind(q.latest.millis())
        .any_of("environment", &q.environments);
    let latest = select.tail(" ORDER BY deployed_at DESC, id DESC LIMIT 1").collect(conn, |r| r.get::<String>(0))?;
    latest.first().map(|id| linked(conn, id, None)).transpose()
}

/// `incident_<project>_<n>` with n one more than the project's incident count,
/// stepping past ids that callers already took.
fn next_free_id(conn: Conn, project_id: &str) -> StoreResult<Id> {
    let count: i64 =
        conn.query_row("SELECT count(*) FROM incidents WHERE project_id = ?1", &args![project_id], |r| r.get(0))?;
    let exists = "SELECT 1 FROM incidents WHERE id = ?1";
    let mut n = count + 1;
    loop {
        // Within the id limit however long the project is: its name is cut
        // to fit (the existence check keeps the id unique).
        let suffix = format!("_{n}");
        let room = MAX_ID_CHARS - "incident_".len() - suffix.len();
        let project: String = project_id.chars().take(room).collect();
        let id = format!("incident_{project}{suffix}");
        if conn.query_opt(exists, &args![id], |_| Ok(()))?.is_none() {
            return Id::parse(id).map_err(|why| StoreError::Internal(format!("a numbered incident id {why}")));
        }
        n += 1;
    }
}

fn save(conn: Conn, t: &Transition<Incident>, now: Timestamp) -> StoreResult<()> {
    let i = &t.value;
    match t.write {
        Write::Keep => {}
        Write::Insert => {
            conn.execute(
                "INSERT INTO incidents (id, project_id, team_id, environment, deployment_id, deployment_link, title, \
                 started_at, restored_at, finished_at, created_at, updated_at, created_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
                &args![
                    i.id,
                    i.project_id,
                    i.team_id,
                    i.environment,
                    i.deployment_id,
                    i.deployment_link.map(DeploymentLink::as_str),
                    i.title,
                    i.started_at.millis(),
                    i.restored_at.map(Timestamp::millis),
                    i.finished_at.map(Timestamp::millis),
                    now.millis(),
                    i.created_by,
                ],
            )?;
        }
        Write::Update => {
            conn.execute(
                "UPDATE incidents SET deployment_id = ?2, deployment_link = ?3, title = ?4, started_at = ?5, \
                 restored_at = ?6, finished_at = ?7, updated_at = ?8 WHERE id = ?1",
                &args![
                    i.id,
                    i.deployment_id,
                    i.deployment_link.map(DeploymentLink::as_str),
                    i.title,
                    i.started_at.millis(),
                    i.restored_at.map(Timestamp::millis),
                    i.finished_at.map(Timestamp::millis),
                    now.millis(),
                ],
            )?;
        }
        Write::Delete => {
            conn.execute("DELETE FROM incidents WHERE id = ?1", &args![&i.id])?;
        }
    }
    effects::apply(conn, &t.effects, now)
}

fn list(conn: Conn, f: &IncidentFilter) -> StoreResult<Vec<Incident>> {
    let mut select = Select::new(format!("{INCIDENT_SELECT} WHERE 1 = 1"));
    match f.state {
        Some(IncidentState::InProgress) => select.condition("i.restored_at IS NULL"),
        Some(IncidentState::Unfinished) => select.condition("i.finished_at IS NULL"),
        None => &mut select,
    }
    .any_of("i.project_id", &f.project_ids)
    .any_of("i.team_id", &f.team_ids)
    .any_of("i.environment", &f.environments)
    .range("i.started_at", f.range)
    .page(&["i.started_at", "i.id"], f.page)
    .collect(conn, incident_from_row)
}
