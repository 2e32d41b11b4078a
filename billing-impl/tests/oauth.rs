//! OAuth 2.0 client credentials: the token endpoint (RFC 6749 §4.4, §5) and the bearer
//! token check on every operation (RFC 6750 §3).

use billing_test_support as common;
use std::time::{Duration, Instant};

use billing_impl::auth::{self, token_endpoint::TOKEN_PATH};
use common::{TestApp, assert_error_body, status_and_json};
use diesel::{RunQueryDsl, connection::SimpleConnection};
use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};

const BILLS: &str = "/customers/CLIENT_CODE/1001/bills";
const GROUPS: &str = "/customers/CLIENT_CODE/1001/bills/groups";

/// POST to the token endpoint with an optional Basic credential, query and form body.
async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    query: &str,
    form: &[(&str, &str)],
) -> (u16, Value, HeaderMap) {
    let mut request = app.http.post(format!("{}{query}", app.url(TOKEN_PATH)));
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    if !form.is_empty() {
        request = request.form(form);
    }
    let response = request.send().await.expect("token request");
    let headers = response.headers().clone();
    let (status, body) = status_and_json("POST", response).await;
    (status, body, headers)
}

#[tokio::test]
async fn the_token_endpoint_issues_a_bearer_token_by_basic_authentication() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read", "write"]);
    let before = chrono::Utc::now().timestamp_millis();
    let (status, body, headers) = token_request(
        &app,
        Some((&id, &secret)),
        "?grant_type=client_credentials",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["client_id"], id.as_str());
    let issued_at = body["issued_at"]
        .as_i64()
        .expect("issued_at in milliseconds");
    assert!(issued_at >= before && issued_at <= chrono::Utc::now().timestamp_millis());
    assert!(
        body["access_token"].as_str().is_some_and(|t| t.len() >= 43),
        "256 random bits"
    );
    assert!(body.get("refresh_token").is_none());
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
}

#[tokio::test]
async fn form_fields_authenticate_too_and_grant_type_may_come_in_the_body() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = token_request(&app, None, "", &form).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("token");
    let (status, _) = app.get(&app.api(BILLS), token).await;
    assert_eq!(
        status, 404,
        "the token is accepted; customer 1001 does not exist here"
    );
}

