//! The dashboard's HTML, written with maud: every value goes through its
//! escaping, so a project name or incident title is always shown as text.

use maud::{html, Markup, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::charts::{self, Series, Unit};
use super::data::Dashboard;
use super::format;
use super::params::{Direction, SortKey, View, WINDOW_DAYS};
use crate::auth::{Need, Principal};
use crate::domain::{Deployment, Incident};
use crate::insights::{BreakdownGroup, DoraMetrics, Environments, Interval, Level};
use crate::store::GroupBy;
use crate::time::Timestamp;

/// Bumped with the binary, so a browser never keeps last version's CSS.
const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The frame every page shares: head, stylesheet, script, icon.
pub fn layout(title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                @if let Some(seconds) = refresh {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (title) }
                link rel="icon" href={ "/ui/static/favicon.svg?v=" (ASSET_VERSION) } type="image/svg+xml";
                link rel="stylesheet" href={ "/ui/static/app.css?v=" (ASSET_VERSION) };
                script src={ "/ui/static/app.js?v=" (ASSET_VERSION) } defer {}
            }
            body { (body) }
        }
    }
}

/// Who is looking, and how: decides the sign-out button and the Tokens link.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// A sign-in's session cookie (else credentials sent with every
    /// request, or EM_METRICS_NO_AUTH: nothing to sign out of).
    pub session: bool,
}

pub fn dashboard(d: &Dashboard, view: &View, viewer: &Viewer, now: Timestamp) -> Markup {
    let body = html! {
        header.top {
            div.title {
                h1 { "DORA metrics" }
                p.window data-from=(d.window.from.to_rfc3339()) data-to=(d.window.to.to_rfc3339()) {
                    (window_text(d, view))
                }
            }
            div.overall {
                span { "Overall level" }
                (badge(d.current.level))
            }
            (account(viewer))
        }
        (filters(d, view))
        main {
            @if !d.has_deployments {
                (first_steps())
            } @else if d.current.deployment_frequency.deployments == 0 && d.current.failed_deployments == 0 {
                p.notice { "No deployments in this window. Choose a longer window, or clear the filters." }
            }
            (tiles(d, view))
            (trends(d))
            (cycle_time(d))
            (breakdown(d, view))
            div.lists {
                (open_incidents(&d.open_incidents, now))
                (latest_deployments(&d.latest_deployments))
            }
        }
        footer {
            p {
                "Computed from every stored event at " (time(now)) ". The same numbers as JSON: "
                a href=(dora_link(view)) { "/dora" } "."
            }
        }
    };
    layout("DORA metrics · em-metrics", view.refresh, body)
}

fn window_text(d: &Dashboard, view: &View) -> String {
    let (from, to) = (time(d.window.from), time(d.window.to));
    match view.days {
        Some(days) => format!("The last {days} days: {from} to {to} UTC"),
        None => format!("{from} to {to} UTC"),
    }
}

/// The header's form: window and filters. Plain GET, so it works without
/// JavaScript; the script only submits it when a choice changes.
fn filters(d: &Dashboard, view: &View) -> Markup {
    let (from, to) = view.custom_dates();
    let values = &d.filter_values;
    html! {
        form.filters method="get" action="/ui" {
            label {
                "Window"
                select name="days" {
                    @for days in WINDOW_DAYS {
                        option value=(days) selected[view.days == Some(days)] { "Last " (days) " days" }
                    }
                    option value="" selected[view.days.is_none()] { "From–to" }
                }
            }
            label { "From" input type="date" name="from" value=[from]; }
            label { "To" input type="date" name="to" value=[to]; }
            (multi_select("Team", "team_id", &values.team_ids, &view.filter.team_ids))
            (multi_select("Project", "project_id", &values.project_ids, &view.filter.project_ids))
            (environment_select(&values.environments, &view.environments, view.environments_chosen()))
            input type="hidden" name="by" value=(crate::insights::group_name(view.by));
            @if let Some(r) = view.refresh {
                input type="hidden" name="refresh" value=(r);
            }
            button type="submit" { "Apply" }
            a.clear href="/ui" { "Clear" }
        }
    }
}

