//! DORA insights from the embedded store: the four keys with levels, over any
//! window, as one report, as a trend of UTC buckets, or broken down by team,
//! project or environment.
//!
//! The store hands over the samples of a window ([`WindowData`]); everything
//! here is pure computation on them, so the numbers are exact medians over
//! exactly the events of the window, including history posted late.

pub mod report;
pub mod stats;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use report::DoraMetrics;
pub use stats::Level;

use crate::store::{GroupBy, WindowData, WindowFilter};
use crate::time::Timestamp;

/// Most buckets a trend may have; more is a 400.
pub const MAX_BUCKETS: usize = 1000;
const MS_PER_DAY: i64 = 86_400_000;

/// `[from, to)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// The filters the report was made with, echoed back.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Filters {
    pub project_id: Vec<String>,
    pub team_id: Vec<String>,
    pub environment: Vec<String>,
}

impl From<&WindowFilter> for Filters {
    fn from(f: &WindowFilter) -> Self {
        Self { project_id: f.project_ids.clone(), team_id: f.team_ids.clone(), environment: f.environments.clone() }
    }
}

/// The body of `GET /dora`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DoraReport {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub filters: Filters,
    #[serde(flatten)]
    pub metrics: DoraMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    Week,
    Month,
}

impl Interval {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// The start of the UTC day, Monday-based week or month holding `ms`.
    fn floor(self, ms: i64) -> i64 {
        let day = ms.div_euclid(MS_PER_DAY);
        match self {
            Self::Day => day * MS_PER_DAY,
            // 1970-01-01 was a Thursday, three days after a Monday.
            Self::Week => (day - (day + 3).rem_euclid(7)) * MS_PER_DAY,
            Self::Month => {
                let date = date_of(ms);
                NaiveDate::from_ymd_opt(date.year(), date.month(), 1).map_or(ms, millis_of)
            }
        }
    }

    fn next(self, start: i64) -> i64 {
        match self {
            Self::Day => start + MS_PER_DAY,
            Self::Week => start + 7 * MS_PER_DAY,
            Self::Month => date_of(start).checked_add_months(Months::new(1)).map_or(i64::MAX, millis_of),
        }
    }
}

fn date_of(ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().date_naive()
}

fn millis_of(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis())
}

/// The calendar buckets covering the window, each cut to the window's edges
/// (so the first and last may be partial). None when there would be more
/// than [`MAX_BUCKETS`].
pub fn buckets(window: Window, interval: Interval) -> Option<Vec<(i64, i64)>> {
    let (from, to) = (window.from.millis(), window.to.millis());
    let mut out = Vec::new();
    let mut start = interval.floor(from);
    while start < to {
        if out.len() == MAX_BUCKETS {
            return None;
        }
        let next = interval.next(start);
        out.push((start.max(from), next.min(to)));
        start = next;
    }
    Some(out)
}

pub fn dora(window: Window, filter: &WindowFilter, data: &WindowData) -> DoraReport {
    report(
        window,
        filter,
        data.deployed.iter().collect(),
        data.failed.iter().collect(),
        data.incidents.iter().collect(),
    )
}

fn report(
    window: Window,
    filter: &WindowFilter,
    deployed: Vec<&crate::store::DeployedSample>,
    failed: Vec<&crate::store::FailedSample>,
    incidents: Vec<&crate::store::IncidentSample>,
) -> DoraReport {
    DoraReport {
        from: window.from.to_rfc3339(),
        to: window.to.to_rfc3339(),
        filters: filter.into(),
        metrics: report::compute(window.to.millis() - window.from.millis(), &deployed, &failed, &incidents),
    }
}

/// One bucket of `GET /dora/trend`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendBucket {
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
    #[serde(flatten)]
    pub metrics: DoraMetrics,
}

/// The body of `GET /dora/trend`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trend {
    pub interval: &'static str,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub filters: Filters,
    pub buckets: Vec<TrendBucket>,
}

/// Every bucket of the window, empty ones included. `bounds` from [`buckets`].
pub fn trend(
    window: Window,
    interval: Interval,
    bounds: &[(i64, i64)],
    filter: &WindowFilter,
    data: &WindowData,
) -> Trend {
    let deployed = sorted_by(&data.deployed, |d| d.deployed_at);
    let failed = sorted_by(&data.failed, |f| f.deploy_start_at);
    let incidents = sorted_by(&data.incidents, |i| i.started_at);
    let buckets = bounds
        .iter()
        .map(|&(start, end)| TrendBucket {
            start: Timestamp::from_millis(start).to_rfc3339(),
            end: Timestamp::from_millis(end).to_rfc3339(),
            metrics: report::compute(
                end - start,
                slice(&deployed, |d| d.deployed_at, start, end),
                slice(&failed, |f| f.deploy_start_at, start, end),
                slice(&incidents, |i| i.started_at, start, end),
            ),
        })
        .collect();
    Trend {
        interval: interval.as_str(),
        from: window.from.to_rfc3339(),
        to: window.to.to_rfc3339(),
        filters: filter.into(),
        buckets,
    }
}

