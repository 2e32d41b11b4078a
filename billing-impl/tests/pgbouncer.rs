//! Behind PgBouncer in transaction mode, for real: Debian's `pgbouncer` in front of a
//! cluster of the test's own, lending fewer server connections than the two server
//! instances' pools add up to; every operation and the token endpoint under load, PgBouncer
//! and PostgreSQL restarted behind the instances, and migrations over a direct URL.

use billing_test_support as common;
use std::{
    ops::RangeBounds,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use common::{
    Scratch,
    process::{Cluster, PgBouncer, ServerProcess, billing, client, token, wait_for_more},
};
use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection, sql_types};
use serde_json::json;

const CUSTOMER: &str = "/v2/billing/customers/CLIENT_CODE/1001";
/// Connections PgBouncer opens to PostgreSQL, fewer than the instances' pools together.
const SERVER_CONNECTIONS: u32 = 3;
/// Each instance's pool.
const POOL_SIZE: &str = "4";
/// How long PgBouncer, then PostgreSQL, stays down under load.
const OUTAGE: Duration = Duration::from_secs(1);

/// Migrates and seeds the cluster's database directly, and gives the role the settings the
/// server no longer sets per session (docs/scaling.md); a client id and secret with both
/// scopes.
fn prepare(cluster: &Cluster) -> (String, String) {
    let credentials = cluster.with_demo_data("pgbouncer");
    PgConnection::establish(&cluster.url())
        .expect("connect")
        .batch_execute(
            "ALTER ROLE billing SET statement_timeout = '5s'; \
             ALTER ROLE billing SET random_page_cost = 1.1",
        )
        .expect("role settings");
    credentials
}

/// A server instance through `bouncer`, in transaction pooling.
fn instance(bouncer: &PgBouncer) -> ServerProcess {
    let server = ServerProcess::start(
        &bouncer.url(),
        &[
            ("BILLING_DB_POOLER", "transaction"),
            ("BILLING_DB_POOL_SIZE", POOL_SIZE),
            ("BILLING_DB_POOL_TIMEOUT_MS", "1000"),
        ],
    );
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    server
}

/// One request a load worker made: when it started, what it was, and its status (0 when
/// no answer came).
struct Seen {
    started: Instant,
    operation: &'static str,
    status: u16,
}

/// Every operation of the contract, and a token now and then, from `workers` threads
/// taking turns between `instances` until `stop`; what each request got. `answered`
/// counts the requests that ended.
fn every_operation(
    instances: &[&ServerProcess],
    credentials: &(String, String),
    workers: usize,
    (stop, answered): (&Arc<AtomicBool>, &Arc<AtomicUsize>),
) -> Vec<thread::JoinHandle<Vec<Seen>>> {
    let bases: Arc<[String]> = instances.iter().map(|server| server.base.clone()).collect();
    let first_token = token(instances[0], credentials);
    (0..workers)
        .map(|worker| {
            let (bases, credentials, stop, answered) = (
                bases.clone(),
                credentials.clone(),
                stop.clone(),
                answered.clone(),
            );
            let mut access = first_token.clone();
            thread::spawn(move || {
                let http = client();
                let mut seen = Vec::new();
                for round in 0usize.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let base = &bases[(worker + round) % bases.len()];
                    let group = format!("P{worker}R{round}");
                    let mut record = |operation, request: reqwest::blocking::RequestBuilder| {
                        let started = Instant::now();
                        let answer = request.send().ok();
                        let status = answer.as_ref().map_or(0, |r| r.status().as_u16());
                        seen.push(Seen {
                            started,
                            operation,
                            status,
                        });
                        answered.fetch_add(1, Ordering::Relaxed);
                        answer.filter(|r| r.status() == 200)
                    };
                    if round % 4 == 0 {
                        let issued = record(
                            "token",
                            http.post(format!(
                                "{base}/oauth/client_credential/accesstoken\
                                 ?grant_type=client_credentials"
                            ))
                            .basic_auth(&credentials.0, Some(&credentials.1)),
                        );
                        if let Some(fresh) = issued
                            .and_then(|r| r.json::<serde_json::Value>().ok())
                            .and_then(|body| body["access_token"].as_str().map(str::to_owned))
                        {
                            access = fresh;
                        }
                    }
                    let reads = [
                        ("list bills", format!("{base}{CUSTOMER}/bills?quantity=5")),
                        ("group bills", format!("{base}{CUSTOMER}/bills/groups/HQ")),
                        ("list groups", format!("{base}{CUSTOMER}/bills/groups")),
                        (
                            "profile",
                            format!("{base}/v2/billing/customers/50499001001/profile"),
                        ),
                    ];
                    for (operation, url) in reads {
                        record(operation, http.get(url).bearer_auth(&access));
                    }
                    let groups = format!("{base}{CUSTOMER}/bills/groups");
                    let created = record(
                        "create group",
                        http.post(&groups)
                            .bearer_auth(&access)
                            .header("Idempotency-Key", format!("pgbouncer-{group}"))
                            .json(&json!({"groupId": group, "address": "x"})),
                    );
                    // A group whose creation failed (in an outage) is not there to change.
                    if created.is_none() {
                        continue;
                    }
                    record(
                        "update group",
                        http.put(&groups)
                            .bearer_auth(&access)
                            .json(&json!({"groupId": group, "address": "y"})),
                    );
                    let delete = if round % 2 == 0 {
                        http.delete(format!("{groups}/{group}"))
                    } else {
                        http.delete(format!("{groups}?groupId={group}"))
                    };
                    record("delete group", delete.bearer_auth(&access));
                }
                seen
            })
        })
        .collect()
}