fn multi_select(label: &str, name: &str, offered: &[String], chosen: &[String]) -> Markup {
    // A chosen value the store does not list (yet) stays selectable.
    let extra: Vec<&String> = chosen.iter().filter(|c| !offered.contains(c)).collect();
    html! {
        label {
            (label)
            select name=(name) multiple size="3" {
                @for value in offered.iter().chain(extra) {
                    option value=(value) selected[chosen.contains(value)] { (value) }
                }
            }
        }
    }
}

/// The environments: the production ones are chosen unless the viewer
/// chose others, or every environment.
fn environment_select(offered: &[String], counted: &Environments, chosen_by_viewer: bool) -> Markup {
    let chosen: &[String] = match counted {
        Environments::Only(list) => list,
        Environments::Every => &[],
    };
    // A value the viewer chose stays selectable even when the store has no
    // event in it; a default production name without data is left out.
    let extra: Vec<&String> = chosen.iter().filter(|c| chosen_by_viewer && !offered.contains(c)).collect();
    html! {
        label {
            "Environment"
            select name="environment" multiple size="3" {
                option value=(Environments::EVERY) selected[*counted == Environments::Every] { "All environments" }
                @for value in offered.iter().chain(extra) {
                    option value=(value) selected[chosen.contains(value)] { (value) }
                }
            }
        }
    }
}

/// What a newcomer does next when nothing is stored yet.
fn first_steps() -> Markup {
    html! {
        section.empty aria-labelledby="first-steps" {
            h2 #first-steps { "No deployments yet" }
            p { "Record a first deployment from your pipeline (with a token of role ingest: em-metrics token create --name ci --role ingest):" }
            pre { code {
                "curl -sS --fail-with-body -X POST \"$EM_METRICS_URL/api/v1/deployments\" \\\n"
                "  -H \"Authorization: Bearer $EM_METRICS_TOKEN\" \\\n"
                "  -d '{\"id\": \"run-1\", \"project_id\": \"api\", \"first_commit_at\": \"2024-05-01T08:00:00Z\", \"deployed_at\": \"2024-05-01T09:00:00Z\"}'"
            } }
            p { "Or fill a database with 90 days of a made-up organisation and serve that:" }
            pre { code { "em-metrics demo --days 90 --seed 1 --sqlite-db demo.db\nSQLITE_DB=demo.db em-metrics" } }
        }
    }
}

/// One tile per DORA key.
struct Tile {
    key: &'static str,
    name: &'static str,
    value: Option<f64>,
    text: String,
    /// Samples behind the value: "42 deployments".
    detail: String,
    level: Option<Level>,
    /// Rework rate has no DORA levels.
    has_levels: bool,
    previous: Option<f64>,
    higher_is_better: bool,
    unit: Unit,
    spark: Vec<Option<f64>>,
}

