//! `em-metrics demo`: fills the database with a realistic, reproducible story.
//!
//! Every event goes through the same store functions and domain rules as the
//! API (`store::deployments::start`, `store::incidents::open`, …), one
//! transaction per simulated day, so the demo exercises the real code and can
//! build the million-deployment benchmark database in minutes.

use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::domain::deployment::{MarkDeployed, NewDeployment};
use crate::domain::incident::NewIncident;
use crate::domain::{Context, Id};
use crate::store::{self, Store, StoreError};
use crate::teams::{Team, TeamConfig};
use crate::time::Timestamp;

const TEAM_NAMES: [&str; 12] = [
    "payments", "search", "platform", "mobile", "growth", "data", "identity", "checkout", "infra", "web", "ml",
    "billing",
];
const PROJECT_KINDS: [&str; 6] = ["api", "web", "worker", "gateway", "jobs", "app"];
const MS_PER_HOUR: i64 = 3_600_000;

/// What to generate.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Days of history, ending yesterday (or at --until).
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Same seed, same story.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of teams (at most 12).
    #[arg(long, default_value_t = 4)]
    pub teams: usize,
    /// Number of projects, spread over the teams.
    #[arg(long, default_value_t = 10)]
    pub projects: usize,
    /// Average deployments per project per working day.
    #[arg(long = "deploys-per-day", default_value_t = 1.2)]
    pub deploys_per_day: f64,
    /// Multiplies every team's chance that a deployment causes an incident.
    #[arg(long = "incident-scale", default_value_t = 1.0)]
    pub incident_scale: f64,
    /// Last day of the story (YYYY-MM-DD, exclusive); default today (UTC).
    #[arg(long)]
    pub until: Option<NaiveDate>,
}

/// What the demo wrote.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub deployments: u64,
    pub failed: u64,
    pub incidents: u64,
    pub open_incidents: u64,
    pub teams: TeamConfig,
}

/// SplitMix64: tiny, fast and stable across versions, so a seed gives the
/// same story forever (rand's StdRng makes no such promise).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Log-uniform between `lo` and `hi`: hours to weeks look evenly spread.
    fn log_between(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }
}

/// How a team works: some ship small changes daily, some batch for weeks.
struct Profile {
    lead_hours: (f64, f64),
    failure_rate: f64,
    incident_rate: f64,
    restore_minutes: (f64, f64),
    pace: f64,
}

fn profile(team_index: usize) -> Profile {
    match team_index % 4 {
        0 => Profile {
            lead_hours: (0.5, 20.0),
            failure_rate: 0.02,
            incident_rate: 0.03,
            restore_minutes: (5.0, 50.0),
            pace: 2.0,
        },
        1 => Profile {
            lead_hours: (4.0, 96.0),
            failure_rate: 0.04,
            incident_rate: 0.08,
            restore_minutes: (15.0, 600.0),
            pace: 1.0,
        },
        2 => Profile {
            lead_hours: (24.0, 400.0),
            failure_rate: 0.06,
            incident_rate: 0.12,
            restore_minutes: (30.0, 2880.0),
            pace: 0.6,
        },
        _ => Profile {
            lead_hours: (72.0, 1000.0),
            failure_rate: 0.08,
            incident_rate: 0.2,
            restore_minutes: (60.0, 8640.0),
            pace: 0.3,
        },
    }
}

/// The teams and projects of the story.
pub fn demo_teams(teams: usize, projects: usize) -> TeamConfig {
    let teams = teams.clamp(1, TEAM_NAMES.len());
    let mut config = TeamConfig::default();
    for p in 0..projects.max(1) {
        let team = TEAM_NAMES[p % teams];
        let project = format!("{team}-{}", PROJECT_KINDS[(p / teams) % PROJECT_KINDS.len()]);
        let project = if p / teams >= PROJECT_KINDS.len() { format!("{project}-{}", p / teams) } else { project };
        config.teams.entry(team.to_string()).or_insert_with(Team::default).projects.push(project);
    }
    config
}

