//! `billing import` run again, run through the binary: a second run writes nothing and an
//! update changes exactly its rows, a run killed then run again ends as one clean run, and
//! a subscriber that moves has one owner while groups are audited by run.

use billing_test_support as common;

use common::{
    Scratch, TestApp, TestDb,
    import::{
        bill_run, count, customers_file, everything, full_invoice, import, kill_mid_run, lines,
        summary, with_customer,
    },
    numbering_errors,
    process::billing,
};
use diesel::{PgConnection, RunQueryDsl};
use serde_json::{Value, json};

#[test]
fn a_second_run_of_a_file_writes_nothing_and_an_update_changes_exactly_its_rows() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let invoices: Vec<Value> = (1..=50)
        .map(|n| with_customer(full_invoice(&format!("RUN-{n:03}"), 1234.5), 1001))
        .collect();
    let file = scratch.file("run.jsonl", lines(&invoices));
    let file = file.to_str().expect("path");
    assert_eq!(import(&db.url, &["invoices", file]).code, 0);
    let versions = |conn: &mut PgConnection| -> Vec<(String, String)> {
        #[derive(diesel::QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            invoice_number: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            xmin: String,
        }
        diesel::sql_query(
            "SELECT invoice_number, xmin::text AS xmin FROM invoices ORDER BY invoice_number",
        )
        .load::<Version>(conn)
        .expect("versions")
        .into_iter()
        .map(|v| (v.invoice_number, v.xmin))
        .collect()
    };
    let mut conn = db.connect();
    let before = versions(&mut conn);

    let again = import(&db.url, &["invoices", file]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let loaded = summary(&again);
    assert_eq!(
        (
            loaded["unchanged"].as_u64(),
            loaded["inserted"].as_u64(),
            loaded["updated"].as_u64()
        ),
        (Some(50), Some(0), Some(0)),
        "{loaded}"
    );
    assert_eq!(versions(&mut conn), before, "no row has a new version");

    // Payment updates: three of them paid, re-exported; one repeated with the later line winning.
    let mut paid: Vec<Value> = ["RUN-007", "RUN-008", "RUN-009"]
        .iter()
        .map(|number| {
            let mut invoice = with_customer(full_invoice(number, 0.0), 1001);
            invoice["invoiceStatus"] = json!("PAID");
            invoice
        })
        .collect();
    paid.insert(0, with_customer(full_invoice("RUN-009", 99.0), 1001));
    paid.push(with_customer(full_invoice("RUN-010", 1234.5), 1001));
    let update = scratch.file("payments.jsonl", lines(&paid));
    let updated = import(&db.url, &["invoices", update.to_str().expect("path")]);
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let loaded = summary(&updated);
    assert_eq!(
        (
            loaded["read"].as_u64(),
            loaded["updated"].as_u64(),
            loaded["unchanged"].as_u64(),
            loaded["inserted"].as_u64()
        ),
        (Some(5), Some(4), Some(1), Some(0)),
        "three paid, one line replaced by a later one, one re-exported as it is: {loaded}"
    );
    let after = versions(&mut conn);
    let changed: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(old, new)| old != new)
        .map(|(old, _)| old.0.as_str())
        .collect();
    assert_eq!(changed, ["RUN-007", "RUN-008", "RUN-009"]);
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE invoice_number = 'RUN-009' AND invoice_status = 'PAID' AND invoice_balance = 0"
        ),
        1,
        "the later line won"
    );
    assert_eq!(numbering_errors(&mut conn), 0);
}

