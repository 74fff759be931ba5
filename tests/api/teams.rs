use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{DeploymentBuilder, TestApp};

const TEAMS: &str = r#"{"teams": {
    "backend": {"projects": ["api", "shared"], "users": ["bob", {"github_username": "jane", "email": "jane@example.com", "slack_member_id": "U123"}]},
    "frontend": {"projects": ["web", "shared"], "users": ["alice", "bob"]}
}}"#;

#[tokio::test]
async fn a_deployment_gets_the_team_of_its_project() {
    let app = TestApp::builder().teams(TEAMS).build();
    let body = app.start(DeploymentBuilder::new("d1").project("web").set("username", "jane")).await;
    assert_eq!(body["team_id"], "frontend");
}

#[tokio::test]
async fn an_unmapped_project_takes_the_team_of_its_user() {
    let app = TestApp::builder().teams(TEAMS).build();
    let body = app.start(DeploymentBuilder::new("d1").project("unknown").set("username", "JANE")).await;
    assert_eq!(body["team_id"], "backend");
    let by_email = app.start(DeploymentBuilder::new("d2").project("unknown").set("user", "jane@example.com")).await;
    assert_eq!(by_email["team_id"], "backend");
}

#[tokio::test]
async fn a_shared_project_and_a_shared_user_meet_in_their_common_team() {
    let app = TestApp::builder().teams(TEAMS).build();
    // shared is in both teams, bob is in both teams, and they share both: no single answer.
    let both = app.start(DeploymentBuilder::new("d1").project("shared").set("username", "bob")).await;
    assert_eq!(both["team_id"], json!(null));
    // alice is only in frontend.
    let alice = app.start(DeploymentBuilder::new("d2").project("shared").set("username", "alice")).await;
    assert_eq!(alice["team_id"], "frontend");
    let nobody = app.start(DeploymentBuilder::new("d3").project("shared")).await;
    assert_eq!(nobody["team_id"], json!(null));
}

#[tokio::test]
async fn a_deployment_keeps_the_team_it_had_when_the_config_changes() {
    let app = TestApp::builder().teams(TEAMS).build();
    app.start(DeploymentBuilder::new("d1").project("api")).await;
    app.teams.replace(
        em_metrics::teams::TeamConfig::parse(r#"{"teams": {"platform": {"projects": ["api"]}}}"#).expect("valid"),
    );
    assert_eq!(app.get("/deployments/d1").await.body["team_id"], "backend");
    let later = app.start(DeploymentBuilder::new("d2").project("api")).await;
    assert_eq!(later["team_id"], "platform");
}

#[tokio::test]
async fn an_incident_takes_its_deployments_team_else_its_projects() {
    let app = TestApp::builder().teams(TEAMS).build();
    app.start(DeploymentBuilder::new("d1").project("unknown").set("username", "alice")).await;
    let linked = app.post("/incidents", json!({"project_id": "unknown", "deployment_id": "d1"})).await;
    assert_eq!(linked.body["team_id"], "frontend");
    let unlinked = app.post("/incidents", json!({"project_id": "api"})).await;
    assert_eq!(unlinked.body["team_id"], "backend");
    let orphan = app.post("/incidents", json!({"project_id": "unknown"})).await;
    assert_eq!(orphan.body["team_id"], json!(null));
}

#[tokio::test]
async fn the_loaded_config_is_served() {
    let app = TestApp::builder().teams(TEAMS).build();
    let reply = app.get("/config").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["teams"]["backend"]["projects"], json!(["api", "shared"]));
    assert_eq!(reply.body["teams"]["backend"]["users"][1]["slack_member_id"], "U123");
}
