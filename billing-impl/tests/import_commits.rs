//! What a `billing import` commits, run through the binary: `--atomic` all or nothing
//! (a reject, a stop or `kill -9` leave nothing, and the run's record says so; run again,
//! it loads the whole file), and a row the database refuses costs that row, not the run.

use billing_test_support as common;
use std::{
    io::Write,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    Scratch, TestDb,
    import::{count, import, path, rejects_of},
    process::billing,
};
use diesel::connection::SimpleConnection;
use serde_json::Value;

/// Waits until an import of customers runs a statement, while `running` says it has not
/// ended (a test that would otherwise hang is bounded: the load starts at once).
fn await_the_load(conn: &mut diesel::PgConnection, mut running: impl FnMut() -> bool) {
    let bound = Instant::now() + Duration::from_secs(60);
    let loading = "pg_stat_activity WHERE datname = current_database() \
                   AND pid <> pg_backend_pid() AND query ILIKE '%import_customers%'";
    while count(conn, loading) == 0 {
        assert!(Instant::now() < bound, "the load never started");
        assert!(running(), "the load ended before the test stopped it");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn customers(codes: std::ops::Range<i64>) -> String {
    codes
        .map(|code| {
            format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {code}, \"name\": \"C{code}\"}}\n")
        })
        .collect()
}

/// The runs `billing imports list` prints.
fn runs(url: &str) -> Vec<Value> {
    let listed = billing(url, &["imports", "list"], b"");
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    listed.json_lines()
}

#[test]
fn an_atomic_run_with_a_reject_commits_nothing_and_says_so() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let mut lines = customers(1..600);
    lines.push_str("{\"idType\": \"CLIENT_CODE\", \"id\": -1, \"name\": \"Bad\"}\n");
    lines.push_str(&customers(600..700));
    let file = scratch.file("customers.jsonl", lines);
    let finished = import(
        &db.url,
        &["customers", path(&file), "--atomic", "--batch-rows", "100"],
    );
    assert_eq!(finished.code, 1, "rejects: {}", finished.stderr);
    let summary = &finished.json_lines()[0];
    assert_eq!(
        (
            summary["read"].as_u64(),
            summary["inserted"].as_u64(),
            summary["rejected"].as_u64(),
            summary["outcome"].as_str()
        ),
        (Some(700), Some(0), Some(1), Some("rolled back")),
        "{summary}"
    );
    assert_eq!(count(&mut db.connect(), "customers"), 0, "all or nothing");
    let rejects = rejects_of(&scratch.path.join("customers.jsonl.rejects.jsonl"));
    assert_eq!(rejects.len(), 1, "the rejects are written, to fix the file");
    assert_eq!(rejects[0]["line"], 600);
    let run = &runs(&db.url)[0];
    assert_eq!(
        (
            run["outcome"].as_str(),
            run["atomic"].as_bool(),
            run["inserted"].as_i64(),
            run["rejected"].as_i64()
        ),
        (Some("rolled back"), Some(true), Some(0), Some(1)),
        "{run}"
    );
}

#[test]
fn an_atomic_run_stopped_by_a_broken_file_records_nothing_loaded() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(customers(1..1001).as_bytes())
        .expect("compress");
    let mut gzipped = encoder.finish().expect("compressed");
    // The checksum at its end no longer matches: read whole, then refused.
    let at = gzipped.len() - 8;
    gzipped[at] ^= 0xff;
    let file = scratch.file("customers.jsonl.gz", gzipped);
    let finished = import(
        &db.url,
        &["customers", path(&file), "--atomic", "--batch-rows", "100"],
    );
    assert_eq!(finished.code, 3, "stopped: {}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("rolled back: nothing of it was committed"),
        "{}",
        finished.stderr
    );
    assert_eq!(count(&mut db.connect(), "customers"), 0);
    let run = &runs(&db.url)[0];
    assert_eq!(
        (
            run["outcome"].as_str(),
            run["inserted"].as_i64(),
            run["updated"].as_i64(),
            run["unchanged"].as_i64()
        ),
        (Some("stopped"), Some(0), Some(0), Some(0)),
        "no rolled-back row counted: {run}"
    );
}

