//! The DORA metric objects of one window, computed from its samples.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::stats::{
    change_failure_level, deployment_frequency_level, lead_time_level, percentiles, time_to_restore_level, Level,
};
use crate::store::{ChangeRow, DeployedRow, FailedRow, IncidentRow};

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

/// Per change: `samples` is the number of changes the window's deployments shipped.
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
    /// The window's deployments that are change failures: an incident is
    /// linked to them, or they were rolled back.
    pub change_failures: u64,
    pub deployments: u64,
    pub rate: Option<f64>,
    pub level: Option<Level>,
}

/// From a failed deployment going live to its incident restored, over the
/// window's restored incidents that are linked to a deployed deployment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FailedDeploymentRecoveryTime {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub samples: u64,
    pub level: Option<Level>,
}

/// Deployments made because of a failure in production (rollbacks,
/// hotfixes, incident fixes); DORA publishes no levels for it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReworkRate {
    pub rework_deployments: u64,
    pub deployments: u64,
    pub rate: Option<f64>,
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
    pub failed_deployment_recovery_time: FailedDeploymentRecoveryTime,
    pub rework_rate: ReworkRate,
    pub time_to_restore: TimeToRestore,
    pub time_to_detect: TimeToDetect,
    pub deployment_duration: DeploymentDuration,
    /// Deployments with status failed and deploy_start_at in the window.
    pub failed_deployments: u64,
    /// The worst level of deployment frequency, lead time, change failure
    /// rate, failed deployment recovery time and time to restore, among
    /// those with data; null when none has.
    pub level: Option<Level>,
}

