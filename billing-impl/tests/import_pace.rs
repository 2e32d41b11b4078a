//! `billing import --pace`, run through the binary: a number caps the rows a second, `off`
//! never waits, and `auto` backs off while another session loads the database or a replica
//! stops replaying, and goes on when they are done.

use billing_test_support as common;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use common::{
    Scratch, TestDb,
    import::{bill_run, count, customers_file, import, path, summary},
    process::{Cluster, billing, billing_binary},
};
use diesel::{Connection, PgConnection, connection::SimpleConnection};

/// A database (at `url`) with `customers` customers from 7001 on, and a file of their bill
/// run, `per_customer` invoices each.
fn customers_and_run(scratch: &Scratch, url: &str, customers: i64, per_customer: i64) -> String {
    let file = customers_file(scratch, 7001, customers);
    assert_eq!(import(url, &["customers", path(&file)]).code, 0);
    let run = scratch.file("run.jsonl", bill_run(7001, customers, per_customer));
    path(&run).to_owned()
}

#[test]
fn a_number_caps_the_rows_a_second() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &db.url, 30, 100);
    let finished = import(&db.url, &["invoices", &run, "--pace", "1000"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let summary = summary(&finished);
    assert_eq!(summary["inserted"], 3000);
    // 3,000 rows at 1,000 a second: the first second's worth at once, the rest in two.
    let seconds = summary["seconds"].as_f64().expect("seconds");
    assert!(seconds >= 1.9, "3,000 rows in {seconds} s");
    assert!(summary["throttled_seconds"].as_f64().expect("throttled") >= 1.0);
}

#[test]
fn off_never_waits() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &db.url, 30, 100);
    let finished = import(&db.url, &["invoices", &run, "--pace", "off"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(summary(&finished)["throttled_seconds"], 0.0);
}

#[test]
fn a_pace_that_is_none_is_refused_with_status_2() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &db.url, 1, 1);
    for bad in ["0", "-1", "fast"] {
        let finished = import(&db.url, &["invoices", &run, "--pace", bad]);
        assert_eq!(finished.code, 2, "--pace {bad}: {}", finished.stderr);
        assert!(
            finished.stderr.contains(&format!(
                "`{bad}` is no pace: say auto, off, or rows per second"
            )),
            "--pace {bad}: {}",
            finished.stderr
        );
    }
    let mut conn = db.connect();
    assert_eq!(
        count(&mut conn, "invoices WHERE invoice_number LIKE 'B-%'"),
        0
    );
}

/// `billing import` started over `url`, its standard error's lines sent to the receiver as
/// they come, and all of them kept for the end.
fn spawn_import(url: &str, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(billing_binary())
        .arg("import")
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start billing import");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    (child, received)
}

/// Reads `lines` until one contains `wanted`, within `limit`; every line read.
fn until(lines: &mpsc::Receiver<String>, wanted: &str, limit: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut read = Vec::new();
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(wanted);
                read.push(line);
                if found {
                    return read;
                }
            }
            Err(_) => panic!("no line with {wanted:?} in {limit:?}:\n{}", read.join("\n")),
        }
    }
}

/// A cluster of the test's own, so that no other test's sessions count as load.
fn own_cluster() -> Cluster {
    let cluster = Cluster::start();
    billing_impl::db::migrate(&cluster.url()).expect("migrate");
    cluster
}

#[test]
fn auto_backs_off_while_another_session_writes_hard_and_speeds_up_when_it_stops() {
    let cluster = own_cluster();
    let url = cluster.url();
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &url, 1000, 40);
    let (mut child, lines) = spawn_import(&url, &["invoices", &run, "--batch-rows", "1000"]);

    // Another application writing as fast as it can, until the import has backed off.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (url.clone(), stop.clone());
        thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).expect("connect");
            conn.batch_execute("CREATE TABLE scratch (id int, t text)")
                .expect("scratch");
            while !stop.load(Ordering::Relaxed) {
                conn.batch_execute(
                    "INSERT INTO scratch SELECT g, repeat('x', 300) \
                     FROM generate_series(1, 20000) g",
                )
                .expect("insert");
            }
        })
    };
    let before = until(&lines, "throttled: ", Duration::from_secs(120));
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let after = until(&lines, "full speed again", Duration::from_secs(120));
    let status = child.wait().expect("import ends");
    assert!(
        status.success(),
        "{}\n{}",
        before.join("\n"),
        after.join("\n")
    );
    let mut conn = PgConnection::establish(&url).expect("connect");
    assert_eq!(count(&mut conn, "invoices"), 40_000);
}

