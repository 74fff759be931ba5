use chrono::NaiveDate;
use em_metrics::demo::{self, DemoArgs};
use em_metrics::store::{DeploymentFilter, IncidentFilter, Page, Store};

fn args(seed: u64) -> DemoArgs {
    DemoArgs {
        days: 60,
        seed,
        teams: 4,
        projects: 8,
        deploys_per_day: 1.2,
        incident_scale: 1.0,
        until: NaiveDate::from_ymd_opt(2024, 6, 1),
        no_pull_requests: false,
    }
}

async fn run(seed: u64) -> (tempfile::TempDir, Store, demo::Summary) {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(dir.path().join("demo.db")).expect("store");
    let summary = demo::run(&store, &args(seed)).await.expect("demo runs");
    (dir, store, summary)
}

fn thousand() -> Page {
    Page { limit: 1000, ..Page::default() }
}

async fn everything(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .deployments(DeploymentFilter {
                page: Page { limit: 1000, offset, ..Page::default() },
                ..Default::default()
            })
            .await
            .expect("list");
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        out.extend(page.into_iter().map(|d| format!("{d:?}")));
    }
    out
}

#[tokio::test]
async fn the_demo_tells_a_complete_story_through_the_domain_rules() {
    let (_dir, store, summary) = run(7).await;
    assert!(summary.deployments > 200, "{summary:?}");
    assert!(summary.failed > 0 && summary.failed < summary.deployments / 5, "{summary:?}");
    assert!(summary.incidents > 0, "{summary:?}");
    assert!(summary.open_incidents >= 1, "{summary:?}");
    assert_eq!(summary.teams.teams.len(), 4);

    let deployments =
        store.deployments(DeploymentFilter { page: thousand(), ..DeploymentFilter::default() }).await.expect("list");
    assert!(deployments.iter().all(|d| d.team_id.is_some()), "every demo project maps to a team");
    let teams: std::collections::BTreeSet<_> = deployments.iter().filter_map(|d| d.team_id.clone()).collect();
    assert_eq!(teams.len(), 4);
    // Lead times from hours to weeks.
    let leads: Vec<f64> = deployments.iter().filter_map(|d| d.lead_time_seconds()).collect();
    assert!(leads.iter().any(|l| *l < 6.0 * 3600.0) && leads.iter().any(|l| *l > 7.0 * 86400.0));

    let open = store
        .incidents(IncidentFilter {
            state: Some(em_metrics::store::IncidentState::InProgress),
            page: thousand(),
            ..IncidentFilter::default()
        })
        .await
        .expect("incidents");
    assert_eq!(open.len() as u64, summary.open_incidents);
}

#[tokio::test]
async fn the_demo_ships_commits_through_staging_and_has_rework_and_attribution() {
    use em_metrics::domain::{DeploymentKind, DeploymentLink};
    let (_dir, store, summary) = run(7).await;
    let all: Vec<_> = everything_typed(&store).await;
    assert_eq!(all.len() as u64, summary.deployments);
    let staging = all.iter().filter(|d| d.environment == "staging").count();
    assert!(staging > 20 && staging < all.len() / 2, "some projects go through staging first: {staging}");
    // Several commits per deployment, each a change once per environment.
    let changes: u64 = all.iter().map(|d| d.change_count).sum();
    assert!(changes as usize > 2 * all.len(), "{changes} changes from {} deployments", all.len());
    let hotfixes: Vec<_> = all.iter().filter(|d| d.kind == DeploymentKind::Hotfix).collect();
    let rollbacks: Vec<_> = all.iter().filter(|d| d.rollback_of.is_some()).collect();
    assert!(
        !hotfixes.is_empty() && !rollbacks.is_empty(),
        "{} hotfixes, {} rollbacks",
        hotfixes.len(),
        rollbacks.len()
    );
    assert!(rollbacks.iter().all(|d| d.rework && d.change_count == 0), "a rollback ships no new change");
    // A fix restores its incident when it goes live.
    let fix = hotfixes.iter().find(|d| d.restores_incident.is_some()).expect("a hotfix restores an incident");
    let restored = store
        .incident(fix.restores_incident.clone().expect("a fix names its incident"))
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(restored.restored_at, fix.deployed_at);

    let incidents =
        store.incidents(IncidentFilter { page: thousand(), ..IncidentFilter::default() }).await.expect("incidents");
    let inferred = incidents.iter().filter(|i| i.deployment_link == Some(DeploymentLink::Inferred)).count();
    let explicit = incidents.iter().filter(|i| i.deployment_link == Some(DeploymentLink::Explicit)).count();
    assert!(inferred > 0 && explicit > 0, "{inferred} inferred, {explicit} explicit");
    // The open incident never starts in the future.
    let now = em_metrics::time::Timestamp::now();
    assert!(incidents.iter().all(|i| i.started_at <= now));
}