/// Collects one window's rows and turns them into its metrics. It keeps one
/// number per sample and metric (what exact percentiles need), nothing more.
#[derive(Debug, Default, Clone)]
pub struct Accumulator {
    deploy_days: HashSet<i64>,
    deployments: u64,
    lead_seconds: Vec<f64>,
    duration_seconds: Vec<f64>,
    change_failures: u64,
    rework: u64,
    recovery_seconds: Vec<f64>,
    failed: u64,
    restore_seconds: Vec<f64>,
    open_incidents: u64,
    detect_seconds: Vec<f64>,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// A rate, or a count per day or week, to 4 decimals: the JSON says `88.9`,
/// not `88.89999999999999`. Levels are decided on the exact value.
pub(crate) fn four_decimals(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Seconds to the millisecond, the precision of the stored times (a median
/// of two or an interpolated percentile would otherwise carry float noise).
pub(crate) fn to_millisecond(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| (s * 1e3).round() / 1e3)
}

impl Accumulator {
    pub fn add_deployed(&mut self, d: &DeployedRow) {
        self.deploy_days.insert(d.deployed_at.div_euclid(MS_PER_DAY));
        self.deployments += 1;
        self.duration_seconds.push(seconds(d.deployed_at - d.deploy_start_at));
        self.change_failures += u64::from(d.change_failure);
        self.rework += u64::from(d.rework);
    }

    pub fn add_change(&mut self, c: &ChangeRow) {
        self.lead_seconds.push(seconds(c.lead_time_ms));
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
        // As Incident::failed_deployment_recovery_seconds: a deployment that
        // went live after the restore cannot have caused the incident.
        if let (Some(deployed_at), Some(restored)) = (i.deployment_deployed_at, i.restored_at) {
            if deployed_at <= restored {
                self.recovery_seconds.push(seconds(restored - deployed_at));
            }
        }
    }

    /// Takes in every sample of `other`: the accumulator of a window made of
    /// two adjacent windows (the dashboard adds up its day buckets this way).
    pub fn merge(&mut self, other: &Accumulator) {
        self.deploy_days.extend(&other.deploy_days);
        self.deployments += other.deployments;
        self.lead_seconds.extend_from_slice(&other.lead_seconds);
        self.duration_seconds.extend_from_slice(&other.duration_seconds);
        self.change_failures += other.change_failures;
        self.rework += other.rework;
        self.recovery_seconds.extend_from_slice(&other.recovery_seconds);
        self.failed += other.failed;
        self.restore_seconds.extend_from_slice(&other.restore_seconds);
        self.open_incidents += other.open_incidents;
        self.detect_seconds.extend_from_slice(&other.detect_seconds);
    }

    /// Deployments deployed in the window so far.
    pub fn deployments(&self) -> u64 {
        self.deployments
    }

    /// Whether any row arrived (a breakdown lists only groups with data).
    pub fn is_empty(&self) -> bool {
        self.deployments == 0 && self.failed == 0 && self.restore_seconds.is_empty() && self.open_incidents == 0
    }

    /// The metrics of a window `window_ms` long.
    pub fn finish(mut self, window_ms: i64) -> DoraMetrics {
        let n = self.deployments;
        let days = window_ms as f64 / MS_PER_DAY as f64;
        let per_day = if days > 0.0 { n as f64 / days } else { 0.0 };
        let deployment_frequency = DeploymentFrequency {
            deployments: n,
            deploy_days: self.deploy_days.len() as u64,
            per_day: four_decimals(per_day),
            per_week: four_decimals(per_day * 7.0),
            level: (n > 0).then(|| deployment_frequency_level(per_day)),
        };

        let [lead_median, lead_p75, lead_p90] = percentiles(&mut self.lead_seconds, [0.5, 0.75, 0.9]);
        let lead_time_for_changes = LeadTime {
            median_seconds: to_millisecond(lead_median),
            p75_seconds: to_millisecond(lead_p75),
            p90_seconds: to_millisecond(lead_p90),
            samples: self.lead_seconds.len() as u64,
            level: lead_median.map(lead_time_level),
        };

        let rate = (n > 0).then(|| self.change_failures as f64 / n as f64);
        let change_failure_rate = ChangeFailureRate {
            change_failures: self.change_failures,
            deployments: n,
            rate: rate.map(four_decimals),
            level: rate.map(change_failure_level),
        };

        let [recovery_median, recovery_p90] = percentiles(&mut self.recovery_seconds, [0.5, 0.9]);
        let failed_deployment_recovery_time = FailedDeploymentRecoveryTime {
            median_seconds: to_millisecond(recovery_median),
            p90_seconds: to_millisecond(recovery_p90),
            samples: self.recovery_seconds.len() as u64,
            level: recovery_median.map(time_to_restore_level),
        };

        let rework_rate = ReworkRate {
            rework_deployments: self.rework,
            deployments: n,
            rate: (n > 0).then(|| four_decimals(self.rework as f64 / n as f64)),
        };

        let [restore_median, restore_p90] = percentiles(&mut self.restore_seconds, [0.5, 0.9]);
        let time_to_restore = TimeToRestore {
            median_seconds: to_millisecond(restore_median),
            p90_seconds: to_millisecond(restore_p90),
            samples: self.restore_seconds.len() as u64,
            open_incidents: self.open_incidents,
            level: restore_median.map(time_to_restore_level),
        };

        let [detect_median] = percentiles(&mut self.detect_seconds, [0.5]);
        let time_to_detect =
            TimeToDetect { median_seconds: to_millisecond(detect_median), samples: self.detect_seconds.len() as u64 };

        let [duration_median, duration_p90] = percentiles(&mut self.duration_seconds, [0.5, 0.9]);
        let deployment_duration = DeploymentDuration {
            median_seconds: to_millisecond(duration_median),
            p90_seconds: to_millisecond(duration_p90),
            samples: self.duration_seconds.len() as u64,
        };

        let level = [
            deployment_frequency.level,
            lead_time_for_changes.level,
            change_failure_rate.level,
            failed_deployment_recovery_time.level,
            time_to_restore.level,
        ]
        .into_iter()
        .flatten()
        .max();

        DoraMetrics {
            deployment_frequency,
            lead_time_for_changes,
            change_failure_rate,
            failed_deployment_recovery_time,
            rework_rate,
            time_to_restore,
            time_to_detect,
            deployment_duration,
            failed_deployments: self.failed,
            level,
        }
    }
}
