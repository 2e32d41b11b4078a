//! Beyond one machine, made for real: a PostgreSQL primary and a streaming replica of the
//! test's own (initdb, pg_basebackup -R), and two server instances reading from the
//! replica and writing to the primary.

use billing_test_support as common;
use std::{
    thread,
    time::{Duration, Instant},
};

use common::process::{Cluster, ServerProcess, client, free_port, token};
use diesel::{Connection, PgConnection, connection::SimpleConnection};
use serde_json::{Value, json};

const BILLS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills";
const GROUPS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills/groups";

/// A primary with the demo data and a replica that has replayed it; the id and secret of a
/// client with both scopes.
fn primary_and_replica() -> (Cluster, Cluster, (String, String)) {
    let primary = Cluster::start();
    let credentials = primary.with_demo_data("replicas");
    let replica = Cluster::replica_of(&primary);
    (primary, replica, credentials)
}

/// A server instance over the primary and the replica, with its admin listener on.
fn instance(
    primary: &Cluster,
    replica: &Cluster,
    extra: &[(&str, &str)],
) -> (ServerProcess, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let replica_url = replica.url();
    let mut env = vec![
        ("BILLING_REPLICA_URLS", replica_url.as_str()),
        ("BILLING_REPLICA_MAX_LAG_MS", "500"),
        ("BILLING_ADMIN_LISTEN", admin.as_str()),
    ];
    env.extend_from_slice(extra);
    let server = ServerProcess::start(&primary.url(), &env);
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    (server, format!("http://{admin}"))
}

