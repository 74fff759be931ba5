//! `GET /dora/cycle-time`: where change lead time goes, from the pull
//! requests merged in a window. Pure: the store hands it the rows.

use std::collections::HashSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::report::{four_decimals, to_millisecond};
use super::stats::percentiles;
use super::{Breakdown, Filters, Trend, Window};
use crate::domain::pull_request::StageTimes;
use crate::store::{CycleTimeRows, GroupBy, MergedRow};
use crate::time::Timestamp;

const MS_PER_WEEK: f64 = 7.0 * 86_400_000.0;

/// The default of EM_METRICS_MIN_GROUP_SIZE: fewer distinct authors than
/// this, and no per-author figure is given (it would point at people).
pub const DEFAULT_MIN_GROUP_SIZE: usize = 5;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PullRequestCounts {
    pub opened: u64,
    pub merged: u64,
    pub closed_unmerged: u64,
    pub merged_per_week: f64,
}

/// One stage over the pull requests merged in the window that have it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stage {
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
    pub samples: u64,
}

impl Stage {
    fn of(mut values: Vec<f64>) -> Self {
        let [median, p90] = percentiles(&mut values, [0.5, 0.9]);
        Self { median_seconds: to_millisecond(median), p90_seconds: to_millisecond(p90), samples: values.len() as u64 }
    }
}

/// The body of `GET /dora/cycle-time`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CycleTimeReport {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    /// `environment`: the production environments, whose deployments count as shipping.
    pub filters: Filters,
    pub pull_requests: PullRequestCounts,
    /// first_commit_at → ready_at.
    pub coding: Stage,
    /// ready_at → first review by someone other than the author.
    pub pickup: Stage,
    /// First review (ready_at without one) → merged_at.
    pub review: Stage,
    /// merged_at → the production deployment that shipped it.
    pub deploy: Stage,
    /// First commit (else opened_at) → that deployment.
    pub cycle_time: Stage,
    /// Merged pull requests ÷ distinct authors ÷ weeks; null (as is
    /// `authors`) with fewer distinct authors than EM_METRICS_MIN_GROUP_SIZE.
    pub merged_per_author_per_week: Option<f64>,
    pub authors: Option<u64>,
}

pub fn report(window: Window, filters: Filters, rows: CycleTimeRows, min_group_size: usize) -> CycleTimeReport {
    let weeks = (window.to.millis() - window.from.millis()) as f64 / MS_PER_WEEK;
    let merged = rows.merged.len() as u64;
    let stage = |f: fn(&StageTimes) -> Option<f64>| Stage::of(rows.merged.iter().filter_map(|r| f(&r.times)).collect());
    // By the keyed hash of each login: counted even when logins are not stored.
    let authors: HashSet<&str> = rows.merged.iter().filter_map(|p| p.author_key.as_deref()).collect();
    let enough = authors.len() >= min_group_size.max(1);
    CycleTimeReport {
        from: window.from.to_rfc3339(),
        to: window.to.to_rfc3339(),
        filters,
        pull_requests: PullRequestCounts {
            opened: rows.opened,
            merged,
            closed_unmerged: rows.closed_unmerged,
            merged_per_week: four_decimals(merged as f64 / weeks),
        },
        coding: stage(StageTimes::coding_seconds),
        pickup: stage(StageTimes::pickup_seconds),
        review: stage(StageTimes::review_seconds),
        deploy: stage(StageTimes::deploy_seconds),
        cycle_time: stage(StageTimes::cycle_seconds),
        merged_per_author_per_week: enough.then(|| four_decimals(merged as f64 / authors.len() as f64 / weeks)),
        authors: enough.then_some(authors.len() as u64),
    }
}

/// The median cycle time of `merged`'s shipped pull requests.
fn median_cycle(merged: &[&MergedRow]) -> Option<f64> {
    let mut values: Vec<f64> = merged.iter().filter_map(|r| r.times.cycle_seconds()).collect();
    let [median] = percentiles(&mut values, [0.5]);
    to_millisecond(median)
}

/// Fills each trend bucket's `merged_pull_requests` and
/// `cycle_time_median_seconds` from the pull requests merged in the window.
pub fn fill_trend(trend: &mut Trend, merged: &[MergedRow]) {
    // In merge order, so each bucket is one slice: a year of weeks over
    // many pull requests stays one pass.
    let mut sorted: Vec<&MergedRow> = merged.iter().filter(|r| r.times.merged_at.is_some()).collect();
    sorted.sort_by_key(|r| r.times.merged_at);
    for bucket in &mut trend.buckets {
        let (Ok(start), Ok(end)) = (Timestamp::parse(&bucket.start), Timestamp::parse(&bucket.end)) else { continue };
        let from = sorted.partition_point(|r| r.times.merged_at < Some(start));
        let to = sorted.partition_point(|r| r.times.merged_at < Some(end));
        let inside = &sorted[from..to];
        bucket.merged_pull_requests = inside.len() as u64;
        bucket.cycle_time_median_seconds = median_cycle(inside);
    }
}

/// Fills each breakdown group's `cycle_time_median_seconds` by team or
/// project; a breakdown by environment has none to give.
pub fn fill_breakdown(breakdown: &mut Breakdown, by: GroupBy, merged: &[MergedRow]) {
    let key_of = |r: &MergedRow| match by {
        GroupBy::TeamId => Some(r.team_id.clone()),
        GroupBy::ProjectId => Some(Some(r.project_id.to_string())),
        GroupBy::Environment => None,
    };
    for group in &mut breakdown.groups {
        let inside: Vec<&MergedRow> = merged.iter().filter(|r| key_of(r).as_ref() == Some(&group.key)).collect();
        group.cycle_time_median_seconds = median_cycle(&inside);
    }
}
