//! What API consumers expect of HTTP, through real HTTP: compressed answers, conditional
//! GETs with strong tags, paging links and counts, and writes made safe to retry by an
//! `Idempotency-Key`.

use billing_test_support as common;
use std::io::Read;

use common::{TestApp, assert_error_body, status_and_json};
use diesel::{RunQueryDsl, connection::SimpleConnection};
use reqwest::{Method, Response, header::HeaderMap};
use serde_json::{Value, json};

const BILLS: &str = "/customers/CLIENT_CODE/1001/bills";
const GROUPS: &str = "/customers/CLIENT_CODE/1001/bills/groups";
const PROFILE: &str = "/customers/50499001001/profile";

async fn get(app: &TestApp, url: &str, token: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.http.get(url).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_else(|| panic!("a {name} header in {headers:?}"))
}

#[tokio::test]
async fn answers_over_a_kibibyte_are_compressed_as_the_client_accepts() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let url = app.api(BILLS);
    let plain = get(&app, &url, &token, &[]).await;
    let plain_tag = header(plain.headers(), "etag").to_owned();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(header(plain.headers(), "vary"), "accept-encoding");
    let plain = plain.bytes().await.expect("body");
    assert!(plain.len() > 10_000, "a page of 20 bills");

    for (accept, coding) in [
        ("gzip", "gzip"),
        ("br;q=1, gzip;q=0.5", "br"),
        ("gzip, br", "br"),
    ] {
        let answer = get(&app, &url, &token, &[("accept-encoding", accept)]).await;
        let headers = answer.headers().clone();
        assert_eq!(header(&headers, "content-encoding"), coding, "{accept}");
        assert_eq!(header(&headers, "vary"), "accept-encoding");
        assert_eq!(
            header(&headers, "etag"),
            format!("{}-{coding}\"", plain_tag.trim_end_matches('"')),
            "the compressed answer's own tag"
        );
        let compressed = answer.bytes().await.expect("body");
        let mut decoded = Vec::new();
        if coding == "gzip" {
            flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut decoded)
        } else {
            brotli::Decompressor::new(&compressed[..], 4096).read_to_end(&mut decoded)
        }
        .expect("decompress");
        assert_eq!(decoded, plain, "{coding} gives the same answer");
        assert!(
            compressed.len() * 4 < plain.len(),
            "{coding}: {} bytes",
            compressed.len()
        );
    }

    // A short answer without a tag (an error) is sent as it is, whatever is accepted; a
    // tagged one is compressed whatever its length, so that its 304 knows its tag; and
    // nothing is when compression is off.
    let missing = get(
        &app,
        &app.api("/customers/CLIENT_CODE/4/bills"),
        &token,
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().get("content-encoding").is_none());
    assert_eq!(header(missing.headers(), "vary"), "accept-encoding");
    let profile = get(
        &app,
        &app.api(PROFILE),
        &token,
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(header(profile.headers(), "content-encoding"), "gzip");
    assert!(header(profile.headers(), "etag").ends_with("-gzip\""));
    let identity = get(&app, &url, &token, &[("accept-encoding", "identity")]).await;
    assert!(identity.headers().get("content-encoding").is_none());

    let off = TestApp::start_with(|config| {
        config.server.compression = billing_impl::config::Switch::Off;
    })
    .await;
    common::seed_demo(&off);
    let token = off.token(&["read"]).await;
    let answer = get(
        &off,
        &off.api(BILLS),
        &token,
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert!(answer.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn every_get_has_a_strong_tag_and_is_answered_304_while_it_is_current() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    for path in [
        BILLS.to_owned(),
        format!("{GROUPS}/HQ"),
        GROUPS.to_owned(),
        PROFILE.to_owned(),
    ] {
        let url = app.api(&path);
        let first = get(&app, &url, &token, &[]).await;
        assert_eq!(first.status(), 200, "{path}");
        let tag = header(first.headers(), "etag").to_owned();
        assert!(
            tag.starts_with('"') && !tag.starts_with("W/"),
            "{path}: strong {tag}"
        );
        assert_eq!(
            header(first.headers(), "cache-control"),
            "private, no-cache"
        );

        for sent in [
            tag.clone(),
            format!("\"old\", {tag}"),
            format!("W/{tag}"),
            "*".into(),
        ] {
            let again = get(&app, &url, &token, &[("if-none-match", &sent)]).await;
            assert_eq!(again.status(), 304, "{path} with {sent}");
            assert_eq!(header(again.headers(), "etag"), tag);
            assert_eq!(
                header(again.headers(), "cache-control"),
                "private, no-cache"
            );
            assert!(again.bytes().await.expect("body").is_empty(), "no body");
        }
        let other = get(&app, &url, &token, &[("if-none-match", "\"other\"")]).await;
        assert_eq!(other.status(), 200, "{path}");
    }

    // A tag goes stale with the data it answered.
    let tag_of = |response: &Response| header(response.headers(), "etag").to_owned();
    let bills = tag_of(&get(&app, &app.api(BILLS), &token, &[]).await);
    let groups = tag_of(&get(&app, &app.api(GROUPS), &token, &[]).await);
    let profile = tag_of(&get(&app, &app.api(PROFILE), &token, &[]).await);
    let (status, _) = app
        .send_json(
            Method::POST,
            &app.api(GROUPS),
            &token,
            &json!({"address": "x"}),
        )
        .await;
    assert_eq!(status, 200);
    let stale = get(
        &app,
        &app.api(GROUPS),
        &token,
        &[("if-none-match", &groups)],
    )
    .await;
    assert_eq!(stale.status(), 200, "a new group changes the groups' tag");
    app.db
        .connect()
        .batch_execute(
            "UPDATE invoices SET invoice_status = 'PAID'
             WHERE invoice_number = (SELECT max(invoice_number) FROM invoices);
             UPDATE subscribers SET city = 'Comayagua' WHERE msisdn = 50499001001",
        )
        .expect("a payment and a move, written straight to the database");
    for (path, tag) in [(BILLS, bills), (PROFILE, profile)] {
        let stale = get(&app, &app.api(path), &token, &[("if-none-match", &tag)]).await;
        assert_eq!(stale.status(), 200, "{path} changed");
    }
}

#[tokio::test]
async fn a_client_walks_rel_next_to_the_end_and_gets_every_bill_once() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let first = format!("/v2/billing{BILLS}?quantity=5&status=PAID");
    let mut next = Some(first.clone());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(path) = next.take() {
        let response = get(&app, &app.url(&path), &token, &[]).await;
        let headers = response.headers().clone();
        let (status, body) = status_and_json("GET", response).await;
        assert_eq!(status, 200, "{body}");
        let total: usize = header(&headers, "x-total-count").parse().expect("a count");
        let links = parse_link_header::parse_with_rel(header(&headers, "link")).expect("links");
        assert_eq!(
            links["first"].raw_uri,
            first.replace("quantity=5&status", "pageInit=0&quantity=5&status")
        );
        assert!(links.contains_key("last"));
        assert_eq!(
            links.contains_key("prev"),
            pages > 0,
            "prev but on the first page"
        );
        next = links.get("next").map(|link| link.raw_uri.clone());
        for invoice in body["invoice"].as_array().expect("invoices") {
            assert_eq!(invoice["invoiceStatus"], "PAID", "the filter is kept");
            seen.push(
                invoice["invoiceNumber"]
                    .as_str()
                    .expect("number")
                    .to_owned(),
            );
        }
        assert_eq!(total, 20, "the demo's PAID bills of customer 1001");
        pages += 1;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len(), pages), (20, 20, 4), "{seen:?}");

    // An unknown group is still a 404; a known one without bills a count of 0.
    let (status, body) = app.get(&app.api(&format!("{GROUPS}/NOPE")), &token).await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);
    let empty = get(
        &app,
        &app.api(&format!("{BILLS}?start=20300101")),
        &token,
        &[],
    )
    .await;
    assert_eq!(header(empty.headers(), "x-total-count"), "0");
    assert!(!header(empty.headers(), "link").contains("next"));
}

