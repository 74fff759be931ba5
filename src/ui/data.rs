//! What one dashboard page shows, read from the store in one go.
//!
//! The numbers come from the same window scans and accumulators as `/dora`,
//! `/dora/trend` and `/dora/breakdown`, so the page can never disagree with
//! the JSON. The current window is scanned once: each row goes both to its
//! trend bucket and to its breakdown group, and the tiles are the buckets
//! added up (the same samples as one `/dora` over the window).

use super::params::View;
use crate::domain::{Deployment, DeploymentStatus, Incident, PullRequest};
use crate::insights::cycle_time::{self, CycleTimeReport, DEFAULT_MIN_GROUP_SIZE};
use crate::insights::{
    self, Accumulator, Breakdown, Buckets, DoraMetrics, Filters, Groups, Interval, Whole, Window,
    DEFAULT_BREAKDOWN_LIMIT,
};
use crate::store::{
    ChangeRow, DeployedRow, DeploymentFilter, FailedRow, FilterValues, IncidentFilter, IncidentRow, IncidentState,
    MergedRow, Order, Page, Store, StoreResult, TimeRange, WindowSink,
};
use crate::time::Timestamp;

/// Latest deployments and open incidents listed.
pub const LIST_LENGTH: u32 = 20;
/// Windows of up to this many days get daily buckets, longer ones weekly.
pub const MAX_DAILY_DAYS: i64 = 31;
const MS_PER_DAY: i64 = 86_400_000;

/// Everything one page shows.
pub struct Dashboard {
    pub window: Window,
    pub interval: Interval,
    pub current: DoraMetrics,
    /// The window of the same length just before, for the tiles' change.
    pub previous: DoraMetrics,
    /// Each trend bucket's bounds (milliseconds) and metrics, in order.
    pub buckets: Vec<(i64, i64, DoraMetrics)>,
    pub breakdown: Breakdown,
    pub open_incidents: Vec<Incident>,
    pub latest_deployments: Vec<Deployment>,
    pub filter_values: FilterValues,
    /// Whether any deployment was ever recorded (else the first-steps state).
    pub has_deployments: bool,
    /// The stages of the pull requests merged in the window, as `/dora/cycle-time`.
    pub cycle_time: CycleTimeReport,
    /// Pull requests merged in each trend bucket, in order.
    pub merged_per_bucket: Vec<u64>,
    /// The latest pull requests merged in the window, newest first.
    pub latest_merged: Vec<PullRequest>,
}

/// Daily buckets for a month or less, weekly ones beyond.
pub fn interval_for(window: Window) -> Interval {
    if window.to.millis() - window.from.millis() <= MAX_DAILY_DAYS * MS_PER_DAY {
        Interval::Day
    } else {
        Interval::Week
    }
}

/// The window of the same length that ends where `window` starts.
pub fn previous(window: Window) -> Window {
    let length = window.to.millis() - window.from.millis();
    Window { from: Timestamp::from_millis(window.from.millis() - length), to: window.from }
}

