//! The `billingGroup` tag: creating, listing, updating and deleting a customer's billing
//! groups, and the bills of one group.

use billing_test_support as common;
use common::{TestApp, assert_error_body, snapshot};
use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

const GROUPS_1001: &str = "/customers/CLIENT_CODE/1001/bills/groups";

fn group_ids(body: &Value) -> Vec<&str> {
    body["billingGroup"]
        .as_array()
        .expect("a billingGroup array")
        .iter()
        .map(|group| group["groupId"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn groups_are_listed_by_group_id() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app.get(&app.api(GROUPS_1001), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(group_ids(&body), ["HQ", "SALES"]);
    let (status, body) = app
        .get(&app.api("/customers/CLIENT_CODE/1003/bills/groups"), &token)
        .await;
    assert_eq!((status, group_ids(&body).len()), (200, 0));
    let (status, body) = app
        .get(&app.api("/customers/CLIENT_CODE/4/bills/groups"), &token)
        .await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);
}

#[tokio::test]
async fn a_group_is_created_once_per_group_id() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let group = json!({"groupId": "BRANCH-7", "address": "Blvd. Morazan, Tegucigalpa"});
    let (status, body) = app
        .send_json(Method::POST, &app.api(GROUPS_1001), &token, &group)
        .await;
    assert_eq!((status, &body), (200, &group));

    let (status, body) = app
        .send_json(Method::POST, &app.api(GROUPS_1001), &token, &group)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_error_body(&body, 409);

    // Group ids are per customer: another customer may use the same one.
    let other = "/customers/CLIENT_CODE/1003/bills/groups";
    let (status, _) = app
        .send_json(Method::POST, &app.api(other), &token, &group)
        .await;
    assert_eq!(status, 200);

    let (_, listed) = app.get(&app.api(GROUPS_1001), &token).await;
    assert_eq!(group_ids(&listed), ["BRANCH-7", "HQ", "SALES"]);
}

#[tokio::test]
async fn a_group_without_group_id_gets_one_assigned() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &app.api(GROUPS_1001),
            &token,
            &json!({"address": "Tegucigalpa"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let assigned = body["groupId"].as_str().expect("an assigned groupId");
    assert!(
        assigned.len() <= 64 && assigned.chars().all(|c| c.is_ascii_alphanumeric()),
        "{assigned}"
    );
    let (_, listed) = app.get(&app.api(GROUPS_1001), &token).await;
    assert!(group_ids(&listed).contains(&assigned));
}

#[tokio::test]
async fn creating_for_an_unknown_customer_is_a_404() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["write"]).await;
    let (status, body) = app
        .send_json(
            Method::POST,
            &app.api("/customers/CLIENT_CODE/4/bills/groups"),
            &token,
            &json!({"address": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);
}

#[tokio::test]
async fn an_update_changes_the_address_of_an_existing_group() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let update = json!({"groupId": "SALES", "address": "Col. Trejo, San Pedro Sula"});
    let (status, body) = app
        .send_json(Method::PUT, &app.api(GROUPS_1001), &token, &update)
        .await;
    assert_eq!((status, &body), (200, &update));
    let (_, listed) = app.get(&app.api(GROUPS_1001), &token).await;
    assert_eq!(listed["billingGroup"][1], update);

    let missing = json!({"groupId": "NOPE", "address": "x"});
    let (status, body) = app
        .send_json(Method::PUT, &app.api(GROUPS_1001), &token, &missing)
        .await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);
}

#[tokio::test]
async fn an_empty_group_is_deleted_and_answered_as_it_was() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let group = json!({"groupId": "TEMP", "address": "Choluteca"});
    app.send_json(Method::POST, &app.api(GROUPS_1001), &token, &group)
        .await;
    let delete = app.api(&format!("{GROUPS_1001}/TEMP"));
    let response = app
        .http
        .delete(&delete)
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    let (status, body) = common::status_and_json("DELETE", response).await;
    assert_eq!((status, &body), (200, &group));
    let response = app
        .http
        .delete(&delete)
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    let (status, body) = common::status_and_json("DELETE", response).await;
    assert_eq!(status, 404, "already gone: {body}");
    assert_error_body(&body, 404);
}

