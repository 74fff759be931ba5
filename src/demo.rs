//! `em-metrics demo`: fills the database with a realistic, reproducible story.
//!
//! Every event goes through the same store functions and domain rules as the
//! API (`Tx::start_deployment`, `Tx::open_incident`, …), one
//! transaction per simulated day, so the demo exercises the real code and can
//! build the million-deployment benchmark database in minutes.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::domain::deployment::{MarkDeployed, NewDeployment};
use crate::domain::incident::NewIncident;
use crate::domain::pull_request::{Merge, NewPullRequest, NewReview};
use crate::domain::{Commit, Context, DeploymentKind, Id, ReviewState, Username};
use crate::store::{Store, StoreError, Tx};
use crate::teams::{Team, TeamConfig};
use crate::time::Timestamp;

const TEAM_NAMES: [&str; 12] = [
    "payments", "search", "platform", "mobile", "growth", "data", "identity", "checkout", "infra", "web", "ml",
    "billing",
];
const PROJECT_KINDS: [&str; 6] = ["api", "web", "worker", "gateway", "jobs", "app"];
const MS_PER_HOUR: i64 = 3_600_000;
/// Where the story's production deployments go, whatever DEPLOYMENT_ENVIRONMENT says.
const PRODUCTION: &str = "production";

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
    /// Leave out the pull requests (the benchmark database adds its own).
    #[arg(long = "no-pull-requests")]
    pub no_pull_requests: bool,
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

pub async fn run(store: &Store, args: &DemoArgs) -> Result<Summary, StoreError> {
    let until = args.until.unwrap_or_else(|| Utc::now().date_naive());
    let first = until - Duration::days(i64::from(args.days));
    let teams = demo_teams(args.teams, args.projects);
    let snapshot = Arc::new(teams.clone());
    let mut rng = Rng(args.seed);
    let mut summary = Summary { teams: teams.clone(), ..Summary::default() };
    // The newest deployment, for the still-open incident at the end.
    let mut newest: Option<Planned> = None;
    // What each project runs in production now: what a rollback puts back.
    let mut running: HashMap<String, Running> = HashMap::new();

    let projects: Vec<(usize, String)> =
        teams.teams.iter().enumerate().flat_map(|(i, (_, t))| t.projects.iter().map(move |p| (i, p.clone()))).collect();

    let mut day = first;
    while day < until {
        let day_ms = day.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis());
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let mut plan = Vec::new();
        for (n, (team_index, project)) in projects.iter().enumerate() {
            let p = profile(*team_index);
            let expected = args.deploys_per_day * p.pace * if weekend { 0.05 } else { 1.0 };
            // Randomised rounding keeps the average exact.
            let count = expected.floor() as u64 + u64::from(rng.chance(expected.fract()));
            for k in 0..count {
                let start = day_ms + 8 * MS_PER_HOUR + (rng.unit() * 10.0 * MS_PER_HOUR as f64) as i64;
                let duration = (rng.log_between(30.0, 1800.0) * 1000.0) as i64;
                let lead = (rng.log_between(p.lead_hours.0, p.lead_hours.1) * MS_PER_HOUR as f64) as i64;
                // 1 to 9 commits (5 on average), the oldest `lead` before the start.
                let commits = (0..1 + rng.next() % 9)
                    .map(|i| {
                        let at = if i == 0 { start - lead } else { start - (rng.unit() * lead as f64) as i64 };
                        (format!("{:012x}", rng.next() >> 16), at)
                    })
                    .collect();
                let failed = rng.chance(p.failure_rate);
                let incident = (!failed && rng.chance(p.incident_rate * args.incident_scale)).then(|| {
                    let detect = (rng.log_between(2.0, 2880.0) * 60_000.0) as i64;
                    let restore = (rng.log_between(p.restore_minutes.0, p.restore_minutes.1) * 60_000.0) as i64;
                    // Half the incident tools know the deployment; for the rest,
                    // attribution finds it (when it went live within its window).
                    let explicit = rng.chance(0.5);
                    let fix = match rng.unit() {
                        u if u < 0.15 => Fix::Rollback,
                        u if u < 0.35 => Fix::Hotfix,
                        _ => Fix::Restore,
                    };
                    PlannedIncident { detect, restore, explicit, fix }
                });
                plan.push(Planned {
                    id: demo_id(format!("demo{}-{project}-{day}-{k}", args.seed)),
                    project: demo_id(project.clone()),
                    team: *team_index,
                    pull_request: !args.no_pull_requests,
                    start,
                    duration,
                    commits,
                    // Every other project tries each change in staging first.
                    staging_first: n % 2 == 0,
                    failed,
                    incident,
                });
            }
        }
        // In time order, so "what ran before" (a rollback's target) really ran before.
        plan.sort_by_key(|d| d.start);
        let snapshot = snapshot.clone();
        let now_ms = Timestamp::now().millis();
        let mut carried = std::mem::take(&mut running);
        let (day_summary, last, carried) = store
            .write(move |tx| {
                let mut s = Summary::default();
                let mut last = None;
                let ctx = |at: i64| context(at, &snapshot);
                for d in plan {
                    tell(tx, &d, &mut s, &mut carried, now_ms, &ctx)?;
                    if d.incident.is_none() && !d.failed {
                        last = Some(d);
                    }
                }
                Ok((s, last, carried))
            })
            .await?;
        running = carried;
        summary.deployments += day_summary.deployments;
        summary.failed += day_summary.failed;
        summary.incidents += day_summary.incidents;
        summary.open_incidents += day_summary.open_incidents;
        newest = last.or(newest);
        day = day.succ_opt().unwrap_or(until);
    }

    // The story always has an incident still being worked on, started ten
    // minutes after the newest deployment (but never in the future).
    if let (0, Some(d)) = (summary.open_incidents, newest) {
        let now_ms = Timestamp::now().millis();
        store
            .write(move |tx| {
                let started = (d.start + d.duration + 10 * 60_000).min(now_ms);
                let ctx = |at: i64| context(at, &snapshot);
                open_incident(tx, &d, started, true, &ctx)?;
                Ok(())
            })
            .await?;
        summary.incidents += 1;
        summary.open_incidents += 1;
    }
    Ok(summary)
}