fn sorted_by<T>(items: &[T], key: impl Fn(&T) -> i64) -> Vec<&T> {
    let mut refs: Vec<&T> = items.iter().collect();
    refs.sort_by_key(|t| key(t));
    refs
}

/// The items with key in `[start, end)` of a slice sorted by key.
fn slice<'a, T>(sorted: &'a [&'a T], key: impl Fn(&T) -> i64, start: i64, end: i64) -> &'a [&'a T] {
    let lo = sorted.partition_point(|t| key(t) < start);
    let hi = sorted.partition_point(|t| key(t) < end);
    &sorted[lo..hi]
}

/// One group of `GET /dora/breakdown`: its key and a whole `/dora` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownGroup {
    /// The team, project or environment; null for events without a team.
    pub key: Option<String>,
    #[serde(flatten)]
    pub report: DoraReport,
}

/// The body of `GET /dora/breakdown`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Breakdown {
    pub by: &'static str,
    pub groups: Vec<BreakdownGroup>,
}

pub fn group_name(by: GroupBy) -> &'static str {
    match by {
        GroupBy::TeamId => "team_id",
        GroupBy::ProjectId => "project_id",
        GroupBy::Environment => "environment",
    }
}

/// One group per key with data in the window, named keys in order, null last.
pub fn breakdown(window: Window, by: GroupBy, filter: &WindowFilter, data: &WindowData) -> Breakdown {
    type Parts<'a> = (
        Vec<&'a crate::store::DeployedSample>,
        Vec<&'a crate::store::FailedSample>,
        Vec<&'a crate::store::IncidentSample>,
    );
    let mut groups: BTreeMap<Option<&str>, Parts> = BTreeMap::new();
    for d in &data.deployed {
        groups.entry(d.group.as_deref()).or_default().0.push(d);
    }
    for f in &data.failed {
        groups.entry(f.group.as_deref()).or_default().1.push(f);
    }
    for i in &data.incidents {
        groups.entry(i.group.as_deref()).or_default().2.push(i);
    }
    let mut groups: Vec<BreakdownGroup> = groups
        .into_iter()
        .map(|(key, (deployed, failed, incidents))| BreakdownGroup {
            key: key.map(str::to_string),
            report: report(window, filter, deployed, failed, incidents),
        })
        .collect();
    // BTreeMap puts None first; people expect "no team" after the named ones.
    groups.sort_by_key(|g| g.key.is_none());
    Breakdown { by: group_name(by), groups }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("time")
    }

    fn bounds(from: &str, to: &str, interval: Interval) -> Vec<(String, String)> {
        buckets(Window { from: ts(from), to: ts(to) }, interval)
            .expect("within limit")
            .into_iter()
            .map(|(s, e)| (Timestamp::from_millis(s).to_rfc3339(), Timestamp::from_millis(e).to_rfc3339()))
            .collect()
    }

    #[test]
    fn weeks_start_on_monday_and_edge_buckets_are_cut_to_the_window() {
        // 2024-05-01 is a Wednesday.
        let b = bounds("2024-05-01T00:00:00Z", "2024-05-15T00:00:00Z", Interval::Week);
        assert_eq!(
            b,
            [
                ("2024-05-01T00:00:00.000Z".into(), "2024-05-06T00:00:00.000Z".into()),
                ("2024-05-06T00:00:00.000Z".into(), "2024-05-13T00:00:00.000Z".into()),
                ("2024-05-13T00:00:00.000Z".into(), "2024-05-15T00:00:00.000Z".into()),
            ]
        );
    }

    #[test]
    fn months_follow_the_calendar_across_year_ends_and_leap_days() {
        let b = bounds("2023-12-15T00:00:00Z", "2024-03-01T00:00:00Z", Interval::Month);
        let starts: Vec<&str> = b.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(starts, ["2023-12-15T00:00:00.000Z", "2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"]);
        assert_eq!(b[2].1, "2024-03-01T00:00:00.000Z");
    }

    #[test]
    fn too_many_buckets_is_refused() {
        let w = Window { from: ts("2000-01-01T00:00:00Z"), to: ts("2010-01-01T00:00:00Z") };
        assert!(buckets(w, Interval::Day).is_none());
        assert!(buckets(w, Interval::Week).is_some());
    }
}
