//! Faults made for real: the database stopped under load, its connections killed, the
//! pool exhausted, the server started before the database, killed with SIGKILL, and
//! stopped with SIGTERM while requests are in flight; and the database threads scheduled
//! below the HTTP workers, which keep reading requests while the cores are busy.

use billing_test_support as common;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use billing_impl::{auth, db};
use common::process::{Cluster, ServerProcess, client, token, wait_for_more};
use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};

const BILLS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills";
const GROUPS: &str = "/v2/billing/customers/CLIENT_CODE/1001/bills/groups";

/// Creates `count` groups named `prefix` and a number, each from a thread of its own, so
/// that a test can hold them up (with a lock) and see how they end.
fn create_groups(
    server: &ServerProcess,
    token: &str,
    prefix: &str,
    count: usize,
) -> Vec<thread::JoinHandle<reqwest::Result<u16>>> {
    (0..count)
        .map(|i| {
            let url = format!("{}{GROUPS}", server.base);
            let (token, body) = (
                token.to_owned(),
                serde_json::json!({"groupId": format!("{prefix}{i}"), "address": "x"}),
            );
            thread::spawn(move || {
                client()
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect()
}

/// How long the database stays stopped under load. Long enough that a request that hung
/// for want of a connection would still hang at the restart, after the pool timeout and a
/// margin of more than 2 s.
const OUTAGE: Duration = Duration::from_secs(6);
/// The pool timeout of that test's server.
const OUTAGE_POOL_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn a_database_stopped_under_load_answers_503_and_serves_again_without_a_restart() {
    let cluster = Cluster::start();
    let credentials = cluster.with_demo_data("resilience");
    let server = ServerProcess::start(&cluster.url(), &[("BILLING_DB_POOL_TIMEOUT_MS", "1000")]);
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let token = token(&server, &credentials);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, url, token) = (
                stop.clone(),
                format!("{}{BILLS}", server.base),
                token.clone(),
            );
            thread::spawn(move || {
                let http = client();
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let status = http
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    seen.push((started, Instant::now(), status));
                }
                seen
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(500));
    cluster.stop();
    let stopped = Instant::now();
    thread::sleep(OUTAGE);
    let restarting = Instant::now();
    cluster.restart();
    // Serving again needs no restart of the server: the first read after the database is
    // back is answered 200 (the 10 s are a margin; a pooled connection is replaced at once).
    let http = client();
    let recovered = (0..500).any(|_| {
        let status = http
            .get(format!("{}{BILLS}", server.base))
            .bearer_auth(&token)
            .send()
            .map(|r| r.status().as_u16());
        status.ok() == Some(200) || {
            thread::sleep(Duration::from_millis(20));
            false
        }
    });
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<(Instant, Instant, u16)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();

    let during: Vec<&(Instant, Instant, u16)> = seen
        .iter()
        .filter(|(started, ended, _)| *started > stopped && *ended < restarting)
        .collect();
    // Requests that started early enough in the outage to be answered by the pool timeout
    // with 2 s to spare before the restart.
    let answerable_by = restarting - OUTAGE_POOL_TIMEOUT - Duration::from_secs(2);
    let hung: Vec<_> = seen
        .iter()
        .filter(|(started, ended, _)| {
            *started > stopped && *started < answerable_by && *ended > restarting
        })
        .collect();
    let other: Vec<u16> = during
        .iter()
        .map(|(_, _, status)| *status)
        .filter(|status| *status != 503)
        .collect();
    eprintln!(
        "outage: {} requests answered during it, {} anything but 503 {other:?}, {} hung to the restart; \
         serving again: {recovered}",
        during.len(),
        other.len(),
        hung.len(),
    );
    assert!(during.len() > 4, "requests were answered during the outage");
    assert!(other.is_empty(), "only 503s during the outage: {other:?}");
    assert!(
        hung.is_empty(),
        "no request waited for the database's return"
    );
    assert!(recovered, "serving again after the restart");
}

/// A load of reads, a create and a delete by query in turn, from `threads` threads, each
/// request stamped with when it started, when it ended and how, until `stop`; `answered`
/// counts the requests that ended.
fn load(
    server: &ServerProcess,
    token: &str,
    threads: usize,
    stop: &Arc<AtomicBool>,
    answered: &Arc<AtomicUsize>,
) -> Vec<thread::JoinHandle<Vec<(Instant, Instant, u16)>>> {
    (0..threads)
        .map(|worker| {
            let (base, token, stop, answered) = (
                server.base.clone(),
                token.to_owned(),
                stop.clone(),
                answered.clone(),
            );
            thread::spawn(move || {
                let http = client();
                let mut seen = Vec::new();
                for round in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let group = format!("W{worker}R{round}");
                    let request = match round % 3 {
                        0 => http.get(format!("{base}{BILLS}?quantity=5")),
                        1 => http
                            .post(format!("{base}{GROUPS}"))
                            .json(&serde_json::json!({"groupId": group, "address": "x"})),
                        _ => http.delete(format!("{base}{GROUPS}?groupId=W{worker}R{}", round - 1)),
                    };
                    let started = Instant::now();
                    let status = request
                        .bearer_auth(&token)
                        .send()
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    seen.push((started, Instant::now(), status));
                    answered.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(10));
                }
                seen
            })
        })
        .collect()
}

/// The statuses of the requests `workers` saw that started after `since`.
fn started_after(seen: &[(Instant, Instant, u16)], since: Instant) -> Vec<u16> {
    seen.iter()
        .filter(|(started, _, _)| *started > since)
        .map(|(_, _, status)| *status)
        .collect()
}

#[test]
fn terminated_connections_and_a_restart_fail_no_request_that_starts_afterwards() {
    let cluster = Cluster::start();
    let credentials = cluster.with_demo_data("resilience");
    let server = ServerProcess::start(&cluster.url(), &[("BILLING_DB_POOL_SIZE", "4")]);
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let token = token(&server, &credentials);
    let (stop, answered) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let workers = load(&server, &token, 4, &stop, &answered);
    wait_for_more(&answered, 20);

    let mut admin = PgConnection::establish(&cluster.url()).expect("connect");
    let killed: Vec<Terminated> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = 'billing'",
    )
    .load(&mut admin)
    .expect("terminate");
    let terminated = Instant::now();
    drop(admin);
    assert!(
        !killed.is_empty() && killed.iter().all(|backend| backend.terminated),
        "the server's connections were found and ended"
    );
    wait_for_more(&answered, 20);

    // A write in flight when the database stops may not know whether it committed (503):
    // the requests after the terminations count only when they ended before the stop.
    let stopping = Instant::now();
    cluster.stop();
    cluster.restart();
    let restarted = Instant::now();
    wait_for_more(&answered, 20);
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<(Instant, Instant, u16)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();

    let after_terminate: Vec<u16> = seen
        .iter()
        .filter(|(started, ended, _)| *started > terminated && *ended < stopping)
        .map(|(_, _, status)| *status)
        .collect();
    let after_restart = started_after(&seen, restarted);
    let failed = |statuses: &[u16]| statuses.iter().filter(|s| !matches!(s, 200 | 404)).count();
    eprintln!(
        "{} backends terminated: {} requests started afterwards, {} failed; after the restart: {} requests, {} failed",
        killed.len(),
        after_terminate.len(),
        failed(&after_terminate),
        after_restart.len(),
        failed(&after_restart),
    );
    // A delete of a group whose create fell in the restart may find no group: 404.
    assert!(
        after_terminate.len() > 10 && after_restart.len() > 10,
        "load went on"
    );
    assert_eq!(failed(&after_terminate), 0, "{after_terminate:?}");
    assert_eq!(failed(&after_restart), 0, "{after_restart:?}");
}