/// Writes one planned deployment and what follows from it: its staging run,
/// its failure or its incident, and the fix.
fn tell(
    tx: &Tx,
    d: &Planned,
    s: &mut Summary,
    running: &mut HashMap<String, Running>,
    now_ms: i64,
    ctx: &dyn Fn(i64) -> Context,
) -> Result<(), StoreError> {
    let at = Timestamp::from_millis;
    let commits: Vec<Commit> =
        d.commits.iter().map(|(sha, t)| Commit { sha: demo_id(sha.clone()), committed_at: at(*t) }).collect();
    let sha = d.commits.last().map(|(sha, _)| sha.clone()).unwrap_or_default();
    if d.pull_request {
        tell_pull_request(tx, d, &sha, ctx)?;
    }
    if d.staging_first {
        // Two hours before production, or once the newest commit exists.
        let newest = d.commits.iter().map(|c| c.1).max().unwrap_or(d.start);
        let start = (d.start - 2 * MS_PER_HOUR).max(newest);
        let staging = NewDeployment {
            id: Some(demo_id(format!("{}-staging", d.id))),
            project_id: Some(d.project.clone()),
            deploy_start_at: Some(at(start)),
            deployed_at: Some(at(start + d.duration)),
            environment: Some(demo_id("staging".into())),
            commit_sha: Some(demo_id(sha.clone())),
            commits: Some(commits.clone()),
            ..NewDeployment::default()
        };
        tx.start_deployment(staging, &ctx(start))?;
        s.deployments += 1;
    }
    let production = NewDeployment {
        id: Some(d.id.clone()),
        project_id: Some(d.project.clone()),
        environment: Some(demo_id(PRODUCTION.into())),
        deploy_start_at: Some(at(d.start)),
        commit_sha: Some(demo_id(sha.clone())),
        commits: Some(commits),
        ..NewDeployment::default()
    };
    tx.start_deployment(production, &ctx(d.start))?;
    s.deployments += 1;
    let deployed_at = d.start + d.duration;
    if d.failed {
        tx.mark_failed(&d.id, Some(at(deployed_at)), &ctx(deployed_at))?;
        s.failed += 1;
        return Ok(());
    }
    let cmd = MarkDeployed { deployed_at: Some(at(deployed_at)), ..MarkDeployed::default() };
    tx.mark_deployed(&d.id, cmd, &ctx(deployed_at))?;
    let first_commit_at = d.commits.first().map_or(d.start, |c| c.1);
    let before = running.insert(d.project.to_string(), Running { sha, first_commit_at });

    let Some(plan) = &d.incident else { return Ok(()) };
    let started = deployed_at + plan.detect;
    let restored = started + plan.restore;
    let incident_id = open_incident(tx, d, started, plan.explicit, ctx)?;
    s.incidents += 1;
    if restored >= now_ms {
        s.open_incidents += 1;
        return Ok(());
    }
    let fix = |kind: DeploymentKind, suffix: &str, sha: String, commits: Vec<Commit>| NewDeployment {
        id: Some(demo_id(format!("{}-{suffix}", d.id))),
        project_id: Some(d.project.clone()),
        deploy_start_at: Some(at(restored - 10 * 60_000)),
        deployed_at: Some(at(restored)),
        commit_sha: Some(demo_id(sha)),
        commits: Some(commits),
        kind: Some(kind),
        restores_incident: Some(incident_id.clone()),
        ..NewDeployment::default()
    };
    let fix = match (plan.fix, before) {
        // Put back what ran before: its commit ships again, no new change.
        (Fix::Rollback, Some(old)) => {
            let commit = Commit { sha: demo_id(old.sha.clone()), committed_at: at(old.first_commit_at) };
            Some(fix(DeploymentKind::Rollback, "rollback", old.sha, vec![commit]))
        }
        (Fix::Hotfix, _) => {
            let sha = format!("{:012x}", (restored as u64).wrapping_mul(0x9E37_79B9) >> 8);
            let commit = Commit { sha: demo_id(sha.clone()), committed_at: at(restored - 30 * 60_000) };
            Some(fix(DeploymentKind::Hotfix, "hotfix", sha, vec![commit]))
        }
        _ => None,
    };
    match fix {
        Some(fix) => {
            tx.start_deployment(fix, &ctx(restored))?;
            s.deployments += 1;
        }
        None => {
            tx.restore_incident(&incident_id, Some(at(restored)), &ctx(restored))?;
        }
    }
    Ok(())
}

