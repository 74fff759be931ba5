//! The DORA metric objects of one window, computed from its samples.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::stats::{
    change_failure_level, deployment_frequency_level, lead_time_level, percentile, time_to_restore_level, Level,
};
use crate::store::{DeployedSample, FailedSample, IncidentSample};

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

/// Computes the metrics of a window `window_ms` long from its samples.
pub fn compute(
    window_ms: i64,
    deployed: &[&DeployedSample],
    failed: &[&FailedSample],
    incidents: &[&IncidentSample],
) -> DoraMetrics {
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let n = deployed.len() as u64;

    let days = window_ms as f64 / MS_PER_DAY as f64;
    let per_day = if days > 0.0 { n as f64 / days } else { 0.0 };
    let deploy_days = deployed.iter().map(|d| d.deployed_at.div_euclid(MS_PER_DAY)).collect::<HashSet<_>>().len();
    let deployment_frequency = DeploymentFrequency {
        deployments: n,
        deploy_days: deploy_days as u64,
        per_day,
        per_week: per_day * 7.0,
        level: (n > 0).then(|| deployment_frequency_level(per_day)),
    };

    let lead = sorted(deployed.iter().map(|d| seconds(d.deployed_at - d.first_commit_at)));
    let lead_median = percentile(&lead, 0.5);
    let lead_time_for_changes = LeadTime {
        median_seconds: lead_median,
        p75_seconds: percentile(&lead, 0.75),
        p90_seconds: percentile(&lead, 0.9),
        samples: lead.len() as u64,
        level: lead_median.map(lead_time_level),
    };

    let caused = deployed.iter().filter(|d| d.caused_incident).count() as u64;
    let rate = (n > 0).then(|| caused as f64 / n as f64);
    let change_failure_rate =
        ChangeFailureRate { failed_deployments: caused, deployments: n, rate, level: rate.map(change_failure_level) };

    let restore = sorted(incidents.iter().filter_map(|i| i.restored_at.map(|r| seconds(r - i.started_at))));
    let restore_median = percentile(&restore, 0.5);
    let time_to_restore = TimeToRestore {
        median_seconds: restore_median,
        p90_seconds: percentile(&restore, 0.9),
        samples: restore.len() as u64,
        open_incidents: incidents.iter().filter(|i| i.restored_at.is_none()).count() as u64,
        level: restore_median.map(time_to_restore_level),
    };

    let detect = sorted(incidents.iter().filter_map(|i| {
        let deployed_at = i.deployment_deployed_at?;
        (i.started_at >= deployed_at).then(|| seconds(i.started_at - deployed_at))
    }));
    let time_to_detect = TimeToDetect { median_seconds: percentile(&detect, 0.5), samples: detect.len() as u64 };

    let duration = sorted(deployed.iter().map(|d| seconds(d.deployed_at - d.deploy_start_at)));
    let deployment_duration = DeploymentDuration {
        median_seconds: percentile(&duration, 0.5),
        p90_seconds: percentile(&duration, 0.9),
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
        failed_deployments: failed.len() as u64,
        level,
    }
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}