#[test]
fn an_atomic_run_killed_loads_nothing_and_leaves_the_last_rejects_file() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let file = scratch.file("customers.jsonl", customers(1..50_001));
    let rejects = scratch.path.join("customers.jsonl.rejects.jsonl");
    let last_run = "{\"line\":3,\"reason\":\"an earlier run's\",\"input\":\"x\"}\n";
    std::fs::write(&rejects, last_run).expect("an earlier run's rejects");
    let mut child = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args([
            "import",
            "customers",
            path(&file),
            "--atomic",
            "--batch-rows",
            "100",
        ])
        .env("DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let mut conn = db.connect();
    await_the_load(&mut conn, || child.try_wait().expect("wait").is_none());
    // Some batches into the one transaction.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert_eq!(count(&mut conn, "customers"), 0, "all or nothing");
    assert_eq!(
        std::fs::read_to_string(&rejects).expect("still there"),
        last_run,
        "the last run's rejects are as they were"
    );
    let run = &runs(&db.url)[0];
    assert_eq!(
        (run["outcome"].as_str(), run["inserted"].as_i64()),
        (Some("interrupted"), Some(0)),
        "{run}"
    );
    let again = import(&db.url, &["customers", path(&file), "--atomic"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        count(&mut conn, "customers"),
        50_000,
        "run again, all of it"
    );
    assert!(!rejects.exists(), "a clean run leaves no rejects file");
}

#[test]
fn a_row_the_database_refuses_is_rejected_and_the_rest_of_the_run_loads() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // A rule of the database the importer does not know.
    db.connect()
        .batch_execute(
            "ALTER TABLE customers ADD CONSTRAINT customers_name_not_refused \
             CHECK (name NOT LIKE 'Refused%')",
        )
        .expect("a constraint");
    let mut lines = customers(1..8);
    lines.push_str("{\"idType\": \"CLIENT_CODE\", \"id\": 8, \"name\": \"Refused 8\"}\n");
    lines.push_str(&customers(9..12));
    lines.push_str("{\"idType\": \"CLIENT_CODE\", \"id\": 12, \"name\": \"Refused 12\"}\n");
    lines.push_str(&customers(13..30));
    let file = scratch.file("customers.jsonl", &lines);
    let finished = import(&db.url, &["customers", path(&file), "--batch-rows", "10"]);
    assert_eq!(finished.code, 1, "rejects, not a stop: {}", finished.stderr);
    let summary = &finished.json_lines()[0];
    assert_eq!(
        (
            summary["read"].as_u64(),
            summary["inserted"].as_u64(),
            summary["rejected"].as_u64()
        ),
        (Some(29), Some(27), Some(2)),
        "{summary}"
    );
    let rejects = rejects_of(&scratch.path.join("customers.jsonl.rejects.jsonl"));
    let lines: Vec<&str> = lines.lines().collect();
    for (reject, line) in rejects.iter().zip([8, 12]) {
        assert_eq!(reject["line"], line, "{reject}");
        assert_eq!(reject["input"], lines[line - 1], "{reject}");
        let reason = reject["reason"].as_str().expect("a reason");
        assert!(
            reason.contains("the database refused it")
                && reason.contains("customers_name_not_refused"),
            "{reason}"
        );
        for sql in ["violates", "INSERT", "SELECT", "DETAIL", "relation"] {
            assert!(!reason.contains(sql), "no SQL text: {reason}");
        }
    }
    assert_eq!(rejects.len(), 2);
    let mut conn = db.connect();
    assert_eq!(count(&mut conn, "customers"), 27);
    assert_eq!(count(&mut conn, "customers WHERE name LIKE 'Refused%'"), 0);
    assert_eq!(runs(&db.url)[0]["outcome"], "loaded with rejects");
}

#[test]
fn two_atomic_imports_of_the_same_customers_in_opposite_orders_both_finish() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let named = |codes: Vec<i64>, name: &str| -> String {
        codes
            .into_iter()
            .map(|code| {
                format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {code}, \"name\": \"{name}\"}}\n")
            })
            .collect()
    };
    let ascending = scratch.file("ascending.jsonl", named((1..=2000).collect(), "ascending"));
    let descending = scratch.file(
        "descending.jsonl",
        named((1..=2000).rev().collect(), "descending"),
    );
    // Many batches each, so that each holds rows the other wants next.
    let runs: Vec<_> = [ascending, descending]
        .into_iter()
        .map(|file| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                import(
                    &url,
                    &["customers", path(&file), "--atomic", "--batch-rows", "50"],
                )
            })
        })
        .collect();
    let finished: Vec<_> = runs
        .into_iter()
        .map(|run| run.join().expect("the import ran"))
        .collect();
    for run in &finished {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    // The two ran one after the other: every customer holds the names of one of them.
    let mut conn = db.connect();
    let ascending_names = count(&mut conn, "customers WHERE name = 'ascending'");
    let descending_names = count(&mut conn, "customers WHERE name = 'descending'");
    assert!(
        [(2000, 0), (0, 2000)].contains(&(ascending_names, descending_names)),
        "{ascending_names} ascending, {descending_names} descending"
    );
}