async fn create(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value, HeaderMap) {
    let response = app
        .http
        .post(app.api(GROUPS))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("request");
    let headers = response.headers().clone();
    let (status, body) = status_and_json("POST", response).await;
    (status, body, headers)
}

fn count(app: &TestApp, from: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "count(*) FROM {from}"
    )))
    .get_result(&mut app.db.connect())
    .expect("count")
}

#[tokio::test]
async fn a_write_sent_again_with_its_key_is_answered_again_without_a_second_change() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["write"]).await;
    // No groupId: without the key, each request would make a group of its own.
    let body = json!({"address": "Blvd. Suyapa"});
    let (status, first, headers) = create(&app, &token, "order-17", &body).await;
    assert_eq!(status, 200, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    let (status, again, headers) = create(&app, &token, "order-17", &body).await;
    assert_eq!((status, &again), (200, &first));
    assert_eq!(header(&headers, "idempotent-replayed"), "true");
    assert_eq!(
        count(&app, "billing_groups WHERE address = 'Blvd. Suyapa'"),
        1
    );
    assert_eq!(
        count(
            &app,
            "billing_group_audit WHERE after->>'address' = 'Blvd. Suyapa'"
        ),
        1
    );

    let (status, refused, _) = create(&app, &token, "order-17", &json!({"address": "other"})).await;
    assert_eq!(status, 422, "{refused}");
    assert_error_body(&refused, 422);
    let (status, refused, _) = create(&app, &token, "has space", &body).await;
    assert_eq!(status, 400, "{refused}");

    // Another client's key of the same name is its own.
    let other = app.token(&["write"]).await;
    let (status, theirs, headers) = create(&app, &other, "order-17", &body).await;
    assert_eq!(status, 200);
    assert!(headers.get("idempotent-replayed").is_none());
    assert_ne!(theirs["groupId"], first["groupId"]);

    // A key is good for 24 hours; an expired one is forgotten and serves a new request.
    app.db
        .connect()
        .batch_execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .expect("age the keys");
    let (status, _, headers) = create(&app, &token, "order-17", &body).await;
    assert_eq!(status, 200);
    assert!(headers.get("idempotent-replayed").is_none(), "served anew");
    let forgotten =
        billing_impl::db::idempotency_keys::forget_expired(&mut app.db.connect()).expect("forget");
    assert_eq!(forgotten, 1, "the other client's");
}