/// Reads the page's data; the independent reads run side by side on the
/// read pool.
/// `within`: the projects the viewer may see, None for all.
pub async fn load(store: &Store, view: &View, within: Option<Vec<String>>) -> StoreResult<Dashboard> {
    let (window, filter, by) = (view.window, view.filter.clone(), view.by);
    let interval = interval_for(window);
    // The UI chooses among windows of at most a year (weekly: 53 buckets),
    // and a custom window is checked by the caller, so this always fits.
    let bounds = insights::buckets(window, interval).unwrap_or_default();
    let previous_window = previous(window);

    // Every group is accumulated, then the page keeps the largest: one scan
    // instead of /dora/breakdown's two. The samples a group keeps are its
    // share of the window's, so memory grows with the window, not the groups.
    let sink = BucketsAndGroups { buckets: Buckets::new(bounds.clone()), groups: Groups::default() };
    let current = store.scan_window(window.from, window.to, filter.clone(), Some(by), sink);
    let before = store.scan_window(previous_window.from, previous_window.to, filter.clone(), None, Whole::default());
    let incidents = store.incidents(IncidentFilter {
        state: Some(IncidentState::InProgress),
        project_ids: filter.project_ids.clone(),
        team_ids: filter.team_ids.clone(),
        environments: filter.environments.clone(),
        range: TimeRange::default(),
        page: Page { limit: LIST_LENGTH, offset: 0, order: Order::Desc },
    });
    let deployments = store.deployments(DeploymentFilter {
        project_ids: filter.project_ids.clone(),
        team_ids: filter.team_ids.clone(),
        environments: filter.environments.clone(),
        statuses: Vec::<DeploymentStatus>::new(),
        range: TimeRange { from: None, to: Some(window.to) },
        page: Page { limit: LIST_LENGTH, offset: 0, order: Order::Desc },
    });
    let pull_requests =
        store.cycle_time_rows(window.from, window.to, filter.project_ids.clone(), filter.team_ids.clone());
    let latest_merged =
        store.latest_merged(window.from, window.to, filter.project_ids.clone(), filter.team_ids.clone(), LIST_LENGTH);
    let (
        current,
        before,
        open_incidents,
        latest_deployments,
        filter_values,
        has_deployments,
        pull_requests,
        latest_merged,
    ) = tokio::try_join!(
        current,
        before,
        incidents,
        deployments,
        store.filter_values(within.clone()),
        store.has_deployments(within.clone()),
        pull_requests,
        latest_merged
    )?;
    let merged_per_bucket = bounds
        .iter()
        .map(|&(start, end)| {
            let inside = |r: &&MergedRow| r.times.merged_at.is_some_and(|m| start <= m.millis() && m.millis() < end);
            pull_requests.merged.iter().filter(inside).count() as u64
        })
        .collect();
    let counted = Filters::new(&filter, filter.environments.clone());
    let cycle_time = cycle_time::report(window, counted, pull_requests, DEFAULT_MIN_GROUP_SIZE);

    let both = current;
    let mut whole = Accumulator::default();
    let buckets = both
        .buckets
        .into_parts()
        .map(|((start, end), acc)| {
            whole.merge(&acc);
            (start, end, acc.finish(end - start))
        })
        .collect();
    let length = window.to.millis() - window.from.millis();
    Ok(Dashboard {
        window,
        interval,
        current: whole.finish(length),
        previous: before.0.finish(length),
        buckets,
        breakdown: largest(
            both.groups.breakdown(window, by, &Filters::new(&filter, filter.environments.clone()), 0),
            DEFAULT_BREAKDOWN_LIMIT,
        ),
        open_incidents,
        latest_deployments,
        filter_values,
        has_deployments,
        cycle_time,
        merged_per_bucket,
        latest_merged,
    })
}

/// The `limit` groups with most deployments (the breakdown's own order),
/// counting the others as omitted, as `/dora/breakdown?limit=` does.
fn largest(mut breakdown: Breakdown, limit: usize) -> Breakdown {
    breakdown.omitted_groups = breakdown.groups.len().saturating_sub(limit) as u64;
    breakdown.groups.truncate(limit);
    breakdown
}

/// Sends each row of the window to its trend bucket and to its breakdown
/// group: one scan for both.
struct BucketsAndGroups {
    buckets: Buckets,
    groups: Groups,
}

impl WindowSink for BucketsAndGroups {
    fn deployed(&mut self, row: DeployedRow, group: Option<&str>) {
        self.buckets.deployed(row, group);
        self.groups.deployed(row, group);
    }
    fn change(&mut self, row: ChangeRow, group: Option<&str>) {
        self.buckets.change(row, group);
        self.groups.change(row, group);
    }
    fn places_changes_in_time(&self) -> bool {
        true
    }
    fn failed(&mut self, row: FailedRow, group: Option<&str>) {
        self.buckets.failed(row, group);
        self.groups.failed(row, group);
    }
    fn incident(&mut self, row: IncidentRow, group: Option<&str>) {
        self.buckets.incident(row, group);
        self.groups.incident(row, group);
    }
}