/// A token signed with the cluster's newest key, which no one issued.
fn signed_token(url: &str) -> String {
    let mut conn = PgConnection::establish(url).expect("connect");
    let keys = db::token_keys::live(&mut conn).expect("the signing keys");
    let random = auth::secrets::new_secret().expect("random");
    auth::keys::sign_with(&keys[0], &random).expect("a token")
}

#[derive(diesel::QueryableByName)]
struct Terminated {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    terminated: bool,
}

/// The pool timeout of the exhausted-pool test: long enough that what must answer at once
/// does so with more than 2 s to spare.
const EXHAUSTED_POOL_TIMEOUT: Duration = Duration::from_secs(3);

#[test]
fn an_exhausted_pool_answers_every_waiter_by_the_pool_timeout_and_the_rest_at_once() {
    let cluster = Cluster::start();
    let credentials = cluster.with_demo_data("resilience");
    let server = ServerProcess::start(
        &cluster.url(),
        &[
            ("BILLING_DB_POOL_SIZE", "2"),
            ("BILLING_DB_POOL_TIMEOUT_MS", "3000"),
            ("BILLING_TOKEN_CACHE_SECONDS", "60"),
        ],
    );
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let token = token(&server, &credentials);
    // Warm the token cache, then hold every pooled connection in a blocked write.
    let http = client();
    assert_eq!(
        http.get(format!("{}{BILLS}", server.base))
            .bearer_auth(&token)
            .send()
            .expect("warm")
            .status(),
        200
    );
    let mut locker = PgConnection::establish(&cluster.url()).expect("connect");
    locker
        .batch_execute("BEGIN; LOCK TABLE billing_groups IN ACCESS EXCLUSIVE MODE")
        .expect("lock");
    let blocked = create_groups(&server, &token, "BLOCKED", 2);
    wait_for_lock_waits(&cluster.url(), 2);

    // 40 reads wait together, and the lookup of a token signed here but unknown with them.
    let unknown = signed_token(&cluster.url());
    let asked = Instant::now();
    let waiters: Vec<_> = (0..41)
        .map(|i| {
            let (url, token) = (format!("{}{BILLS}", server.base), token.clone());
            let unknown = unknown.clone();
            thread::spawn(move || {
                let token = if i == 40 { unknown } else { token };
                let response = client()
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .expect("request");
                let retry_after = response.headers().contains_key("retry-after");
                (response.status().as_u16(), retry_after, Instant::now())
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let health = http
        .get(format!("{}/health", server.base))
        .send()
        .expect("health");
    let no_token = http
        .get(format!("{}{BILLS}", server.base))
        .send()
        .expect("request");
    let answered_at_once = Instant::now();
    let answers: Vec<(u16, bool, Instant)> = waiters
        .into_iter()
        .map(|w| w.join().expect("waiter"))
        .collect();

    let first_waiter = answers.iter().map(|(_, _, at)| *at).min().expect("waiters");
    let last_waiter = answers.iter().map(|(_, _, at)| *at).max().expect("waiters");
    eprintln!(
        "41 waiters: {} answered 503, from {:?} to {:?} after they asked; /health and no token within {:?}",
        answers
            .iter()
            .filter(|(status, _, _)| *status == 503)
            .count(),
        first_waiter - asked,
        last_waiter - asked,
        answered_at_once - asked,
    );
    assert_eq!(health.status(), 200);
    assert_eq!(no_token.status(), 401);
    for (status, retry_after, _) in &answers {
        assert!(
            *status == 503 && *retry_after,
            "503 with Retry-After: {answers:?}"
        );
    }
    // /health and a refusal need no connection: both were answered while every waiter
    // still waited, before the first deadline fired.
    assert!(answered_at_once < first_waiter);
    // Each waiter is answered at its own deadline, however many wait with it: all within
    // one pool timeout of the last one's asking, with 2 s to spare (waiting in turn would
    // take a pool timeout each).
    assert!(
        last_waiter - asked < EXHAUSTED_POOL_TIMEOUT + Duration::from_secs(2),
        "{answers:?}"
    );

    locker.batch_execute("COMMIT").expect("unlock");
    for handle in blocked {
        assert_eq!(
            handle.join().expect("thread").expect("response"),
            200,
            "the blocked writes complete"
        );
    }
}

/// Waits until `count` statements of the cluster's database wait for a lock.
fn wait_for_lock_waits(url: &str, count: i64) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let waiting = |conn: &mut PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .get_result(conn)
        .expect("count the waits")
    };
    // A bound for a test that would otherwise hang: the writes reach their lock at once.
    let bound = Instant::now() + Duration::from_secs(20);
    while waiting(&mut conn) < count {
        assert!(Instant::now() < bound, "{count} statements never waited");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_started_before_its_database_becomes_ready_by_itself() {
    let cluster = Cluster::start();
    let url = cluster.url();
    cluster.stop();
    let server = ServerProcess::start(&url, &[("BILLING_DB_POOL_TIMEOUT_MS", "500")]);
    let response = client()
        .get(format!("{}/ready", server.base))
        .send()
        .expect("ready");
    assert_eq!(response.status(), 503, "up, but not ready");
    cluster.restart();
    server.wait_until(Duration::from_secs(15), "/ready", 200);
}

#[test]
fn a_write_that_answered_200_survives_kill_9() {
    let cluster = Cluster::start();
    let credentials = cluster.with_demo_data("resilience");
    let server = ServerProcess::start(&cluster.url(), &[]);
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let token = token(&server, &credentials);
    let response = client()
        .post(format!("{}{GROUPS}", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"groupId": "DURABLE", "address": "Comayagua"}))
        .send()
        .expect("create");
    assert_eq!(response.status(), 200);
    server.signal("KILL");
    drop(server);
    cluster.stop();
    cluster.restart();
    let count: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "count(*) FROM billing_groups WHERE group_id = 'DURABLE'",
    ))
    .get_result(&mut PgConnection::establish(&cluster.url()).expect("connect"))
    .expect("count");
    assert_eq!(count, 1);
}

#[test]
fn sigterm_finishes_the_requests_in_flight_and_exits_0() {
    let cluster = Cluster::start();
    let credentials = cluster.with_demo_data("resilience");
    let mut server = ServerProcess::start(
        &cluster.url(),
        &[("BILLING_SHUTDOWN_TIMEOUT_SECONDS", "10")],
    );
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let token = token(&server, &credentials);
    // Make three creates wait on a lock, so that they are in flight when SIGTERM comes.
    let mut locker = PgConnection::establish(&cluster.url()).expect("connect");
    locker
        .batch_execute("BEGIN; LOCK TABLE billing_groups IN ACCESS EXCLUSIVE MODE")
        .expect("lock");
    let in_flight = create_groups(&server, &token, "INFLIGHT", 3);
    thread::sleep(Duration::from_millis(500));
    server.signal("TERM");
    thread::sleep(Duration::from_millis(500));
    let refused = client().get(format!("{}/health", server.base)).send();
    assert!(refused.is_err(), "no new connections are accepted");
    locker.batch_execute("COMMIT").expect("unlock");
    for handle in in_flight {
        assert_eq!(
            handle.join().expect("thread").expect("response"),
            200,
            "in-flight requests complete"
        );
    }
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
}

/// The nice value of each thread of process `pid`, by the thread's name.
fn thread_niceness(pid: u32) -> Vec<(String, i64)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the server's threads")
        .map(|task| {
            let task = task.expect("a thread").path();
            let name = std::fs::read_to_string(task.join("comm")).expect("comm");
            let stat = std::fs::read_to_string(task.join("stat")).expect("stat");
            (name.trim().to_owned(), niceness(&stat))
        })
        .collect()
}

