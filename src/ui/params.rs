//! The dashboard's query string: which window, which filters, which
//! breakdown and order. Parsed once into a [`View`], which also writes the
//! links that change one part of it and keep the rest.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::http::error::AppError;
use crate::http::extract::{blank_is_none, comma_list};
use crate::insights::{Environments, Window};
use crate::store::{GroupBy, WindowFilter};
use crate::time::Timestamp;

/// The windows the header offers, in days.
pub const WINDOW_DAYS: [u32; 5] = [7, 30, 90, 180, 365];
pub const DEFAULT_DAYS: u32 = 30;
/// Longest custom window: three years of weekly buckets still draw well.
pub const MAX_CUSTOM_DAYS: i64 = 3 * 366;
/// `refresh=` bounds, in seconds: a wall screen, not a load test.
pub const MIN_REFRESH: u32 = 10;
pub const MAX_REFRESH: u32 = 86_400;
const MS_PER_DAY: i64 = 86_400_000;

/// The raw parameters. Everything is text here and parsed in [`View::parse`],
/// so each error names its parameter in words a person can act on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiParams {
    /// 7, 30, 90, 180 or 365; blank with `from` means a custom window.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub days: Option<String>,
    /// A date (`2024-05-01`, from its start), RFC 3339 or Unix seconds.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub from: Option<String>,
    /// A date (up to the end of that day), RFC 3339 or Unix seconds; never
    /// later than now.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub environment: Vec<String>,
    /// The breakdown's grouping: `team_id` (default), `project_id`, `environment`.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub by: Option<GroupBy>,
    #[serde(default, deserialize_with = "blank_is_none")]
    pub sort: Option<SortKey>,
    #[serde(default, deserialize_with = "blank_is_none")]
    pub dir: Option<Direction>,
    /// Reload the page every this many seconds (a TV on the wall).
    #[serde(default, deserialize_with = "blank_is_none")]
    pub refresh: Option<String>,
}

/// A breakdown column to sort by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    Key,
    #[default]
    DeploymentFrequency,
    LeadTime,
    ChangeFailureRate,
    RecoveryTime,
    ReworkRate,
    Level,
}

impl SortKey {
    pub const ALL: [SortKey; 7] = [
        Self::Key,
        Self::DeploymentFrequency,
        Self::LeadTime,
        Self::ChangeFailureRate,
        Self::RecoveryTime,
        Self::ReworkRate,
        Self::Level,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::DeploymentFrequency => "deployment_frequency",
            Self::LeadTime => "lead_time",
            Self::ChangeFailureRate => "change_failure_rate",
            Self::RecoveryTime => "recovery_time",
            Self::ReworkRate => "rework_rate",
            Self::Level => "level",
        }
    }

    /// The first click on a column sorts best first: most deployments, the
    /// shortest times and lowest rates, the best level; names A to Z.
    pub fn best_first(self) -> Direction {
        match self {
            Self::DeploymentFrequency => Direction::Desc,
            _ => Direction::Asc,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }

    pub fn flip(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }
}

/// What the page shows, parsed and checked.
#[derive(Debug, Clone)]
pub struct View {
    pub window: Window,
    /// The chosen preset; None for a custom window.
    pub days: Option<u32>,
    /// The custom window's parameters as given, kept for the links.
    custom: Option<(String, Option<String>)>,
    /// What the store filters on (its environments are [`View::environments`]'s).
    pub filter: WindowFilter,
    /// The environments counted: the production ones unless others (or
    /// every one, `*`) were chosen.
    pub environments: Environments,
    /// Whether the viewer chose the environments (else the links leave
    /// them out: the default is the production ones everywhere).
    environments_chosen: bool,
    pub by: GroupBy,
    pub sort: SortKey,
    pub dir: Direction,
    pub refresh: Option<u32>,
}