#[test]
fn auto_waits_for_a_replica_that_stopped_replaying_and_goes_on_when_it_resumes() {
    let primary = own_cluster();
    let replica = Cluster::replica_of(&primary);
    let mut on_replica = PgConnection::establish(&replica.url()).expect("replica");
    // The replica reports its replay position every second, not every ten, when idle.
    for statement in [
        "ALTER SYSTEM SET wal_receiver_status_interval = '1s'",
        "SELECT pg_reload_conf()",
        "SELECT pg_wal_replay_pause()",
    ] {
        on_replica.batch_execute(statement).expect(statement);
    }
    let url = primary.url();
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &url, 200, 50);
    let (mut child, lines) = spawn_import(
        &url,
        &[
            "invoices",
            &run,
            "--batch-rows",
            "1000",
            "--max-replica-lag",
            "500",
        ],
    );
    until(&lines, "waiting for the replicas", Duration::from_secs(60));
    // It waits: nothing more is committed while the replica does not replay.
    let mut conn = PgConnection::establish(&url).expect("connect");
    let committed = count(&mut conn, "invoices");
    thread::sleep(Duration::from_secs(2));
    assert_eq!(count(&mut conn, "invoices"), committed);
    assert!(child.try_wait().expect("running").is_none());
    assert!(committed < 10_000, "{committed} committed before the wait");

    on_replica
        .batch_execute("SELECT pg_wal_replay_resume()")
        .expect("resume replay");
    until(&lines, "the replicas caught up", Duration::from_secs(60));
    let status = child.wait().expect("import ends");
    assert!(status.success());
    assert_eq!(count(&mut conn, "invoices"), 10_000);
}

#[test]
fn without_pg_monitor_auto_says_so_once_and_loads() {
    let cluster = own_cluster();
    let mut conn = PgConnection::establish(&cluster.url()).expect("connect");
    conn.batch_execute(
        "CREATE ROLE loader LOGIN; \
         GRANT ALL ON ALL TABLES IN SCHEMA public TO loader; \
         GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO loader;",
    )
    .expect("a role without pg_monitor");
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &cluster.url(), 10, 300);
    let loader = cluster.url().replace("billing@", "loader@");
    let finished = import(&loader, &["invoices", &run, "--batch-rows", "1000"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(summary(&finished)["inserted"], 3000);
    assert_eq!(
        finished.stderr.matches("lacks pg_monitor").count(),
        1,
        "{}",
        finished.stderr
    );
}

/// A primary of the test's own and its replica, whose replay is paused: it never catches up
/// until resumed. The replica is returned so that it lives as long as the test.
fn primary_and_paused_replica() -> (Cluster, Cluster) {
    let primary = own_cluster();
    let replica = Cluster::replica_of(&primary);
    let mut on_replica = PgConnection::establish(&replica.url()).expect("replica");
    on_replica
        .batch_execute("SELECT pg_wal_replay_pause()")
        .expect("pause replay");
    (primary, replica)
}

/// Waits for `child` to end, `limit` at most (killing it past that); its exit status's code,
/// `None` when a signal ended it.
fn ends_within(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_replica_that_never_replays_holds_auto_for_max_replica_wait_then_it_goes_on_at_its_slowest() {
    let (primary, _replica) = primary_and_paused_replica();
    let url = primary.url();
    let scratch = Scratch::new();
    let run = customers_and_run(&scratch, &url, 200, 40);
    let (mut child, lines) = spawn_import(
        &url,
        &[
            "invoices",
            &run,
            "--batch-rows",
            "1000",
            "--max-replica-lag",
            "100",
            "--max-replica-wait",
            "2",
        ],
    );
    // A bound for a test that would otherwise hang: the wait is 2 s, the rest at the
    // slowest pace (a twentieth of full speed) takes well under a minute.
    let code = ends_within(&mut child, Duration::from_secs(180));
    let stderr: Vec<String> = lines.try_iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(code, Some(0), "{stderr}");
    let mut conn = PgConnection::establish(&url).expect("connect");
    assert_eq!(count(&mut conn, "invoices"), 8_000);
    assert!(
        stderr.contains("after 2 s of waiting (--max-replica-wait): the import goes on"),
        "{stderr}"
    );
    // It waits once: the replica stays behind, seen so by every batch after, which go on
    // at the slowest pace without waiting again.
    assert_eq!(
        stderr.matches("waiting for the replicas to replay").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("a replica replays"), "{stderr}");
}

#[test]
fn sigterm_while_auto_waits_for_a_replica_stops_the_load_cleanly_with_status_3() {
    let (primary, _replica) = primary_and_paused_replica();
    let url = primary.url();
    let scratch = Scratch::new();
    let customers = customers_file(&scratch, 7001, 200);
    assert_eq!(import(&url, &["customers", path(&customers)]).code, 0);
    // A first line rejected: the run has rejects to put in place when it stops.
    let run = scratch.file(
        "run.jsonl",
        format!("not json\n{}", bill_run(7001, 200, 50)),
    );
    let (mut child, lines) = spawn_import(
        &url,
        &[
            "invoices",
            path(&run),
            "--batch-rows",
            "1000",
            "--max-replica-lag",
            "100",
        ],
    );
    let mut said = until(&lines, "waiting for the replicas", Duration::from_secs(60));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -TERM");
    // The wait ends at once, not when the replica resumes (it never does here).
    let code = ends_within(&mut child, Duration::from_secs(30));
    said.extend(lines.try_iter());
    let said = said.join("\n");
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("stopped by SIGTERM"), "{said}");

    let mut conn = PgConnection::establish(&url).expect("connect");
    let committed = count(&mut conn, "invoices");
    assert!((1..10_000).contains(&committed), "{committed} committed");
    let rejects = common::import::rejects_of(&scratch.path.join("run.jsonl.rejects.jsonl"));
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let left: Vec<_> = std::fs::read_dir(&scratch.path)
        .expect("the folder")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let listed = billing(&url, &["imports", "list"], b"");
    let last = listed.stdout.lines().last().expect("a run").to_owned();
    assert!(last.contains(r#""outcome":"stopped""#), "{last}");
}