/// The nice value in a `/proc/.../stat` line: the 19th field, the 17th after the name.
fn niceness(stat: &str) -> i64 {
    let (_, after_name) = stat.rsplit_once(')').expect("stat has a name");
    after_name
        .split_whitespace()
        .nth(16)
        .and_then(|nice| nice.parse().ok())
        .expect("stat has a nice value")
}

#[test]
fn database_threads_run_below_the_http_workers_as_configured() {
    let db = common::TestDb::migrated();
    let own = niceness(&std::fs::read_to_string("/proc/self/stat").expect("own stat"));
    for (setting, below) in [(None, 5), (Some("0"), 0), (Some("9"), 9)] {
        let env: Vec<_> = setting
            .map(|value| ("BILLING_DB_THREAD_NICENESS", value))
            .into_iter()
            .collect();
        let server = ServerProcess::start(&db.url, &env);
        // `/ready` asks the database, on a database thread.
        server.wait_until(Duration::from_secs(10), "/ready", 200);
        let threads = thread_niceness(server.pid());
        let database: Vec<_> = threads
            .iter()
            .filter(|(name, _)| name == "billing-db")
            .collect();
        assert!(!database.is_empty(), "no database thread in {threads:?}");
        for (name, nice) in &threads {
            let expected = if name == "billing-db" {
                (own + below).min(19)
            } else {
                own
            };
            assert_eq!(*nice, expected, "{name} with {setting:?}: {threads:?}");
        }
    }
}