impl View {
    /// `production` is what the page counts when no environment is chosen.
    pub fn parse(p: UiParams, now: Timestamp, production: Vec<String>) -> Result<Self, AppError> {
        let to = match &p.to {
            None => now,
            Some(text) => time(text, "to", End::Exclusive)?.min(now),
        };
        let days = match p.days.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<u32>().ok().filter(|d| WINDOW_DAYS.contains(d)).ok_or_else(|| {
                AppError::bad_field("days", format!("days must be one of {WINDOW_DAYS:?}, or blank with from and to"))
            })?),
        };
        let (window, days, custom) = match (days, &p.from) {
            (None, Some(from_text)) => {
                let from = time(from_text, "from", End::Inclusive)?;
                if from >= to {
                    return Err(AppError::bad_field("from", format!("from ({from}) must be before to ({to})")));
                }
                if to.millis() - from.millis() > MAX_CUSTOM_DAYS * MS_PER_DAY {
                    return Err(AppError::bad_field(
                        "from",
                        format!("a custom window is at most {MAX_CUSTOM_DAYS} days long"),
                    ));
                }
                (Window { from, to }, None, Some((from_text.clone(), p.to.clone())))
            }
            (days, _) => {
                let days = days.unwrap_or(DEFAULT_DAYS);
                let from = Timestamp::from_millis(to.millis() - i64::from(days) * MS_PER_DAY);
                let custom_to = p.to.clone().map(|t| (String::new(), Some(t)));
                (Window { from, to }, Some(days), custom_to)
            }
        };
        let refresh = match p.refresh.as_deref() {
            None => None,
            Some(text) => {
                Some(text.parse::<u32>().ok().filter(|r| (MIN_REFRESH..=MAX_REFRESH).contains(r)).ok_or_else(|| {
                    AppError::bad_field(
                        "refresh",
                        format!("refresh must be a number of seconds from {MIN_REFRESH} to {MAX_REFRESH}"),
                    )
                })?)
            }
        };
        let sort = p.sort.unwrap_or_default();
        let environments_chosen = !p.environment.is_empty();
        // "All environments" picked beside others in the select means all of them.
        let mut p = p;
        if p.environment.iter().any(|e| e == Environments::EVERY) {
            p.environment = vec![Environments::EVERY.to_string()];
        }
        let environments = Environments::choose(p.environment, production, false)
            .map_err(|why| AppError::bad_field("environment", why))?;
        Ok(Self {
            window,
            days,
            custom,
            filter: WindowFilter {
                project_ids: p.project_id,
                team_ids: p.team_id,
                environments: environments.filter(),
            },
            environments,
            environments_chosen,
            by: p.by.unwrap_or_default(),
            dir: p.dir.unwrap_or_else(|| sort.best_first()),
            sort,
            refresh,
        })
    }

    /// The page's own link with the breakdown grouped and sorted anew; the
    /// window, filters and refresh stay.
    pub fn href(&self, by: GroupBy, sort: SortKey, dir: Direction) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        match (&self.days, &self.custom) {
            (Some(days), custom) => {
                pairs.push(("days", days.to_string()));
                if let Some((_, Some(to))) = custom {
                    pairs.push(("to", to.clone()));
                }
            }
            (None, Some((from, to))) => {
                pairs.push(("from", from.clone()));
                if let Some(to) = to {
                    pairs.push(("to", to.clone()));
                }
            }
            (None, None) => {}
        }
        let environments = self.environment_params();
        let lists = [("team_id", &self.filter.team_ids), ("project_id", &self.filter.project_ids)];
        for (name, values) in lists.into_iter().chain([("environment", &environments)]) {
            pairs.extend(values.iter().map(|v| (name, v.clone())));
        }
        pairs.push(("by", crate::insights::group_name(by).to_string()));
        pairs.push(("sort", sort.as_str().to_string()));
        pairs.push(("dir", dir.as_str().to_string()));
        if let Some(r) = self.refresh {
            pairs.push(("refresh", r.to_string()));
        }
        format!("/ui?{}", serde_html_form::to_string(&pairs).unwrap_or_default())
    }

    /// Whether the viewer chose the environments (else they are the default).
    pub fn environments_chosen(&self) -> bool {
        self.environments_chosen
    }

    /// The `environment=` values that ask for this page's environments:
    /// none for the default (the production ones).
    pub fn environment_params(&self) -> Vec<String> {
        match &self.environments {
            _ if !self.environments_chosen => Vec::new(),
            Environments::Only(list) => list.clone(),
            Environments::Every => vec![Environments::EVERY.to_string()],
        }
    }

    /// The custom window's `from` and `to` as given (for the date fields).
    pub fn custom_dates(&self) -> (Option<&str>, Option<&str>) {
        match (&self.days, &self.custom) {
            (None, Some((from, to))) => (Some(from.as_str()), to.as_deref()),
            _ => (None, None),
        }
    }
}

