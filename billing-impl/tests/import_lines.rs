//! `billing import` reading records exactly, run through the binary: line numbers for
//! every line end, dates only in the contract's `format: date`, a byte order mark skipped,
//! a property given twice refused, and a pipe read as standard input is.

use billing_test_support as common;
use std::{io::Write, path::Path};

use common::{
    Scratch, TestDb,
    import::{count, import, path},
};
use serde_json::{Value, json};

/// The rejects of `file`, each as (line, field).
fn rejects_of(file: &Path) -> Vec<(u64, Option<String>)> {
    std::fs::read_to_string(file)
        .expect("a rejects file")
        .lines()
        .map(|line| {
            let reject: Value = serde_json::from_str(line).expect("a JSON line");
            (
                reject["line"].as_u64().expect("line"),
                reject["field"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

const INVOICE_HEADER: &str =
    "customer.idType,customer.id,invoiceNumber,billDate,invoiceAmount,invoiceBalace,invoiceStatus";

#[test]
fn csv_records_are_numbered_by_their_line_whatever_the_line_ends() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    // A lone `\r` too: the line end of old Mac files, which the CSV parser ends rows at.
    for end in ["\n", "\r\n", "\r"] {
        // Line 1 the header; a record on 2; a bad one on 3; one on 4 whose quoted cell runs
        // to 5; a bad one on 6; a blank line 7; a bad one on 8.
        let lines = [
            INVOICE_HEADER,
            "CLIENT_CODE,1001,E-1,2026-12-01,1,1,OPEN",
            "CLIENT_CODE,1001,E-2,2026-12-01,1",
            &format!("CLIENT_CODE,1001,\"E-3{end}continued\",2026-12-01,1,1,OPEN"),
            "CLIENT_CODE,x,E-4,2026-12-01,1,1,OPEN",
            "",
            "CLIENT_CODE,1001,E-5,2026-12-01,1,1,LOST",
            "",
        ];
        let file = scratch.file("bills.csv", lines.join(end));
        let finished = import(&db.url, &["invoices", path(&file)]);
        assert_eq!(finished.code, 1, "{end:?}: {}", finished.stderr);
        assert_eq!(
            rejects_of(&scratch.path.join("bills.csv.rejects.jsonl")),
            [
                (3, None),
                (6, Some("customer.id".to_owned())),
                (8, Some("invoiceStatus".to_owned()))
            ],
            "{end:?}"
        );
    }
    let mut conn = db.connect();
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE invoice_number LIKE 'E-3_%continued'"
        ),
        3,
        "the quoted line end kept as written, LF, CRLF and CR"
    );
}

#[test]
fn json_lines_are_numbered_by_their_line_whatever_the_line_ends() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let file = scratch.file(
        "customers.jsonl",
        "{\"idType\": \"CLIENT_CODE\", \"id\": 1, \"name\": \"a\"}\r\n\r\n{\"idType\": \"CLIENT_CODE\", \"id\": -1, \"name\": \"b\"}\r\n{\"idType\": \"CLIENT_CODE\", \"id\": 3, \"name\": \"c\"}\n{not json\r\n",
    );
    let finished = import(&db.url, &["customers", path(&file)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        rejects_of(&scratch.path.join("customers.jsonl.rejects.jsonl")),
        [(3, Some("id".to_owned())), (5, None)]
    );
}

#[test]
fn a_date_is_read_only_as_the_contract_writes_it() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let bad = [
        "+12345-01-01",
        "12345-01-01",
        "-0001-01-01",
        "2023-1-1",
        "2023-01-1",
        "2023-1-01",
        "23-01-01",
        "2023-02-30",
        "2023-02-29",
        "2023-13-01",
        "2023-00-01",
        "2023-01-00",
        "20230101",
        "2023/01/01",
        " 2023-01-01",
        "2023-01-01T00:00:00Z",
    ];
    let invoice = |n: usize, bill_date: &str, payment_date: &str| {
        json!({
            "customer": {"idType": "CLIENT_CODE", "id": 1001},
            "invoiceNumber": format!("D-{n}"),
            "billDate": bill_date,
            "paymentDate": payment_date,
            "invoiceAmount": 1,
            "invoiceBalace": 1,
            "invoiceStatus": "OPEN"
        })
        .to_string()
            + "\n"
    };
    let mut jsonl = String::new();
    let mut csv = format!("{INVOICE_HEADER},paymentDate\n");
    let mut n = 0;
    for date in bad {
        for (bill_date, payment_date) in [(date, "2026-12-01"), ("2026-12-01", date)] {
            n += 1;
            jsonl.push_str(&invoice(n, bill_date, payment_date));
            csv.push_str(&format!(
                "CLIENT_CODE,1001,D-{n},{bill_date},1,1,OPEN,{payment_date}\n"
            ));
        }
    }
    jsonl.push_str(&invoice(0, "2024-02-29", "0001-01-01"));
    csv.push_str("CLIENT_CODE,1001,D-0,2024-02-29,1,1,OPEN,0001-01-01\n");
    let expected: Vec<(u64, Option<String>)> = (1..=n as u64)
        .map(|line| {
            let field = if line % 2 == 1 {
                "billDate"
            } else {
                "paymentDate"
            };
            (line, Some(field.to_owned()))
        })
        .collect();
    for (name, contents, first_line) in [("bills.jsonl", jsonl, 1), ("bills.csv", csv, 2)] {
        let file = scratch.file(name, contents);
        let finished = import(&db.url, &["invoices", path(&file)]);
        assert_eq!(finished.code, 1, "{name}: {}", finished.stderr);
        let shifted: Vec<(u64, Option<String>)> = expected
            .iter()
            .map(|(line, field)| (line + first_line - 1, field.clone()))
            .collect();
        assert_eq!(
            rejects_of(&scratch.path.join(format!("{name}.rejects.jsonl"))),
            shifted,
            "{name}"
        );
    }
    let mut conn = db.connect();
    assert_eq!(
        count(&mut conn, "invoices WHERE invoice_number LIKE 'D-%'"),
        1
    );
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE invoice_number = 'D-0' AND bill_date = '2024-02-29'"
        ),
        1
    );
}

