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

    // A short answer is sent as it is, whatever is accepted; so is everything when off.
    let profile = get(
        &app,
        &app.api(PROFILE),
        &token,
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert!(profile.headers().get("content-encoding").is_none());
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
