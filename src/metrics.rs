//! The DORA metric catalog: one place that turns domain events into instruments.
//!
//! Names, units and bucket boundaries are a contract: dashboards and users'
//! PromQL query `deployment_frequency_total`, `lead_time_for_changes_seconds_bucket`
//! and so on, which is what these become after the OTLP-to-Prometheus translation.
//! Attributes are bounded: project, environment and team, never ids or people.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

use crate::config::AttributeBounds;

use crate::domain::{Dims, DomainEvent, PullRequestDims};
use crate::events::EventSink;

/// The meter every instrument comes from.
pub const METER_NAME: &str = "em-metrics";

/// Hold the DORA band edges: 1 hour, 1 day, 1 week, 30 days, 180 days.
pub const LEAD_TIME_BUCKETS: [f64; 14] = [
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 604800.0, 1209600.0, 2592000.0,
    7776000.0, 15552000.0,
];
pub const TIME_TO_RESTORE_BUCKETS: [f64; 14] = LEAD_TIME_BUCKETS;
pub const TIME_TO_DETECT_BUCKETS: [f64; 11] =
    [60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0, 604800.0];
pub const DEPLOYMENT_DURATION_BUCKETS: [f64; 10] =
    [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0];
/// Pull request stages: the lead time edges.
pub const PULL_REQUEST_TIME_BUCKETS: [f64; 14] = LEAD_TIME_BUCKETS;
/// Lines added plus removed.
pub const PULL_REQUEST_SIZE_BUCKETS: [f64; 8] = [10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];

pub struct Metrics {
    bounds: Bounds,
    deployment_started: Counter<u64>,
    deployment_frequency: Counter<u64>,
    lead_time_for_changes: Histogram<f64>,
    deployment_duration: Histogram<f64>,
    deployment_failed: Counter<u64>,
    change_failure_count: Counter<u64>,
    incident_count: Counter<u64>,
    time_to_detect: Histogram<f64>,
    incident_restored: Counter<u64>,
    time_to_restore: Histogram<f64>,
    incident_finished: Counter<u64>,
    deployment_rework: Counter<u64>,
    deployment_rollback: Counter<u64>,
    failed_deployment_recovery_time: Histogram<f64>,
    pull_request_opened: Counter<u64>,
    pull_request_merged: Counter<u64>,
    pull_request_coding_time: Histogram<f64>,
    pull_request_pickup_time: Histogram<f64>,
    pull_request_review_time: Histogram<f64>,
    pull_request_deploy_time: Histogram<f64>,
    pull_request_cycle_time: Histogram<f64>,
    pull_request_size: Histogram<f64>,
}

/// Keeps the series of each instrument bounded, and says so once when one
/// reaches the limit (the SDK then merges new series into
/// `otel_metric_overflow="true"` without a word).
struct Bounds {
    environments: Option<HashSet<String>>,
    limit: usize,
    /// Per instrument: the attribute sets seen, until the limit is reached.
    seen: Mutex<HashMap<&'static str, Seen>>,
}

enum Seen {
    Counting(HashSet<u64>),
    Warned,
}

impl Bounds {
    /// The exported environment: itself when listed (or no list), else `other`.
    fn environment<'a>(&self, environment: &'a str) -> &'a str {
        match &self.environments {
            Some(listed) if !listed.contains(environment) => "other",
            _ => environment,
        }
    }

    /// Notes one more recording of `attrs` on `instrument`; warns once when
    /// the instrument reaches the limit. The SDK keeps one of its `limit`
    /// slots for the overflow series, so `limit - 1` sets fit.
    fn note(&self, instrument: &'static str, attrs: &[KeyValue]) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen.entry(instrument).or_insert_with(|| Seen::Counting(HashSet::new()));
        let Seen::Counting(sets) = entry else { return };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for kv in attrs {
            kv.key.as_str().hash(&mut hasher);
            kv.value.as_str().hash(&mut hasher);
        }
        sets.insert(hasher.finish());
        if sets.len() >= self.limit {
            *entry = Seen::Warned;
            tracing::warn!(
                instrument,
                limit = self.limit,
                "metric instrument reached EM_METRICS_CARDINALITY_LIMIT: new project/environment/team \
                 combinations are exported as otel_metric_overflow=\"true\"; raise the limit, or list the \
                 environments to export in EM_METRICS_ENVIRONMENTS"
            );
        }
    }
}

