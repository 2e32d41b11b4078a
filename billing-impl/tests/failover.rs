//! A primary lost under write load, for real: a server whose `DATABASE_URL` names the
//! primary and its synchronous standby (`target_session_attrs=read-write`) keeps taking
//! writes once the standby is promoted, loses none it acknowledged, and keeps accepting
//! the tokens it issued before.

use billing_test_support as common;
use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use common::process::{Cluster, ServerProcess, client, token, wait_for_more};
use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection, sql_types};
use serde_json::json;

const GROUPS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills/groups";
const BILLS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills";
/// How long writes may fail after the promotion while the pool finds the new primary: a
/// margin of seconds over the fraction of a second it takes.
const RESUME_WITHIN: Duration = Duration::from_secs(3);

/// A write a worker made: when it started, the group it created, and its status.
struct Write {
    started: Instant,
    group: String,
    status: u16,
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = sql_types::Text)]
    value: String,
}

/// Makes every standby of `primary` synchronous, and waits until one is.
fn synchronous_standby(primary: &Cluster) {
    let mut conn = PgConnection::establish(&primary.url()).expect("connect");
    // One statement each: ALTER SYSTEM refuses to run in the transaction that a batch of
    // statements is.
    conn.batch_execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        .expect("synchronous_standby_names");
    conn.batch_execute("SELECT pg_reload_conf()")
        .expect("reload");
    let started = Instant::now();
    loop {
        let states = diesel::sql_query("SELECT sync_state AS value FROM pg_stat_replication")
            .load::<Text>(&mut conn)
            .expect("pg_stat_replication");
        if states.iter().any(|state| state.value == "sync") {
            return;
        }
        // A bound for a test that would otherwise hang, not a speed.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby never became synchronous"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Creates groups from `workers` threads, one after another each, until `stop`;
/// `acknowledged` counts the writes answered 200.
fn writers(
    server: &ServerProcess,
    token: &str,
    workers: usize,
    (stop, acknowledged): (&Arc<AtomicBool>, &Arc<AtomicUsize>),
) -> Vec<thread::JoinHandle<Vec<Write>>> {
    (0..workers)
        .map(|worker| {
            let (url, token, stop, acknowledged) = (
                format!("{}{GROUPS}", server.base),
                token.to_owned(),
                stop.clone(),
                acknowledged.clone(),
            );
            thread::spawn(move || {
                let http = client();
                let mut writes = Vec::new();
                for round in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let group = format!("F{worker}R{round}");
                    let started = Instant::now();
                    let status = http
                        .post(&url)
                        .bearer_auth(&token)
                        .json(&json!({"groupId": group, "address": "x"}))
                        .send()
                        .map_or(0, |r| r.status().as_u16());
                    if status == 200 {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    writes.push(Write {
                        started,
                        group,
                        status,
                    });
                }
                writes
            })
        })
        .collect()
}

#[test]
fn a_promoted_synchronous_standby_takes_the_writes_and_keeps_every_acknowledged_one() {
    let primary = Cluster::start();
    let credentials = primary.with_demo_data("failover");
    let standby = Cluster::replica_of(&primary);
    synchronous_standby(&primary);

    let both = format!(
        "postgres://billing@127.0.0.1:{},127.0.0.1:{}/billing?target_session_attrs=read-write",
        primary.port(),
        standby.port()
    );
    let server = ServerProcess::start(&both, &[("BILLING_DB_POOL_TIMEOUT_MS", "1000")]);
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let issued_before = token(&server, &credentials);

    let (stop, acknowledged) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let workers = writers(&server, &issued_before, 4, (&stop, &acknowledged));
    wait_for_more(&acknowledged, 100);
    primary.crash();
    standby.promote();
    let promoted = Instant::now();
    thread::sleep(RESUME_WITHIN);
    wait_for_more(&acknowledged, 100);
    stop.store(true, Ordering::Relaxed);
    let writes: Vec<Write> = workers
        .into_iter()
        .flat_map(|worker| worker.join().expect("writer"))
        .collect();

    let resumed = promoted + RESUME_WITHIN;
    let after: Vec<u16> = writes
        .iter()
        .filter(|write| write.started >= resumed)
        .map(|write| write.status)
        .collect();
    assert!(!after.is_empty(), "writes were made after the promotion");
    assert!(
        after.iter().all(|status| *status == 200),
        "writes resumed on the promoted standby: {after:?}"
    );
    assert!(
        writes
            .iter()
            .all(|write| [200, 503].contains(&write.status)),
        "the failover is answered 503, nothing else"
    );

    let mut promoted_conn = PgConnection::establish(&standby.url()).expect("connect");
    let kept: HashSet<String> = diesel::sql_query("SELECT group_id AS value FROM billing_groups")
        .load::<Text>(&mut promoted_conn)
        .expect("groups")
        .into_iter()
        .map(|group| group.value)
        .collect();
    let acknowledged: Vec<&str> = writes
        .iter()
        .filter(|write| write.status == 200)
        .map(|write| write.group.as_str())
        .collect();
    assert!(
        acknowledged.len() > after.len(),
        "writes were acknowledged before the primary was lost"
    );
    let lost: Vec<&&str> = acknowledged
        .iter()
        .filter(|group| !kept.contains(**group))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );

    let first_after = writes
        .iter()
        .filter(|write| write.status == 200 && write.started >= promoted)
        .map(|write| (write.started - promoted).as_millis())
        .min()
        .unwrap_or_default();
    eprintln!(
        "failover: {} writes acknowledged, none lost; the first to succeed after the \
         promotion started {first_after} ms after it",
        acknowledged.len()
    );

    let status = client()
        .get(format!("{}{BILLS}", server.base))
        .bearer_auth(&issued_before)
        .send()
        .expect("read")
        .status();
    assert_eq!(
        status, 200,
        "a token issued before the failover still works"
    );
}
