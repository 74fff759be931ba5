//! Alertmanager (`version` 4) and Grafana Alerting (`version` 1): every
//! alert of a group is an incident; `firing` opens it, `resolved` restores
//! and finishes it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{id, shape, shape_value, skip, time, Action, IncidentChange, IncidentStep, Skip};
use crate::domain::incident::NewIncident;
use crate::teams::TeamConfig;

/// The project of alerts without a `project_id`, `service` or `job` label.
pub const DEFAULT_PROJECT: &str = "alertmanager";

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    alerts: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: String,
    ends_at: Option<String>,
    fingerprint: Option<String>,
}

/// One action per alert, in the order the group lists them.
pub fn actions(body: &[u8], teams: &TeamConfig) -> Vec<Action> {
    let group: Group = match shape(body, "Alertmanager") {
        Ok(group) => group,
        Err(ignored) => return vec![ignored.into()],
    };
    if group.alerts.is_empty() {
        return vec![Action::ignore("the group lists no alerts")];
    }
    group.alerts.iter().map(|a| super::settle(alert(a, teams))).collect()
}

fn alert(json: &serde_json::Value, teams: &TeamConfig) -> Result<Action, Skip> {
    let alert: Alert = shape_value(json, "alert")?;
    let label = |names: &[&str]| names.iter().find_map(|n| alert.labels.get(*n)).filter(|v| !v.trim().is_empty());
    let started_at = time("startsAt", &alert.starts_at)?;
    let fingerprint =
        alert.fingerprint.as_deref().filter(|f| !f.is_empty()).ok_or_else(|| skip("the alert has no fingerprint"))?;
    let project = match label(&["project_id", "service", "job"]) {
        Some(name) => teams.project_for(&[name], name),
        None => DEFAULT_PROJECT.to_string(),
    };
    let title = alert.annotations.get("summary").or_else(|| alert.labels.get("alertname")).cloned();
    let mut new = NewIncident {
        id: Some(id("fingerprint", format!("alert-{fingerprint}-{}", started_at.millis().div_euclid(1000)))?),
        project_id: Some(id("labels.project_id", project)?),
        environment: label(&["environment", "env"]).map(|e| id("labels.environment", e)).transpose()?,
        title: super::title(title),
        started_at: Some(started_at),
        ..NewIncident::default()
    };
    let change = match alert.status.as_str() {
        "firing" => IncidentChange::Open,
        "resolved" => {
            let at = time("endsAt", alert.ends_at.as_deref().unwrap_or_default())?;
            new.finished_at = Some(at);
            IncidentChange::Finish(at)
        }
        other => return Ok(Action::ignore(format!("alert status `{other}` changes nothing"))),
    };
    Ok(Action::Incident(IncidentStep { new, change }))
}