#[test]
fn a_byte_order_mark_before_the_first_record_is_skipped() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let csv = scratch.file(
        "customers.csv",
        "\u{feff}idType,id,name\r\nCLIENT_CODE,1,Excel\r\n",
    );
    let jsonl = scratch.file(
        "customers.jsonl",
        "\u{feff}{\"idType\": \"CLIENT_CODE\", \"id\": 2, \"name\": \"Notepad\"}\n",
    );
    for file in [&csv, &jsonl] {
        let finished = import(&db.url, &["customers", path(file)]);
        assert_eq!(finished.code, 0, "{}", finished.stderr);
    }
    assert_eq!(count(&mut db.connect(), "customers"), 2);
}

#[test]
fn a_property_given_twice_is_a_reject_naming_it() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let customers = scratch.file(
        "customers.jsonl",
        "{\"idType\": \"CLIENT_CODE\", \"id\": 7, \"name\": \"first\", \"name\": \"second\"}\n\
         {\"idType\": \"CLIENT_CODE\", \"id\": 8, \"name\": \"once\"}\n",
    );
    let finished = import(&db.url, &["customers", path(&customers)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        rejects_of(&scratch.path.join("customers.jsonl.rejects.jsonl")),
        [(1, Some("name".to_owned()))]
    );
    let invoices = scratch.file(
        "bills.jsonl",
        "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 1001, \"id\": 1002}, \
          \"invoiceNumber\": \"T-1\", \"billDate\": \"2026-12-01\", \"invoiceAmount\": 1, \
          \"invoiceBalace\": 1, \"invoiceStatus\": \"OPEN\"}\n",
    );
    let finished = import(&db.url, &["invoices", path(&invoices)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        rejects_of(&scratch.path.join("bills.jsonl.rejects.jsonl")),
        [(1, Some("customer.id".to_owned()))]
    );
    let mut conn = db.connect();
    assert_eq!(count(&mut conn, "customers WHERE code IN (7, 8)"), 1);
    assert_eq!(count(&mut conn, "invoices WHERE invoice_number = 'T-1'"), 0);
}

#[test]
fn a_pipe_given_as_a_path_is_read_as_standard_input() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let pipe = scratch.path.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    // What `<(zcat x.gz)` gives, and `<(cat x.gz)` too: a pipe, named without a format,
    // gzip or not.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(b"{\"idType\": \"CLIENT_CODE\", \"id\": 1, \"name\": \"Piped\"}\n")
        .expect("compress");
    let gzipped = encoder.finish().expect("compressed");
    let writer = {
        let pipe = pipe.clone();
        std::thread::spawn(move || std::fs::write(pipe, gzipped).expect("written to the pipe"))
    };
    let rejects = scratch.path.join("piped.rejects.jsonl");
    let finished = import(
        &db.url,
        &[
            "customers",
            path(&pipe),
            "--format",
            "jsonl",
            "--rejects",
            path(&rejects),
        ],
    );
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    writer.join().expect("the writer");
    assert_eq!(
        count(&mut db.connect(), "customers WHERE name = 'Piped'"),
        1
    );
    assert!(!rejects.exists());
}

#[test]
fn a_quote_left_open_to_the_end_of_a_csv_is_a_reject_not_a_swallowed_file() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let file = scratch.file(
        "customers.csv",
        "idType,id,name\nCLIENT_CODE,4200,fine\nCLIENT_CODE,4201,\"unterminated\n\
         CLIENT_CODE,4202,ok\nCLIENT_CODE,4203,ok\n",
    );
    let finished = import(&db.url, &["customers", path(&file)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        rejects_of(&scratch.path.join("customers.csv.rejects.jsonl")),
        [(3, None)],
        "the record whose quote opens"
    );
    assert_eq!(
        count(&mut db.connect(), "customers"),
        1,
        "no customer holds the rest of the file"
    );
}

