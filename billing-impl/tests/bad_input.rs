//! Bad input from a client, answered cleanly with an `errorBody`: broken encodings,
//! oversized heads, slow uploads, and SQL or script in string parameters.

use billing_test_support as common;
use std::time::{Duration, Instant};

use common::{TestApp, assert_error_body, status_and_json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

#[tokio::test]
async fn broken_encodings_in_paths_and_queries_are_400s() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    for path in [
        "/customers/CLIENT_%FF%FE/1001/bills",
        "/customers/CLIENT_%ZZ/1001/bills",
        "/customers/CLIENT_CODE/1001/bills/groups/%C3%28",
        "/customers/CLIENT_CODE/1001/bills?status=%FF",
        "/customers/CLIENT_CODE/1001/bills?status=%ZZ",
        "/customers/CLIENT_CODE/1001/bills?quantity=%00",
        "/customers/CLIENT_CODE/1001/bills?start=2026%2D01%2D01",
    ] {
        let (status, body) = app.get(&app.api(path), &token).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_error_body(&body, 400);
    }
}

#[tokio::test]
async fn sql_and_script_in_string_parameters_are_refused_by_their_patterns() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    for fragment in [
        "1001'%20OR%20'1'='1",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "x;DROP%20TABLE%20invoices",
    ] {
        for path in [
            format!("/customers/{fragment}/1001/bills"),
            format!("/customers/CLIENT_CODE/1001/bills/groups/{fragment}"),
            format!("/customers/CLIENT_CODE/1001/bills?status={fragment}"),
        ] {
            let (status, body) = app.get(&app.api(&path), &token).await;
            assert_eq!(status, 400, "{path}: {body}");
            let text = body.to_string().to_lowercase();
            assert!(
                !text.contains("select") && !text.contains("diesel") && !text.contains("panicked"),
                "{text}"
            );
        }
    }
    let (status, body) = app
        .get(
            &app.api("/customers/CLIENT_CODE/1001/bills?quantity=100"),
            &token,
        )
        .await;
    assert_eq!(
        (status, body["invoice"].as_array().map(Vec::len)),
        (200, Some(24)),
        "nothing was executed"
    );
}

#[tokio::test]
async fn an_overlong_query_string_is_a_414_and_overlong_headers_a_431() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let url = app.api(&format!(
        "/customers/CLIENT_CODE/1001/bills?pad={}",
        "a".repeat(5000)
    ));
    let (status, body) = app.get(&url, &token).await;
    assert_eq!(status, 414);
    assert_error_body(&body, 414);

    let response = app
        .http
        .get(app.api("/customers/CLIENT_CODE/1001/bills"))
        .bearer_auth(&token)
        .header("x-padding", "a".repeat(20_000))
        .send()
        .await
        .expect("request");
    let (status, body) = status_and_json("GET", response).await;
    assert_eq!(status, 431);
    assert_error_body(&body, 431);
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_a_408() {
    let app = TestApp::start_with(|config| config.server.request_timeout_seconds = 1).await;
    common::seed_demo(&app);
    let token = app.token(&["write"]).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /v2/billing/customers/CLIENT_CODE/1001/bills/groups HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"addr"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered, not hung")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains(r#""statusCode":"408""#),
        "an errorBody: {answer}"
    );
    // The 1 s request timeout answered, not a later bound (4 s of margin).
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_head_sent_too_slowly_is_a_408() {
    let app = TestApp::start_with(|config| config.server.request_timeout_seconds = 1).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered, not hung")
        .expect("read");
    // The HTTP parser answers this one before any middleware runs: a 408 with no body.
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"));
    // The 1 s request timeout answered, not a later bound (4 s of margin).
    assert!(started.elapsed() < Duration::from_secs(5));
}