impl Metrics {
    pub fn new(meter: &Meter, bounds: &AttributeBounds) -> Self {
        let counter = |name: &'static str, unit: &'static str, description: &'static str| {
            meter.u64_counter(name).with_unit(unit).with_description(description).build()
        };
        let histogram = |name: &'static str, description: &'static str, buckets: &[f64]| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_description(description)
                .with_boundaries(buckets.to_vec())
                .build()
        };
        Self {
            bounds: Bounds {
                environments: bounds.environments.as_ref().map(|list| list.iter().cloned().collect()),
                limit: bounds.cardinality_limit,
                seen: Mutex::default(),
            },
            deployment_started: counter("deployment_started", "{deployment}", "Deployments started"),
            deployment_frequency: counter(
                "deployment_frequency",
                "{deployment}",
                "Deployments that reached production",
            ),
            lead_time_for_changes: histogram(
                "lead_time_for_changes",
                "From a change's commit to the deployment that shipped it first; one per change",
                &LEAD_TIME_BUCKETS,
            ),
            deployment_duration: histogram(
                "deployment_duration",
                "From deployment start to deployed",
                &DEPLOYMENT_DURATION_BUCKETS,
            ),
            deployment_failed: counter("deployment_failed", "{deployment}", "Deployments that failed or were aborted"),
            change_failure_count: counter(
                "change_failure_count",
                "{deployment}",
                "Deployments that became change failures (an incident linked, or rolled back); once each",
            ),
            incident_count: counter("incident_count", "{incident}", "Incidents opened"),
            time_to_detect: histogram(
                "time_to_detect",
                "From the causing deployment to the incident start",
                &TIME_TO_DETECT_BUCKETS,
            ),
            incident_restored: counter("incident_restored", "{incident}", "Incidents restored"),
            time_to_restore: histogram("time_to_restore", "From incident start to restored", &TIME_TO_RESTORE_BUCKETS),
            incident_finished: counter("incident_finished", "{incident}", "Incidents finished"),
            deployment_rework: counter(
                "deployment_rework",
                "{deployment}",
                "Rework deployments that went live: rollbacks, hotfixes and incident fixes",
            ),
            deployment_rollback: counter("deployment_rollback", "{deployment}", "Rollbacks that went live"),
            failed_deployment_recovery_time: histogram(
                "failed_deployment_recovery_time",
                "From the causing deployment going live to its incident restored",
                &TIME_TO_RESTORE_BUCKETS,
            ),
            pull_request_opened: counter("pull_request_opened", "{pull_request}", "Pull requests opened"),
            pull_request_merged: counter("pull_request_merged", "{pull_request}", "Pull requests merged"),
            pull_request_coding_time: histogram(
                "pull_request_coding_time",
                "From a pull request's first commit to ready for review; at merge",
                &PULL_REQUEST_TIME_BUCKETS,
            ),
            pull_request_pickup_time: histogram(
                "pull_request_pickup_time",
                "From ready for review to the first review by someone other than the author",
                &PULL_REQUEST_TIME_BUCKETS,
            ),
            pull_request_review_time: histogram(
                "pull_request_review_time",
                "From the first review (ready, without one) to merged",
                &PULL_REQUEST_TIME_BUCKETS,
            ),
            pull_request_deploy_time: histogram(
                "pull_request_deploy_time",
                "From merged to the production deployment that shipped it",
                &PULL_REQUEST_TIME_BUCKETS,
            ),
            pull_request_cycle_time: histogram(
                "pull_request_cycle_time",
                "From the first commit (or the opening) to the production deployment that shipped it",
                &PULL_REQUEST_TIME_BUCKETS,
            ),
            pull_request_size: meter
                .f64_histogram("pull_request_size")
                .with_unit("{line}")
                .with_description("Lines added plus removed, at merge")
                .with_boundaries(PULL_REQUEST_SIZE_BUCKETS.to_vec())
                .build(),
        }
    }
}