#[tokio::test]
async fn the_token_endpoint_refuses_as_rfc_6749_says() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let grant = "?grant_type=client_credentials";

    let (status, body, headers) = token_request(&app, Some((&id, "wrong")), grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .is_ok_and(|h| h.starts_with("Basic"))
    );

    let (status, body, _) = token_request(&app, Some(("nobody", "x")), grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, body, _) = token_request(&app, None, grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "no credentials"
    );

    let (status, body, _) =
        token_request(&app, Some((&id, &secret)), "?grant_type=password", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (status, body, _) = token_request(&app, Some((&id, &secret)), "", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "no grant_type"
    );

    let (status, body, _) =
        token_request(&app, Some((&id, &secret)), grant, &[("scope", "write")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope")),
        "beyond the client's scopes"
    );

    let (status, body, _) =
        token_request(&app, Some((&id, &secret)), grant, &[("scope", "admin")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let both = [
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (status, body, _) = token_request(&app, Some((&id, &secret)), grant, &both).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "two methods"
    );
    assert!(body["error_description"].is_string());
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

#[tokio::test]
async fn a_token_used_after_its_lifetime_is_refused() {
    let app = TestApp::start_with(|config| config.auth.token_ttl_seconds = 1).await;
    common::seed_demo(&app);
    let (id, secret) = app.client(&["read"]);
    let token = app.token_for(&id, &secret, &["read"]).await;
    let (status, _) = app.get(&app.api(BILLS), &token).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = app.get(&app.api(BILLS), &token).await;
    assert_eq!(status, 401, "expired: {body}");

    // A new token for the client clears its expired ones from the table.
    app.token_for(&id, &secret, &["read"]).await;
    let stored: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "count(*) FROM oauth_tokens WHERE client_id = '{id}'"
    )))
    .get_result(&mut app.db.connect())
    .expect("count");
    assert_eq!(stored, 1, "only the live token is kept");
}

#[tokio::test]
async fn a_revoked_client_s_live_token_is_refused_within_the_cache_lifetime() {
    let app = TestApp::with_demo_data().await;
    let (id, secret) = app.client(&["read"]);
    let token = app.token_for(&id, &secret, &["read"]).await;
    let (status, _) = app.get(&app.api(BILLS), &token).await;
    assert_eq!(status, 200, "the token is warm in the cache");
    auth::clients::revoke(&mut app.db.connect(), &id).expect("revoke");
    let revoked = Instant::now();
    // The documented delay is BILLING_TOKEN_CACHE_SECONDS, 1 s in the tests.
    let refused = loop {
        let (status, _) = app.get(&app.api(BILLS), &token).await;
        if status == 401 || revoked.elapsed() > Duration::from_secs(3) {
            break status == 401;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused, "refused within the cache lifetime");
    assert!(revoked.elapsed() < Duration::from_secs(3));
    let (status, body, _) = token_request(
        &app,
        Some((&id, &secret)),
        "?grant_type=client_credentials",
        &[],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "no new tokens either"
    );
}

#[tokio::test]
async fn failed_authentications_lock_out_their_address_not_the_client_elsewhere() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let grant = "?grant_type=client_credentials";
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().expect("address"))
        .build()
        .expect("client on 127.0.0.2");
    let from_elsewhere = |secret: String| {
        let request = elsewhere
            .post(format!("{}{grant}", app.url(TOKEN_PATH)))
            .basic_auth(&id, Some(secret));
        async move {
            let response = request.send().await.expect("token request");
            let retry_after = response.headers().get("retry-after").cloned();
            let (status, body) = status_and_json("POST", response).await;
            (status, body, retry_after)
        }
    };
    for _ in 0..5 {
        let (status, _, _) = from_elsewhere("guess".to_owned()).await;
        assert_eq!(status, 401);
    }
    let (status, body, retry_after) = from_elsewhere(secret.clone()).await;
    assert_eq!(status, 429, "that address is locked out: {body}");
    assert_eq!(
        body["error"], "temporarily_unavailable",
        "OAuth's JSON: {body}"
    );
    assert_eq!(retry_after.expect("Retry-After"), "60");

    let (status, body, _) = token_request(&app, Some((&id, &secret)), grant, &[]).await;
    assert_eq!(
        status, 200,
        "the right secret from another address gets in: {body}"
    );
}