#[test]
fn a_run_killed_at_any_point_then_run_again_ends_as_one_clean_run() {
    let (killed, clean) = (TestDb::migrated(), TestDb::migrated());
    let scratch = Scratch::new();
    let customers = customers_file(&scratch, 5000, 20);
    let run = scratch.file("run.jsonl", bill_run(5000, 20, 1500));
    let (customers, run) = (
        customers.to_str().expect("path"),
        run.to_str().expect("path"),
    );
    for db in [&killed, &clean] {
        assert_eq!(import(&db.url, &["customers", customers]).code, 0);
    }
    kill_mid_run(&killed.url, &["invoices", run, "--batch-rows", "100"]);
    let mut conn = killed.connect();
    let loaded_before = count(&mut conn, "invoices");
    assert!(
        loaded_before > 0 && loaded_before < 30_000,
        "killed mid-run: {loaded_before} of 30,000 loaded"
    );
    assert_eq!(numbering_errors(&mut conn), 0, "what committed is exact");

    let again = import(&killed.url, &["invoices", run, "--batch-rows", "100"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let once = import(&clean.url, &["invoices", run]);
    assert_eq!(once.code, 0, "{}", once.stderr);
    assert_eq!(count(&mut conn, "invoices"), 30_000);
    assert_eq!(everything(&mut conn), everything(&mut clean.connect()));

    let runs = billing(&killed.url, &["imports", "list"], b"");
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    let outcomes: Vec<(String, String)> = runs
        .json_lines()
        .iter()
        .map(|run| {
            (
                run["kind"].as_str().unwrap_or_default().to_owned(),
                run["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("customers".to_owned(), "loaded".to_owned()),
            ("invoices".to_owned(), "interrupted".to_owned()),
            ("invoices".to_owned(), "loaded".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_subscriber_that_moves_has_one_owner_and_groups_are_audited_by_run() {
    let app = TestApp::with_demo_data().await;
    let scratch = Scratch::new();
    let moved = scratch.file(
        "subscribers.jsonl",
        "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 1002}, \"msisdn\": 50499001002, \"contract\": \"770102\", \"city\": \"La Ceiba\"}\n",
    );
    let finished = import(&app.db.url, &["subscribers", moved.to_str().expect("path")]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(summary(&finished)["updated"], 1, "a move is an update");
    let mut conn = app.db.connect();
    assert_eq!(
        count(&mut conn, "subscribers WHERE msisdn = 50499001002"),
        1
    );
    let partner = app.client_serving(
        &["read"],
        billing_impl::auth::clients::CustomerGrant::Only(vec![
            "CLIENT_CODE:1001".parse().expect("name"),
        ]),
    );
    let token = app.token_for(&partner.0, &partner.1, &["read"]).await;
    let (status, _) = app
        .get(&app.api("/customers/50499001002/profile"), &token)
        .await;
    assert_eq!(status, 404, "no longer 1001's");

    let groups = scratch.file(
        "groups.csv",
        "customer.idType,customer.id,groupId,address\nCLIENT_CODE,1001,HQ,New address\nCLIENT_CODE,1001,NEW,Somewhere\nCLIENT_CODE,1001,SALES,\"Blvd. del Norte, km 3, San Pedro Sula\"\n",
    );
    let finished = import(&app.db.url, &["groups", groups.to_str().expect("path")]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let loaded = summary(&finished);
    assert_eq!(
        (
            loaded["inserted"].as_u64(),
            loaded["updated"].as_u64(),
            loaded["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{loaded}"
    );
    let audit = billing(
        &app.db.url,
        &["audit", "--customer", "CLIENT_CODE:1001"],
        b"",
    );
    let records = audit.json_lines();
    assert_eq!(records.len(), 2, "{}", audit.stdout);
    let run_id = billing(&app.db.url, &["imports", "list"], b"").json_lines()[1]["run_id"].clone();
    for record in &records {
        assert_eq!(record["import_run_id"], run_id, "{record}");
    }
    let update = records
        .iter()
        .find(|r| r["action"] == "update")
        .expect("an update");
    assert_eq!(
        update["before"]["address"],
        "Col. Palmira, Av. Republica de Chile 1402, Tegucigalpa"
    );
    assert_eq!(update["after"]["address"], "New address");
}