#[test]
fn an_atomic_run_whose_connection_is_lost_says_nothing_was_committed() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let file = scratch.file("customers.jsonl", customers(1..50_001));
    let url = db.url.clone();
    let run = std::thread::spawn(move || {
        import(
            &url,
            &["customers", path(&file), "--atomic", "--batch-rows", "100"],
        )
    });
    let mut conn = db.connect();
    await_the_load(&mut conn, || !run.is_finished());
    std::thread::sleep(Duration::from_millis(300));
    conn.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .expect("the import's connection ended");
    let finished = run.join().expect("the import ran");
    assert_eq!(finished.code, 3, "stopped: {}", finished.stderr);
    assert!(
        finished
            .stderr
            .contains("rolled back: nothing of it was committed")
            && !finished.stderr.contains("committed to"),
        "{}",
        finished.stderr
    );
    assert_eq!(count(&mut conn, "customers"), 0, "all or nothing");
}

/// Starts `billing import ARGS`, sends it `signal` (`TERM`, `INT`) once it is loading, and
/// waits for it: its exit status and what it logged.
fn signalled_mid_run(url: &str, args: &[&str], signal: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_billing"))
        .arg("import")
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut conn = diesel::Connection::establish(url).expect("connect");
    await_the_load(&mut conn, || child.try_wait().expect("wait").is_none());
    std::thread::sleep(Duration::from_millis(200));
    let sent = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let output = child.wait_with_output().expect("reaped");
    (
        output
            .status
            .code()
            .expect("exited, not killed by the signal"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `.partial` files left in `folder`.
fn partial_files(folder: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .expect("the folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".partial"))
        .collect()
}

#[test]
fn sigterm_or_sigint_stops_a_load_cleanly_and_leaves_no_temporary_file() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // A reject on line 1, so that the rejects file is being written when the signal comes.
    let mut lines = "{\"idType\": \"CLIENT_CODE\", \"id\": -1, \"name\": \"Bad\"}\n".to_owned();
    lines.push_str(&customers(1..100_001));
    let file = scratch.file("customers.jsonl", lines);

    let (code, stderr) = signalled_mid_run(
        &db.url,
        &["customers", path(&file), "--batch-rows", "100"],
        "TERM",
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("stopped by SIGTERM (committed to line"),
        "{stderr}"
    );
    assert_eq!(partial_files(&scratch.path), Vec::<String>::new());
    let rejects = rejects_of(&scratch.path.join("customers.jsonl.rejects.jsonl"));
    assert_eq!(rejects.len(), 1, "the rejects found before the stop");
    let mut conn = db.connect();
    let loaded = count(&mut conn, "customers");
    assert!(
        loaded > 0 && loaded < 100_000,
        "{loaded} loaded: the batches before it"
    );
    let run = &runs(&db.url)[0];
    assert_eq!(
        (run["outcome"].as_str(), run["inserted"].as_i64()),
        (Some("stopped"), Some(loaded)),
        "{run}"
    );

    // Ctrl-C during an --atomic run: nothing of it stays.
    conn.batch_execute("DELETE FROM customers")
        .expect("emptied");
    let (code, stderr) = signalled_mid_run(
        &db.url,
        &["customers", path(&file), "--atomic", "--batch-rows", "100"],
        "INT",
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("stopped by SIGINT (rolled back: nothing of it was committed)"),
        "{stderr}"
    );
    assert_eq!(partial_files(&scratch.path), Vec::<String>::new());
    assert_eq!(count(&mut conn, "customers"), 0, "all or nothing");
}

#[test]
fn a_row_refused_with_any_integrity_code_is_rejected_and_the_run_goes_on() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // A rule of the database the importer does not know, whose code (23000, the class's
    // own) the client has no name for: a trigger such as an operator adds.
    db.connect()
        .batch_execute(
            "CREATE FUNCTION held_names() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 RAISE EXCEPTION 'names on hold' USING ERRCODE = 'integrity_constraint_violation';
             END $$;
             CREATE TRIGGER customers_held BEFORE INSERT OR UPDATE ON customers
                 FOR EACH ROW WHEN (NEW.name LIKE 'Held%') EXECUTE FUNCTION held_names();",
        )
        .expect("a trigger");
    let mut lines = customers(1..5);
    lines.push_str("{\"idType\": \"CLIENT_CODE\", \"id\": 5, \"name\": \"Held 5\"}\n");
    lines.push_str(&customers(6..30));
    let file = scratch.file("customers.jsonl", &lines);
    let finished = import(&db.url, &["customers", path(&file), "--batch-rows", "10"]);
    assert_eq!(
        finished.code, 1,
        "a reject, not a stop: {}",
        finished.stderr
    );
    let rejects = rejects_of(&scratch.path.join("customers.jsonl.rejects.jsonl"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 5);
    let reason = rejects[0]["reason"].as_str().expect("a reason");
    assert_eq!(
        reason,
        "the database refused it: it breaks one of its rules"
    );
    let mut conn = db.connect();
    assert_eq!(count(&mut conn, "customers"), 28);
    assert_eq!(runs(&db.url)[0]["outcome"], "loaded with rejects");
}