#[tokio::test]
async fn percent_encoded_basic_credentials_are_decoded_as_rfc_6749_says() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    // openid-client's client_secret_basic: each part form-urlencoded, `-_.~` included
    // (ids and secrets are base64url). Any character may be encoded, so the secret is
    // encoded whole, to hold an encoded character whatever the random draw.
    let encode = |value: &str, keep_alphanumerics: bool| -> String {
        value
            .bytes()
            .map(|b| match b {
                b if keep_alphanumerics && b.is_ascii_alphanumeric() => char::from(b).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    let (encoded_id, encoded_secret) = (encode(&id, true), encode(&secret, false));
    let grant = "?grant_type=client_credentials";
    let (status, body, _) =
        token_request(&app, Some((&encoded_id, &encoded_secret)), grant, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = token_request(&app, Some((&id, &secret)), grant, &[]).await;
    assert_eq!(status, 200, "unencoded credentials still work: {body}");
}

#[tokio::test]
async fn a_failure_behind_the_token_endpoint_is_a_server_error_not_an_outage() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    // A statement that fails for its own sake: the table it writes is gone.
    app.db
        .connect()
        .batch_execute("DROP TABLE oauth_tokens")
        .expect("drop");
    let (status, body, headers) = token_request(
        &app,
        Some((&id, &secret)),
        "?grant_type=client_credentials",
        &[],
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "server_error");
    assert!(!headers.contains_key("retry-after"));
    assert!(
        !body.to_string().contains("oauth_tokens"),
        "nothing internal: {body}"
    );
}

#[tokio::test]
async fn an_unreachable_database_at_the_token_endpoint_is_temporarily_unavailable() {
    let app = TestApp::over_unreachable_database().await;
    let (status, body, headers) = token_request(
        &app,
        Some(("some-client", "some-secret")),
        "?grant_type=client_credentials",
        &[],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(headers["retry-after"], "2");
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
    seed_customer(&app);
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
    seed_customer(&app);
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

/// The customer of `BILLS`, with no bills.
fn seed_customer(app: &TestApp) {
    app.db
        .connect()
        .batch_execute(
            "INSERT INTO customers (id_type, code, name) VALUES ('CLIENT_CODE', 1001, 'Test')",
        )
        .expect("customer");
}

#[tokio::test]
async fn a_dump_of_the_clients_and_tokens_holds_no_usable_secret_or_token() {
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read", "write"]);
    let token = app.token_for(&id, &secret, &["read"]).await;
    let dump = std::process::Command::new("pg_dump")
        .args([
            "--data-only",
            "--table=oauth_clients",
            "--table=oauth_tokens",
            &app.db.url,
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains(&id), "the dump is of the right tables");
    assert!(dump.contains("$sha256$"), "secrets are digests");
    assert!(!dump.contains(&secret), "no client secret in the dump");
    assert!(!dump.contains(&token), "no access token in the dump");
}

/// Stores `token` for the client `client_id` straight in the database, live for an hour.
fn store_token(app: &TestApp, token: &str, client_id: &str) {
    diesel::sql_query(
        "INSERT INTO oauth_tokens (token_hash, client_id, scopes, issued_at, expires_at)
         VALUES ($1, $2, 'read', now(), now() + interval '1 hour')",
    )
    .bind::<diesel::sql_types::Bytea, _>(auth::secrets::token_digest(token).to_vec())
    .bind::<diesel::sql_types::Text, _>(client_id)
    .execute(&mut app.db.connect())
    .expect("store a token");
}

#[tokio::test]
async fn an_unknown_token_is_remembered_as_unknown_for_the_cache_lifetime() {
    let app = TestApp::with_demo_data().await;
    let (id, _) = app.client(&["read"]);
    let token = &app.signed_unknown_token().await;
    let (status, body) = app.get(&app.api(BILLS), token).await;
    assert_eq!(status, 401);
    assert_error_body(&body, 401);
    // Were each request to ask the database, the next one would now be let in.
    store_token(&app, token, &id);
    let (status, _) = app.get(&app.api(BILLS), token).await;
    assert_eq!(status, 401, "answered from the cache, without a lookup");
    // BILLING_TOKEN_CACHE_SECONDS is 1 s in the tests.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, _) = app.get(&app.api(BILLS), token).await;
    assert_eq!(
        status, 200,
        "looked up again once the cached answer expired"
    );
}

#[tokio::test]
async fn requests_that_miss_the_cache_together_share_one_token_lookup() {
    let app = TestApp::with_demo_data().await;
    let (id, _) = app.client(&["read"]);
    let token: &'static str = app.signed_unknown_token().await.leak();
    store_token(&app, token, &id);
    // Every token lookup waits behind this lock, where it can be counted.
    let mut locker = app.db.connect();
    locker
        .batch_execute("BEGIN; LOCK TABLE oauth_tokens IN ACCESS EXCLUSIVE MODE")
        .expect("lock");
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let (http, url) = (app.http.clone(), app.api(BILLS));
            tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
        })
        .collect();
    let mut watcher = app.db.connect();
    let mut waiting = || -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE '%oauth_tokens%'",
        ))
        .get_result(&mut watcher)
        .expect("count the waiting lookups")
    };
    let started = Instant::now();
    while waiting() == 0 && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the other nineteen requests the time to arrive and, were they not coalesced,
    // to take pooled connections of their own into the same wait.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(waiting(), 1, "one lookup for twenty requests");
    locker.batch_execute("COMMIT").expect("unlock");
    for request in requests {
        let response = request.await.expect("task").expect("response");
        assert_eq!(response.status(), 200);
    }
}

/// Index and sequential scans of `oauth_tokens` so far, in PostgreSQL's statistics for the
/// test's database. The server's connections are ended first: a backend reports what it
/// did when it exits.
fn token_table_reads(app: &TestApp) -> i64 {
    let mut conn = app.db.connect();
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut conn)
    .expect("end the server's connections");
    std::thread::sleep(Duration::from_millis(300));
    #[derive(diesel::QueryableByName)]
    struct Reads {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        reads: i64,
    }
    diesel::sql_query(
        "SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) AS reads
         FROM pg_stat_user_tables WHERE relname = 'oauth_tokens'",
    )
    .get_result::<Reads>(&mut conn)
    .expect("statistics")
    .reads
}