/// Reads served by `served_by` (`primary` or `replica`) so far, from the instance's metrics.
fn reads(admin: &str, served_by: &str) -> f64 {
    let text = client()
        .get(format!("{admin}/metrics"))
        .send()
        .expect("scrape")
        .text()
        .expect("text");
    text.lines()
        .find(|line| {
            line.starts_with("billing_db_reads_total") && line.contains(&format!("\"{served_by}\""))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

fn group_ids(server: &ServerProcess, token: &str) -> Vec<String> {
    let body: Value = client()
        .get(format!("{}{GROUPS}", server.base))
        .bearer_auth(token)
        .send()
        .expect("groups")
        .json()
        .expect("JSON");
    body["billingGroup"]
        .as_array()
        .expect("billingGroup")
        .iter()
        .filter_map(|group| group["groupId"].as_str().map(str::to_owned))
        .collect()
}

fn create_group(server: &ServerProcess, token: &str, group_id: &str) -> u16 {
    client()
        .post(format!("{}{GROUPS}", server.base))
        .bearer_auth(token)
        .json(&json!({"groupId": group_id, "address": "x"}))
        .send()
        .expect("create")
        .status()
        .as_u16()
}

/// The statuses of twenty reads, 50 ms apart, and the slowest one's time.
fn twenty_reads(server: &ServerProcess, token: &str) -> (Vec<u16>, Duration) {
    let mut statuses = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let status = client()
            .get(format!("{}{BILLS}", server.base))
            .bearer_auth(token)
            .send()
            .expect("read")
            .status();
        slowest = slowest.max(started.elapsed());
        statuses.push(status.as_u16());
        thread::sleep(Duration::from_millis(50));
    }
    (statuses, slowest)
}

/// Waits until the instance uses its replica (its monitor has seen it replay in time).
fn wait_for_replica_reads(server: &ServerProcess, admin: &str, token: &str) {
    let started = Instant::now();
    while reads(admin, "replica") == 0.0 {
        // A bound for a test that would otherwise hang: the monitor checks every 200 ms.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the replica was never used"
        );
        client()
            .get(format!("{}{BILLS}", server.base))
            .bearer_auth(token)
            .send()
            .expect("read");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn reads_go_to_the_replica_writes_to_the_primary_and_no_client_misses_its_own_write() {
    let (primary, replica, credentials) = primary_and_replica();
    let cache = [("BILLING_TOKEN_CACHE_SECONDS", "1")];
    let (a, a_admin) = instance(&primary, &replica, &cache);
    let (b, b_admin) = instance(&primary, &replica, &cache);

    // A token issued through one instance works at once on the other, replica or not.
    let writer = token(&a, &credentials);
    let status = client()
        .get(format!("{}{BILLS}", b.base))
        .bearer_auth(&writer)
        .send()
        .expect("read")
        .status();
    assert_eq!(
        status, 200,
        "a token issued a moment ago works on the other instance"
    );

    wait_for_replica_reads(&a, &a_admin, &writer);
    let before = reads(&a_admin, "replica");
    for _ in 0..10 {
        let status = client()
            .get(format!("{}{BILLS}", a.base))
            .bearer_auth(&writer)
            .send()
            .expect("read")
            .status();
        assert_eq!(status, 200);
    }
    assert!(
        reads(&a_admin, "replica") >= before + 10.0,
        "the reads were the replica's"
    );

    // The writer reads its own write at once, on the instance that took it.
    assert_eq!(create_group(&a, &writer, "FIRST"), 200);
    assert!(group_ids(&a, &writer).contains(&"FIRST".to_owned()));

    // Replay paused: once the lag passes its bound, reads move to the primary.
    let mut on_replica = PgConnection::establish(&replica.url()).expect("connect to the replica");
    on_replica
        .batch_execute("SELECT pg_wal_replay_pause()")
        .expect("pause replay");
    assert_eq!(create_group(&a, &writer, "PAUSED"), 200);
    assert!(
        group_ids(&a, &writer).contains(&"PAUSED".to_owned()),
        "the writer never reads its own write missing"
    );
    let reader = token(&b, &credentials);
    let primary_reads = reads(&b_admin, "primary");
    thread::sleep(Duration::from_millis(1_200));
    assert!(
        group_ids(&b, &reader).contains(&"PAUSED".to_owned()),
        "a lagging replica serves no reads"
    );
    assert!(
        reads(&b_admin, "primary") > primary_reads,
        "the read was the primary's"
    );
    on_replica
        .batch_execute("SELECT pg_wal_replay_resume()")
        .expect("resume replay");
}

#[test]
fn with_the_primary_stopped_reads_go_on_and_writes_answer_503_until_it_is_back() {
    let (primary, replica, credentials) = primary_and_replica();
    let (server, admin) = instance(
        &primary,
        &replica,
        &[("BILLING_DB_POOL_TIMEOUT_MS", "1000")],
    );
    let reader = token(&server, &credentials);
    let writer = token(&server, &credentials);
    wait_for_replica_reads(&server, &admin, &reader);

    primary.stop();
    let (statuses, slowest) = twenty_reads(&server, &reader);
    let write = client()
        .post(format!("{}{GROUPS}", server.base))
        .bearer_auth(&writer)
        .json(&json!({"groupId": "DOWN", "address": "x"}))
        .send()
        .expect("write");
    let write_status = write.status().as_u16();
    let retry_after = write.headers().contains_key("retry-after");
    primary.restart();
    let back = Instant::now();
    let mut written = 0;
    while written != 200 && back.elapsed() < Duration::from_secs(15) {
        thread::sleep(Duration::from_millis(100));
        written = create_group(&server, &writer, "BACK");
    }
    eprintln!(
        "primary stopped: {} reads answered 200, {} anything else, slowest {slowest:?}; a write answered {write_status}; \
         writes served again {:?} after the primary was back",
        statuses.iter().filter(|s| **s == 200).count(),
        statuses.iter().filter(|s| **s != 200).count(),
        back.elapsed()
    );
    assert!(
        statuses.iter().all(|s| *s == 200),
        "reads go on from the replica: {statuses:?}"
    );
    assert_eq!(
        (write_status, retry_after),
        (503, true),
        "writes wait for the primary"
    );
    assert_eq!(written, 200, "writes succeed again without a restart");
}

#[test]
fn with_the_replica_stopped_reads_go_to_the_primary_within_the_pool_timeout() {
    let (primary, replica, credentials) = primary_and_replica();
    let (server, admin) = instance(
        &primary,
        &replica,
        &[("BILLING_DB_POOL_TIMEOUT_MS", "1000")],
    );
    let reader = token(&server, &credentials);
    wait_for_replica_reads(&server, &admin, &reader);

    replica.stop();
    let (statuses, slowest) = twenty_reads(&server, &reader);
    eprintln!(
        "replica stopped: {} reads answered 200, {} anything else, slowest {slowest:?}",
        statuses.iter().filter(|s| **s == 200).count(),
        statuses.iter().filter(|s| **s != 200).count(),
    );
    // A read that waited past the pool timeout would have been answered 503.
    assert!(
        statuses.iter().all(|s| *s == 200),
        "reads go to the primary within the pool timeout: {statuses:?}"
    );
    assert!(reads(&admin, "primary") >= 20.0);
}