fn tile_list(d: &Dashboard) -> [Tile; 5] {
    let (m, p) = (&d.current, &d.previous);
    let spark = |f: &dyn Fn(&DoraMetrics) -> Option<f64>| d.buckets.iter().map(|(_, _, b)| f(b)).collect();
    let duration_text = |v: Option<f64>| v.map_or_else(|| "no data".to_string(), format::duration);
    let rate_text = |v: Option<f64>| v.map_or_else(|| "no data".to_string(), format::percent);
    let deployments = m.deployment_frequency.deployments;
    [
        Tile {
            key: "deployment_frequency",
            name: "Deployment frequency",
            value: Some(m.deployment_frequency.per_day),
            text: format::frequency(m.deployment_frequency.per_day),
            detail: format!("{} deployments", format::count(deployments)),
            level: m.deployment_frequency.level,
            has_levels: true,
            previous: (p.deployment_frequency.deployments > 0).then_some(p.deployment_frequency.per_day),
            higher_is_better: true,
            unit: Unit::Count,
            spark: spark(&|b| Some(b.deployment_frequency.deployments as f64)),
        },
        Tile {
            key: "lead_time_for_changes",
            name: "Change lead time (median)",
            value: m.lead_time_for_changes.median_seconds,
            text: duration_text(m.lead_time_for_changes.median_seconds),
            detail: format!("{} changes", format::count(m.lead_time_for_changes.samples)),
            level: m.lead_time_for_changes.level,
            has_levels: true,
            previous: p.lead_time_for_changes.median_seconds,
            higher_is_better: false,
            unit: Unit::Seconds,
            spark: spark(&|b| b.lead_time_for_changes.median_seconds),
        },
        Tile {
            key: "change_failure_rate",
            name: "Change fail rate",
            value: m.change_failure_rate.rate,
            text: rate_text(m.change_failure_rate.rate),
            detail: format!(
                "{} of {} deployments",
                format::count(m.change_failure_rate.change_failures),
                format::count(deployments)
            ),
            level: m.change_failure_rate.level,
            has_levels: true,
            previous: p.change_failure_rate.rate,
            higher_is_better: false,
            unit: Unit::Fraction,
            spark: spark(&|b| b.change_failure_rate.rate),
        },
        Tile {
            key: "failed_deployment_recovery_time",
            name: "Failed deployment recovery time",
            value: m.failed_deployment_recovery_time.median_seconds,
            text: duration_text(m.failed_deployment_recovery_time.median_seconds),
            detail: format!("{} recoveries", format::count(m.failed_deployment_recovery_time.samples)),
            level: m.failed_deployment_recovery_time.level,
            has_levels: true,
            previous: p.failed_deployment_recovery_time.median_seconds,
            higher_is_better: false,
            unit: Unit::Seconds,
            spark: spark(&|b| b.failed_deployment_recovery_time.median_seconds),
        },
        Tile {
            key: "rework_rate",
            name: "Deployment rework rate",
            value: m.rework_rate.rate,
            text: rate_text(m.rework_rate.rate),
            detail: format!(
                "{} of {} deployments",
                format::count(m.rework_rate.rework_deployments),
                format::count(deployments)
            ),
            level: None,
            has_levels: false,
            previous: p.rework_rate.rate,
            higher_is_better: false,
            unit: Unit::Fraction,
            spark: spark(&|b| b.rework_rate.rate),
        },
    ]
}

fn tiles(d: &Dashboard, view: &View) -> Markup {
    let period = match view.days {
        Some(days) => format!("the previous {days} days"),
        None => "the period before".to_string(),
    };
    html! {
        section.tiles aria-label="The five key metrics" {
            @for t in tile_list(d) {
                article.tile data-key=(t.key) {
                    h2 { (t.name) }
                    p.value data-value=[t.value] { (t.text) }
                    p.detail { (t.detail) }
                    @if t.has_levels { (badge(t.level)) } @else { span.level.level-none { "No DORA level" } }
                    (charts::sparkline(t.name, &t.spark))
                    (delta(&t, &period))
                }
            }
        }
    }
}

/// The change from the previous period, in words as well as colour.
fn delta(t: &Tile, period: &str) -> Markup {
    let (class, text) = match (t.value, t.previous) {
        (None, _) => ("delta same", format!("No data in this window or {period}")),
        (Some(_), None) => ("delta same", format!("No data in {period} to compare with")),
        (Some(now), Some(before)) => {
            let (change, same) = if t.unit == Unit::Fraction {
                let points = (now - before) * 100.0;
                (format!("{:.1} points", points.abs()), points.abs() < 0.05)
            } else if before == 0.0 {
                (format!("from {}", t.unit.label(0.0)), now == 0.0)
            } else {
                let relative = (now - before) / before * 100.0;
                (format!("{:.0} %", relative.abs()), relative.abs() < 0.5)
            };
            if same {
                ("delta same", format!("Same as {period}"))
            } else {
                let better = (now > before) == t.higher_is_better;
                let arrow = if now > before { "▲ up" } else { "▼ down" };
                let verdict = if better { "better" } else { "worse" };
                (
                    if better { "delta better" } else { "delta worse" },
                    format!("{arrow} {change} on {period}: {verdict}"),
                )
            }
        }
    };
    html! { p class=(class) { (text) } }
}