#[tokio::test]
async fn a_request_while_the_first_with_its_key_is_served_is_a_409() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["write"]).await;
    let mut locker = app.db.connect();
    locker
        .batch_execute("BEGIN; LOCK TABLE billing_groups IN ACCESS EXCLUSIVE MODE")
        .expect("lock");
    let body = json!({"groupId": "SLOW", "address": "x"});
    let (http, url, token_) = (app.http.clone(), app.api(GROUPS), token.clone());
    let body_ = body.clone();
    let first = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(token_)
            .header("Idempotency-Key", "slow-1")
            .json(&body_)
            .send()
            .await
            .expect("first")
            .status()
            .as_u16()
    });
    // The first holds its key's lock while it waits for the table's.
    let bound = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let taken = "pg_locks WHERE locktype = 'advisory' AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    while count(&app, taken) == 0 {
        assert!(
            std::time::Instant::now() < bound,
            "the first never took its key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, refused, _) = create(&app, &token, "slow-1", &body).await;
    assert_eq!(status, 409, "{refused}");
    assert_error_body(&refused, 409);
    locker.batch_execute("COMMIT").expect("unlock");
    assert_eq!(first.await.expect("task"), 200);
    assert_eq!(count(&app, "billing_groups WHERE group_id = 'SLOW'"), 1);
}