/// The pull request whose merge is deployment `d`'s newest commit: opened
/// halfway through its commits (a fifth of them as drafts, made ready
/// later), reviewed (sometimes by its author first, which never counts),
/// approved and merged a minute after the newest commit; staging then
/// production ship it. One in twenty has a sibling closed without merging.
/// Team 0 has only 3 authors, so its per-author figure is withheld. Its own
/// random numbers, so the deployments' story stays what it was.
fn tell_pull_request(tx: &Tx, d: &Planned, sha: &str, ctx: &dyn Fn(i64) -> Context) -> Result<(), StoreError> {
    let at = Timestamp::from_millis;
    let mut rng = Rng(d.start as u64 ^ 0x5052_5052);
    let oldest = d.commits.first().map_or(d.start, |c| c.1);
    let newest = d.commits.iter().map(|c| c.1).max().unwrap_or(d.start);
    let opened = oldest + (newest - oldest) / 2;
    let draft = rng.chance(0.2);
    let ready = if draft { opened + (newest - opened) / 3 } else { opened };
    let merged = newest + 60_000;
    let authors = if d.team == 0 { 3 } else { 7 };
    let author_of = |n: u64| demo_username(format!("dev-{}-{}", d.team, n % authors));
    let author = rng.next();
    let id = demo_id(format!("{}#{}", d.project, d.id));
    let pr = NewPullRequest {
        id: Some(id.clone()),
        project_id: Some(d.project.clone()),
        title: Some(format!("Change {} of {}", &sha[..sha.len().min(7)], d.project)),
        author: Some(author_of(author)),
        base_branch: Some("main".into()),
        head_sha: Some(demo_id(sha.to_string())),
        draft: Some(draft),
        opened_at: Some(at(opened)),
        first_commit_at: Some(at(oldest)),
        ..NewPullRequest::default()
    };
    tx.open_pull_request(pr, &ctx(opened))?;
    if draft {
        tx.ready_pull_request(&id, Some(at(ready)), &ctx(ready))?;
    }
    let review = |who: u64, state: ReviewState, when: i64| -> Result<(), StoreError> {
        let cmd = NewReview { reviewed_at: Some(at(when)), state, reviewer: Some(author_of(who)) };
        tx.review_pull_request(&id, cmd, &ctx(when)).map(|_| ())
    };
    let span = merged - ready;
    if rng.chance(0.1) {
        review(author, ReviewState::Commented, ready + span / 5)?;
    }
    review(author + 1, ReviewState::ChangesRequested, ready + span * 2 / 5)?;
    review(author + 2, ReviewState::Approved, ready + span * 4 / 5)?;
    let lines = 5 + rng.next() % 400;
    let merge = Merge {
        merged_at: Some(at(merged)),
        merge_commit_sha: Some(demo_id(sha.to_string())),
        additions: Some((lines * 2 / 3) as i64),
        deletions: Some((lines / 3) as i64),
    };
    tx.merge_pull_request(&id, merge, &ctx(merged))?;
    if rng.chance(0.05) {
        let sibling = demo_id(format!("{id}-closed"));
        let closed = NewPullRequest { id: Some(sibling.clone()), head_sha: None, ..NewPullRequest::default() };
        let closed = NewPullRequest { project_id: Some(d.project.clone()), opened_at: Some(at(opened)), ..closed };
        tx.open_pull_request(closed, &ctx(opened))?;
        tx.close_pull_request(&sibling, Some(at(ready)), &ctx(ready))?;
    }
    Ok(())
}

