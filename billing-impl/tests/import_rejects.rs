//! `billing import` rejecting what it cannot load, run through the binary: bad lines and
//! CSV rows rejected by line while every good one loads, and files refused before
//! anything is written.

use billing_test_support as common;

use common::{
    Scratch, TestDb,
    import::{count, full_invoice, import, summary, with_customer},
};
use serde_json::{Value, json};

#[test]
fn planted_bad_lines_are_rejected_by_line_and_every_good_line_loads() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let good = |number: &str| with_customer(full_invoice(number, 1.0), 1001).to_string();
    let bad = |change: &dyn Fn(&mut Value)| {
        let mut invoice = with_customer(full_invoice("BAD", 1.0), 1001);
        change(&mut invoice);
        invoice.to_string()
    };
    let planted: Vec<(String, Option<&str>)> = vec![
        (good("OK-1"), None),
        ("{not json".to_owned(), Some("")),
        ("[1, 2]".to_owned(), Some("")),
        (bad(&|i| i["extra"] = json!(1)), Some("")),
        (
            bad(&|i| drop(i.as_object_mut().map(|o| o.remove("billDate")))),
            Some(""),
        ),
        (
            bad(&|i| i["billDate"] = json!("2026-02-30")),
            Some("billDate"),
        ),
        (
            bad(&|i| i["invoiceStatus"] = json!("LOST")),
            Some("invoiceStatus"),
        ),
        (
            bad(&|i| i["invoiceAmount"] = json!(10.125)),
            Some("invoiceAmount"),
        ),
        (
            bad(&|i| i["invoiceBalace"] = json!(1e14)),
            Some("invoiceBalace"),
        ),
        (
            bad(&|i| i["customer"]["id"] = json!(9999)),
            Some("customer"),
        ),
        (
            bad(&|i| i["customer"]["idType"] = json!("9X")),
            Some("customer.idType"),
        ),
        (
            bad(&|i| i["billingGroup"]["id"] = json!("NOPE")),
            Some("billingGroup.id"),
        ),
        (
            bad(&|i| i["subscriber"]["id"] = json!("50499002001")),
            Some("subscriber.id"),
        ),
        (
            bad(&|i| i["billingName"] = json!("a\u{0}b")),
            Some("billingName"),
        ),
        (bad(&|i| i["contract"] = json!("77-01")), Some("contract")),
        (good("OK-2"), None),
    ];
    let mut contents: Vec<u8> = Vec::new();
    for (line, _) in &planted {
        contents.extend_from_slice(line.as_bytes());
        contents.push(b'\n');
    }
    // A line that is not UTF-8, then a blank one, which is no record.
    contents.extend_from_slice(b"{\"invoiceNumber\": \"\xff\"}\n\n");
    contents.extend_from_slice(format!("{}\n", good("OK-3")).as_bytes());
    let file = scratch.file("planted.jsonl", contents);
    let finished = import(&db.url, &["invoices", file.to_str().expect("path")]);
    assert_eq!(finished.code, 1, "some rejected: {}", finished.stderr);
    let loaded = summary(&finished);
    assert_eq!(
        (
            loaded["read"].as_u64(),
            loaded["inserted"].as_u64(),
            loaded["rejected"].as_u64()
        ),
        (Some(18), Some(3), Some(15)),
        "{loaded}"
    );

    let rejects = std::fs::read_to_string(scratch.path.join("planted.jsonl.rejects.jsonl"))
        .expect("the rejects beside the input");
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let mut expected: Vec<(u64, Option<&str>)> = planted
        .iter()
        .enumerate()
        .filter_map(|(at, (_, field))| field.map(|field| (at as u64 + 1, Some(field))))
        .map(|(line, field)| (line, field.filter(|field| !field.is_empty())))
        .collect();
    expected.push((17, None));
    let got: Vec<(u64, Option<&str>)> = rejects
        .iter()
        .map(|reject| {
            (
                reject["line"].as_u64().expect("line"),
                reject["field"].as_str(),
            )
        })
        .collect();
    let got_lines: Vec<u64> = got.iter().map(|(line, _)| *line).collect();
    let expected_lines: Vec<u64> = expected.iter().map(|(line, _)| *line).collect();
    let mut sorted = got_lines.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected_lines, "{rejects:#?}");
    for (line, field) in &expected {
        let reject = rejects
            .iter()
            .find(|reject| reject["line"] == *line)
            .expect("rejected");
        if let Some(field) = field {
            assert_eq!(reject["field"], *field, "{reject}");
        }
        assert!(
            reject["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{reject}"
        );
        let input = reject["input"].as_str().expect("input");
        if *line <= planted.len() as u64 {
            assert_eq!(input, planted[*line as usize - 1].0, "the line as read");
        }
    }
    let mut conn = db.connect();
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE invoice_number IN ('OK-1', 'OK-2', 'OK-3')"
        ),
        3
    );
    assert_eq!(count(&mut conn, "invoices WHERE invoice_number = 'BAD'"), 0);
}

