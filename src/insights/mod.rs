//! DORA insights from the embedded store: the five key metrics with levels, over any
//! window, as one report, as a trend of UTC buckets, or broken down by team,
//! project or environment.
//!
//! The store streams the rows of a window into a [`WindowSink`]; the sinks
//! here sort them into one [`Accumulator`] per report, bucket or group, so
//! the numbers are exact medians over exactly the events of the window,
//! including history posted late.

pub mod cycle_time;
pub mod report;
pub mod stats;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use report::{Accumulator, DoraMetrics};
pub use stats::Level;

use crate::store::{ChangeRow, DeployedRow, FailedRow, GroupBy, IncidentRow, WindowFilter, WindowSink};
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
    /// The environments counted, always named: the production environments
    /// by default, every stored environment for `environment=*`.
    pub environment: Vec<String>,
}

impl Filters {
    /// `filter`'s projects and teams, and the environments it counted.
    pub fn new(filter: &WindowFilter, environments: Vec<String>) -> Self {
        Self { project_id: filter.project_ids.clone(), team_id: filter.team_ids.clone(), environment: environments }
    }
}

/// `environment=` of the insights: which environments they count. DORA is
/// about production, so that is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environments {
    /// The environments named, or the production ones when none is.
    Only(Vec<String>),
    /// `environment=*`, or the default of a breakdown by environment.
    Every,
}

impl Environments {
    /// The value of `environment=` that means every environment.
    pub const EVERY: &'static str = "*";

    /// The environments `given` asks for; none given means `production`, or
    /// every environment when `every_by_default`. Err names what is wrong.
    pub fn choose(given: Vec<String>, production: Vec<String>, every_by_default: bool) -> Result<Self, String> {
        if given.iter().any(|e| e == Self::EVERY) {
            if given.len() > 1 {
                return Err(format!("environment={} means every environment: name no others with it", Self::EVERY));
            }
            return Ok(Self::Every);
        }
        Ok(match (given.is_empty(), every_by_default) {
            (false, _) => Self::Only(given),
            (true, true) => Self::Every,
            (true, false) => Self::Only(production),
        })
    }

