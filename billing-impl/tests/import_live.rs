//! `billing import` beside a running server, run through the binary: what it imports is
//! served at once, and API writes on the same customers go on while a bill run loads.

use billing_test_support as common;

use common::{
    Scratch, TestApp,
    import::{bill_run, count, customers_file, import},
    numbering_errors,
};
use serde_json::json;

#[tokio::test]
async fn a_customer_imported_is_served_by_a_running_server_at_once() {
    let app = TestApp::start().await;
    let token = app.token(&["read"]).await;
    let bills = app.api("/customers/CLIENT_CODE/7001/bills");
    let (status, _) = app.get(&bills, &token).await;
    assert_eq!(status, 404);
    let scratch = Scratch::new();
    let customers = customers_file(&scratch, 7001, 1);
    let run = scratch.file("run.jsonl", bill_run(7001, 1, 3));
    for (kind, file) in [("customers", &customers), ("invoices", &run)] {
        assert_eq!(
            import(&app.db.url, &[kind, file.to_str().expect("path")]).code,
            0
        );
    }
    let (status, body) = app.get(&bills, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["invoice"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_bill_run_and_api_writes_on_the_same_customers_go_on_together() {
    let app = TestApp::with_demo_data().await;
    let scratch = Scratch::new();
    // Ten thousand bills for the demo's three customers, older than theirs and newer.
    let run = scratch.file("run.jsonl", bill_run(1001, 3, 3400));
    let url = app.db.url.clone();
    let path = run.to_str().expect("path").to_owned();
    let load =
        std::thread::spawn(move || import(&url, &["invoices", &path, "--batch-rows", "500"]));
    let token = app.token(&["read", "write"]).await;
    let mut created = 0;
    while !load.is_finished() {
        for code in [1001, 1002] {
            let groups = app.api(&format!("/customers/CLIENT_CODE/{code}/bills/groups"));
            let group = json!({"groupId": format!("G{created}"), "address": "x"});
            let (status, body) = app
                .send_json(reqwest::Method::POST, &groups, &token, &group)
                .await;
            assert_eq!(status, 200, "{body}");
            let (status, body) = app
                .get(
                    &app.api(&format!("/customers/CLIENT_CODE/{code}/bills")),
                    &token,
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        created += 1;
    }
    let finished = load.join().expect("the import");
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(created > 0, "API writes went on during the run");
    let mut conn = app.db.connect();
    assert_eq!(
        count(&mut conn, "billing_groups WHERE group_id LIKE 'G%'"),
        2 * created
    );
    assert_eq!(numbering_errors(&mut conn), 0);
}