/// A level as a coloured badge that also says its name.
fn badge(level: Option<Level>) -> Markup {
    let text = level.map_or("No data", format::level);
    html! { span class=(format::level_class(level)) data-level=[level.map(format::level)] { (text) } }
}

fn trends(d: &Dashboard) -> Markup {
    let starts: Vec<i64> = d.buckets.iter().map(|(s, _, _)| *s).collect();
    let of = |f: &dyn Fn(&DoraMetrics) -> Option<f64>| d.buckets.iter().map(|(_, _, m)| f(m)).collect::<Vec<_>>();
    let per = match d.interval {
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
    };
    let deployments =
        Series { name: "deployments", class: "s1", values: of(&|m| Some(m.deployment_frequency.deployments as f64)) };
    let lead = [
        Series { name: "median", class: "s1", values: of(&|m| m.lead_time_for_changes.median_seconds) },
        Series { name: "p90", class: "s2", values: of(&|m| m.lead_time_for_changes.p90_seconds) },
    ];
    let cfr = [Series { name: "change fail rate", class: "s1", values: of(&|m| m.change_failure_rate.rate) }];
    let recovery =
        [Series { name: "median", class: "s1", values: of(&|m| m.failed_deployment_recovery_time.median_seconds) }];
    html! {
        section.trends aria-label="Trends" {
            figure {
                figcaption { "Deployments per " (per) }
                div.scroll.chart-box tabindex="0" { (charts::bars(&format!("Deployments per {per}"), &starts, &deployments, Unit::Count)) }
            }
            figure {
                figcaption { "Change lead time, median and p90, per " (per) }
                div.scroll.chart-box tabindex="0" { (charts::lines("Change lead time", &starts, &lead, Unit::Seconds)) }
            }
            figure {
                figcaption { "Change fail rate per " (per) }
                div.scroll.chart-box tabindex="0" { (charts::lines("Change fail rate", &starts, &cfr, Unit::Fraction)) }
            }
            figure {
                figcaption { "Failed deployment recovery time, median, per " (per) }
                div.scroll.chart-box tabindex="0" { (charts::lines("Failed deployment recovery time", &starts, &recovery, Unit::Seconds)) }
            }
        }
    }
}