    /// What the store filters on: no list means every environment.
    pub fn filter(&self) -> Vec<String> {
        match self {
            Self::Only(list) => list.clone(),
            Self::Every => Vec::new(),
        }
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

/// `interval=` of a trend: UTC days, Monday-based weeks (the default) or months.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Day,
    #[default]
    Week,
    Month,
}

impl Interval {
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

impl DoraReport {
    pub fn new(window: Window, filters: &Filters, metrics: DoraMetrics) -> Self {
        Self { from: window.from.to_rfc3339(), to: window.to.to_rfc3339(), filters: filters.clone(), metrics }
    }
}

fn length(window: Window) -> i64 {
    window.to.millis() - window.from.millis()
}

/// The whole window as one report.
#[derive(Default)]
pub struct Whole(pub Accumulator);

impl WindowSink for Whole {
    fn deployed(&mut self, row: DeployedRow, _: Option<&str>) {
        self.0.add_deployed(&row);
    }
    fn change(&mut self, row: ChangeRow, _: Option<&str>) {
        self.0.add_change(&row);
    }
    fn failed(&mut self, row: FailedRow, _: Option<&str>) {
        self.0.add_failed(&row);
    }
    fn incident(&mut self, row: IncidentRow, _: Option<&str>) {
        self.0.add_incident(&row);
    }
}

impl Whole {
    pub fn report(self, window: Window, filters: &Filters) -> DoraReport {
        DoraReport::new(window, filters, self.0.finish(length(window)))
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
    /// Pull requests merged in the bucket.
    pub merged_pull_requests: u64,
    /// The median cycle time of those of them that production shipped.
    pub cycle_time_median_seconds: Option<f64>,
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

/// One accumulator per bucket; `bounds` from [`buckets`], in order.
pub struct Buckets {
    bounds: Vec<(i64, i64)>,
    accumulators: Vec<Accumulator>,
}

impl Buckets {
    pub fn new(bounds: Vec<(i64, i64)>) -> Self {
        let accumulators = vec![Accumulator::default(); bounds.len()];
        Self { bounds, accumulators }
    }

    /// Each bucket's bounds and accumulator, in order.
    pub fn into_parts(self) -> impl Iterator<Item = ((i64, i64), Accumulator)> {
        self.bounds.into_iter().zip(self.accumulators)
    }

    fn at(&mut self, time: i64) -> Option<&mut Accumulator> {
        let i = self.bounds.partition_point(|&(_, end)| end <= time);
        let &(start, end) = self.bounds.get(i)?;
        (start <= time && time < end).then(|| &mut self.accumulators[i])
    }

    /// Every bucket of the window, empty ones included.
    pub fn trend(self, window: Window, interval: Interval, filters: &Filters) -> Trend {
        let buckets = self
            .bounds
            .into_iter()
            .zip(self.accumulators)
            .map(|((start, end), acc)| TrendBucket {
                start: Timestamp::from_millis(start).to_rfc3339(),
                end: Timestamp::from_millis(end).to_rfc3339(),
                metrics: acc.finish(end - start),
                merged_pull_requests: 0,
                cycle_time_median_seconds: None,
            })
            .collect();
        Trend {
            interval: interval.as_str(),
            from: window.from.to_rfc3339(),
            to: window.to.to_rfc3339(),
            filters: filters.clone(),
            buckets,
        }
    }
}

impl WindowSink for Buckets {
    fn deployed(&mut self, row: DeployedRow, _: Option<&str>) {
        if let Some(acc) = self.at(row.deployed_at) {
            acc.add_deployed(&row);
        }
    }
    fn change(&mut self, row: ChangeRow, _: Option<&str>) {
        if let Some(acc) = self.at(row.deployed_at) {
            acc.add_change(&row);
        }
    }
    fn places_changes_in_time(&self) -> bool {
        true
    }
    fn failed(&mut self, row: FailedRow, _: Option<&str>) {
        if let Some(acc) = self.at(row.deploy_start_at) {
            acc.add_failed(&row);
        }
    }
    fn incident(&mut self, row: IncidentRow, _: Option<&str>) {
        if let Some(acc) = self.at(row.started_at) {
            acc.add_incident(&row);
        }
    }
}

/// One group of `GET /dora/breakdown`: its key and a whole `/dora` body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownGroup {
    /// The team, project or environment; null for events without a team.
    pub key: Option<String>,
    #[serde(flatten)]
    pub report: DoraReport,
    /// The median cycle time of the group's pull requests merged in the
    /// window; null by environment (a pull request has none).
    pub cycle_time_median_seconds: Option<f64>,
}

/// The body of `GET /dora/breakdown`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Breakdown {
    pub by: &'static str,
    /// Most deployments first, at most `limit` of them.
    pub groups: Vec<BreakdownGroup>,
    /// Groups with data in the window that were left out by `limit`.
    pub omitted_groups: u64,
}

/// Default and largest `limit` of a breakdown.
pub const DEFAULT_BREAKDOWN_LIMIT: usize = 100;
pub const MAX_BREAKDOWN_LIMIT: usize = 1000;

/// The groups a breakdown keeps: the `limit` with most deployments (ties by
/// key, events without a key last), and how many were left out.
pub fn largest_groups(sizes: HashMap<Option<String>, u64>, limit: usize) -> (Groups, u64) {
    let mut ranked: Vec<(Option<String>, u64)> = sizes.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| rank_key(&a.0).cmp(&rank_key(&b.0))));
    let omitted = ranked.len().saturating_sub(limit) as u64;
    ranked.truncate(limit);
    let keep_none = ranked.iter().any(|(k, _)| k.is_none());
    let keep = ranked.into_iter().filter_map(|(k, _)| k).collect();
    (Groups { keep: Some((keep, keep_none)), ..Groups::default() }, omitted)
}