fn joined(workers: Vec<thread::JoinHandle<Vec<Seen>>>) -> Vec<Seen> {
    workers
        .into_iter()
        .flat_map(|worker| worker.join().expect("load worker"))
        .collect()
}

/// The requests among `seen` that started within `during` and were not answered 200.
fn failed_within(seen: &[Seen], during: impl RangeBounds<Instant>) -> Vec<(&'static str, u16)> {
    seen.iter()
        .filter(|request| during.contains(&request.started) && request.status != 200)
        .map(|request| (request.operation, request.status))
        .collect()
}

/// Client connections the cluster's `billing` database has now, other than this test's.
fn backends(conn: &mut PgConnection) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = sql_types::BigInt)]
        count: i64,
    }
    diesel::sql_query(
        "SELECT count(*) AS count FROM pg_stat_activity \
         WHERE datname = 'billing' AND backend_type = 'client backend' \
           AND pid <> pg_backend_pid()",
    )
    .get_result::<Count>(conn)
    .expect("pg_stat_activity")
    .count
}

#[test]
fn two_instances_serve_every_operation_through_fewer_server_connections_without_an_error() {
    let cluster = Cluster::start();
    let credentials = prepare(&cluster);
    let bouncer = PgBouncer::start(cluster.port(), SERVER_CONNECTIONS);
    let (a, b) = (instance(&bouncer), instance(&bouncer));

    let (stop, answered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let workers = every_operation(&[&a, &b], &credentials, 8, (&stop, &answered));
    wait_for_more(&answered, 400);
    let mut direct = PgConnection::establish(&cluster.url()).expect("connect");
    let open_meanwhile = backends(&mut direct);
    stop.store(true, Ordering::Relaxed);
    let seen = joined(workers);

    let failed = failed_within(&seen, ..);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        seen.len()
    );
    for operation in [
        "token",
        "list bills",
        "group bills",
        "list groups",
        "profile",
        "create group",
        "update group",
        "delete group",
    ] {
        assert!(
            seen.iter().any(|request| request.operation == operation),
            "{operation} was never made"
        );
    }
    assert!(
        open_meanwhile <= i64::from(SERVER_CONNECTIONS),
        "{open_meanwhile} server connections for pools of {POOL_SIZE} and {POOL_SIZE}"
    );
}

#[test]
fn pgbouncer_and_postgresql_restarted_behind_the_instances_fail_no_request_once_back() {
    let cluster = Cluster::start();
    let credentials = prepare(&cluster);
    let mut bouncer = PgBouncer::start(cluster.port(), SERVER_CONNECTIONS);
    let (a, b) = (instance(&bouncer), instance(&bouncer));
    let (stop, answered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let workers = every_operation(&[&a, &b], &credentials, 4, (&stop, &answered));
    wait_for_more(&answered, 50);

    bouncer.kill();
    thread::sleep(OUTAGE);
    bouncer.restart();
    let bouncer_back = Instant::now();
    wait_for_more(&answered, 50);

    let cluster_stopped = Instant::now();
    cluster.stop();
    thread::sleep(OUTAGE);
    cluster.restart();
    // PgBouncer tries a server it failed to reach again after `server_login_retry` (1 s
    // in the test's configuration): a request may meet that wait once the database is
    // back. Those that start 2 s later may not.
    thread::sleep(Duration::from_secs(3));
    let cluster_back = Instant::now();
    wait_for_more(&answered, 50);
    stop.store(true, Ordering::Relaxed);
    let seen = joined(workers);

    assert_eq!(
        failed_within(&seen, bouncer_back..cluster_stopped),
        vec![],
        "requests made after PgBouncer restarted"
    );
    assert_eq!(
        failed_within(&seen, cluster_back..),
        vec![],
        "requests made after PostgreSQL restarted"
    );
    let outage: Vec<_> = seen.iter().map(|request| request.status).collect();
    assert!(
        outage.iter().all(|status| [200, 503].contains(status)),
        "an outage is answered 503, nothing else: {outage:?}"
    );
    assert!(outage.contains(&503), "the outages were seen");
}

#[test]
fn behind_a_transaction_pooler_migrations_run_over_the_direct_url_only() {
    let cluster = Cluster::start();
    let bouncer = PgBouncer::start(cluster.port(), SERVER_CONNECTIONS);
    let scratch = Scratch::new();
    let log = scratch.file("server.log", "");
    let server = ServerProcess::start_logging(
        &bouncer.url(),
        &[("BILLING_DB_POOLER", "transaction")],
        std::fs::File::create(&log).expect("the log file"),
    );
    let said = |text: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(text)
    };
    let started = Instant::now();
    while !said("not migrating") {
        // A bound for a test that would otherwise hang, not a speed.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server did not say that it does not migrate"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let ready = client()
        .get(format!("{}/ready", server.base))
        .send()
        .expect("ready");
    assert_eq!(ready.status(), 503, "not ready before the migrations");

    let migrated = billing(
        &bouncer.url(),
        &["migrate", "--migration-database-url", &cluster.url()],
        b"",
    );
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    server.wait_until(Duration::from_secs(20), "/ready", 200);

    // With a migration URL, the server migrates by itself, over that URL.
    let mut direct = PgConnection::establish(&cluster.url()).expect("connect");
    diesel::sql_query("CREATE DATABASE second")
        .execute(&mut direct)
        .expect("a second database");
    let second_direct = format!("postgres://billing@127.0.0.1:{}/second", cluster.port());
    let second = ServerProcess::start(
        &bouncer.url_of("second"),
        &[
            ("BILLING_DB_POOLER", "transaction"),
            ("BILLING_MIGRATION_DATABASE_URL", second_direct.as_str()),
        ],
    );
    second.wait_until(Duration::from_secs(20), "/ready", 200);
}