#[tokio::test]
async fn forged_tokens_are_refused_without_asking_the_database() {
    let app = TestApp::start().await;
    seed_customer(&app);
    let token = app.token(&["read"]).await;
    let before = token_table_reads(&app);
    let forged: Vec<String> = (0..2_000)
        .map(|i| {
            // The shape of a real token, under the live key's id, with a MAC that is not.
            let (key_id, _) = token.split_once('.').expect("KEY_ID.RANDOM.MAC");
            format!(
                "{key_id}.{}.{:0>43}",
                auth::secrets::new_secret().expect("random"),
                i
            )
        })
        .collect();
    for batch in forged.chunks(50) {
        let answers = futures_util::future::join_all(
            batch
                .iter()
                .map(|forged| app.http.get(app.api(BILLS)).bearer_auth(forged).send()),
        )
        .await;
        for answer in answers {
            assert_eq!(answer.expect("request").status(), 401);
        }
    }
    let after = token_table_reads(&app);
    assert_eq!(
        after,
        before,
        "2,000 forged tokens read oauth_tokens {} times",
        after - before
    );

    // The statistics do see a lookup: a real token new to the cache.
    let fresh = app.token(&["read"]).await;
    let before = token_table_reads(&app);
    let (status, body) = app.get(&app.api(BILLS), &fresh).await;
    assert_eq!(status, 200, "a token just issued works at once: {body}");
    assert!(token_table_reads(&app) > before, "a real lookup is counted");
}

#[tokio::test]
async fn a_token_signed_with_a_retired_key_is_refused() {
    let app = TestApp::start().await;
    seed_customer(&app);
    let old = app.token(&["read"]).await;
    let mut conn = app.db.connect();
    let new_key =
        billing_impl::db::token_keys::insert(&mut conn, &auth::secrets::new_key().expect("key"))
            .expect("rotate");
    // Every instance reads the keys again within the token cache's lifetime (1 s here).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let new = app.token(&["read"]).await;
    assert!(
        new.starts_with(&format!("{new_key}.")),
        "the new key signs: {new}"
    );
    assert_eq!(
        app.get(&app.api(BILLS), &old).await.0,
        200,
        "the old key's tokens stay valid"
    );
    let (old_key, _) = old.split_once('.').expect("KEY_ID.RANDOM.MAC");
    let old_key: i32 = old_key.parse().expect("key id");
    assert!(billing_impl::db::token_keys::retire(&mut conn, old_key).expect("retire"));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (status, body) = app.get(&app.api(BILLS), &old).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(app.get(&app.api(BILLS), &new).await.0, 200);
}

#[tokio::test]
async fn a_client_whose_secret_is_an_argon2id_hash_gets_tokens_and_its_hash_is_upgraded() {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let app = TestApp::start().await;
    let (id, secret) = app.client(&["read"]);
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("hash")
        .to_string();
    let stored = |conn: &mut diesel::PgConnection| -> String {
        #[derive(diesel::QueryableByName)]
        struct Hash {
            #[diesel(sql_type = diesel::sql_types::Text)]
            secret_hash: String,
        }
        diesel::sql_query("SELECT secret_hash FROM oauth_clients WHERE client_id = $1")
            .bind::<diesel::sql_types::Text, _>(&id)
            .get_result::<Hash>(conn)
            .expect("client")
            .secret_hash
    };
    let mut conn = app.db.connect();
    diesel::sql_query("UPDATE oauth_clients SET secret_hash = $1 WHERE client_id = $2")
        .bind::<diesel::sql_types::Text, _>(&argon2)
        .bind::<diesel::sql_types::Text, _>(&id)
        .execute(&mut conn)
        .expect("store an Argon2id hash, as before");
    let grant = "?grant_type=client_credentials";
    let (status, body, _) = token_request(&app, Some((&id, "wrong")), grant, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        stored(&mut conn).starts_with("$argon2id$"),
        "a wrong secret upgrades nothing"
    );
    let (status, body, _) = token_request(&app, Some((&id, &secret)), grant, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        stored(&mut conn).starts_with("$sha256$"),
        "upgraded to a digest"
    );
    let (status, body, _) = token_request(&app, Some((&id, &secret)), grant, &[]).await;
    assert_eq!(status, 200, "and the digest works: {body}");
}