#[tokio::test]
async fn the_keys_of_updates_and_deletes_replay_too() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["write"]).await;
    let send = |method: Method, url: String, key: &'static str, body: Option<Value>| {
        let mut request = app
            .http
            .request(method, url)
            .bearer_auth(&token)
            .header("Idempotency-Key", key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let moved = json!({"groupId": "SALES", "address": "Plaza Miraflores"});
    for _ in 0..2 {
        let answer = send(
            Method::PUT,
            app.api(GROUPS),
            "move-sales",
            Some(moved.clone()),
        )
        .await
        .expect("update");
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(
        count(
            &app,
            "billing_group_audit WHERE group_id = 'SALES' AND action = 'update'"
        ),
        1
    );
    let url = app.api(&format!("{GROUPS}/SALES"));
    let gone = send(Method::DELETE, url.clone(), "drop-sales", None)
        .await
        .expect("delete");
    // SALES holds invoices: the refusal is not stored, and is answered again.
    assert_eq!(gone.status(), 409);
    let again = send(Method::DELETE, url, "drop-sales", None)
        .await
        .expect("delete");
    assert_eq!(again.status(), 409);
    assert!(again.headers().get("idempotent-replayed").is_none());
}

/// The headers a 304 must repeat from its 200 (RFC 9110 §15.4.5).
const REPEATED: [&str; 3] = ["etag", "vary", "cache-control"];

fn repeated(headers: &HeaderMap) -> Vec<Option<String>> {
    REPEATED
        .iter()
        .map(|name| {
            headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn a_304_says_what_its_200_would_for_every_coding_and_condition() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    // Accept-Encoding, and the coding the answer then has.
    let codings = [
        (None, None),
        (Some("identity"), None),
        (Some("gzip"), Some("gzip")),
        (Some("br"), Some("br")),
        (Some("gzip;q=0.5, br;q=0.9"), Some("br")),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("gzip;q=0, br;q=0"), None),
    ];
    for path in [
        BILLS.to_owned(),
        format!("{BILLS}?status=PAID&quantity=3"),
        format!("{GROUPS}/HQ"),
        GROUPS.to_owned(),
        PROFILE.to_owned(),
    ] {
        let url = app.api(&path);
        let identity = get(&app, &url, &token, &[]).await;
        let identity_tag = header(identity.headers(), "etag").to_owned();
        for (accept, coding) in codings {
            let accept: Vec<(&str, &str)> = accept
                .map(|accept| ("accept-encoding", accept))
                .into_iter()
                .collect();
            let full = get(&app, &url, &token, &accept).await;
            assert_eq!(full.status(), 200, "{path} {accept:?}");
            let expected_tag = match coding {
                Some(coding) => format!("{}-{coding}\"", identity_tag.trim_end_matches('"')),
                None => identity_tag.clone(),
            };
            assert_eq!(
                header(full.headers(), "etag"),
                expected_tag,
                "{path} {accept:?}"
            );
            assert_eq!(
                full.headers()
                    .get("content-encoding")
                    .and_then(|value| value.to_str().ok()),
                coding,
                "{path} {accept:?}"
            );
            let whole = repeated(full.headers());
            for (condition, modified) in [
                (expected_tag.clone(), false),
                (format!("W/{expected_tag}"), false),
                (identity_tag.clone(), false),
                ("*".to_owned(), false),
                ("\"stale\"".to_owned(), true),
                (format!("\"stale\", W/{expected_tag}"), false),
            ] {
                let mut headers = accept.clone();
                headers.push(("if-none-match", &condition));
                let again = get(&app, &url, &token, &headers).await;
                let status = if modified { 200 } else { 304 };
                assert_eq!(again.status(), status, "{path} {accept:?} {condition}");
                assert_eq!(
                    repeated(again.headers()),
                    whole,
                    "{path} {accept:?} {condition}: the 200's headers"
                );
            }
        }
    }

    // A resource that does not exist stays a 404 whatever the condition.
    for path in [
        format!("{GROUPS}/NOPE"),
        "/customers/CLIENT_CODE/4/bills".to_owned(),
        "/customers/CLIENT_CODE/4/bills/groups".to_owned(),
        "/customers/CLIENT_CODE/4/bills/groups/HQ".to_owned(),
        "/customers/50499009999/profile".to_owned(),
    ] {
        for condition in ["*", "W/\"x\"", "\"x\""] {
            for accept in ["identity", "gzip", "br"] {
                let answer = get(
                    &app,
                    &app.api(&path),
                    &token,
                    &[("if-none-match", condition), ("accept-encoding", accept)],
                )
                .await;
                let (status, body) = status_and_json("GET", answer).await;
                assert_eq!(status, 404, "{path} {condition} {accept}: {body}");
                assert_error_body(&body, 404);
            }
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Keys {
    #[diesel(sql_type = diesel::sql_types::Text)]
    first: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    second: String,
}

#[tokio::test]
async fn two_clients_keys_never_share_a_lock_whatever_their_hashes() {
    let app = TestApp::with_demo_data().await;
    let (first_client, first_secret) = app.client(&["read", "write"]);
    let (second_client, second_secret) = app.client(&["read", "write"]);
    let first = app
        .token_for(&first_client, &first_secret, &["read", "write"])
        .await;
    let second = app
        .token_for(&second_client, &second_secret, &["read", "write"])
        .await;
    // Two keys, one of each client, whose hashes collided in the lock the server took
    // before (hashtext of the client and the key): a birthday search over 32 bits.
    let mut conn = app.db.connect();
    let Keys {
        first: first_key,
        second: second_key,
    } = diesel::sql_query(
        "SELECT min(key) FILTER (WHERE client = 1) AS first,
                min(key) FILTER (WHERE client = 2) AS second
         FROM (SELECT 1 AS client, 'k' || i AS key, hashtext($1 || ' k' || i) AS hash
               FROM generate_series(1, 200000) AS i
               UNION ALL
               SELECT 2, 'k' || i, hashtext($2 || ' k' || i)
               FROM generate_series(1, 200000) AS i) AS keyed
         GROUP BY hash HAVING count(DISTINCT client) = 2 LIMIT 1",
    )
    .bind::<diesel::sql_types::Text, _>(&first_client)
    .bind::<diesel::sql_types::Text, _>(&second_client)
    .get_result(&mut conn)
    .expect("a colliding pair among 4 x 10^10");

    // Both writes are held in flight by a lock on the customers, each after its key's.
    let mut locker = app.db.connect();
    locker
        .batch_execute("BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .expect("lock");
    let post = |token: String, key: String, group: &'static str| {
        let (http, url) = (app.http.clone(), app.api(GROUPS));
        tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(&json!({"groupId": group, "address": "x"}))
                .send()
                .await
                .expect("request");
            status_and_json("POST", response).await
        })
    };
    let first_write = post(first.clone(), first_key.clone(), "FIRST");
    let second_write = post(second.clone(), second_key.clone(), "SECOND");
    // The same key of the same client while its first request is in flight: 409 at once.
    let waiting = |conn: &mut diesel::PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(*) FROM pg_locks WHERE relation = 'customers'::regclass AND NOT granted",
        ))
        .get_result(conn)
        .expect("pg_locks")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while waiting(&mut conn) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "both writes wait for the customers (a hang bound)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, body) = post(first, first_key, "FIRST").await.expect("task");
    assert_eq!(status, 409, "{body}");
    assert_error_body(&body, 409);
    locker.batch_execute("COMMIT").expect("unlock");
    for (write, group) in [(first_write, "FIRST"), (second_write, "SECOND")] {
        let (status, body) = write.await.expect("task");
        assert_eq!(
            (status, body["groupId"].as_str()),
            (200, Some(group)),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_truncate_moves_the_tags_and_counts_it_changed() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let tag_of = |response: &Response| header(response.headers(), "etag").to_owned();
    let bills = tag_of(&get(&app, &app.api(BILLS), &token, &[]).await);
    let groups = tag_of(&get(&app, &app.api(GROUPS), &token, &[]).await);
    app.db
        .connect()
        .batch_execute("TRUNCATE invoices")
        .expect("every bill gone at once");
    for (path, tag) in [(BILLS, &bills), (GROUPS, &groups)] {
        let answer = get(&app, &app.api(path), &token, &[("if-none-match", tag)]).await;
        assert_eq!(answer.status(), 200, "{path} changed");
        if path == BILLS {
            assert_eq!(header(answer.headers(), "x-total-count"), "0");
        }
    }
    let mut conn = app.db.connect();
    assert_eq!(common::numbering_errors(&mut conn), 0, "every count is 0");

    let profile = tag_of(&get(&app, &app.api(PROFILE), &token, &[]).await);
    let groups = tag_of(&get(&app, &app.api(GROUPS), &token, &[]).await);
    conn.batch_execute("BEGIN; TRUNCATE billing_groups, invoices; INSERT INTO billing_groups (customer_id, group_id, address) SELECT customer_id, 'HQ', 'Col. Palmira, Av. Republica de Chile 1402, Tegucigalpa' FROM customers WHERE code = 1001; COMMIT")
        .expect("the groups truncated and one written back");
    let answer = get(
        &app,
        &app.api(GROUPS),
        &token,
        &[("if-none-match", &groups)],
    )
    .await;
    assert_eq!(answer.status(), 200, "the groups changed");
    conn.batch_execute("TRUNCATE subscribers CASCADE")
        .expect("every subscriber gone");
    let answer = get(
        &app,
        &app.api(PROFILE),
        &token,
        &[("if-none-match", &profile)],
    )
    .await;
    assert_eq!(answer.status(), 404, "the subscriber is gone");
}