/// Orders named keys by name and the null key after them.
fn rank_key(key: &Option<String>) -> (bool, &str) {
    (key.is_none(), key.as_deref().unwrap_or_default())
}

pub fn group_name(by: GroupBy) -> &'static str {
    match by {
        GroupBy::TeamId => "team_id",
        GroupBy::ProjectId => "project_id",
        GroupBy::Environment => "environment",
    }
}

/// One accumulator per value of the grouping column; `None` for events without one.
#[derive(Default)]
pub struct Groups {
    named: HashMap<String, Accumulator>,
    none: Accumulator,
    /// Only these groups (and the null group when true) are accumulated;
    /// rows of the others are skipped. None: every group.
    keep: Option<(HashSet<String>, bool)>,
}

impl Groups {
    /// The accumulator of `group`, or None when the breakdown leaves it out.
    fn at(&mut self, group: Option<&str>) -> Option<&mut Accumulator> {
        if let Some((keep, keep_none)) = &self.keep {
            let kept = match group {
                None => *keep_none,
                Some(key) => keep.contains(key),
            };
            if !kept {
                return None;
            }
        }
        Some(match group {
            None => &mut self.none,
            // Look up by &str first: allocate only for a new group, not per row.
            Some(key) => {
                if !self.named.contains_key(key) {
                    self.named.insert(key.to_string(), Accumulator::default());
                }
                self.named.get_mut(key).unwrap_or(&mut self.none)
            }
        })
    }

    /// One group per key with data in the window: most deployments first,
    /// ties by key, the null key last among equals.
    pub fn breakdown(self, window: Window, by: GroupBy, filters: &Filters, omitted_groups: u64) -> Breakdown {
        let mut all: Vec<(Option<String>, Accumulator)> =
            self.named.into_iter().map(|(key, acc)| (Some(key), acc)).collect();
        if !self.none.is_empty() {
            all.push((None, self.none));
        }
        all.sort_by(|a, b| b.1.deployments().cmp(&a.1.deployments()).then_with(|| rank_key(&a.0).cmp(&rank_key(&b.0))));
        let groups = all
            .into_iter()
            .map(|(key, acc)| BreakdownGroup {
                key,
                report: DoraReport::new(window, filters, acc.finish(length(window))),
                cycle_time_median_seconds: None,
            })
            .collect();
        Breakdown { by: group_name(by), groups, omitted_groups }
    }
}

impl WindowSink for Groups {
    fn deployed(&mut self, row: DeployedRow, group: Option<&str>) {
        if let Some(acc) = self.at(group) {
            acc.add_deployed(&row);
        }
    }
    fn change(&mut self, row: ChangeRow, group: Option<&str>) {
        if let Some(acc) = self.at(group) {
            acc.add_change(&row);
        }
    }
    fn failed(&mut self, row: FailedRow, group: Option<&str>) {
        if let Some(acc) = self.at(group) {
            acc.add_failed(&row);
        }
    }
    fn incident(&mut self, row: IncidentRow, group: Option<&str>) {
        if let Some(acc) = self.at(group) {
            acc.add_incident(&row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_environment_means_production_and_a_star_means_every_one() {
        let production = || vec!["production".to_string(), "prod".to_string()];
        let named = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Environments::choose(vec![], production(), false), Ok(Environments::Only(production())));
        assert_eq!(Environments::choose(vec![], production(), true), Ok(Environments::Every));
        assert_eq!(Environments::choose(named(&["*"]), production(), false), Ok(Environments::Every));
        assert_eq!(
            Environments::choose(named(&["staging"]), production(), true),
            Ok(Environments::Only(named(&["staging"])))
        );
        assert!(Environments::choose(named(&["*", "prod"]), production(), false).is_err());
        assert_eq!(Environments::Every.filter(), Vec::<String>::new(), "no list: every environment");
    }

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
