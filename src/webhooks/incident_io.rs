//! incident.io: the public incident events (`public_incident.incident_created_v2`,
//! `…incident_updated_v2`, `…incident_status_updated_v2`), shaped as the
//! official `incident-io` package's `WebhookIncidentV2` model.

use serde::Deserialize;

use super::{id, settle, shape, shape_value, time, Action, IncidentChange, IncidentStep, Skip};
use crate::domain::incident::NewIncident;
use crate::teams::TeamConfig;

/// The project of incidents without the project custom field.
pub const DEFAULT_PROJECT: &str = "incident-io";
/// The incident timestamp that, when set, is when the incident started.
const IMPACT_STARTED: &str = "Impact started";

#[derive(Deserialize)]
struct Incident {
    id: String,
    name: Option<String>,
    mode: Option<String>,
    incident_status: Status,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    incident_timestamp_values: Vec<TimestampValue>,
    #[serde(default)]
    custom_field_entries: Vec<FieldEntry>,
}

#[derive(Deserialize)]
struct Status {
    category: String,
}

#[derive(Deserialize)]
struct TimestampValue {
    incident_timestamp: Named,
    value: Option<TimeValue>,
}

#[derive(Deserialize)]
struct TimeValue {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct FieldEntry {
    custom_field: Named,
    #[serde(default)]
    values: Vec<FieldValue>,
}

#[derive(Deserialize)]
struct FieldValue {
    value_text: Option<String>,
    value_option: Option<OptionValue>,
    value_catalog_entry: Option<Named>,
    value_link: Option<String>,
    value_numeric: Option<String>,
}

#[derive(Deserialize)]
struct OptionValue {
    value: String,
}

impl FieldValue {
    fn text(&self) -> Option<&str> {
        self.value_option
            .as_ref()
            .map(|o| o.value.as_str())
            .or_else(|| self.value_catalog_entry.as_ref().map(|c| c.name.as_str()))
            .or(self.value_text.as_deref())
            .or(self.value_link.as_deref())
            .or(self.value_numeric.as_deref())
            .filter(|t| !t.trim().is_empty())
    }
}

/// `project_field` is EM_METRICS_INCIDENT_IO_PROJECT_FIELD.
pub fn actions(body: &[u8], teams: &TeamConfig, project_field: &str) -> Action {
    settle(action(body, teams, project_field))
}

fn action(body: &[u8], teams: &TeamConfig, project_field: &str) -> Result<Action, Skip> {
    let json: serde_json::Value = shape(body, "incident.io")?;
    let event_type = json.get("event_type").and_then(|e| e.as_str()).unwrap_or_default();
    if !event_type.starts_with("public_incident.incident_") {
        return Ok(Action::ignore(format!("incident.io event `{event_type}` is not an incident change")));
    }
    let event = json.get(event_type).cloned().unwrap_or_default();
    // The status event wraps the incident with its previous and new status.
    let incident = event.get("incident").cloned().unwrap_or(event);
    let incident: Incident = shape_value(&incident, "incident.io incident")?;
    if let Some(mode @ ("test" | "tutorial")) = incident.mode.as_deref() {
        return Ok(Action::ignore(format!("a {mode} incident")));
    }
    let updated_at = time("updated_at", &incident.updated_at)?;
    let change = match incident.incident_status.category.as_str() {
        "live" | "paused" => IncidentChange::Open,
        "learning" => IncidentChange::Restore(updated_at),
        "closed" => IncidentChange::Finish(updated_at),
        "declined" | "canceled" | "merged" => IncidentChange::Delete,
        other => return Ok(Action::ignore(format!("an incident in status `{other}` is not an incident yet"))),
    };
    let impact_started = incident
        .incident_timestamp_values
        .iter()
        .find(|t| t.incident_timestamp.name.eq_ignore_ascii_case(IMPACT_STARTED))
        .and_then(|t| t.value.as_ref()?.value.as_deref());
    let started_at = match impact_started {
        Some(t) => time("Impact started", t)?,
        None => time("created_at", &incident.created_at)?,
    };
    let named = incident
        .custom_field_entries
        .iter()
        .find(|e| e.custom_field.name.eq_ignore_ascii_case(project_field))
        .and_then(|e| e.values.iter().find_map(FieldValue::text));
    let project = named.map_or_else(|| DEFAULT_PROJECT.to_string(), |name| teams.project_for(&[name], name));
    let mut new = NewIncident {
        id: Some(id("id", format!("incident-io-{}", incident.id))?),
        project_id: Some(id(project_field, project)?),
        title: super::title(incident.name),
        started_at: Some(started_at),
        ..NewIncident::default()
    };
    match change {
        IncidentChange::Restore(at) => new.restored_at = Some(at),
        IncidentChange::Finish(at) => new.finished_at = Some(at),
        IncidentChange::Open | IncidentChange::Delete => {}
    }
    Ok(Action::Incident(IncidentStep { new, change }))
}
