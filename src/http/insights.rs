//! `/dora`, `/dora/trend` and `/dora/breakdown`: the service's own answers.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::access::Caller;
use super::error::{AppError, ErrorBody, Result};
use super::extract::{blank_is_none, comma_list, Query};
use crate::auth::Principal;
use crate::insights::cycle_time::CycleTimeReport;
use crate::insights::{self, Breakdown, Buckets, DoraReport, Environments, Filters, Interval, Trend, Whole, Window};
use crate::state::AppState;
use crate::store::{GroupBy, WindowFilter};
use crate::time::Timestamp;

/// Default window: the 30 days up to now.
const DEFAULT_WINDOW_MS: i64 = 30 * 86_400_000;

/// Parameters every insight takes. Times are RFC 3339 or Unix seconds.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DoraParams {
    /// Inclusive; default `to` minus 30 days.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    /// Exclusive; default now.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub to: Option<Timestamp>,
    /// Repeatable or comma-separated.
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    /// Default: the production environments (EM_METRICS_PRODUCTION_ENVIRONMENTS
    /// and DEPLOYMENT_ENVIRONMENT); `*` counts every environment.
    #[serde(default, deserialize_with = "comma_list")]
    pub environment: Vec<String>,
}

// TrendParams and BreakdownParams repeat DoraParams' fields on purpose:
// through `#[serde(flatten)]` serde_html_form no longer collects repeated
// keys into the lists (a test caught it), and utoipa's IntoParams cannot
// flatten another IntoParams struct.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrendParams {
    /// `day`, `week` (UTC, starting Monday; the default) or `month`.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub interval: Option<Interval>,
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub to: Option<Timestamp>,
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    /// Default: the production environments (EM_METRICS_PRODUCTION_ENVIRONMENTS
    /// and DEPLOYMENT_ENVIRONMENT); `*` counts every environment.
    #[serde(default, deserialize_with = "comma_list")]
    pub environment: Vec<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BreakdownParams {
    /// Most groups returned, 1 to 1000 (default 100); the ones with most
    /// deployments come first and `omitted_groups` counts the rest.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `team_id` (the default), `project_id` or `environment`.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub by: Option<GroupBy>,
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub to: Option<Timestamp>,
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    /// Default: the production environments (EM_METRICS_PRODUCTION_ENVIRONMENTS
    /// and DEPLOYMENT_ENVIRONMENT); `*` counts every environment.
    #[serde(default, deserialize_with = "comma_list")]
    pub environment: Vec<String>,
}

/// Parameters of `/dora/cycle-time`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CycleTimeParams {
    /// Inclusive, on merged_at; default `to` minus 30 days.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    /// Exclusive; default now.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub to: Option<Timestamp>,
    /// Repeatable or comma-separated.
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
}

/// The window, what the store filters on, and the filters echoed back.
/// No `environment` means the production environments (every one when
/// `every_by_default`: a breakdown by environment); `*` means every one.
/// A caller limited to projects counts only those.
async fn selection(
    state: &AppState,
    caller: &Principal,
    (from, to): (Option<Timestamp>, Option<Timestamp>),
    project_ids: Vec<String>,
    team_ids: Vec<String>,
    environments: Vec<String>,
    every_by_default: bool,
) -> Result<(Window, WindowFilter, Filters)> {
    let to = to.unwrap_or_else(Timestamp::now);
    let from = from.unwrap_or_else(|| Timestamp::from_millis(to.millis() - DEFAULT_WINDOW_MS));
    if from >= to {
        return Err(AppError::bad_field("from", format!("from ({from}) must be before to ({to})")));
    }
    let production = state.attribution.production(&state.default_environment);
    let environments = Environments::choose(environments, production, every_by_default)
        .map_err(|why| AppError::bad_field("environment", why))?;
    let project_ids = caller.scope.narrow(project_ids)?;
    let filter = WindowFilter { project_ids, team_ids, environments: environments.filter() };
    let counted = match environments {
        Environments::Only(list) => list,
        Environments::Every => state.store.environments().await?,
    };
    let filters = Filters::new(&filter, counted);
    Ok((Window { from, to }, filter, filters))
}