fn demo_username(text: String) -> Username {
    Username::parse(text).expect("demo logins are short and not blank")
}

/// An incident after deployment `d`: the tool names the deployment when
/// `explicit`, else attribution links it. Returns its id.
fn open_incident(
    tx: &Tx,
    d: &Planned,
    started: i64,
    explicit: bool,
    ctx: &dyn Fn(i64) -> Context,
) -> Result<Id, StoreError> {
    let incident = tx.open_incident(
        NewIncident {
            id: Some(demo_id(format!("{}-incident", d.id))),
            project_id: Some(d.project.clone()),
            deployment_id: explicit.then(|| d.id.clone()),
            title: Some(format!("{} degraded after {}", d.project, d.id)),
            started_at: Some(Timestamp::from_millis(started)),
            ..NewIncident::default()
        },
        &ctx(started),
    )?;
    Ok(incident.value.id)
}

/// The demo's events happen at simulated times, under the demo's own teams;
/// an event that names no environment is in production.
fn context(at: i64, teams: &Arc<TeamConfig>) -> Context {
    Context { teams: teams.clone(), ..Context::at(Timestamp::from_millis(at), demo_id(PRODUCTION.into())) }
}

/// The demo's ids are made from short names it chose itself.
fn demo_id(text: String) -> Id {
    Id::parse(text).expect("demo ids are short and not blank")
}

struct Planned {
    id: Id,
    project: Id,
    /// Which team's profile (and authors) it has.
    team: usize,
    /// Whether its newest commit comes from a pull request.
    pull_request: bool,
    start: i64,
    duration: i64,
    /// (sha, committed_at); the first is the oldest, the last is what runs.
    commits: Vec<(String, i64)>,
    staging_first: bool,
    failed: bool,
    incident: Option<PlannedIncident>,
}

struct PlannedIncident {
    /// From deployed to started, in milliseconds.
    detect: i64,
    /// From started to restored, in milliseconds.
    restore: i64,
    explicit: bool,
    fix: Fix,
}

/// How an incident ends.
#[derive(Clone, Copy)]
enum Fix {
    /// Someone restores it by hand.
    Restore,
    /// A hotfix deployment that names it in restores_incident.
    Hotfix,
    /// A rollback to what ran before, which names it too.
    Rollback,
}

/// What a project runs in production.
struct Running {
    sha: String,
    first_commit_at: i64,
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
