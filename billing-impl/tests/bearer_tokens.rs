//! Bearer tokens on every operation (RFC 6750 §3): missing, malformed and unknown ones
//! refused with their challenges, and scopes enforced.

use billing_test_support as common;

use billing_impl::auth::token_endpoint::TOKEN_PATH;
use common::{TestApp, assert_error_body, status_and_json};
use reqwest::Method;
use serde_json::json;

const BILLS: &str = "/customers/CLIENT_CODE/1001/bills";
const GROUPS: &str = "/customers/CLIENT_CODE/1001/bills/groups";

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_refused_with_their_challenges() {
    let app = TestApp::with_demo_data().await;
    let url = app.api(BILLS);

    let response = app.http.get(&url).send().await.expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="billing""#
    );
    let (_, body) = status_and_json("GET", response).await;
    assert_error_body(&body, 401);

    let response = app
        .http
        .get(&url)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .is_ok_and(|h| h.contains(r#"error="invalid_request""#))
    );
    let (_, body) = status_and_json("GET", response).await;
    assert_error_body(&body, 400);

    let response = app
        .http
        .get(&url)
        .bearer_auth("not-a-token-we-issued")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .is_ok_and(|h| h.contains(r#"error="invalid_token""#))
    );
    let (_, body) = status_and_json("GET", response).await;
    assert_error_body(&body, 401);
}

#[tokio::test]
async fn a_requested_scope_narrows_the_token() {
    let app = TestApp::with_demo_data().await;
    let (id, secret) = app.client(&["read", "write"]);
    let token = app.token_for(&id, &secret, &["read"]).await;
    let (status, _) = app.get(&app.api(BILLS), &token).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .send_json(
            Method::POST,
            &app.api(GROUPS),
            &token,
            &json!({"address": "x"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_read_token_cannot_create_update_or_delete_a_group() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let group = json!({"groupId": "NEW", "address": "x"});
    for method in [Method::POST, Method::PUT] {
        let response = app
            .http
            .request(method.clone(), app.api(GROUPS))
            .bearer_auth(&token)
            .json(&group)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 403, "{method}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#)
                && challenge.contains(r#"scope="write""#),
            "{challenge}"
        );
        let (_, body) = status_and_json(method.as_str(), response).await;
        assert_error_body(&body, 403);
    }
    let response = app
        .http
        .delete(app.api(&format!("{GROUPS}/HQ")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 403);
    let (_, listed) = app.get(&app.api(GROUPS), &token).await;
    assert_eq!(
        listed["billingGroup"].as_array().map(Vec::len),
        Some(2),
        "nothing changed"
    );
}

/// Sends `head` and an empty line over a plain TCP connection; returns the answer's status.
async fn raw_status(app: &TestApp, head: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("{head}Host: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {answer}"))
}

#[tokio::test]
async fn more_than_one_authorization_header_is_a_400_in_either_order() {
    let app = TestApp::start().await;
    app.add_customer(1001);
    let token = app.token(&["read"]).await;
    let path = format!("/v2/billing{BILLS}");
    for (first, second) in [(token.as_str(), "garbage"), ("garbage", token.as_str())] {
        let head = format!(
            "GET {path} HTTP/1.1\r\nAuthorization: Bearer {first}\r\nAuthorization: Bearer {second}\r\n"
        );
        assert_eq!(raw_status(&app, &head).await, 400, "{first} then {second}");
    }
    let head = format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer {token}\r\n");
    assert_eq!(raw_status(&app, &head).await, 200, "one header is served");
    let head = format!(
        "POST {TOKEN_PATH}?grant_type=client_credentials HTTP/1.1\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\nContent-Length: 0\r\n"
    );
    assert_eq!(
        raw_status(&app, &head).await,
        400,
        "at the token endpoint too"
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_matched_without_regard_to_case() {
    let app = TestApp::start().await;
    app.add_customer(1001);
    let token = app.token(&["read"]).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = app
            .http
            .get(app.api(BILLS))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{scheme}");
    }
}
