//! What clients see when the server cannot do its work: a database it cannot reach is a
//! 503 with `Retry-After`, an unexpected failure a 500; both are `errorBody`s that say
//! nothing internal. `/health` and `/ready` tell the two states apart.

use billing_test_support as common;
use common::{TestApp, assert_error_body, status_and_json};
use diesel::connection::SimpleConnection;

const BILLS: &str = "/customers/CLIENT_CODE/1001/bills";

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    let app = TestApp::over_unreachable_database().await;
    let response = app
        .http
        .get(app.api(BILLS))
        .bearer_auth("any-token")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "2");
    let (_, body) = status_and_json("GET", response).await;
    assert_error_body(&body, 503);
    let text = body.to_string();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("connection"),
        "nothing internal: {text}"
    );

    let response = app.http.get(app.url("/ready")).send().await.expect("ready");
    assert_eq!(response.status(), 503);
    let response = app
        .http
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), 200, "the process itself is up");
}

#[tokio::test]
async fn an_unexpected_failure_is_a_500_that_leaks_nothing() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    // A schema the server does not expect: its query fails inside PostgreSQL.
    app.db
        .connect()
        .batch_execute("ALTER TABLE invoices RENAME COLUMN cai TO cai_old")
        .expect("alter");
    let (status, body) = app.get(&app.api(BILLS), &token).await;
    assert_eq!(status, 500);
    assert_error_body(&body, 500);
    let text = body.to_string();
    for internal in ["cai", "column", "invoices", "SELECT", "diesel"] {
        assert!(!text.contains(internal), "{internal} leaked: {text}");
    }
}

#[tokio::test]
async fn ready_says_whether_the_database_answers_and_is_migrated() {
    let app = TestApp::start().await;
    let (status, body) = status_and_json(
        "GET",
        app.http.get(app.url("/ready")).send().await.expect("ready"),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    app.db
        .connect()
        .batch_execute("DELETE FROM __diesel_schema_migrations")
        .expect("forget migrations");
    let (status, body) = status_and_json(
        "GET",
        app.http.get(app.url("/ready")).send().await.expect("ready"),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_error_body(&body, 503);
}

#[tokio::test]
async fn a_request_id_is_echoed_or_made() {
    let app = TestApp::start().await;
    let response = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("health");
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app
        .http
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert!(
        response.headers()["x-request-id"].len() >= 16,
        "one is made"
    );
}
