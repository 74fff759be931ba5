//! PagerDuty webhooks v3: `incident.triggered` and `incident.resolved`.

use serde::Deserialize;

use super::{id, settle, shape, shape_value, time, Action, IncidentChange, IncidentStep, Skip};
use crate::domain::incident::NewIncident;
use crate::teams::TeamConfig;

/// The project of incidents whose service has no name.
pub const DEFAULT_PROJECT: &str = "pagerduty";

#[derive(Deserialize)]
struct Delivery {
    event: Event,
}

#[derive(Deserialize)]
struct Event {
    event_type: String,
    occurred_at: Option<String>,
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Incident {
    id: String,
    created_at: String,
    title: Option<String>,
    service: Option<Service>,
}

#[derive(Deserialize)]
struct Service {
    summary: Option<String>,
}

pub fn actions(body: &[u8], teams: &TeamConfig) -> Action {
    settle(action(body, teams))
}

fn action(body: &[u8], teams: &TeamConfig) -> Result<Action, Skip> {
    let delivery: Delivery = shape(body, "PagerDuty v3")?;
    let event = delivery.event;
    let resolved = match event.event_type.as_str() {
        "incident.triggered" => false,
        "incident.resolved" => true,
        other => return Ok(Action::ignore(format!("PagerDuty event `{other}` changes nothing"))),
    };
    let data = event.data.unwrap_or_default();
    let incident: Incident = shape_value(&data, "PagerDuty incident")?;
    let service = incident.service.and_then(|s| s.summary).filter(|s| !s.trim().is_empty());
    let project = match &service {
        Some(name) => teams.project_for(&[name], name),
        None => DEFAULT_PROJECT.to_string(),
    };
    let mut new = NewIncident {
        id: Some(id("event.data.id", format!("pagerduty-{}", incident.id))?),
        project_id: Some(id("event.data.service.summary", project)?),
        title: super::title(incident.title),
        started_at: Some(time("event.data.created_at", &incident.created_at)?),
        ..NewIncident::default()
    };
    let change = if resolved {
        let at = time("event.occurred_at", event.occurred_at.as_deref().unwrap_or_default())?;
        new.finished_at = Some(at);
        IncidentChange::Finish(at)
    } else {
        IncidentChange::Open
    };
    Ok(Action::Incident(IncidentStep { new, change }))
}