async fn everything_typed(store: &Store) -> Vec<em_metrics::domain::Deployment> {
    let mut out = Vec::new();
    loop {
        let page = Page { limit: 1000, offset: out.len() as u64, ..Page::default() };
        let batch = store.deployments(DeploymentFilter { page, ..Default::default() }).await.expect("list");
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_story_and_another_seed_another() {
    let (_a, store_a, summary_a) = run(42).await;
    let (_b, store_b, summary_b) = run(42).await;
    let (_c, store_c, _) = run(43).await;
    assert_eq!(summary_a, summary_b);
    let (a, b, c) = (everything(&store_a).await, everything(&store_b).await, everything(&store_c).await);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn the_demo_subcommand_fills_the_configured_database() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("demo/em.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_em-metrics"))
        .env_clear()
        .env("SQLITE_DB", &db)
        .args(["demo", "--days", "30", "--seed", "3", "--until", "2024-06-01"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("demo: ") && stdout.contains("deployments"), "{stdout}");
    let conn = rusqlite::Connection::open(&db).expect("db");
    let n: i64 = conn.query_row("SELECT count(*) FROM deployments", [], |r| r.get(0)).expect("count");
    assert!(n > 50, "{n}");
}

/// The demo's pull requests: drafts made ready, reviews (some by the
/// author, never counted), merges that staging and then production ship,
/// a few closed unmerged, and a team too small for a per-author figure.
#[tokio::test]
async fn the_demo_has_pull_requests_shipped_through_staging_to_production() {
    use em_metrics::domain::PullRequestState;
    use em_metrics::store::PullRequestFilter;
    let (_dir, store, summary) = run(1).await;
    let page = Page { limit: 1000, offset: 0, order: em_metrics::store::Order::Asc };
    let all = store.pull_requests(PullRequestFilter { page, ..PullRequestFilter::default() }).await.expect("list");
    assert!(all.len() > 100, "{}", all.len());
    let merged: Vec<_> = all.iter().filter(|p| p.state == PullRequestState::Merged).collect();
    assert!(all.iter().any(|p| p.state == PullRequestState::Closed), "some closed unmerged");
    assert!(merged.iter().any(|p| p.ready_at > Some(p.opened_at)), "some drafts made ready later");
    assert!(merged.iter().all(|p| p.reviews >= 2), "two reviews by others each");
    let shipped: Vec<_> = merged.iter().filter(|p| p.deployment_id.is_some()).collect();
    assert!(shipped.len() * 10 > merged.len() * 8, "most merges ship: {} of {}", shipped.len(), merged.len());
    assert!(
        shipped.iter().all(|p| !p.deployment_id.as_ref().is_some_and(|d| d.as_str().ends_with("-staging"))),
        "only production ships a pull request"
    );
    let from = em_metrics::time::Timestamp::parse("2024-04-01T00:00:00Z").expect("time");
    let to = em_metrics::time::Timestamp::parse("2024-06-01T00:00:00Z").expect("time");
    let mut sizes = Vec::new();
    for team in summary.teams.teams.keys() {
        let rows = store.cycle_time_rows(from, to, Vec::new(), vec![team.clone()]).await.expect("rows");
        let authors: std::collections::HashSet<_> = rows.merged.iter().filter_map(|p| p.author_key.clone()).collect();
        sizes.push(authors.len());
    }
    sizes.sort();
    assert!(sizes[0] < 5 && sizes[sizes.len() - 1] >= 5, "one team too small for a per-author figure: {sizes:?}");
}