fn breakdown(d: &Dashboard, view: &View) -> Markup {
    let mut groups: Vec<&BreakdownGroup> = d.breakdown.groups.iter().collect();
    sort_groups(&mut groups, view.sort, view.dir);
    let by_name = |by: GroupBy| match by {
        GroupBy::TeamId => "Team",
        GroupBy::ProjectId => "Project",
        GroupBy::Environment => "Environment",
    };
    let columns = [
        (SortKey::Key, by_name(view.by)),
        (SortKey::DeploymentFrequency, "Deployment frequency"),
        (SortKey::LeadTime, "Lead time (median)"),
        (SortKey::ChangeFailureRate, "Change fail rate"),
        (SortKey::RecoveryTime, "Recovery time (median)"),
        (SortKey::ReworkRate, "Rework rate"),
        (SortKey::Level, "Level"),
    ];
    html! {
        section.breakdown aria-labelledby="breakdown" {
            h2 #breakdown { "By " (by_name(view.by).to_lowercase()) }
            nav.switch aria-label="Group by" {
                @for by in [GroupBy::TeamId, GroupBy::ProjectId, GroupBy::Environment] {
                    @if by == view.by {
                        span aria-current="true" { (by_name(by)) }
                    } @else {
                        a href=(view.href(by, view.sort, view.dir)) { (by_name(by)) }
                    }
                }
            }
            @if groups.is_empty() {
                p.notice { "No data in this window." }
            } @else {
                div.scroll tabindex="0" {
                    table {
                        thead { tr {
                            @for (key, label) in columns {
                                @let sorted = view.sort == key;
                                @let next = if sorted { view.dir.flip() } else { key.best_first() };
                                th scope="col" aria-sort=[sorted.then(|| if view.dir == Direction::Asc { "ascending" } else { "descending" })] {
                                    a href=(view.href(view.by, key, next)) {
                                        (label)
                                        @if sorted { span.arrow aria-hidden="true" { @if view.dir == Direction::Asc { " ↑" } @else { " ↓" } } }
                                    }
                                }
                            }
                        } }
                        tbody {
                            @for g in groups {
                                @let m = &g.report.metrics;
                                tr {
                                    th scope="row" { @match &g.key { Some(k) => (k), None => em { "(none)" } } }
                                    td { (format::frequency(m.deployment_frequency.per_day)) " " (badge(m.deployment_frequency.level)) }
                                    td { (opt(m.lead_time_for_changes.median_seconds, format::duration)) " " (badge(m.lead_time_for_changes.level)) }
                                    td { (opt(m.change_failure_rate.rate, format::percent)) " " (badge(m.change_failure_rate.level)) }
                                    td { (opt(m.failed_deployment_recovery_time.median_seconds, format::duration)) " " (badge(m.failed_deployment_recovery_time.level)) }
                                    td { (opt(m.rework_rate.rate, format::percent)) }
                                    td { (badge(m.level)) }
                                }
                            }
                        }
                    }
                }
                @if d.breakdown.omitted_groups > 0 {
                    p.notice { (format::count(d.breakdown.omitted_groups)) " smaller groups are not shown; filter to see them." }
                }
            }
        }
    }
}

/// Orders the rows by a column; rows without a value for it come last
/// whichever the direction.
fn sort_groups(groups: &mut [&BreakdownGroup], key: SortKey, dir: Direction) {
    let number = |g: &BreakdownGroup| -> Option<f64> {
        let m = &g.report.metrics;
        match key {
            SortKey::Key => None,
            SortKey::DeploymentFrequency => Some(m.deployment_frequency.per_day),
            SortKey::LeadTime => m.lead_time_for_changes.median_seconds,
            SortKey::ChangeFailureRate => m.change_failure_rate.rate,
            SortKey::RecoveryTime => m.failed_deployment_recovery_time.median_seconds,
            SortKey::ReworkRate => m.rework_rate.rate,
            SortKey::Level => m.level.map(|l| l as u8 as f64),
        }
    };
    groups.sort_by(|a, b| {
        let ordering = if key == SortKey::Key {
            // The null group last, as in the JSON.
            (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key))
        } else {
            match (number(a), number(b)) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => return std::cmp::Ordering::Less,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        };
        match dir {
            Direction::Asc => ordering,
            Direction::Desc => ordering.reverse(),
        }
    });
}

