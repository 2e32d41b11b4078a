//! `billing import` and the files around it, run through the binary: it harms no file
//! outside the database (the rejects path checked before anything is written, written
//! beside and put in place at the end), and its memory is bounded by the tool, not by the
//! input.

use billing_test_support as common;
use std::io::Write;

use common::{
    Scratch, TestDb,
    import::{count, import, path, rejects_of},
    process::{billing, billing_peak_memory},
};
use serde_json::Value;

fn customer(id: i64, name: &str) -> String {
    format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {id}, \"name\": \"{name}\"}}\n")
}

/// Two customers, the second rejected (a negative id).
fn one_good_one_bad() -> String {
    customer(1, "Good") + &customer(-1, "Bad")
}

#[test]
fn a_symlink_where_the_rejects_go_is_replaced_and_what_it_leads_to_is_untouched() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let precious = scratch.file("precious.txt", "an operator's notes\n");
    let input = scratch.file("customers.jsonl", one_good_one_bad());
    let rejects = scratch.path.join("customers.jsonl.rejects.jsonl");
    std::os::unix::fs::symlink(&precious, &rejects).expect("a symlink");

    let finished = import(&db.url, &["customers", path(&input)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        std::fs::read_to_string(&precious).expect("still there"),
        "an operator's notes\n",
        "the file the link led to is as it was"
    );
    assert!(
        !std::fs::symlink_metadata(&rejects)
            .expect("the rejects")
            .is_symlink(),
        "the link itself was replaced"
    );
    assert_eq!(rejects_of(&rejects)[0]["line"], 2);

    // A clean run removes the rejects path, a link there included, and nothing else.
    std::fs::remove_file(&rejects).expect("removed");
    std::os::unix::fs::symlink(&precious, &rejects).expect("a symlink");
    let clean = scratch.file("customers.jsonl", customer(2, "Also good"));
    let finished = import(&db.url, &["customers", path(&clean)]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        std::fs::symlink_metadata(&rejects).is_err(),
        "no rejects, no file"
    );
    assert_eq!(
        std::fs::read_to_string(&precious).expect("still there"),
        "an operator's notes\n"
    );
    let left: Vec<String> = std::fs::read_dir(&scratch.path)
        .expect("the folder")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with('.'))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "no temporary file left behind");
}

#[test]
fn an_input_named_as_the_rejects_file_is_refused_by_any_name() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let contents = one_good_one_bad();
    let input = scratch.file("customers.jsonl", &contents);
    let link = scratch.path.join("link.jsonl");
    std::os::unix::fs::symlink(&input, &link).expect("a symlink");
    let hard = scratch.path.join("hard.jsonl");
    std::fs::hard_link(&input, &hard).expect("a hard link");
    let beside = scratch.file("customers.jsonl.rejects.jsonl", customer(9, "Nine"));
    let dotted = format!("{}/../{}/customers.jsonl", path(&scratch.path), {
        scratch.path.file_name().expect("a name").to_string_lossy()
    });
    for args in [
        vec![path(&input), "--rejects", path(&input)],
        vec![path(&input), "--rejects", dotted.as_str()],
        vec![path(&input), "--rejects", path(&link)],
        vec![path(&input), "--rejects", path(&hard)],
        // The second file is where the first one's rejects go.
        vec![path(&input), path(&beside)],
    ] {
        let mut command = vec!["import", "customers"];
        command.extend(&args);
        let finished = billing(&db.url, &command, b"");
        assert_eq!(finished.code, 2, "{args:?}: {}", finished.stderr);
        assert!(
            finished.stderr.contains("is the input"),
            "{args:?}: {}",
            finished.stderr
        );
        assert_eq!(
            std::fs::read_to_string(&input).expect("the input"),
            contents,
            "{args:?}: the input is whole"
        );
    }
    // Standard input read from the file named as the rejects.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_billing"))
        .args([
            "import",
            "customers",
            "-",
            "--format",
            "jsonl",
            "--rejects",
            path(&input),
        ])
        .env("DATABASE_URL", &db.url)
        .stdin(std::fs::File::open(&input).expect("the input"))
        .output()
        .expect("billing runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is the input"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&input).expect("the input"),
        contents
    );

    let mut conn = db.connect();
    assert_eq!(count(&mut conn, "customers"), 0, "nothing was written");
    assert_eq!(count(&mut conn, "import_runs"), 0);
}