#[tokio::test]
async fn a_group_that_holds_invoices_is_not_deleted() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let response = app
        .http
        .delete(app.api(&format!("{GROUPS_1001}/HQ")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    let (status, body) = common::status_and_json("DELETE", response).await;
    assert_eq!(status, 409, "{body}");
    assert_error_body(&body, 409);
    let (status, bills) = app
        .get(&app.api(&format!("{GROUPS_1001}/HQ?quantity=100")), &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        bills["invoice"].as_array().map(Vec::len),
        Some(12),
        "the group keeps its bills"
    );
}

#[tokio::test]
async fn the_original_contract_s_delete_names_the_group_in_the_query() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let group = json!({"groupId": "TEMP", "address": "Choluteca"});
    app.send_json(Method::POST, &app.api(GROUPS_1001), &token, &group)
        .await;
    let delete = |query: &str| {
        app.http
            .delete(app.api(&format!("{GROUPS_1001}{query}")))
            .bearer_auth(&token)
            .send()
    };
    let (status, body) =
        common::status_and_json("DELETE", delete("?groupId=TEMP").await.expect("delete")).await;
    assert_eq!((status, &body), (200, &group));
    let (status, body) =
        common::status_and_json("DELETE", delete("?groupId=TEMP").await.expect("delete")).await;
    assert_eq!(status, 404, "already gone: {body}");
    let (status, body) =
        common::status_and_json("DELETE", delete("?groupId=HQ").await.expect("delete")).await;
    assert_eq!(status, 409, "HQ holds invoices: {body}");
    let (status, body) = common::status_and_json("DELETE", delete("").await.expect("delete")).await;
    assert_eq!(status, 400, "{body}");
    assert_error_body(&body, 400);
    assert!(
        body["error"]["developerMessage"]
            .as_str()
            .is_some_and(|message| message.contains("`groupId`"))
    );
}

#[tokio::test]
async fn a_deployment_serves_the_api_under_its_own_base_path() {
    let app = TestApp::start_with(|config| {
        config.server.base_path = "/v2/tigo/b2b/hn/billing".to_owned();
    })
    .await;
    common::seed_demo(&app);
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(
            &app.url(&format!("/v2/tigo/b2b/hn/billing{GROUPS_1001}")),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(group_ids(&body).contains(&"HQ"));
    let response = app
        .http
        .get(app.url(&format!("/v2/billing{GROUPS_1001}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        404,
        "nothing under the spec's default then"
    );
}

#[tokio::test]
async fn the_bills_of_a_group_are_that_group_s_alone() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(
            &app.api(&format!("{GROUPS_1001}/SALES?quantity=100")),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let invoices = body["invoice"].as_array().expect("invoices");
    assert_eq!(invoices.len(), 12);
    assert!(
        invoices
            .iter()
            .all(|invoice| invoice["billingGroup"] == json!({"id": "SALES", "idType": "GROUP_ID"}))
    );

    let (_, filtered) = app
        .get(
            &app.api(&format!("{GROUPS_1001}/SALES?status=OPEN&quantity=5")),
            &token,
        )
        .await;
    assert_eq!(filtered["invoice"].as_array().map(Vec::len), Some(1));

    let (status, body) = app
        .get(&app.api(&format!("{GROUPS_1001}/NOPE")), &token)
        .await;
    assert_eq!(status, 404, "unknown group: {body}");
    let (status, body) = app
        .get(&app.api("/customers/CLIENT_CODE/4/bills/groups/HQ"), &token)
        .await;
    assert_eq!(status, 404, "unknown customer: {body}");
    // A group of another customer is not this customer's.
    let (status, _) = app
        .get(
            &app.api("/customers/CLIENT_CODE/1002/bills/groups/HQ"),
            &token,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_bills_of_a_group_of_a_deleted_customer_are_a_404() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let sales = app.api(&format!("{GROUPS_1001}/SALES"));
    let (status, body) = app.get(&sales, &token).await;
    assert_eq!(status, 200, "{body}");

    diesel::sql_query("DELETE FROM customers WHERE id_type = 'CLIENT_CODE' AND code = 1001")
        .execute(&mut app.db.connect())
        .expect("delete");
    let (status, body) = app.get(&sales, &token).await;
    assert_eq!(status, 404, "a deleted customer is not served: {body}");
    assert_error_body(&body, 404);
}

#[tokio::test]
async fn sql_in_string_parameters_is_stored_inert() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let address = "x'); DROP TABLE invoices; -- <script>alert(1)</script>";
    let (status, body) = app
        .send_json(
            Method::POST,
            &app.api(GROUPS_1001),
            &token,
            &json!({"groupId": "INERT", "address": address}),
        )
        .await;
    assert_eq!((status, body["address"].as_str()), (200, Some(address)));
    let count: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "count(*) FROM invoices",
    ))
    .get_result(&mut app.db.connect())
    .expect("the invoices table is still there");
    assert_eq!(count, 48);
}

#[tokio::test]
async fn twenty_concurrent_creates_of_one_group_id_give_one_200_and_nineteen_409s() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let url = app.api(GROUPS_1001);
    let creates = (0..20).map(|i| {
        let body = json!({"groupId": "RACE", "address": format!("address {i}")});
        let (app, url, token) = (&app, url.clone(), token.clone());
        async move { app.send_json(Method::POST, &url, &token, &body).await.0 }
    });
    let mut statuses = futures_util::future::join_all(creates).await;
    statuses.sort();
    assert_eq!(statuses, [vec![200], vec![409; 19]].concat());
}