#[utoipa::path(get, path = "/dora", tag = "insights", params(DoraParams),
    responses(
        (status = 200, description = "The five key metrics with levels, and more, for the window", body = DoraReport),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn dora(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<DoraParams>,
) -> Result<Json<DoraReport>> {
    let (window, filter, filters) =
        selection(&state, &caller, (q.from, q.to), q.project_id, q.team_id, q.environment, false).await?;
    let whole = state.store.scan_window(window.from, window.to, filter, None, Whole::default()).await?;
    Ok(Json(whole.report(window, &filters)))
}

#[utoipa::path(get, path = "/dora/trend", tag = "insights", params(TrendParams),
    responses(
        (status = 200, description = "Every UTC bucket of the window, empty ones included", body = Trend),
        (status = 400, description = "Invalid parameter, or more than 1000 buckets", body = ErrorBody),
    ))]
pub async fn trend(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<TrendParams>,
) -> Result<Json<Trend>> {
    let interval = q.interval.unwrap_or_default();
    let (window, filter, filters) =
        selection(&state, &caller, (q.from, q.to), q.project_id, q.team_id, q.environment, false).await?;
    let bounds = insights::buckets(window, interval).ok_or_else(|| {
        AppError::bad_field(
            "interval",
            format!(
                "the window has more than {} {} buckets: use a longer interval or a shorter window",
                insights::MAX_BUCKETS,
                interval.as_str()
            ),
        )
    })?;
    let rows = state.store.cycle_time_rows(window.from, window.to, filter.project_ids.clone(), filter.team_ids.clone());
    let buckets = state.store.scan_window(window.from, window.to, filter, None, Buckets::new(bounds));
    let (buckets, rows) = tokio::try_join!(buckets, rows)?;
    let mut trend = buckets.trend(window, interval, &filters);
    insights::cycle_time::fill_trend(&mut trend, &rows.merged);
    Ok(Json(trend))
}

#[utoipa::path(get, path = "/dora/breakdown", tag = "insights", params(BreakdownParams),
    responses(
        (status = 200, description = "One /dora body per team, project or environment with data", body = Breakdown),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn breakdown(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<BreakdownParams>,
) -> Result<Json<Breakdown>> {
    let by = q.by.unwrap_or_default();
    let limit = match q.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => insights::DEFAULT_BREAKDOWN_LIMIT,
        Some(text) => {
            text.parse::<usize>().ok().filter(|l| (1..=insights::MAX_BREAKDOWN_LIMIT).contains(l)).ok_or_else(|| {
                AppError::bad_field(
                    "limit",
                    format!("limit must be a whole number from 1 to {}", insights::MAX_BREAKDOWN_LIMIT),
                )
            })?
        }
    };
    let every_by_default = by == GroupBy::Environment;
    let (window, filter, filters) =
        selection(&state, &caller, (q.from, q.to), q.project_id, q.team_id, q.environment, every_by_default).await?;
    // Two passes keep memory to `limit` groups however many there are: first
    // the size of every group, then the rows of the largest ones only.
    let sizes = state.store.group_sizes(window.from, window.to, filter.clone(), by).await?;
    let (groups, omitted) = insights::largest_groups(sizes, limit);
    let rows = state.store.cycle_time_rows(window.from, window.to, filter.project_ids.clone(), filter.team_ids.clone());
    let groups = state.store.scan_window(window.from, window.to, filter, Some(by), groups);
    let (groups, rows) = tokio::try_join!(groups, rows)?;
    let mut breakdown = groups.breakdown(window, by, &filters, omitted);
    insights::cycle_time::fill_breakdown(&mut breakdown, by, &rows.merged);
    Ok(Json(breakdown))
}

#[utoipa::path(get, path = "/dora/cycle-time", tag = "insights", params(CycleTimeParams),
    responses(
        (status = 200, description = "The stages of the pull requests merged in the window, and their counts", body = CycleTimeReport),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn cycle_time(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<CycleTimeParams>,
) -> Result<Json<CycleTimeReport>> {
    // Shipping counts in the production environments only: those are
    // echoed in `filters.environment`.
    let (window, filter, filters) =
        selection(&state, &caller, (q.from, q.to), q.project_id, q.team_id, Vec::new(), false).await?;
    let rows = state.store.cycle_time_rows(window.from, window.to, filter.project_ids, filter.team_ids).await?;
    Ok(Json(insights::cycle_time::report(window, filters, rows, state.min_group_size)))
}
