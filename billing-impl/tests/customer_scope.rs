//! Object-level authorization: a partner client serves the customers granted to it, and a
//! customer outside its scope is answered exactly as an unknown customer is, on every
//! operation; a first-party client serves every customer; every committed change of a
//! billing group leaves one audit record.

use billing_test_support as common;
use std::time::Duration;

use billing_impl::auth::{self, clients::CustomerGrant, scope::CustomerName};
use common::TestApp;
use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::json;

/// An answer as a client could compare it: status, the headers that do not change from one
/// request to the next, and the body's bytes.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

async fn answer(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> Answer {
    let mut request = app.http.request(method, app.api(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("request");
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    headers.sort();
    let status = response.status().as_u16();
    Answer {
        status,
        headers,
        body: response.text().await.expect("body"),
    }
}

fn names(names: &[&str]) -> Vec<CustomerName> {
    names
        .iter()
        .map(|name| name.parse().expect("ID_TYPE:CODE"))
        .collect()
}

/// The eight operations on customer `code` (its subscriber `msisdn`), as method, path and
/// body; the writes work on a group `G` made for the purpose.
fn operations(code: u64, msisdn: u64) -> Vec<(Method, String, Option<String>)> {
    let groups = format!("/customers/CLIENT_CODE/{code}/bills/groups");
    let group = json!({"groupId": "G", "address": "Col. Kennedy"}).to_string();
    vec![
        (
            Method::GET,
            format!("/customers/CLIENT_CODE/{code}/bills"),
            None,
        ),
        (Method::GET, format!("{groups}/HQ"), None),
        (Method::GET, format!("/customers/{msisdn}/profile"), None),
        (Method::GET, groups.clone(), None),
        (Method::POST, groups.clone(), Some(group.clone())),
        (Method::PUT, groups.clone(), Some(group)),
        (Method::DELETE, format!("{groups}/G"), None),
        (Method::DELETE, format!("{groups}?groupId=G"), None),
    ]
}

#[tokio::test]
async fn a_partner_s_other_customers_answer_exactly_as_unknown_ones_on_every_operation() {
    let app = TestApp::with_demo_data().await;
    let (a_id, a_secret) = app.client_serving(
        &["read", "write"],
        CustomerGrant::Only(names(&["CLIENT_CODE:1001"])),
    );
    let (b_id, b_secret) = app.client_serving(
        &["read", "write"],
        CustomerGrant::Only(names(&["CLIENT_CODE:1002"])),
    );
    let partner_a = app.token_for(&a_id, &a_secret, &["read", "write"]).await;
    let partner_b = app.token_for(&b_id, &b_secret, &["read", "write"]).await;
    let first_party = app.token(&["read", "write"]).await;

    // Each partner on the other's customer, and on a customer that does not exist.
    for (token, other, other_msisdn) in [
        (&partner_a, 1002, 50_499_002_001u64),
        (&partner_b, 1001, 50_499_001_001),
    ] {
        let unknown = operations(9999, 50_499_999_999);
        for ((method, path, body), (_, unknown_path, _)) in
            operations(other, other_msisdn).into_iter().zip(unknown)
        {
            let refused = answer(&app, method.clone(), &path, token, body.as_deref()).await;
            let mut missing =
                answer(&app, method.clone(), &unknown_path, token, body.as_deref()).await;
            missing.body = missing
                .body
                .replace("50499999999", &other_msisdn.to_string())
                .replace("9999", &other.to_string());
            assert_eq!(refused.status, 404, "{method} {path}: {refused:?}");
            assert_eq!(
                refused, missing,
                "{method} {path} is answered as an unknown customer"
            );
        }
    }
    // Nothing was changed by the refused writes.
    let (_, groups) = app
        .get(
            &app.api("/customers/CLIENT_CODE/1002/bills/groups"),
            &first_party,
        )
        .await;
    assert_eq!(
        groups["billingGroup"].as_array().map(Vec::len),
        Some(1),
        "{groups}"
    );

    // Each partner serves its own customer, on every operation; the first-party client both.
    for (token, code, msisdn) in [
        (&partner_a, 1001, 50_499_001_001u64),
        (&partner_b, 1002, 50_499_002_001),
        (&first_party, 1001, 50_499_001_001),
        (&first_party, 1002, 50_499_002_001),
    ] {
        for (method, path, body) in operations(code, msisdn) {
            if method == Method::DELETE && path.ends_with("?groupId=G") {
                // The group was deleted by the path form just before: make it again.
                let made = answer(
                    &app,
                    Method::POST,
                    &format!("/customers/CLIENT_CODE/{code}/bills/groups"),
                    token,
                    Some(r#"{"groupId": "G", "address": "x"}"#),
                )
                .await;
                assert_eq!(made.status, 200, "{made:?}");
            }
            let served = answer(&app, method.clone(), &path, token, body.as_deref()).await;
            // Customer 1002 has no group HQ: its own 404, not the unknown customer's.
            let expected = if path.ends_with("/HQ") && code == 1002 {
                404
            } else {
                200
            };
            assert_eq!(served.status, expected, "{method} {path}: {served:?}");
            if expected == 404 {
                assert!(served.body.contains("no billing group"), "{served:?}");
            }
        }
    }
}

#[tokio::test]
async fn access_ends_within_the_cache_lifetime_after_an_ungrant_and_starts_after_a_grant() {
    let app = TestApp::with_demo_data().await;
    let (id, secret) =
        app.client_serving(&["read"], CustomerGrant::Only(names(&["CLIENT_CODE:1001"])));
    let token = app.token_for(&id, &secret, &["read"]).await;
    let bills = |code: u32| app.api(&format!("/customers/CLIENT_CODE/{code}/bills"));
    assert_eq!(app.get(&bills(1001), &token).await.0, 200);
    assert_eq!(app.get(&bills(1003), &token).await.0, 404);

    let mut conn = app.db.connect();
    auth::clients::ungrant(&mut conn, &id, &names(&["CLIENT_CODE:1001"])).expect("ungrant");
    auth::clients::grant(&mut conn, &id, &names(&["CLIENT_CODE:1003"])).expect("grant");
    // The tests' token cache lives one second.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(app.get(&bills(1001), &token).await.0, 404, "ungranted");
    assert_eq!(app.get(&bills(1003), &token).await.0, 200, "granted");
}

#[tokio::test]
async fn every_committed_write_leaves_one_audit_record_and_a_refused_one_none() {
    let app = TestApp::with_demo_data().await;
    let (id, secret) = app.client(&["read", "write"]);
    let token = app.token_for(&id, &secret, &["read", "write"]).await;
    let groups = "/customers/CLIENT_CODE/1001/bills/groups";
    let send =
        |method: Method, path: String, body: Option<&'static str>, request_id: &'static str| {
            let mut request = app
                .http
                .request(method, app.api(&path))
                .bearer_auth(&token)
                .header("x-request-id", request_id);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            async move { request.send().await.expect("request").status().as_u16() }
        };
    let created = r#"{"groupId": "AUDITED", "address": "first"}"#;
    assert_eq!(
        send(Method::POST, groups.into(), Some(created), "req-create").await,
        200
    );
    assert_eq!(
        send(Method::POST, groups.into(), Some(created), "req-409").await,
        409
    );
    let updated = r#"{"groupId": "AUDITED", "address": "second"}"#;
    assert_eq!(
        send(Method::PUT, groups.into(), Some(updated), "req-update").await,
        200
    );
    let missing = r#"{"groupId": "NOPE", "address": "x"}"#;
    assert_eq!(
        send(Method::PUT, groups.into(), Some(missing), "req-404").await,
        404
    );
    assert_eq!(
        send(Method::DELETE, format!("{groups}/HQ"), None, "req-held").await,
        409
    );
    assert_eq!(
        send(
            Method::DELETE,
            format!("{groups}/AUDITED"),
            None,
            "req-delete"
        )
        .await,
        200
    );

    let records: Vec<AuditRow> = diesel::sql_query(
        "SELECT client_id, request_id, action, before, after FROM billing_group_audit ORDER BY audit_id",
    )
    .load(&mut app.db.connect())
    .expect("audit");
    let group = |address: &str| Some(json!({"groupId": "AUDITED", "address": address}));
    let row = |request_id: &str, action: &str, before, after| AuditRow {
        client_id: id.clone(),
        request_id: request_id.to_owned(),
        action: action.to_owned(),
        before,
        after,
    };
    assert_eq!(
        records,
        vec![
            row("req-create", "create", None, group("first")),
            row("req-update", "update", group("first"), group("second")),
            row("req-delete", "delete", group("second"), None),
        ]
    );
    // Append-only, whoever asks.
    let tampered =
        diesel::sql_query("DELETE FROM billing_group_audit").execute(&mut app.db.connect());
    assert!(tampered.is_err(), "the audit refuses a DELETE");
}

#[derive(Debug, PartialEq, diesel::QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    client_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    request_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    before: Option<serde_json::Value>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    after: Option<serde_json::Value>,
}