#[test]
fn bad_csv_rows_are_rejected_by_line() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let mut contents = b"customer.idType,customer.id,invoiceNumber,billDate,invoiceAmount,invoiceBalace,invoiceStatus\n\
        CLIENT_CODE,1001,C-1,2026-12-01,1,1,OPEN\n\
        CLIENT_CODE,1001,C-2,2026-12-01,1\n\
        CLIENT_CODE,x,C-3,2026-12-01,1,1,OPEN\n\
        CLIENT_CODE,1001,C-4,2026-12-01,one,1,OPEN\n\
        CLIENT_CODE,1001,\"C-5\nsecond line\",2026-12-01,1,1,OPEN\n"
        .to_vec();
    contents.extend_from_slice(b"CLIENT_CODE,1001,C-\xff,2026-12-01,1,1,OPEN\n");
    contents.extend_from_slice(b"CLIENT_CODE,1001,C-7,2026-12-01,1,1,OPEN\n");
    let file = scratch.file("bills.csv", contents);
    let finished = import(&db.url, &["invoices", file.to_str().expect("path")]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    let loaded = summary(&finished);
    assert_eq!(
        (
            loaded["read"].as_u64(),
            loaded["inserted"].as_u64(),
            loaded["rejected"].as_u64()
        ),
        (Some(7), Some(3), Some(4)),
        "{loaded}"
    );
    let rejects =
        std::fs::read_to_string(scratch.path.join("bills.csv.rejects.jsonl")).expect("rejects");
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    let by_line: Vec<(u64, Option<&str>)> = rejects
        .iter()
        .map(|reject| {
            (
                reject["line"].as_u64().expect("line"),
                reject["field"].as_str(),
            )
        })
        .collect();
    // The header is line 1; the quoted cell of line 6 runs over two lines.
    assert_eq!(
        by_line,
        [
            (3, None),
            (4, Some("customer.id")),
            (5, Some("invoiceAmount")),
            (8, Some("invoiceNumber"))
        ],
        "{rejects:#?}"
    );
    assert_eq!(rejects[0]["input"], "CLIENT_CODE,1001,C-2,2026-12-01,1");
    assert_eq!(
        count(
            &mut db.connect(),
            "invoices WHERE invoice_number LIKE 'C-5%'"
        ),
        1
    );
}

#[test]
fn a_file_that_cannot_be_read_is_refused_before_anything_is_written() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let good = scratch.file(
        "customers.jsonl",
        "{\"idType\": \"T\", \"id\": 1, \"name\": \"x\"}\n",
    );
    let not_gzip = scratch.file(
        "customers.jsonl.gz",
        "{\"idType\": \"T\", \"id\": 2, \"name\": \"x\"}\n",
    );
    let header = scratch.file("customers.csv", "idType,id,name,colour\nT,3,x,red\n");
    let unnamed = scratch.file("customers.txt", "{}\n");
    let missing = scratch.path.join("missing.jsonl");
    let path = |path: &std::path::Path| path.to_str().expect("path").to_owned();
    for (args, says) in [
        (vec![path(&good), path(&missing)], "No such file"),
        (vec![path(&good), path(&not_gzip)], "is not gzip"),
        (vec![path(&header)], "`colour`"),
        (vec![path(&unnamed)], "cannot tell the format"),
        (vec!["-".to_owned()], "--rejects"),
    ] {
        let mut command = vec!["customers"];
        command.extend(args.iter().map(String::as_str));
        let finished = import(&db.url, &command);
        assert_eq!(finished.code, 2, "{command:?}: {}", finished.stderr);
        assert!(
            finished.stderr.contains(says),
            "{command:?}: {}",
            finished.stderr
        );
        assert!(finished.stdout.is_empty());
    }
    let mut conn = db.connect();
    assert_eq!(count(&mut conn, "customers"), 0, "nothing was written");
    assert_eq!(count(&mut conn, "import_runs"), 0, "no run was recorded");
}
