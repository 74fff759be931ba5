//! The DORA metric objects of one window, computed from its samples.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::stats::{
    change_failure_level, deployment_frequency_level, lead_time_level, percentile, time_to_restore_level, Level,
};
use crate::store::{DeployedRow, FailedRow, IncidentRow};

const MS_PER_DAY: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeploymentFrequency {
    /// Deployments with status deployed and deployed_at in the window.
    pub deployments: u64,
    /// Distinct UTC days with a deployment.
    pub deploy_days: u64,
    pub per_day: f64,
    pub per_week: f64,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LeadTime {
    pub median_seconds: Option<f64>,
    pub p75_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub samples: u64,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChangeFailureRate {
    /// The window's deployments that have at least one linked incident.
    pub failed_deployments: u64,
    pub deployments: u64,
    pub rate: Option<f64>,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimeToRestore {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    /// Incidents of the window that are restored.
    pub samples: u64,
    /// Incidents of the window that are not restored.
    pub open_incidents: u64,
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimeToDetect {
    pub median_seconds: Option<f64>,
    pub samples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeploymentDuration {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub samples: u64,
}

/// The metric objects shared by `/dora`, each trend bucket and each breakdown group.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DoraMetrics {
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time_for_changes: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub time_to_restore: TimeToRestore,
    pub time_to_detect: TimeToDetect,
    pub deployment_duration: DeploymentDuration,
    /// Deployments with status failed and deploy_start_at in the window.
    pub failed_deployments: u64,
    /// The worst level of the four keys that have data; null when none has.
    pub level: Option<Level>,
}

/// Collects one window's rows and turns them into its metrics. It keeps one
/// number per sample and metric (what exact percentiles need), nothing more.
#[derive(Debug, Default, Clone)]
pub struct Accumulator {
    deploy_days: HashSet<i64>,
    lead_seconds: Vec<f64>,
    duration_seconds: Vec<f64>,
    caused_incident: u64,
    failed: u64,
    restore_seconds: Vec<f64>,
    open_incidents: u64,
    detect_seconds: Vec<f64>,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl Accumulator {
    pub fn add_deployed(&mut self, d: &DeployedRow) {
        self.deploy_days.insert(d.deployed_at.div_euclid(MS_PER_DAY));
        self.lead_seconds.push(seconds(d.deployed_at - d.first_commit_at));
        self.duration_seconds.push(seconds(d.deployed_at - d.deploy_start_at));
        self.caused_incident += u64::from(d.caused_incident);
    }

    pub fn add_failed(&mut self, _: &FailedRow) {
        self.failed += 1;
    }

    pub fn add_incident(&mut self, i: &IncidentRow) {
        match i.restored_at {
            Some(restored) => self.restore_seconds.push(seconds(restored - i.started_at)),
            None => self.open_incidents += 1,
        }
        if let Some(deployed_at) = i.deployment_deployed_at.filter(|d| *d <= i.started_at) {
            self.detect_seconds.push(seconds(i.started_at - deployed_at));
        }
    }

    /// Whether any row arrived (a breakdown lists only groups with data).
    pub fn is_empty(&self) -> bool {
        self.lead_seconds.is_empty() && self.failed == 0 && self.restore_seconds.is_empty() && self.open_incidents == 0
    }

    /// The metrics of a window `window_ms` long.
    pub fn finish(mut self, window_ms: i64) -> DoraMetrics {
        let n = self.lead_seconds.len() as u64;
        let days = window_ms as f64 / MS_PER_DAY as f64;
        let per_day = if days > 0.0 { n as f64 / days } else { 0.0 };
        let deployment_frequency = DeploymentFrequency {
            deployments: n,
            deploy_days: self.deploy_days.len() as u64,
            per_day,
            per_week: per_day * 7.0,
            level: (n > 0).then(|| deployment_frequency_level(per_day)),
        };

        let lead = sort(&mut self.lead_seconds);
        let lead_median = percentile(lead, 0.5);
        let lead_time_for_changes = LeadTime {
            median_seconds: lead_median,
            p75_seconds: percentile(lead, 0.75),
            p90_seconds: percentile(lead, 0.9),
            samples: n,
            level: lead_median.map(lead_time_level),
        };

        let rate = (n > 0).then(|| self.caused_incident as f64 / n as f64);
        let change_failure_rate = ChangeFailureRate {
            failed_deployments: self.caused_incident,
            deployments: n,
            rate,
            level: rate.map(change_failure_level),
        };

        let restore = sort(&mut self.restore_seconds);
        let restore_median = percentile(restore, 0.5);
        let time_to_restore = TimeToRestore {
            median_seconds: restore_median,
            p90_seconds: percentile(restore, 0.9),
            samples: restore.len() as u64,
            open_incidents: self.open_incidents,
            level: restore_median.map(time_to_restore_level),
        };

        let detect = sort(&mut self.detect_seconds);
        let time_to_detect = TimeToDetect { median_seconds: percentile(detect, 0.5), samples: detect.len() as u64 };

        let duration = sort(&mut self.duration_seconds);
        let deployment_duration = DeploymentDuration {
            median_seconds: percentile(duration, 0.5),
            p90_seconds: percentile(duration, 0.9),
            samples: duration.len() as u64,
        };

        let level =
            [deployment_frequency.level, lead_time_for_changes.level, change_failure_rate.level, time_to_restore.level]
                .into_iter()
                .flatten()
                .max();

        DoraMetrics {
            deployment_frequency,
            lead_time_for_changes,
            change_failure_rate,
            time_to_restore,
            time_to_detect,
            deployment_duration,
            failed_deployments: self.failed,
            level,
        }
    }
}

fn sort(values: &mut [f64]) -> &[f64] {
    values.sort_unstable_by(f64::total_cmp);
    values
}
