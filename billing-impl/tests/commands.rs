//! Every command of the `billing` binary, run through the binary as an operator types it:
//! its output and its exit status.

use billing_test_support as common;
use std::{process::Stdio, time::Duration};

use common::{
    TestApp, TestDb,
    process::{ServerProcess, billing},
};
use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

fn count(db: &TestDb, table: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "count(*) FROM {table}"
    )))
    .get_result(&mut db.connect())
    .expect("count")
}

#[test]
fn migrate_applies_every_migration_once() {
    let db = TestDb::empty();
    let first = billing(&db.url, &["migrate"], b"");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        !first.stderr.contains(" 0 migration(s) applied"),
        "{}",
        first.stderr
    );
    let again = billing(&db.url, &["migrate"], b"");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains(" 0 migration(s) applied"),
        "{}",
        again.stderr
    );
    assert!(billing_impl::db::is_migrated(&mut db.connect()).expect("check"));
}

#[test]
fn a_command_without_its_database_is_refused() {
    let finished = billing("postgres://billing@127.0.0.1:1/none", &["migrate"], b"");
    assert_eq!(finished.code, 1);
    assert!(finished.stderr.contains("ERROR"), "{}", finished.stderr);
}

#[test]
fn seed_loads_the_demo_or_a_bulk_data_set() {
    let db = TestDb::migrated();
    let demo = billing(&db.url, &["seed", "--demo"], b"");
    assert_eq!(demo.code, 0, "{}", demo.stderr);
    assert_eq!(count(&db, "customers"), 3);
    let bulk = billing(
        &db.url,
        &[
            "seed",
            "--customers",
            "4",
            "--invoices-per-customer",
            "3",
            "--first-id",
            "7000",
        ],
        b"",
    );
    assert_eq!(bulk.code, 0, "{}", bulk.stderr);
    assert_eq!(count(&db, "customers"), 7);
    let neither = billing(&db.url, &["seed"], b"");
    assert_eq!(neither.code, 1);
    assert!(neither.stderr.contains("say --demo"), "{}", neither.stderr);
}

#[test]
fn clients_are_created_listed_granted_ungranted_and_revoked() {
    let db = TestDb::migrated();
    assert_eq!(billing(&db.url, &["seed", "--demo"], b"").code, 0);
    let created = billing(
        &db.url,
        &[
            "clients",
            "create",
            "--name",
            "Partner S.A.",
            "--scopes",
            "read",
            "--customers",
            "CLIENT_CODE:1001",
        ],
        b"",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let client = &created.json_lines()[0];
    let id = client["client_id"].as_str().expect("client_id").to_owned();
    assert!(
        client["client_secret"]
            .as_str()
            .is_some_and(|s| s.len() >= 43)
    );
    assert_eq!(client["scopes"], json!(["read"]));
    assert_eq!(client["customers"], json!(["CLIENT_CODE:1001"]));

    let granted = billing(&db.url, &["clients", "grant", &id, "CLIENT_CODE:1002"], b"");
    assert_eq!(granted.code, 0, "{}", granted.stderr);
    assert_eq!(
        granted.json_lines()[0],
        json!(["CLIENT_CODE:1001", "CLIENT_CODE:1002"])
    );
    let ungranted = billing(
        &db.url,
        &["clients", "ungrant", &id, "CLIENT_CODE:1001"],
        b"",
    );
    assert_eq!(ungranted.code, 0, "{}", ungranted.stderr);
    assert_eq!(ungranted.json_lines()[0], json!(["CLIENT_CODE:1002"]));

    let listed = billing(&db.url, &["clients", "list"], b"");
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let clients: Value = serde_json::from_str(&listed.stdout).expect("a JSON list");
    let found = clients
        .as_array()
        .and_then(|all| all.iter().find(|c| c["client_id"] == id.as_str()))
        .expect("the client is listed");
    assert_eq!(found["customers"], json!(["CLIENT_CODE:1002"]));
    assert!(
        !listed
            .stdout
            .contains(client["client_secret"].as_str().unwrap_or("?")),
        "no secret in the list"
    );

    let revoked = billing(&db.url, &["clients", "revoke", &id], b"");
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(revoked.stdout.trim(), format!("revoked {id}"));

    let unknown = billing(&db.url, &["clients", "grant", &id, "CLIENT_CODE:9"], b"");
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("no customer CLIENT_CODE:9"),
        "{}",
        unknown.stderr
    );
    let unsaid = billing(&db.url, &["clients", "create", "--name", "x"], b"");
    assert_eq!(unsaid.code, 2, "which customers must be said");
}

