//! What a token is worth over time: it expires, its client's revocation and its key's
//! retirement end it within the token cache's lifetime, the cache answers repeated checks
//! (an unknown token too), lookups that miss it together are one, and a forged token costs
//! no lookup at all.

use billing_test_support as common;
use std::time::{Duration, Instant};

use billing_impl::auth;
use common::{TestApp, assert_error_body};
use diesel::{RunQueryDsl, connection::SimpleConnection};

const BILLS: &str = "/customers/CLIENT_CODE/1001/bills";

#[tokio::test]
async fn a_token_used_after_its_lifetime_is_refused() {
    // Long enough that the first use falls within it on a busy machine.
    let ttl = Duration::from_secs(3);
    let app = TestApp::start_with(|config| config.auth.token_ttl_seconds = ttl.as_secs()).await;
    common::seed_demo(&app);
    let (id, secret) = app.client(&["read"]);
    let token = app.token_for(&id, &secret, &["read"]).await;
    let (status, _) = app.get(&app.api(BILLS), &token).await;
    assert_eq!(status, 200);
    tokio::time::sleep(ttl + Duration::from_millis(500)).await;
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
    // The documented delay is BILLING_TOKEN_CACHE_SECONDS, 1 s in the tests; 2 s more are
    // a margin for a busy machine.
    let refused = loop {
        let (status, _) = app.get(&app.api(BILLS), &token).await;
        if status == 401 || revoked.elapsed() > Duration::from_secs(3) {
            break status == 401;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(refused, "refused within the cache lifetime");
    let (status, body, _) = app
        .token_request(Some((&id, &secret)), "?grant_type=client_credentials", &[])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "no new tokens either"
    );
}

#[tokio::test]
async fn a_token_signed_with_a_retired_key_is_refused() {
    let app = TestApp::start().await;
    app.add_customer(1001);
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
    // Long enough that the second request falls within it on a busy machine.
    let cache = Duration::from_secs(3);
    let app = TestApp::start_with(|config| config.auth.token_cache_seconds = cache.as_secs()).await;
    common::seed_demo(&app);
    let (id, _) = app.client(&["read"]);
    let token = &app.signed_unknown_token().await;
    let (status, body) = app.get(&app.api(BILLS), token).await;
    assert_eq!(status, 401);
    assert_error_body(&body, 401);
    // Were each request to ask the database, the next one would now be let in.
    store_token(&app, token, &id);
    let (status, _) = app.get(&app.api(BILLS), token).await;
    assert_eq!(status, 401, "answered from the cache, without a lookup");
    tokio::time::sleep(cache + Duration::from_millis(200)).await;
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
    // Every request has missed the cache, and a lookup waits behind the lock: were they
    // not coalesced, each would take a pooled connection into the same wait, or look the
    // token up once it is released.
    let bound = Instant::now() + Duration::from_secs(20);
    while app
        .metric(r#"billing_token_checks_total{cache="miss"}"#)
        .await
        < 20.0
        || lookups_waiting(&app) == 0
    {
        assert!(
            Instant::now() < bound,
            "twenty requests never missed together"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = token_table_reads(&app);
    assert_eq!(lookups_waiting(&app), 1, "one lookup for twenty requests");
    locker.batch_execute("COMMIT").expect("unlock");
    for request in requests {
        let response = request.await.expect("task").expect("response");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        token_table_reads(&app) - before,
        1,
        "oauth_tokens was read once for twenty requests"
    );
}

/// Token lookups of the server waiting for a lock on `oauth_tokens`.
fn lookups_waiting(app: &TestApp) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'
           AND application_name = 'billing' AND query LIKE '%oauth_tokens%'",
    ))
    .get_result(&mut app.db.connect())
    .expect("count the waiting lookups")
}

/// Index and sequential scans of `oauth_tokens` so far, in PostgreSQL's statistics for the
/// test's database. A backend reports what it did when it exits, before it leaves
/// `pg_stat_activity`: the server's idle connections are ended, and their exit waited
/// for, so that everything they did is counted. A connection that waits for a lock is
/// left alone.
fn token_table_reads(app: &TestApp) -> i64 {
    let mut conn = app.db.connect();
    let idle_server_backends = "FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'billing'
           AND state = 'idle'";
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) {idle_server_backends}"
    ))
    .execute(&mut conn)
    .expect("end the server's idle connections");
    // A bound for a test that would otherwise hang: an ended backend exits at once.
    let bound = Instant::now() + Duration::from_secs(20);
    loop {
        let left: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "count(*) {idle_server_backends}"
        )))
        .get_result(&mut conn)
        .expect("count the server's connections");
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < bound,
            "the server's connections never exited"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    #[derive(diesel::QueryableByName)]
    struct Reads {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        reads: i64,
    }
    // A new transaction, so that the statistics are read afresh, not from its snapshot.
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
    app.add_customer(1001);
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