pub async fn run(store: &Store, args: &DemoArgs, environment: &str) -> Result<Summary, StoreError> {
    let until = args.until.unwrap_or_else(|| Utc::now().date_naive());
    let first = until - Duration::days(i64::from(args.days));
    let teams = demo_teams(args.teams, args.projects);
    let snapshot = Arc::new(teams.clone());
    let mut rng = Rng(args.seed);
    let mut summary = Summary { teams: teams.clone(), ..Summary::default() };
    // The newest deployment, for the still-open incident at the end.
    let mut newest: Option<Planned> = None;

    let projects: Vec<(usize, String)> =
        teams.teams.iter().enumerate().flat_map(|(i, (_, t))| t.projects.iter().map(move |p| (i, p.clone()))).collect();

    let mut day = first;
    while day < until {
        let day_ms = day.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis());
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let mut plan = Vec::new();
        for (team_index, project) in &projects {
            let p = profile(*team_index);
            let expected = args.deploys_per_day * p.pace * if weekend { 0.05 } else { 1.0 };
            // Randomised rounding keeps the average exact.
            let count = expected.floor() as u64 + u64::from(rng.chance(expected.fract()));
            for k in 0..count {
                let start = day_ms + 8 * MS_PER_HOUR + (rng.unit() * 10.0 * MS_PER_HOUR as f64) as i64;
                let duration = (rng.log_between(30.0, 1800.0) * 1000.0) as i64;
                let lead = (rng.log_between(p.lead_hours.0, p.lead_hours.1) * MS_PER_HOUR as f64) as i64;
                let failed = rng.chance(p.failure_rate);
                let incident = (!failed && rng.chance(p.incident_rate * args.incident_scale)).then(|| {
                    let detect = (rng.log_between(2.0, 2880.0) * 60_000.0) as i64;
                    let restore = (rng.log_between(p.restore_minutes.0, p.restore_minutes.1) * 60_000.0) as i64;
                    (detect, restore)
                });
                plan.push(Planned {
                    id: demo_id(format!("demo{}-{project}-{day}-{k}", args.seed)),
                    project: demo_id(project.clone()),
                    start,
                    duration,
                    lead,
                    failed,
                    incident,
                });
            }
        }
        let environment = environment.to_string();
        let snapshot = snapshot.clone();
        let now_ms = Timestamp::now().millis();
        let (day_summary, last) = store
            .write(move |tx| {
                let mut s = Summary::default();
                let mut last = None;
                for d in plan {
                    let ctx = |at: i64| context(at, &environment, &snapshot);
                    let deployed_at = d.start + d.duration;
                    store::deployments::start(
                        tx,
                        NewDeployment {
                            id: Some(d.id.clone()),
                            project_id: Some(d.project.clone()),
                            first_commit_at: Some(Timestamp::from_millis(d.start - d.lead)),
                            deploy_start_at: Some(Timestamp::from_millis(d.start)),
                            ..NewDeployment::default()
                        },
                        &ctx(d.start),
                    )?;
                    s.deployments += 1;
                    if d.failed {
                        store::deployments::mark_failed(
                            tx,
                            &d.id,
                            Some(Timestamp::from_millis(deployed_at)),
                            &ctx(deployed_at),
                        )?;
                        s.failed += 1;
                        continue;
                    }
                    let cmd = MarkDeployed {
                        deployed_at: Some(Timestamp::from_millis(deployed_at)),
                        ..MarkDeployed::default()
                    };
                    store::deployments::mark_deployed(tx, &d.id, cmd, &ctx(deployed_at))?;
                    if let Some((detect, restore)) = d.incident {
                        let started = deployed_at + detect;
                        let restored = started + restore;
                        open_incident(tx, &d, started, (restored < now_ms).then_some(restored), &ctx)?;
                        s.incidents += 1;
                        s.open_incidents += u64::from(restored >= now_ms);
                    } else {
                        last = Some(d);
                    }
                }
                Ok((s, last))
            })
            .await?;
        summary.deployments += day_summary.deployments;
        summary.failed += day_summary.failed;
        summary.incidents += day_summary.incidents;
        summary.open_incidents += day_summary.open_incidents;
        newest = last.or(newest);
        day = day.succ_opt().unwrap_or(until);
    }

    // The story always has an incident still being worked on.
    if let (0, Some(d)) = (summary.open_incidents, newest) {
        let environment = environment.to_string();
        store
            .write(move |tx| {
                let started = d.start + d.duration + 10 * 60_000;
                open_incident(tx, &d, started, None, &|at| context(at, &environment, &snapshot))
            })
            .await?;
        summary.incidents += 1;
        summary.open_incidents += 1;
    }
    Ok(summary)
}

/// An incident caused by deployment `d`, restored at `restored` if given.
fn open_incident(
    tx: &rusqlite::Connection,
    d: &Planned,
    started: i64,
    restored: Option<i64>,
    ctx: &dyn Fn(i64) -> Context,
) -> Result<(), StoreError> {
    let incident = store::incidents::open(
        tx,
        NewIncident {
            id: Some(demo_id(format!("{}-incident", d.id))),
            project_id: Some(d.project.clone()),
            deployment_id: Some(d.id.clone()),
            title: Some(format!("{} degraded after {}", d.project, d.id)),
            started_at: Some(Timestamp::from_millis(started)),
            ..NewIncident::default()
        },
        &ctx(started),
    )?;
    if let Some(at) = restored {
        store::incidents::restore(tx, &incident.value.id, Some(Timestamp::from_millis(at)), &ctx(at))?;
    }
    Ok(())
}

/// The demo's events happen at simulated times, under the demo's own teams.
fn context(at: i64, environment: &str, teams: &Arc<TeamConfig>) -> Context {
    Context { teams: teams.clone(), ..Context::at(Timestamp::from_millis(at), environment) }
}

/// The demo's ids are made from short names it chose itself.
fn demo_id(text: String) -> Id {
    Id::parse(text).expect("demo ids are short and not blank")
}

struct Planned {
    id: Id,
    project: Id,
    start: i64,
    duration: i64,
    lead: i64,
    failed: bool,
    /// (time to detect, time to restore) in milliseconds.
    incident: Option<(i64, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let a: Vec<u64> = {
            let mut r = Rng(7);
            (0..5).map(|_| r.next()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng(7);
            (0..5).map(|_| r.next()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, {
            let mut r = Rng(8);
            (0..5).map(|_| r.next()).collect::<Vec<_>>()
        });
    }

    #[test]
    fn projects_spread_over_the_teams() {
        let c = demo_teams(10, 50);
        assert_eq!(c.teams.len(), 10);
        assert_eq!(c.teams.values().map(|t| t.projects.len()).sum::<usize>(), 50);
        let mut all: Vec<&String> = c.teams.values().flat_map(|t| &t.projects).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 50, "project names are unique");
    }
}
