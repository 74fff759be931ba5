//! `/dora`, `/dora/trend` and `/dora/breakdown`: the service's own answers.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{AppError, ErrorBody, Result};
use super::extract::{list, Query};
use super::{time_param, AppState};
use crate::insights::{self, Breakdown, Buckets, DoraReport, Groups, Interval, Trend, Whole, Window};
use crate::store::{GroupBy, WindowFilter};
use crate::time::Timestamp;

/// Default window: the 30 days up to now.
const DEFAULT_WINDOW_MS: i64 = 30 * 86_400_000;

/// Parameters every insight takes. Times are RFC 3339 or Unix seconds.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoraParams {
    /// Inclusive; default `to` minus 30 days.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Exclusive; default now.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// Repeatable or comma-separated.
    #[serde(default)]
    pub project_id: Vec<String>,
    #[serde(default)]
    pub team_id: Vec<String>,
    #[serde(default)]
    pub environment: Vec<String>,
}

// TrendParams and BreakdownParams repeat DoraParams' fields on purpose:
// through `#[serde(flatten)]` serde_html_form no longer collects repeated
// keys into the lists (a test caught it), and utoipa's IntoParams cannot
// flatten another IntoParams struct.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// `day`, `week` (UTC, starting Monday; the default) or `month`.
    #[param(value_type = Option<IntervalName>)]
    pub interval: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    #[serde(default)]
    pub project_id: Vec<String>,
    #[serde(default)]
    pub team_id: Vec<String>,
    #[serde(default)]
    pub environment: Vec<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownParams {
    /// `team_id` (the default), `project_id` or `environment`.
    #[param(value_type = Option<GroupName>)]
    pub by: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    #[serde(default)]
    pub project_id: Vec<String>,
    #[serde(default)]
    pub team_id: Vec<String>,
    #[serde(default)]
    pub environment: Vec<String>,
}

/// The values of `interval=` (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub enum IntervalName {
    Day,
    Week,
    Month,
}

/// The values of `by=` (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum GroupName {
    TeamId,
    ProjectId,
    Environment,
}

/// Window and filters from the common parameters.
fn window_and_filter(
    from: Option<&str>,
    to: Option<&str>,
    project_id: &[String],
    team_id: &[String],
    environment: &[String],
) -> Result<(Window, WindowFilter)> {
    let to_time = time_param("to", to)?.unwrap_or_else(Timestamp::now);
    let from_time = match time_param("from", from)? {
        Some(from) => from,
        None => Timestamp::from_millis(to_time.millis() - DEFAULT_WINDOW_MS),
    };
    if from_time >= to_time {
        return Err(AppError::bad_field("from", format!("from ({from_time}) must be before to ({to_time})")));
    }
    let filter =
        WindowFilter { project_ids: list(project_id), team_ids: list(team_id), environments: list(environment) };
    Ok((Window { from: from_time, to: to_time }, filter))
}

#[utoipa::path(get, path = "/dora", tag = "insights", params(DoraParams),
    responses(
        (status = 200, description = "The four keys with levels, and more, for the window", body = DoraReport),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn dora(State(state): State<AppState>, Query(q): Query<DoraParams>) -> Result<Json<DoraReport>> {
    let (window, filter) =
        window_and_filter(q.from.as_deref(), q.to.as_deref(), &q.project_id, &q.team_id, &q.environment)?;
    let whole = state.store.scan_window(window.from, window.to, filter.clone(), None, Whole::default()).await?;
    Ok(Json(whole.report(window, &filter)))
}

#[utoipa::path(get, path = "/dora/trend", tag = "insights", params(TrendParams),
    responses(
        (status = 200, description = "Every UTC bucket of the window, empty ones included", body = Trend),
        (status = 400, description = "Invalid parameter, or more than 1000 buckets", body = ErrorBody),
    ))]
pub async fn trend(State(state): State<AppState>, Query(q): Query<TrendParams>) -> Result<Json<Trend>> {
    let interval = match q.interval.as_deref().map(str::trim) {
        None | Some("") => Interval::Week,
        Some(text) => Interval::parse(text).ok_or_else(|| {
            AppError::bad_field("interval", format!("`{text}` is not an interval: use day, week or month"))
        })?,
    };
    let (window, filter) =
        window_and_filter(q.from.as_deref(), q.to.as_deref(), &q.project_id, &q.team_id, &q.environment)?;
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
    let buckets = state.store.scan_window(window.from, window.to, filter.clone(), None, Buckets::new(bounds)).await?;
    Ok(Json(buckets.trend(window, interval, &filter)))
}

#[utoipa::path(get, path = "/dora/breakdown", tag = "insights", params(BreakdownParams),
    responses(
        (status = 200, description = "One /dora body per team, project or environment with data", body = Breakdown),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn breakdown(State(state): State<AppState>, Query(q): Query<BreakdownParams>) -> Result<Json<Breakdown>> {
    let by = match q.by.as_deref().map(str::trim) {
        None | Some("") | Some("team_id") => GroupBy::TeamId,
        Some("project_id") => GroupBy::ProjectId,
        Some("environment") => GroupBy::Environment,
        Some(other) => {
            return Err(AppError::bad_field(
                "by",
                format!("`{other}` is not a breakdown: use team_id, project_id or environment"),
            ))
        }
    };
    let (window, filter) =
        window_and_filter(q.from.as_deref(), q.to.as_deref(), &q.project_id, &q.team_id, &q.environment)?;
    let groups = state.store.scan_window(window.from, window.to, filter.clone(), Some(by), Groups::default()).await?;
    Ok(Json(groups.breakdown(window, by, &filter)))
}