#[test]
fn a_write_whose_commit_was_never_answered_is_retried_safely_with_its_idempotency_key() {
    let cluster = Cluster::start();
    let credentials = cluster.with_demo_data("resilience");
    let proxy = common::faults::CommitBreaker::start(cluster.port());
    let through_proxy = format!("postgres://billing@127.0.0.1:{}/billing", proxy.port);
    let server = ServerProcess::start(&through_proxy, &[]);
    server.wait_until(Duration::from_secs(20), "/ready", 200);
    let token = token(&server, &credentials);
    let create = || {
        client()
            .post(format!("{}{GROUPS}", server.base))
            .bearer_auth(&token)
            .header("Idempotency-Key", "create-ONCE-1")
            .json(&serde_json::json!({"groupId": "ONCE", "address": "Calle Real"}))
            .send()
            .expect("create")
    };

    proxy.arm();
    let lost = create();
    assert!(proxy.broke(), "the COMMIT's answer was cut");
    // The outcome is unknown to the server: it says so, and the client retries.
    assert_eq!(lost.status(), 503);
    assert!(lost.headers().contains_key("retry-after"));
    let retried = create();
    assert_eq!(retried.status(), 200);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    let body: serde_json::Value = retried.json().expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({"groupId": "ONCE", "address": "Calle Real"})
    );

    let mut conn = PgConnection::establish(&cluster.url()).expect("connect");
    let mut count = |from: &str| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "count(*) FROM {from}"
        )))
        .get_result(&mut conn)
        .expect("count")
    };
    assert_eq!(count("billing_groups WHERE group_id = 'ONCE'"), 1);
    assert_eq!(count("billing_group_audit WHERE group_id = 'ONCE'"), 1);
}