#[test]
fn a_client_id_that_starts_with_a_hyphen_is_taken_as_an_id_by_every_command() {
    // Ids are base64url: one in 64 starts with `-`, which a parser takes for an option.
    let db = TestDb::migrated();
    assert_eq!(billing(&db.url, &["seed", "--demo"], b"").code, 0);
    let created = billing(
        &db.url,
        &[
            "clients",
            "create",
            "--name",
            "Hyphen",
            "--scopes",
            "read",
            "--all-customers",
        ],
        b"",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let id = created.json_lines()[0]["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let hyphenated = format!("-{}", &id[1..]);
    diesel::sql_query("UPDATE oauth_clients SET client_id = $1 WHERE client_id = $2")
        .bind::<diesel::sql_types::Text, _>(&hyphenated)
        .bind::<diesel::sql_types::Text, _>(&id)
        .execute(&mut db.connect())
        .expect("the id made to start with a hyphen");

    let limited = billing(
        &db.url,
        &["clients", "limits", &hyphenated, "--quota", "3/hour"],
        b"",
    );
    assert_eq!(limited.code, 0, "{}", limited.stderr);
    assert_eq!(limited.json_lines()[0]["client_id"], hyphenated.as_str());
    for action in ["grant", "ungrant"] {
        let answered = billing(
            &db.url,
            &["clients", action, &hyphenated, "CLIENT_CODE:1001"],
            b"",
        );
        assert!(
            !answered.stderr.contains("unexpected argument"),
            "{action}: {}",
            answered.stderr
        );
    }
    let revoked = billing(&db.url, &["clients", "revoke", &hyphenated], b"");
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    assert_eq!(revoked.stdout.trim(), format!("revoked {hyphenated}"));
}

#[test]
fn keys_are_rotated_listed_and_retired_but_never_the_last() {
    let db = TestDb::migrated();
    let listed = billing(&db.url, &["keys", "list"], b"");
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let keys: Value = serde_json::from_str(&listed.stdout).expect("a JSON list");
    assert_eq!(
        keys.as_array().map(Vec::len),
        Some(1),
        "the migration's key"
    );
    let first = keys[0]["key_id"].as_i64().expect("key_id");

    let rotated = billing(&db.url, &["keys", "rotate"], b"");
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let second = first + 1;
    assert_eq!(
        rotated.stdout.trim(),
        format!("key {second} signs from now on")
    );
    let retired = billing(&db.url, &["keys", "retire", &first.to_string()], b"");
    assert_eq!(retired.code, 0, "{}", retired.stderr);
    assert_eq!(retired.stdout.trim(), format!("key {first} retired"));

    let last = billing(&db.url, &["keys", "retire", &second.to_string()], b"");
    assert_eq!(last.code, 1);
    assert!(last.stderr.contains("last live key"), "{}", last.stderr);
    let keys: Value =
        serde_json::from_str(&billing(&db.url, &["keys", "list"], b"").stdout).expect("JSON");
    assert!(
        !keys.to_string().contains("secret"),
        "never a secret: {keys}"
    );
}

#[tokio::test]
async fn audit_prints_a_customer_s_changes_with_and_without_since() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["write"]).await;
    let groups = app.api("/customers/CLIENT_CODE/1002/bills/groups");
    let group = json!({"groupId": "AUDITED", "address": "Calle 1"});
    let (status, _) = app.send_json(Method::POST, &groups, &token, &group).await;
    assert_eq!(status, 200);
    let moved = json!({"groupId": "AUDITED", "address": "Calle 2"});
    let (status, _) = app.send_json(Method::PUT, &groups, &token, &moved).await;
    assert_eq!(status, 200);

    let url = app.db.url.clone();
    let all = billing(&url, &["audit", "--customer", "CLIENT_CODE:1002"], b"");
    assert_eq!(all.code, 0, "{}", all.stderr);
    let records = all.json_lines();
    let actions: Vec<&str> = records
        .iter()
        .filter_map(|record| record["action"].as_str())
        .collect();
    assert_eq!(actions, ["create", "update"], "{}", all.stdout);
    assert_eq!(records[1]["before"]["address"], "Calle 1");
    assert_eq!(records[1]["after"]["address"], "Calle 2");

    let today = chrono::Utc::now().date_naive();
    let since = |day: chrono::NaiveDate| {
        billing(
            &url,
            &[
                "audit",
                "--customer",
                "CLIENT_CODE:1002",
                "--since",
                &day.to_string(),
            ],
            b"",
        )
    };
    let from_yesterday = since(today - chrono::Days::new(1));
    assert_eq!(from_yesterday.code, 0, "{}", from_yesterday.stderr);
    assert_eq!(from_yesterday.json_lines().len(), 2);
    let from_tomorrow = since(today + chrono::Days::new(1));
    assert_eq!(from_tomorrow.code, 0, "{}", from_tomorrow.stderr);
    assert!(from_tomorrow.stdout.is_empty(), "{}", from_tomorrow.stdout);

    let unknown = billing(&url, &["audit", "--customer", "CLIENT_CODE:9"], b"");
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("no customer"), "{}", unknown.stderr);
}

#[test]
fn billing_without_a_command_serves_until_sigterm() {
    let db = TestDb::migrated();
    let mut server = ServerProcess::start_command(&[], &db.url, &[], Stdio::null());
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    server.signal("TERM");
    // A bound for a test that would otherwise hang: nothing is in flight.
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
}

#[test]
fn help_lists_every_command_and_no_tool_of_the_benchmark() {
    let help = billing("postgres://unused", &["--help"], b"");
    assert_eq!(help.code, 0);
    for command in [
        "serve", "migrate", "seed", "keys", "audit", "clients", "import", "imports",
    ] {
        assert!(
            help.stdout.contains(&format!("  {command} ")),
            "{command}: {}",
            help.stdout
        );
    }
    assert!(!help.stdout.contains("bench"), "{}", help.stdout);
}