/// Where lead time goes: the median of each stage of the pull requests
/// merged in the window, merges per bucket, and the latest merges.
fn cycle_time(d: &Dashboard) -> Markup {
    let c = &d.cycle_time;
    let stages = [
        ("Coding", "s1", c.coding.median_seconds),
        ("Pickup", "s2", c.pickup.median_seconds),
        ("Review", "s3", c.review.median_seconds),
        ("Deploy", "s4", c.deploy.median_seconds),
    ];
    let total: f64 = stages.iter().filter_map(|(_, _, v)| *v).sum();
    let summary = stages
        .iter()
        .map(|(name, _, v)| format!("{name} {}", opt(*v, format::duration)))
        .collect::<Vec<_>>()
        .join(", ");
    let starts: Vec<i64> = d.buckets.iter().map(|(s, _, _)| *s).collect();
    let merged = Series {
        name: "merged pull requests",
        class: "s1",
        values: d.merged_per_bucket.iter().map(|n| Some(*n as f64)).collect(),
    };
    html! {
        section.cycle aria-labelledby="cycle-time" {
            h2 #cycle-time { "Cycle time" }
            @if c.pull_requests.merged == 0 {
                p.notice { "No pull requests merged in this window. Report them with /pull-requests or the GitHub and GitLab webhooks." }
            } @else {
                figure {
                    figcaption {
                        "Median of each stage, " (format::count(c.pull_requests.merged)) " pull requests merged; together "
                        (format::duration(total))
                    }
                    (charts::stages(&format!("Cycle time stages: {summary}"), &stages))
                    ul.legend {
                        @for (name, class, v) in &stages {
                            li { span class={ "key " (class) } { (name) } " " (opt(*v, format::duration)) }
                        }
                    }
                }
                figure {
                    figcaption { "Pull requests merged per bucket" }
                    div.scroll.chart-box tabindex="0" { (charts::bars("Pull requests merged", &starts, &merged, Unit::Count)) }
                }
                div.scroll tabindex="0" { table.cards {
                    caption { "Latest merged pull requests" }
                    thead { tr {
                        th scope="col" { "Title" } th scope="col" { "Project" } th scope="col" { "Merged" }
                        th scope="col" { "Coding" } th scope="col" { "Pickup" } th scope="col" { "Review" }
                        th scope="col" { "Deploy" }
                    } }
                    tbody {
                        @for p in &d.latest_merged {
                            tr {
                                td data-label="Title" { a href=(json_link("pull-requests", &p.id)) { (p.title.as_deref().unwrap_or(&p.id)) } }
                                td data-label="Project" { (p.project_id) }
                                td data-label="Merged" { (p.merged_at.map_or_else(|| "—".to_string(), time)) }
                                td data-label="Coding" { (opt(p.coding_seconds(), format::duration)) }
                                td data-label="Pickup" { (opt(p.pickup_seconds(), format::duration)) }
                                td data-label="Review" { (opt(p.review_seconds(), format::duration)) }
                                td data-label="Deploy" { (opt(p.deploy_seconds(), format::duration)) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn open_incidents(incidents: &[Incident], now: Timestamp) -> Markup {
    html! {
        section.list aria-labelledby="open-incidents" {
            h2 #open-incidents { "Open incidents" }
            @if incidents.is_empty() {
                p.notice { "No open incidents." }
            } @else {
                div.scroll tabindex="0" { table.cards {
                    thead { tr { th scope="col" { "Title" } th scope="col" { "Project" } th scope="col" { "Started" } th scope="col" { "Open for" } th scope="col" { "Deployment" } } }
                    tbody {
                        @for i in incidents {
                            tr {
                                td data-label="Title" { a href=(json_link("incidents", &i.id)) { (i.title.as_deref().unwrap_or(&i.id)) } }
                                td data-label="Project" { (i.project_id) }
                                td data-label="Started" { (time(i.started_at)) }
                                td data-label="Open for" { (format::duration(now.seconds_since(i.started_at))) }
                                td data-label="Deployment" {
                                    @match &i.deployment_id {
                                        Some(id) => a href=(json_link("deployments", id)) { (id) },
                                        None => "—",
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn latest_deployments(deployments: &[Deployment]) -> Markup {
    html! {
        section.list aria-labelledby="latest-deployments" {
            h2 #latest-deployments { "Latest deployments" }
            @if deployments.is_empty() {
                p.notice { "No deployments." }
            } @else {
                div.scroll tabindex="0" { table.cards {
                    thead { tr {
                        th scope="col" { "Deployment" } th scope="col" { "Status" } th scope="col" { "Project" }
                        th scope="col" { "Environment" } th scope="col" { "Lead time" } th scope="col" { "Duration" }
                        th scope="col" { "Marks" }
                    } }
                    tbody {
                        @for d in deployments {
                            tr {
                                td data-label="Deployment" { a href=(json_link("deployments", &d.id)) { (d.id) } }
                                td data-label="Status" { span class={ "status status-" (d.status.as_str()) } { (d.status.as_str()) } }
                                td data-label="Project" { (d.project_id) }
                                td data-label="Environment" { (d.environment) }
                                td data-label="Lead time" { (opt(d.lead_time_seconds(), format::duration)) }
                                td data-label="Duration" { (opt(d.duration_seconds(), format::duration)) }
                                td data-label="Marks" {
                                    @if d.marks.change_failure { span.mark.mark-failure { "change failure" } " " }
                                    @if d.rework { span.mark.mark-rework { "rework" } }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn opt(value: Option<f64>, f: fn(f64) -> String) -> String {
    value.map_or_else(|| "—".to_string(), f)
}

/// `2024-05-03 14:05`, UTC.
fn time(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.millis())
        .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
}

/// What an id keeps unencoded in a path segment: RFC 3986's unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The JSON of one record, at the versioned prefix.
fn json_link(kind: &str, id: &str) -> String {
    format!("/api/v1/{kind}/{}", utf8_percent_encode(id, PATH_SEGMENT))
}

/// `/dora` for the page's window and filters.
fn dora_link(view: &View) -> String {
    let mut pairs: Vec<(&str, String)> =
        vec![("from", view.window.from.to_rfc3339()), ("to", view.window.to.to_rfc3339())];
    pairs.extend(view.filter.team_ids.iter().map(|v| ("team_id", v.clone())));
    pairs.extend(view.filter.project_ids.iter().map(|v| ("project_id", v.clone())));
    pairs.extend(view.environment_params().into_iter().map(|v| ("environment", v)));
    format!("/api/v1/dora?{}", serde_html_form::to_string(&pairs).unwrap_or_default())
}

/// Who is signed in, the admins' Tokens link, and the sign-out button.
fn account(viewer: &Viewer) -> Markup {
    html! {
        div.account {
            @if viewer.session {
                span.who { (viewer.principal.actor) " · " (viewer.principal.role.as_str()) }
            }
            @if viewer.principal.role.grants(Need::Admin) {
                a href="/ui/tokens" { "Tokens" }
            }
            @if viewer.session {
                form.signout method="post" action="/ui/logout" {
                    button type="submit" { "Sign out" }
                }
            }
        }
    }
}

/// What the sign-in page offers.
#[derive(Debug, Clone, Copy)]
pub struct SignInOptions {
    /// The token form (EM_METRICS_UI_TOKEN_LOGIN).
    pub token_form: bool,
    /// "Sign in with SSO" (EM_METRICS_OIDC_ISSUER).
    pub sso: bool,
}

pub fn login(options: &SignInOptions, error: Option<&str>) -> Markup {
    let body = html! {
        main.login {
            h1 { "Sign in to em-metrics" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if options.sso {
                p { a.button href="/ui/oidc/login" { "Sign in with SSO" } }
            }
            @if options.token_form {
                form method="post" action="/ui/login" {
                    label for="token" { "API token" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus[!options.sso];
                    button type="submit" { "Sign in" }
                }
                p.hint { "A token of role read or above (an ingest token is for pipelines). Signing in keeps you in for 12 hours on this browser, or until the token is revoked." }
            }
            @if !options.sso && !options.token_form {
                p { "This server offers no sign-in form: open the dashboard with the credentials your administrator gave you." }
            }
        }
    };
    layout("Sign in · em-metrics", None, body)
}

/// A page with a heading and a sentence: sign-in needed, limits, errors.
pub fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> Markup {
    let body = html! {
        main.login {
            h1 { (title) }
            p { (text) }
            @if let Some((href, label)) = link { p { a href=(href) { (label) } } }
        }
    };
    layout(&format!("{title} · em-metrics"), None, body)
}
