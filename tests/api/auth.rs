use axum::http::{header, Method, StatusCode};
use base64::Engine;
use em_metrics::config::AuthSettings;
use em_metrics::secret::Secret;

use crate::helpers::{assert_error, TestApp, TOKEN};

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn both() -> TestApp {
    TestApp::builder()
        .auth(AuthSettings {
            disabled: false,
            token: Some(Secret::new(TOKEN)),
            basic: Some((Secret::new("ci"), Secret::new("pw"))),
        })
        .build()
}

#[tokio::test]
async fn bearer_and_token_schemes_are_accepted() {
    let app = TestApp::new();
    for scheme in ["Bearer", "Token", "bearer"] {
        let reply = app.request(Method::GET, "/deployments", None, Some(&format!("{scheme} {TOKEN}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn no_header_is_401_and_a_wrong_token_is_403() {
    let app = TestApp::new();
    let none = app.request(Method::GET, "/deployments", None, None).await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "unauthorized", None);
    assert!(none.headers.get(header::WWW_AUTHENTICATE).is_none(), "no basic auth configured, no challenge");
    let wrong = app.request(Method::GET, "/deployments", None, Some("Bearer nope")).await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "forbidden", None);
    let scheme = app.request(Method::GET, "/deployments", None, Some("Digest abc")).await;
    assert_error(&scheme, StatusCode::UNAUTHORIZED, "unauthorized", None);
}

#[tokio::test]
async fn basic_auth_works_beside_the_token_and_challenges_when_missing() {
    let app = both();
    assert_eq!(app.request(Method::GET, "/deployments", None, Some(&basic("ci", "pw"))).await.status, StatusCode::OK);
    assert_eq!(
        app.request(Method::GET, "/deployments", None, Some(&format!("Bearer {TOKEN}"))).await.status,
        StatusCode::OK
    );
    let wrong = app.request(Method::GET, "/deployments", None, Some(&basic("ci", "nope"))).await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "forbidden", None);
    let garbage = app.request(Method::GET, "/deployments", None, Some("Basic !!!not-base64")).await;
    assert_error(&garbage, StatusCode::FORBIDDEN, "forbidden", None);
    let none = app.request(Method::GET, "/deployments", None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers.get(header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap_or("")),
        Some("Basic realm=\"em-metrics\"")
    );
}

#[tokio::test]
async fn an_empty_basic_username_is_allowed() {
    let app = TestApp::builder()
        .auth(AuthSettings { disabled: false, token: None, basic: Some((Secret::new(""), Secret::new("pw"))) })
        .build();
    assert_eq!(app.request(Method::GET, "/deployments", None, Some(&basic("", "pw"))).await.status, StatusCode::OK);
    assert_eq!(
        app.request(Method::GET, "/deployments", None, Some(&basic("x", "pw"))).await.status,
        StatusCode::FORBIDDEN
    );
    // The Bearer scheme is always on (API tokens): a wrong one is refused.
    assert_eq!(app.request(Method::GET, "/deployments", None, Some("Bearer pw")).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn only_the_probes_answer_without_credentials() {
    let app = TestApp::new();
    for path in ["/health", "/ready", "/api/v1/health", "/api/v1/ready"] {
        assert_eq!(app.request(Method::GET, path, None, None).await.status, StatusCode::OK, "{path}");
    }
    for (method, path) in [
        (Method::GET, "/deployments"),
        (Method::POST, "/deployments"),
        (Method::GET, "/deployments/x"),
        (Method::DELETE, "/deployments/x"),
        (Method::POST, "/deployments/x/deployed"),
        (Method::POST, "/deployments/x/failed"),
        (Method::GET, "/incidents"),
        (Method::POST, "/incidents"),
        (Method::GET, "/incidents/x"),
        (Method::DELETE, "/incidents/x"),
        (Method::POST, "/incidents/x/restored"),
        (Method::POST, "/incidents/x/finished"),
        (Method::GET, "/version"),
        (Method::GET, "/config"),
        (Method::GET, "/openapi.json"),
        (Method::GET, "/api/v1/deployments"),
        (Method::POST, "/api/v1/incidents"),
    ] {
        let reply = app.request(method.clone(), path, Some("{}"), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn an_oversized_authorization_header_is_refused() {
    let app = TestApp::new();
    let huge = format!("Bearer {}", "a".repeat(60_000));
    assert_eq!(app.request(Method::GET, "/deployments", None, Some(&huge)).await.status, StatusCode::FORBIDDEN);
}

/// A token may be any UTF-8 text: the header's bytes are compared, not
/// refused as "not readable text".
#[tokio::test]
async fn a_utf8_token_is_compared_as_bytes_and_works() {
    let token = "jeton-été-ünï-7f";
    let app =
        TestApp::builder().auth(AuthSettings { disabled: false, token: Some(Secret::new(token)), basic: None }).build();
    let ok = app.request(Method::GET, "/deployments", None, Some(&format!("Bearer {token}"))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let wrong = app.request(Method::GET, "/deployments", None, Some("Bearer jeton-ete-uni-7f")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn disabled_auth_lets_requests_through() {
    let app = TestApp::builder().auth(AuthSettings { disabled: true, token: None, basic: None }).build();
    assert_eq!(app.request(Method::GET, "/deployments", None, None).await.status, StatusCode::OK);
}