#[tokio::test]
async fn concurrent_updates_of_one_group_leave_one_whole_write() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let url = app.api(GROUPS_1001);
    let addresses: Vec<String> = (0..20).map(|i| format!("Calle {i}, casa {i}")).collect();
    let updates = addresses.iter().map(|address| {
        let body = json!({"groupId": "HQ", "address": address});
        let (app, url, token) = (&app, url.clone(), token.clone());
        async move { app.send_json(Method::PUT, &url, &token, &body).await.0 }
    });
    let statuses = futures_util::future::join_all(updates).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    let (_, listed) = app.get(&app.api(GROUPS_1001), &token).await;
    let address = listed["billingGroup"][0]["address"]
        .as_str()
        .expect("address");
    assert!(
        addresses.iter().any(|a| a == address),
        "one of the writes, whole: {address}"
    );
}

/// Asserts that the answer at `path`, asked for while `change` commits to `table`,
/// describes one state, with `customers` locked (which an answer reading its rows first
/// waits for last) and with `table` locked (the other way round).
async fn an_answer_across_a_commit_is_one_state(path: &str, table: &str, change: &str) {
    for locked in ["customers", table] {
        let app = TestApp::with_demo_data().await;
        snapshot::assert_one_state_across_a_commit(&app, &app.api(path), locked, change).await;
    }
}

#[tokio::test]
async fn a_groups_page_of_bills_its_count_and_its_tag_come_from_one_snapshot() {
    an_answer_across_a_commit_is_one_state(
        &format!("{GROUPS_1001}/HQ"),
        "invoices",
        "INSERT INTO invoices (customer_id, invoice_number, billing_group_id, invoice_status,
                               bill_date, invoice_amount, invoice_balance)
         SELECT customer_id, 'RACE-1', 'HQ', 'OPEN', DATE '2031-01-01', 1, 1
         FROM customers WHERE code = 1001",
    )
    .await;
}

#[tokio::test]
async fn the_list_of_groups_and_its_tag_come_from_one_snapshot() {
    an_answer_across_a_commit_is_one_state(
        GROUPS_1001,
        "billing_groups",
        "INSERT INTO billing_groups (customer_id, group_id, address)
         SELECT customer_id, 'RACE', 'Somewhere' FROM customers WHERE code = 1001",
    )
    .await;
}

#[tokio::test]
async fn groups_are_written_at_once_while_an_atomic_import_of_the_customers_bills_loads() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read", "write"]).await;
    let scratch = common::Scratch::new();
    let rejects = scratch.file("bills.rejects.jsonl", "");
    let mut import = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(["import", "invoices", "-", "--format", "jsonl", "--atomic"])
        .args(["--batch-rows", "10", "--rejects"])
        .arg(&rejects)
        .env("DATABASE_URL", &app.db.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the import");
    // A first batch of customer 1001's bills of group HQ is written; the transaction stays
    // open, waiting for the rest of standard input.
    let mut input = import.stdin.take().expect("the import's standard input");
    for day in 1..=15 {
        writeln!(
            input,
            "{{\"customer\": {{\"idType\": \"CLIENT_CODE\", \"id\": 1001}}, \
              \"invoiceNumber\": \"ATOMIC-{day}\", \"billDate\": \"2030-01-{day:02}\", \
              \"invoiceAmount\": 1, \"invoiceBalace\": 1, \"invoiceStatus\": \"OPEN\", \
              \"billingGroup\": {{\"id\": \"HQ\", \"idType\": \"GROUP_ID\"}}}}"
        )
        .expect("a line");
    }
    input.flush().expect("flush");
    let mut watcher = app.db.connect();
    // A hang bound: the first batch is written in milliseconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let written: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(*) FROM pg_locks
             WHERE relation = 'invoices'::regclass AND mode = 'RowExclusiveLock'
               AND pid <> pg_backend_pid()",
        ))
        .get_result(&mut watcher)
        .expect("pg_locks");
        if written > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the import wrote no invoice");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    let (status, body) = app
        .send_json(
            Method::POST,
            &app.api(GROUPS_1001),
            &token,
            &json!({"groupId": "DURING", "address": "Created during the import"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .send_json(
            Method::PUT,
            &app.api(GROUPS_1001),
            &token,
            &json!({"groupId": "HQ", "address": "Changed during the import"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A margin of a second: waiting for the import would take until its input ends.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the writes waited {:?}",
        started.elapsed()
    );
    assert!(import.try_wait().expect("wait").is_none(), "still loading");

    drop(input);
    let status = import.wait().expect("the import ends");
    assert!(status.success(), "{status}");
    let (status, body) = app
        .get(
            &app.api("/customers/CLIENT_CODE/1001/bills?quantity=1"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["invoice"][0]["invoiceNumber"], "ATOMIC-15");
    let (_, groups) = app.get(&app.api(GROUPS_1001), &token).await;
    assert_eq!(group_ids(&groups), ["DURING", "HQ", "SALES"]);
    assert_eq!(common::numbering_errors(&mut watcher), 0);
}