impl EventSink for Metrics {
    fn record(&self, events: &[DomainEvent]) {
        let attributes = |instrument: &'static str, dims: &Dims| {
            let attrs = attributes(dims, self.bounds.environment(&dims.environment));
            self.bounds.note(instrument, &attrs);
            attrs
        };
        for event in events {
            match event {
                DomainEvent::DeploymentStarted(dims) => {
                    self.deployment_started.add(1, &attributes("deployment_started", dims))
                }
                DomainEvent::DeploymentDeployed { dims, duration_seconds, change_lead_times, .. } => {
                    // One attribute set for the three instruments it feeds.
                    let attrs = attributes("deployment_frequency", dims);
                    self.deployment_frequency.add(1, &attrs);
                    // One observation per change, so the histogram's median agrees with /dora.
                    for seconds in change_lead_times {
                        self.lead_time_for_changes.record(*seconds, &attrs);
                    }
                    self.deployment_duration.record(*duration_seconds, &attrs);
                }
                DomainEvent::DeploymentRework(dims) => {
                    self.deployment_rework.add(1, &attributes("deployment_rework", dims))
                }
                DomainEvent::DeploymentRollback(dims) => {
                    self.deployment_rollback.add(1, &attributes("deployment_rollback", dims))
                }
                DomainEvent::FailedDeploymentRecovery { dims, seconds } => self
                    .failed_deployment_recovery_time
                    .record(*seconds, &attributes("failed_deployment_recovery_time", dims)),
                DomainEvent::DeploymentFailed(dims) => {
                    self.deployment_failed.add(1, &attributes("deployment_failed", dims))
                }
                DomainEvent::ChangeFailure(dims) => {
                    self.change_failure_count.add(1, &attributes("change_failure_count", dims))
                }
                DomainEvent::IncidentCreated { dims, time_to_detect_seconds } => {
                    let attrs = attributes("incident_count", dims);
                    self.incident_count.add(1, &attrs);
                    if let Some(seconds) = time_to_detect_seconds {
                        self.time_to_detect.record(*seconds, &attrs);
                    }
                }
                DomainEvent::IncidentRestored { dims, time_to_restore_seconds } => {
                    let attrs = attributes("incident_restored", dims);
                    self.incident_restored.add(1, &attrs);
                    self.time_to_restore.record(*time_to_restore_seconds, &attrs);
                }
                DomainEvent::IncidentFinished(dims) => {
                    self.incident_finished.add(1, &attributes("incident_finished", dims))
                }
                DomainEvent::PullRequestOpened(dims) => {
                    self.pull_request_opened.add(1, &self.pull_request_attributes("pull_request_opened", dims))
                }
                DomainEvent::PullRequestPickedUp { dims, pickup_seconds } => self
                    .pull_request_pickup_time
                    .record(*pickup_seconds, &self.pull_request_attributes("pull_request_pickup_time", dims)),
                DomainEvent::PullRequestMerged { dims, coding_seconds, review_seconds, size } => {
                    let attrs = self.pull_request_attributes("pull_request_merged", dims);
                    self.pull_request_merged.add(1, &attrs);
                    if let Some(seconds) = coding_seconds {
                        self.pull_request_coding_time.record(*seconds, &attrs);
                    }
                    if let Some(seconds) = review_seconds {
                        self.pull_request_review_time.record(*seconds, &attrs);
                    }
                    if let Some(lines) = size {
                        self.pull_request_size.record(*lines, &attrs);
                    }
                }
                DomainEvent::PullRequestShipped { dims, deploy_seconds, cycle_seconds } => {
                    let attrs = attributes("pull_request_deploy_time", dims);
                    self.pull_request_deploy_time.record(*deploy_seconds, &attrs);
                    self.pull_request_cycle_time.record(*cycle_seconds, &attrs);
                }
            }
        }
    }
}

impl Metrics {
    /// `project_id` and `team_id` (when resolved): a pull request has no
    /// environment until production ships it. Never the author.
    fn pull_request_attributes(&self, instrument: &'static str, dims: &PullRequestDims) -> Vec<KeyValue> {
        let mut attrs = vec![KeyValue::new("project_id", dims.project_id.to_string())];
        if let Some(team) = &dims.team_id {
            attrs.push(KeyValue::new("team_id", team.clone()));
        }
        self.bounds.note(instrument, &attrs);
        attrs
    }
}

/// `project_id`, `environment` (as exported), and `team_id` only when a
/// team was resolved.
fn attributes(dims: &Dims, environment: &str) -> Vec<KeyValue> {
    let mut attrs = vec![
        KeyValue::new("project_id", dims.project_id.to_string()),
        KeyValue::new("environment", environment.to_string()),
    ];
    if let Some(team) = &dims.team_id {
        attrs.push(KeyValue::new("team_id", team.clone()));
    }
    attrs
}