#[test]
fn a_rejects_path_that_is_no_file_is_refused_and_left_as_it_is() {
    use std::os::unix::fs::FileTypeExt;

    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let input = scratch.file("customers.jsonl", one_good_one_bad());
    // A FIFO stands for any device (`/dev/null`), which a test must not risk.
    let fifo = scratch.path.join("rejects.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let link = scratch.path.join("stdout-like");
    std::os::unix::fs::symlink(&fifo, &link).expect("a symlink");
    for rejects in [&fifo, &link] {
        let finished = billing(
            &db.url,
            &[
                "import",
                "customers",
                path(&input),
                "--rejects",
                path(rejects),
            ],
            b"",
        );
        assert_eq!(finished.code, 2, "{}", finished.stderr);
        assert!(
            finished.stderr.contains("is not a file"),
            "{}",
            finished.stderr
        );
        let kind = std::fs::symlink_metadata(rejects)
            .expect("still there")
            .file_type();
        assert!(
            kind.is_fifo() || kind.is_symlink(),
            "{rejects:?} left as it was"
        );
    }
    assert!(
        std::fs::metadata(&fifo)
            .expect("the FIFO")
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        count(&mut db.connect(), "customers"),
        0,
        "nothing was written"
    );
}

#[test]
fn a_refused_command_leaves_the_last_runs_rejects_file_as_it_was() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let input = scratch.file("a.jsonl", one_good_one_bad());
    let first = import(&db.url, &["customers", path(&input)]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    let rejects = scratch.path.join("a.jsonl.rejects.jsonl");
    let last_run = std::fs::read_to_string(&rejects).expect("the last run's rejects");

    let missing = scratch.path.join("missing.jsonl");
    let refused = import(&db.url, &["customers", path(&input), path(&missing)]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing written") || refused.stderr.contains("No such file"));
    assert_eq!(
        std::fs::read_to_string(&rejects).expect("still there"),
        last_run,
        "the cron job still finds the rejects of its last run"
    );
    assert_eq!(count(&mut db.connect(), "import_runs"), 1);
}

/// A gzip member of `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("compressed")
}

/// The largest peak memory a load may take, whatever its input (docs/import.md).
const MEMORY_BOUND: u64 = 64 * 1024 * 1024;

#[test]
fn a_300_mb_line_inside_a_small_gzip_is_rejected_by_its_start_and_the_next_line_loads() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // Gzip members one after the other are one stream: a 300 MB line from a member of one
    // megabyte written 300 times.
    let mut file = gzip(b"{\"idType\": \"CLIENT_CODE\", \"id\": 1, \"name\": \"");
    let megabyte = gzip(&vec![b'x'; 1024 * 1024]);
    for _ in 0..300 {
        file.extend_from_slice(&megabyte);
    }
    file.extend(gzip(
        format!("\"}}\n{}", customer(2, "After the long line")).as_bytes(),
    ));
    assert!(file.len() < 1024 * 1024, "{} bytes of gzip", file.len());
    let input = scratch.file("customers.jsonl.gz", &file);

    let (finished, peak) = billing_peak_memory(&db.url, &["import", "customers", path(&input)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    println!(
        "peak memory, a 300 MB line in a gzip: {} MB",
        peak / 1_000_000
    );
    assert!(peak > 0 && peak < MEMORY_BOUND, "peak memory {peak} bytes");
    let summary = &finished.json_lines()[0];
    assert_eq!(
        (summary["read"].as_u64(), summary["inserted"].as_u64()),
        (Some(2), Some(1)),
        "{summary}"
    );
    let rejects = rejects_of(&scratch.path.join("customers.jsonl.gz.rejects.jsonl"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["line"], 1);
    assert_eq!(rejects[0]["truncated"], true);
    let shown = rejects[0]["input"].as_str().expect("input");
    assert!(
        shown.starts_with("{\"idType\": \"CLIENT_CODE\", \"id\": 1, \"name\": \"xxx")
            && shown.len() <= 1024,
        "its first bytes: {} of them",
        shown.len()
    );
    assert!(
        rejects[0]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("longer than 1048576 bytes")),
        "{}",
        rejects[0]
    );
    assert_eq!(
        count(
            &mut db.connect(),
            "customers WHERE name = 'After the long line'"
        ),
        1
    );
}

#[test]
fn lines_just_under_the_maximum_and_csv_cells_past_it_keep_memory_bounded() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // The default maximum, 1 MiB; JSON that costs the most to hold once parsed: small
    // values, many of them; and one long text.
    let max = 1024 * 1024;
    let mut lines = Vec::new();
    for n in 0..60 {
        let mut line = match n % 2 {
            0 => {
                format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {n}, \"name\": \"n\", \"many\": [0")
            }
            _ => format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {n}, \"name\": \""),
        }
        .into_bytes();
        let (fill, end): (&[u8], &[u8]) = match n % 2 {
            0 => (b",0", b"]}\n"),
            _ => (b"xx", b"\"}\n"),
        };
        while line.len() < max - end.len() {
            line.extend_from_slice(fill);
        }
        line.extend_from_slice(end);
        assert!(line.len() - 1 <= max);
        lines.extend(line);
    }
    lines.extend_from_slice(customer(1000, "Loaded").as_bytes());
    let jsonl = scratch.file("customers.jsonl.gz", gzip(&lines));
    let (finished, peak) = billing_peak_memory(&db.url, &["import", "customers", path(&jsonl)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    println!(
        "peak memory, lines just under the maximum: {} MB",
        peak / 1_000_000
    );
    assert!(peak > 0 && peak < MEMORY_BOUND, "peak memory {peak} bytes");
    let summary = &finished.json_lines()[0];
    assert_eq!(
        (summary["read"].as_u64(), summary["rejected"].as_u64()),
        (Some(61), Some(60)),
        "not too long: rejected for what they hold: {summary}"
    );
    let rejects = rejects_of(&scratch.path.join("customers.jsonl.gz.rejects.jsonl"));
    assert!(
        rejects.iter().all(|reject| reject["truncated"].is_null()),
        "{}",
        rejects[0]
    );

    // A quoted CSV cell of 200 MB, spanning lines: the next record loads on its own line.
    let mut csv = b"idType,id,name\nCLIENT_CODE,2000,\"".to_vec();
    let mut file = gzip(&csv);
    let block = gzip(&b"xxxxxxx\n".repeat(128 * 1024));
    for _ in 0..200 {
        file.extend_from_slice(&block);
    }
    csv.clear();
    csv.extend_from_slice(b"\"\nCLIENT_CODE,2001,After\n");
    file.extend(gzip(&csv));
    let input = scratch.file("customers.csv.gz", &file);
    let (finished, peak) = billing_peak_memory(&db.url, &["import", "customers", path(&input)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    println!("peak memory, a 200 MB CSV cell: {} MB", peak / 1_000_000);
    assert!(peak > 0 && peak < MEMORY_BOUND, "peak memory {peak} bytes");
    let rejects = rejects_of(&scratch.path.join("customers.csv.gz.rejects.jsonl"));
    assert_eq!(
        (rejects.len(), &rejects[0]["line"], &rejects[0]["truncated"]),
        (1, &Value::from(2), &Value::Bool(true))
    );
    let mut conn = db.connect();
    assert_eq!(
        count(&mut conn, "customers WHERE code = 2001 AND name = 'After'"),
        1
    );
}

#[test]
fn csv_rows_of_a_million_cells_each_keep_memory_bounded_and_are_rejected_naming_why() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // Each row just under the 1 MiB maximum, nearly all of it commas: a million cells.
    let mut file = gzip(b"idType,id,name\n");
    let wide = gzip(format!("CLIENT_CODE,1,x{}\n", ",".repeat(1_040_000)).as_bytes());
    for _ in 0..40 {
        file.extend_from_slice(&wide);
    }
    file.extend(gzip(b"CLIENT_CODE,2,After the wide rows\n"));
    let input = scratch.file("customers.csv.gz", &file);

    let (finished, peak) = billing_peak_memory(&db.url, &["import", "customers", path(&input)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    println!(
        "peak memory, CSV rows of a million cells: {} MB",
        peak / 1_000_000
    );
    assert!(peak > 0 && peak < MEMORY_BOUND, "peak memory {peak} bytes");
    let rejects = rejects_of(&scratch.path.join("customers.csv.gz.rejects.jsonl"));
    assert_eq!(rejects.len(), 40);
    assert_eq!(
        (&rejects[0]["line"], &rejects[39]["line"]),
        (&Value::from(2), &Value::from(41))
    );
    assert_eq!(
        rejects[0]["reason"], "the row has more than 19 cells, where the header has 3",
        "{}",
        rejects[0]
    );
    assert_eq!(rejects[0]["truncated"], true);
    assert!(
        rejects[0]["input"]
            .as_str()
            .is_some_and(|input| input.len() <= 1024)
    );
    assert_eq!(
        count(
            &mut db.connect(),
            "customers WHERE code = 2 AND name = 'After the wide rows'"
        ),
        1
    );
}

#[test]
fn the_largest_batch_keeps_memory_bounded_and_a_larger_one_is_refused() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    // The most rows a batch may hold, each small (its cost is per row, not per byte), and
    // every key twice, so that every row of the batch is also one a later line replaces.
    let mut lines = String::new();
    for n in 0..100_000 {
        lines.push_str(&customer(n % 50_000 + 1, "n"));
    }
    let input = scratch.file("customers.jsonl.gz", gzip(lines.as_bytes()));
    let (finished, peak) = billing_peak_memory(
        &db.url,
        &[
            "import",
            "customers",
            path(&input),
            "--batch-rows",
            "100000",
        ],
    );
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    println!(
        "peak memory, a batch of 100,000 rows: {} MB",
        peak / 1_000_000
    );
    assert!(peak > 0 && peak < MEMORY_BOUND, "peak memory {peak} bytes");

    let refused = billing(
        &db.url,
        &[
            "import",
            "customers",
            path(&input),
            "--batch-rows",
            "100001",
        ],
        b"",
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--batch-rows") && refused.stderr.contains("1..=100000"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        count(&mut db.connect(), "import_runs"),
        1,
        "the refused one is not recorded"
    );
}

/// Runs `billing import ARGS` as the user `nobody` (the tests run as root, which may
/// replace any file): its exit status and what it logged.
fn import_as_nobody(url: &str, args: &[&str]) -> (i32, String) {
    let output = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "env"])
        .arg(format!("DATABASE_URL={url}"))
        .arg("RUST_LOG=info")
        .arg(common::process::billing_binary())
        .arg("import")
        .args(args)
        .output()
        .expect("runuser runs");
    (
        output.status.code().expect("exited"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_rejects_path_that_could_not_be_replaced_is_refused_before_anything_loads() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let input = scratch.file("customers.jsonl", one_good_one_bad());
    if std::fs::metadata(&input).expect("the input").uid() != 0 {
        println!("skipped: making another user's file takes root");
        return;
    }
    // A folder like /tmp: anyone writes in it, only a file's owner replaces it. The last
    // run's rejects there are root's.
    let folder = |mode| {
        std::fs::set_permissions(&scratch.path, std::fs::Permissions::from_mode(mode))
            .expect("the folder's mode")
    };
    folder(0o1777);
    let last_run = "{\"line\":3,\"reason\":\"an earlier run's\",\"input\":\"x\"}\n";
    let rejects = scratch.file("customers.jsonl.rejects.jsonl", last_run);
    let (code, stderr) = import_as_nobody(&db.url, &["customers", path(&input)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refused, nothing was written")
            && stderr.contains("belongs to another user")
            && stderr.contains("sticky"),
        "{stderr}"
    );
    let mut conn = db.connect();
    assert_eq!(count(&mut conn, "customers"), 0, "nothing was loaded");
    assert_eq!(count(&mut conn, "import_runs"), 0);
    assert_eq!(std::fs::read_to_string(&rejects).expect("kept"), last_run);

    // A folder it may not write in at all: refused the same way.
    folder(0o755);
    let (code, stderr) = import_as_nobody(&db.url, &["customers", path(&input)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("refused, nothing was written") && stderr.contains("ermission denied"),
        "{stderr}"
    );
    assert_eq!(count(&mut conn, "customers"), 0, "nothing was loaded");

    // Its own folder, where it may: the same command loads, and replaces the rejects.
    folder(0o1777);
    std::fs::remove_file(&rejects).expect("removed");
    let (code, stderr) = import_as_nobody(&db.url, &["customers", path(&input)]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(rejects_of(&rejects)[0]["line"], 2);
    let leftovers: Vec<_> = std::fs::read_dir(&scratch.path)
        .expect("the folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