/// Which edge a bare date stands for: a `from` date is its first instant, a
/// `to` date includes the whole day, so it ends at the next midnight.
enum End {
    Inclusive,
    Exclusive,
}

fn time(text: &str, field: &str, end: End) -> Result<Timestamp, AppError> {
    if let Ok(date) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let date = match end {
            End::Inclusive => Some(date),
            End::Exclusive => date.succ_opt(),
        };
        let ms = date.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp_millis());
        return ms
            .map(Timestamp::from_millis)
            .ok_or_else(|| AppError::bad_field(field, format!("{field}: `{text}` is out of range")));
    }
    Timestamp::parse(text)
        .map_err(|why| AppError::bad_field(field, format!("{field}: {why}, or a date like 2024-05-01")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(query: &str) -> Result<View, AppError> {
        let now = Timestamp::parse("2024-06-01T12:00:00Z").expect("time");
        View::parse(serde_html_form::from_str(query).expect("query"), now, vec!["production".into()])
    }

    #[test]
    fn the_default_window_is_the_last_30_days_up_to_now() {
        let v = view("").expect("ok");
        assert_eq!(v.window.to.to_rfc3339(), "2024-06-01T12:00:00.000Z");
        assert_eq!(v.window.from.to_rfc3339(), "2024-05-02T12:00:00.000Z");
        assert_eq!(v.days, Some(30));
    }

    #[test]
    fn dates_cover_whole_days_and_never_reach_past_now() {
        let v = view("from=2024-05-01&to=2024-05-07").expect("ok");
        assert_eq!(v.window.from.to_rfc3339(), "2024-05-01T00:00:00.000Z");
        assert_eq!(v.window.to.to_rfc3339(), "2024-05-08T00:00:00.000Z");
        let v = view("from=2024-05-01&to=2024-06-01").expect("ok");
        assert_eq!(v.window.to.to_rfc3339(), "2024-06-01T12:00:00.000Z", "today ends now");
    }

    #[test]
    fn a_preset_wins_over_custom_dates_and_keeps_the_end() {
        let v = view("days=7&from=2024-01-01&to=2024-05-10").expect("ok");
        assert_eq!(v.window.from.to_rfc3339(), "2024-05-04T00:00:00.000Z");
        assert!(v.href(GroupBy::TeamId, SortKey::Key, Direction::Asc).starts_with("/ui?days=7&to=2024-05-10&"));
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (query, field) in [
            ("days=8", "days"),
            ("from=yesterday", "from"),
            ("from=2024-05-10&to=2024-05-01", "from"),
            ("from=2019-01-01", "from"),
            ("refresh=1", "refresh"),
            ("to=2024-13-01", "to"),
        ] {
            match view(query) {
                Err(AppError::BadRequest { field: Some(f), .. }) => assert_eq!(f, field, "{query}"),
                other => panic!("{query}: {other:?}"),
            }
        }
    }

    #[test]
    fn links_keep_filters_and_refresh() {
        let v = view("team_id=a%20b&team_id=c&refresh=60").expect("ok");
        let href = v.href(GroupBy::ProjectId, SortKey::LeadTime, Direction::Desc);
        assert_eq!(href, "/ui?days=30&team_id=a+b&team_id=c&by=project_id&sort=lead_time&dir=desc&refresh=60");
    }
}