#[test]
fn a_summary_that_cannot_be_written_stops_the_run_instead_of_a_panic() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let file = scratch.file(
        "customers.jsonl",
        "{\"idType\": \"CLIENT_CODE\", \"id\": 4300, \"name\": \"x\"}\n",
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(["import", "customers", path(&file)])
        .env("DATABASE_URL", &db.url)
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("billing runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        count(&mut db.connect(), "customers"),
        1,
        "the load itself went on"
    );
}

#[test]
fn an_amount_of_more_than_two_decimals_is_a_reject_even_where_a_double_cannot_tell() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    // Near the ceiling of NUMERIC(15, 2), `…991` and `…99` are the same double.
    let invoice = |number: &str, amount: &str, balance: &str| {
        format!(
            "{{\"customer\": {{\"idType\": \"CLIENT_CODE\", \"id\": 1001}}, \
             \"invoiceNumber\": \"{number}\", \"billDate\": \"2026-12-01\", \
             \"invoiceAmount\": {amount}, \"invoiceBalace\": {balance}, \
             \"invoiceStatus\": \"OPEN\"}}\n"
        )
    };
    let lines = [
        invoice("D-1", "9999999999999.99", "9999999999999.990"),
        invoice("D-2", "9999999999999.991", "1"),
        invoice("D-3", "1", "1.5e-3"),
        invoice("D-4", "12.340000000000001", "1"),
        invoice("D-5", "1.5e2", "-0.25"),
    ]
    .concat();
    let file = scratch.file("bills.jsonl", lines);
    let finished = import(&db.url, &["invoices", path(&file)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    let rejects = rejects_of(&scratch.path.join("bills.jsonl.rejects.jsonl"));
    assert_eq!(
        rejects,
        [
            (2, Some("invoiceAmount".to_owned())),
            (3, Some("invoiceBalace".to_owned())),
            (4, Some("invoiceAmount".to_owned())),
        ]
    );
    let csv = [
        INVOICE_HEADER,
        "CLIENT_CODE,1001,D-6,2026-12-01,9999999999999.98,1,OPEN",
        "CLIENT_CODE,1001,D-7,2026-12-01,9999999999999.981,1,OPEN",
        "CLIENT_CODE,1001,D-8,2026-12-01,1,0.001,OPEN",
        "",
    ]
    .join("\n");
    let file = scratch.file("bills.csv", csv);
    let finished = import(&db.url, &["invoices", path(&file)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    let text =
        std::fs::read_to_string(scratch.path.join("bills.csv.rejects.jsonl")).expect("the rejects");
    assert!(
        text.contains("`invoiceAmount` has more than two decimals"),
        "{text}"
    );
    assert_eq!(
        rejects_of(&scratch.path.join("bills.csv.rejects.jsonl")),
        [
            (3, Some("invoiceAmount".to_owned())),
            (4, Some("invoiceBalace".to_owned())),
        ]
    );
    let mut conn = db.connect();
    assert_eq!(
        count(&mut conn, "invoices WHERE invoice_number LIKE 'D-%'"),
        3
    );
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE invoice_number = 'D-5' AND invoice_amount = 150 \
             AND invoice_balance = -0.25"
        ),
        1
    );
}

#[test]
fn a_contract_with_a_leading_zero_is_a_reject_not_a_changed_number() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let invoice = |number: &str, contract: &str| {
        format!(
            "{{\"customer\": {{\"idType\": \"CLIENT_CODE\", \"id\": 1001}}, \
             \"invoiceNumber\": \"{number}\", \"billDate\": \"2026-12-01\", \
             \"invoiceAmount\": 1, \"invoiceBalace\": 1, \"invoiceStatus\": \"OPEN\", \
             \"contract\": \"{contract}\"}}\n"
        )
    };
    let lines = [
        invoice("Z-1", "770001"),
        invoice("Z-2", "0770001"),
        invoice("Z-3", "0"),
        invoice("Z-4", "00"),
    ]
    .concat();
    let file = scratch.file("bills.jsonl", lines);
    let finished = import(&db.url, &["invoices", path(&file)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        rejects_of(&scratch.path.join("bills.jsonl.rejects.jsonl")),
        [
            (2, Some("contract".to_owned())),
            (4, Some("contract".to_owned()))
        ]
    );
    let mut conn = db.connect();
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE (invoice_number, contract_number) IN (('Z-1', 770001), ('Z-3', 0))"
        ),
        2
    );
    assert_eq!(
        count(&mut conn, "invoices WHERE invoice_number IN ('Z-2', 'Z-4')"),
        0
    );

    // A subscriber's contract, the same.
    let subscriber = "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 1001}, \
                      \"msisdn\": 50499009999, \"contract\": \"012\"}\n";
    let file = scratch.file("subscribers.jsonl", subscriber);
    let finished = import(&db.url, &["subscribers", path(&file)]);
    assert_eq!(finished.code, 1, "{}", finished.stderr);
    assert_eq!(
        rejects_of(&scratch.path.join("subscribers.jsonl.rejects.jsonl")),
        [(1, Some("contract".to_owned()))]
    );
}
