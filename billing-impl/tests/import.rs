//! `billing import` and `billing imports list`, run through the binary: each kind in both
//! formats, rejects with their line numbers, refusals, idempotent re-runs, updates, a run
//! killed and run again, and a running server that serves what was imported at once.

use billing_test_support as common;
use std::{
    io::Write,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    Scratch, TestApp, TestDb, numbering_errors,
    process::{Finished, billing},
};
use diesel::{PgConnection, RunQueryDsl};
use serde_json::{Value, json};

/// One invoice, exactly as list bills answers it, of customer CLIENT_CODE 1001's
/// subscriber 50499001001 in its group HQ.
fn full_invoice(number: &str, balance: f64) -> Value {
    json!({
        "billingGroup": {"id": "HQ", "idType": "GROUP_ID"},
        "attachment": "https://selfcare.example/bills/x.pdf",
        "billDate": "2026-12-05",
        "billPeriod": "2026-11",
        "billingAddress": "Col. Palmira",
        "billingName": "Inversiones Moradel S. de R.L.",
        "billplan": "Plan Empresarial 40GB",
        "cai": "4B2F1A-9C8D7E",
        "subscriber": {"id": "50499001001", "idType": "MSISDN"},
        "contactName": "Ana",
        "contract": "770001",
        "dei": "SAR-2026-0001",
        "expirationDate": "2026-12-25",
        "expirationElectronicDate": "2027-06-30",
        "invoiceAmount": 1234.5,
        "invoiceBalace": balance,
        "invoiceDescription": "Servicios moviles postpago",
        "invoiceNumber": number,
        "invoiceSerial": "A",
        "invoiceStatus": "OPEN",
        "invoiceType": "FACTURA",
        "invoicedServiceCount": 3,
        "paymentAmount": 0.0,
        "paymentDate": "2026-12-06",
        "periodEndDate": "2026-11-30",
        "periodStartDate": "2026-11-01",
        "printDate": "2026-12-05",
        "phone": "+50499001001"
    })
}

/// `invoice` given its customer, as an import line.
fn with_customer(mut invoice: Value, code: i64) -> Value {
    invoice["customer"] = json!({"idType": "CLIENT_CODE", "id": code});
    invoice
}

fn lines(values: &[Value]) -> String {
    values.iter().map(|value| format!("{value}\n")).collect()
}

fn import(url: &str, args: &[&str]) -> Finished {
    let mut command = vec!["import"];
    command.extend_from_slice(args);
    billing(url, &command, b"")
}

fn count(conn: &mut PgConnection, from: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "count(*) FROM {from}"
    )))
    .get_result(conn)
    .expect("count")
}

/// Every row the API serves from, as one text, for comparing two databases.
fn everything(conn: &mut PgConnection) -> String {
    #[derive(diesel::QueryableByName)]
    struct Text {
        #[diesel(sql_type = diesel::sql_types::Text)]
        text: String,
    }
    diesel::sql_query(
        "SELECT concat_ws(E'\\n',
             (SELECT string_agg(format('%s %s %s', id_type, code, name), E'\\n' ORDER BY id_type, code)
              FROM customers),
             (SELECT string_agg(format('%s %s %s %s', c.code, s.msisdn, s.contract_number,
                                       (s.billing_address, s.billing_cycle, s.city, s.department)),
                                E'\\n' ORDER BY s.msisdn)
              FROM subscribers AS s JOIN customers AS c USING (customer_id)),
             (SELECT string_agg(format('%s %s %s', c.code, g.group_id, g.address), E'\\n'
                                ORDER BY c.code, g.group_id)
              FROM billing_groups AS g JOIN customers AS c USING (customer_id)),
             (SELECT string_agg(r::text, E'\\n' ORDER BY r.code, r.invoice_number)
              FROM (SELECT c.code, i.invoice_number, i.billing_group_id, i.subscriber_msisdn,
                           i.contract_number, i.invoice_status, i.bill_date, i.bill_period,
                           i.period_start_date, i.period_end_date, i.expiration_date,
                           i.expiration_electronic_date, i.print_date, i.payment_date,
                           i.invoice_amount, i.invoice_balance, i.payment_amount,
                           i.invoiced_service_count, i.invoice_type, i.invoice_serial,
                           i.invoice_description, i.billing_name, i.billing_address, i.billplan,
                           i.contact_name, i.phone, i.cai, i.dei, i.attachment, i.customer_position
                    FROM invoices AS i JOIN customers AS c USING (customer_id)) AS r)) AS text",
    )
    .get_result::<Text>(conn)
    .expect("everything")
    .text
}

fn summary(finished: &Finished) -> Value {
    let lines = finished.json_lines();
    assert_eq!(
        lines.len(),
        1,
        "one summary: {}\n{}",
        finished.stdout,
        finished.stderr
    );
    lines[0].clone()
}

#[tokio::test]
async fn an_imported_invoice_is_answered_exactly_as_it_was_written() {
    let app = TestApp::with_demo_data().await;
    let scratch = Scratch::new();
    let invoice = full_invoice("IMP-0001", 1234.5);
    let file = scratch.file(
        "bills.jsonl",
        lines(&[with_customer(invoice.clone(), 1001)]),
    );
    let finished = import(&app.db.url, &["invoices", file.to_str().expect("path")]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let loaded = summary(&finished);
    assert_eq!(
        (
            loaded["read"].as_u64(),
            loaded["inserted"].as_u64(),
            loaded["rejected"].as_u64()
        ),
        (Some(1), Some(1), Some(0)),
        "{loaded}"
    );
    assert_eq!(loaded["kind"], "invoices");
    assert!(
        !scratch.path.join("bills.jsonl.rejects.jsonl").exists(),
        "no rejects, no file"
    );

    let token = app.token(&["read"]).await;
    let (status, page) = app
        .get(
            &app.api("/customers/CLIENT_CODE/1001/bills?quantity=1"),
            &token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["invoice"][0], invoice, "the newest bill, as written");
    assert_eq!(numbering_errors(&mut app.db.connect()), 0);
}

#[test]
fn each_kind_loads_from_json_lines_and_csv_alike() {
    let (jsonl, csv) = (TestDb::migrated(), TestDb::migrated());
    let scratch = Scratch::new();
    let files = [
        (
            "customers",
            "{\"idType\": \"CLIENT_CODE\", \"id\": 2001, \"name\": \"Hotel Maya\"}\n\
             {\"idType\": \"CLIENT_CODE\", \"id\": 2002, \"name\": \"Ferreteria, \\\"Lopez\\\"\"}\n",
            "id,idType,name\n2001,CLIENT_CODE,Hotel Maya\n2002,CLIENT_CODE,\"Ferreteria, \"\"Lopez\"\"\"\n",
        ),
        (
            "subscribers",
            "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 2001}, \"msisdn\": 50488001001, \
               \"contract\": \"880001\", \"billingCycle\": \"MONTHLY-05\", \"city\": \"Copan\"}\n",
            "customer.idType,customer.id,msisdn,contract,billingAddress,billingCycle,city,department\n\
             CLIENT_CODE,2001,50488001001,880001,,MONTHLY-05,Copan,\n",
        ),
        (
            "groups",
            "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 2001}, \"groupId\": \"HQ\", \"address\": \"Copan Ruinas\"}\n",
            "address,groupId,customer.id,customer.idType\nCopan Ruinas,HQ,2001,CLIENT_CODE\n",
        ),
        (
            "invoices",
            "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 2001}, \"invoiceNumber\": \"F-1\", \
               \"billDate\": \"2026-11-05\", \"invoiceAmount\": 10.5, \"invoiceBalace\": 0, \
               \"invoiceStatus\": \"PAID\", \"billingGroup\": {\"id\": \"HQ\", \"idType\": \"GROUP_ID\"}, \
               \"subscriber\": {\"id\": \"50488001001\", \"idType\": \"MSISDN\"}, \"contract\": \"880001\"}\n\
             {\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 2002}, \"invoiceNumber\": \"F-2\", \
               \"billDate\": \"2026-11-06\", \"invoiceAmount\": 99.99, \"invoiceBalace\": 99.99, \
               \"invoiceStatus\": \"OPEN\", \"invoicedServiceCount\": 2}\n",
            "customer.idType,customer.id,invoiceNumber,billDate,invoiceAmount,invoiceBalace,invoiceStatus,\
             billingGroup.id,billingGroup.idType,subscriber.id,subscriber.idType,contract,invoicedServiceCount\n\
             CLIENT_CODE,2001,F-1,2026-11-05,10.50,0,PAID,HQ,GROUP_ID,50488001001,MSISDN,880001,\n\
             CLIENT_CODE,2002,F-2,2026-11-06,99.99,99.99,OPEN,,,,,,2\n",
        ),
    ];
    for (kind, json_lines, csv_rows) in files {
        for (db, name, contents) in [
            (&jsonl, format!("{kind}.jsonl"), json_lines),
            (&csv, format!("{kind}.csv"), csv_rows),
        ] {
            let file = scratch.file(&name, contents);
            let finished = import(&db.url, &[kind, file.to_str().expect("path")]);
            assert_eq!(finished.code, 0, "{name}: {}", finished.stderr);
            let loaded = summary(&finished);
            assert_eq!(loaded["rejected"], 0, "{name}: {loaded}");
            assert_eq!(loaded["inserted"], loaded["read"], "{name}: {loaded}");
        }
    }
    let loaded = everything(&mut jsonl.connect());
    assert!(loaded.contains("Ferreteria, \"Lopez\""), "{loaded}");
    assert!(
        loaded.contains("(2001,F-1,HQ,50488001001,880001,PAID"),
        "{loaded}"
    );
    assert_eq!(
        loaded,
        everything(&mut csv.connect()),
        "both formats load the same rows"
    );
}

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

#[test]
fn a_second_run_of_a_file_writes_nothing_and_an_update_changes_exactly_its_rows() {
    let db = TestDb::migrated();
    common::seed_demo_into(&db);
    let scratch = Scratch::new();
    let invoices: Vec<Value> = (1..=50)
        .map(|n| with_customer(full_invoice(&format!("RUN-{n:03}"), 1234.5), 1001))
        .collect();
    let file = scratch.file("run.jsonl", lines(&invoices));
    let file = file.to_str().expect("path");
    assert_eq!(import(&db.url, &["invoices", file]).code, 0);
    let versions = |conn: &mut PgConnection| -> Vec<(String, String)> {
        #[derive(diesel::QueryableByName)]
        struct Version {
            #[diesel(sql_type = diesel::sql_types::Text)]
            invoice_number: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            xmin: String,
        }
        diesel::sql_query(
            "SELECT invoice_number, xmin::text AS xmin FROM invoices ORDER BY invoice_number",
        )
        .load::<Version>(conn)
        .expect("versions")
        .into_iter()
        .map(|v| (v.invoice_number, v.xmin))
        .collect()
    };
    let mut conn = db.connect();
    let before = versions(&mut conn);

    let again = import(&db.url, &["invoices", file]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let loaded = summary(&again);
    assert_eq!(
        (
            loaded["unchanged"].as_u64(),
            loaded["inserted"].as_u64(),
            loaded["updated"].as_u64()
        ),
        (Some(50), Some(0), Some(0)),
        "{loaded}"
    );
    assert_eq!(versions(&mut conn), before, "no row has a new version");

    // Payment updates: three of them paid, re-exported; one repeated with the later line winning.
    let mut paid: Vec<Value> = ["RUN-007", "RUN-008", "RUN-009"]
        .iter()
        .map(|number| {
            let mut invoice = with_customer(full_invoice(number, 0.0), 1001);
            invoice["invoiceStatus"] = json!("PAID");
            invoice
        })
        .collect();
    paid.insert(0, with_customer(full_invoice("RUN-009", 99.0), 1001));
    paid.push(with_customer(full_invoice("RUN-010", 1234.5), 1001));
    let update = scratch.file("payments.jsonl", lines(&paid));
    let updated = import(&db.url, &["invoices", update.to_str().expect("path")]);
    assert_eq!(updated.code, 0, "{}", updated.stderr);
    let loaded = summary(&updated);
    assert_eq!(
        (
            loaded["read"].as_u64(),
            loaded["updated"].as_u64(),
            loaded["unchanged"].as_u64(),
            loaded["inserted"].as_u64()
        ),
        (Some(5), Some(4), Some(1), Some(0)),
        "three paid, one line replaced by a later one, one re-exported as it is: {loaded}"
    );
    let after = versions(&mut conn);
    let changed: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(old, new)| old != new)
        .map(|(old, _)| old.0.as_str())
        .collect();
    assert_eq!(changed, ["RUN-007", "RUN-008", "RUN-009"]);
    assert_eq!(
        count(
            &mut conn,
            "invoices WHERE invoice_number = 'RUN-009' AND invoice_status = 'PAID' AND invoice_balance = 0"
        ),
        1,
        "the later line won"
    );
    assert_eq!(numbering_errors(&mut conn), 0);
}

/// A bill run of `customers` × `per_customer` minimal invoices, as JSON Lines.
fn bill_run(first_code: i64, customers: i64, per_customer: i64) -> String {
    let mut run = String::new();
    for n in 0..per_customer {
        for c in 0..customers {
            let code = first_code + c;
            run.push_str(&format!(
                "{{\"customer\": {{\"idType\": \"CLIENT_CODE\", \"id\": {code}}}, \
                 \"invoiceNumber\": \"B-{code}-{n:06}\", \"billDate\": \"{}\", \
                 \"invoiceAmount\": {n}.25, \"invoiceBalace\": 0.5, \"invoiceStatus\": \"OPEN\"}}\n",
                chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")
                    + chrono::Days::new(u64::try_from(n).expect("n"))
            ));
        }
    }
    run
}

fn customers_file(scratch: &Scratch, first_code: i64, customers: i64) -> std::path::PathBuf {
    let lines: String = (first_code..first_code + customers)
        .map(|code| {
            format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {code}, \"name\": \"C{code}\"}}\n")
        })
        .collect();
    scratch.file("customers.jsonl", lines)
}

/// Starts `billing import` over `url` and kills it (SIGKILL) once a batch has committed.
fn kill_mid_run(url: &str, args: &[&str]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_billing"))
        .arg("import")
        .args(args)
        .env("DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the import");
    let mut conn = diesel::Connection::establish(url).expect("connect");
    // A bound for a test that would otherwise hang: a batch commits within seconds.
    let bound = Instant::now() + Duration::from_secs(60);
    while count(
        &mut conn,
        "import_runs WHERE kind = 'invoices' AND lines_read > 0",
    ) == 0
    {
        assert!(Instant::now() < bound, "no batch committed");
        assert!(
            child.try_wait().expect("wait").is_none(),
            "finished before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
}

#[test]
fn a_run_killed_at_any_point_then_run_again_ends_as_one_clean_run() {
    let (killed, clean) = (TestDb::migrated(), TestDb::migrated());
    let scratch = Scratch::new();
    let customers = customers_file(&scratch, 5000, 20);
    let run = scratch.file("run.jsonl", bill_run(5000, 20, 1500));
    let (customers, run) = (
        customers.to_str().expect("path"),
        run.to_str().expect("path"),
    );
    for db in [&killed, &clean] {
        assert_eq!(import(&db.url, &["customers", customers]).code, 0);
    }
    kill_mid_run(&killed.url, &["invoices", run, "--batch-rows", "100"]);
    let mut conn = killed.connect();
    let loaded_before = count(&mut conn, "invoices");
    assert!(
        loaded_before > 0 && loaded_before < 30_000,
        "killed mid-run: {loaded_before} of 30,000 loaded"
    );
    assert_eq!(numbering_errors(&mut conn), 0, "what committed is exact");

    let again = import(&killed.url, &["invoices", run, "--batch-rows", "100"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let once = import(&clean.url, &["invoices", run]);
    assert_eq!(once.code, 0, "{}", once.stderr);
    assert_eq!(count(&mut conn, "invoices"), 30_000);
    assert_eq!(everything(&mut conn), everything(&mut clean.connect()));

    let runs = billing(&killed.url, &["imports", "list"], b"");
    assert_eq!(runs.code, 0, "{}", runs.stderr);
    let outcomes: Vec<(String, String)> = runs
        .json_lines()
        .iter()
        .map(|run| {
            (
                run["kind"].as_str().unwrap_or_default().to_owned(),
                run["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("customers".to_owned(), "loaded".to_owned()),
            ("invoices".to_owned(), "interrupted".to_owned()),
            ("invoices".to_owned(), "loaded".to_owned())
        ]
    );
}

#[test]
fn an_atomic_run_killed_loads_nothing() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let customers = customers_file(&scratch, 6000, 20);
    let run = scratch.file("run.jsonl", bill_run(6000, 20, 1500));
    let (customers, run) = (
        customers.to_str().expect("path"),
        run.to_str().expect("path"),
    );
    assert_eq!(import(&db.url, &["customers", customers]).code, 0);
    // An atomic run commits no batch: it is killed once it has read some.
    let mut child = Command::new(env!("CARGO_BIN_EXE_billing"))
        .args(["import", "invoices", run, "--atomic", "--batch-rows", "100"])
        .env("DATABASE_URL", &db.url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let mut conn = db.connect();
    // A bound for a test that would otherwise hang: the load starts at once.
    let bound = Instant::now() + Duration::from_secs(60);
    let loading = "pg_stat_activity WHERE datname = current_database() \
                   AND pid <> pg_backend_pid() AND query ILIKE '%import_invoices%'";
    while count(&mut conn, loading) == 0 {
        assert!(Instant::now() < bound, "the load never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Some batches into the one transaction.
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    assert_eq!(count(&mut conn, "invoices"), 0, "all or nothing");
    let finished = import(&db.url, &["invoices", run, "--atomic"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(count(&mut conn, "invoices"), 30_000);
}

#[test]
fn gzip_and_standard_input_are_read_and_runs_are_listed_with_their_files() {
    let db = TestDb::migrated();
    let scratch = Scratch::new();
    let plain = "{\"idType\": \"CLIENT_CODE\", \"id\": 4001, \"name\": \"Gz\"}\n";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(plain.as_bytes()).expect("compress");
    let gzipped = encoder.finish().expect("compressed");
    let file = scratch.file("customers.jsonl.gz", &gzipped);
    let finished = import(&db.url, &["customers", file.to_str().expect("path")]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);

    let rejects = scratch.path.join("stdin.rejects.jsonl");
    let piped = billing(
        &db.url,
        &[
            "import",
            "customers",
            "-",
            "--format",
            "csv",
            "--rejects",
            rejects.to_str().expect("path"),
        ],
        b"idType,id,name\nCLIENT_CODE,4002,Stdin\nCLIENT_CODE,-1,Negative\n",
    );
    assert_eq!(piped.code, 1, "{}", piped.stderr);
    assert_eq!(summary(&piped)["file"], "-");
    assert!(
        std::fs::read_to_string(&rejects)
            .expect("rejects")
            .contains("\"line\":3")
    );
    assert_eq!(count(&mut db.connect(), "customers"), 2);

    let runs = billing(&db.url, &["imports", "list"], b"");
    let runs = runs.json_lines();
    assert_eq!(runs.len(), 2);
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(&gzipped)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(runs[0]["sha256"], digest, "the file's bytes as read");
    assert_eq!(
        (runs[0]["outcome"].as_str(), runs[0]["inserted"].as_i64()),
        (Some("loaded"), Some(1))
    );
    assert_eq!(
        (runs[1]["outcome"].as_str(), runs[1]["rejected"].as_i64()),
        (Some("loaded with rejects"), Some(1))
    );
}

#[tokio::test]
async fn a_subscriber_that_moves_has_one_owner_and_groups_are_audited_by_run() {
    let app = TestApp::with_demo_data().await;
    let scratch = Scratch::new();
    let moved = scratch.file(
        "subscribers.jsonl",
        "{\"customer\": {\"idType\": \"CLIENT_CODE\", \"id\": 1002}, \"msisdn\": 50499001002, \"contract\": \"770102\", \"city\": \"La Ceiba\"}\n",
    );
    let finished = import(&app.db.url, &["subscribers", moved.to_str().expect("path")]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert_eq!(summary(&finished)["updated"], 1, "a move is an update");
    let mut conn = app.db.connect();
    assert_eq!(
        count(&mut conn, "subscribers WHERE msisdn = 50499001002"),
        1
    );
    let partner = app.client_serving(
        &["read"],
        billing_impl::auth::clients::CustomerGrant::Only(vec![
            "CLIENT_CODE:1001".parse().expect("name"),
        ]),
    );
    let token = app.token_for(&partner.0, &partner.1, &["read"]).await;
    let (status, _) = app
        .get(&app.api("/customers/50499001002/profile"), &token)
        .await;
    assert_eq!(status, 404, "no longer 1001's");

    let groups = scratch.file(
        "groups.csv",
        "customer.idType,customer.id,groupId,address\nCLIENT_CODE,1001,HQ,New address\nCLIENT_CODE,1001,NEW,Somewhere\nCLIENT_CODE,1001,SALES,\"Blvd. del Norte, km 3, San Pedro Sula\"\n",
    );
    let finished = import(&app.db.url, &["groups", groups.to_str().expect("path")]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    let loaded = summary(&finished);
    assert_eq!(
        (
            loaded["inserted"].as_u64(),
            loaded["updated"].as_u64(),
            loaded["unchanged"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{loaded}"
    );
    let audit = billing(
        &app.db.url,
        &["audit", "--customer", "CLIENT_CODE:1001"],
        b"",
    );
    let records = audit.json_lines();
    assert_eq!(records.len(), 2, "{}", audit.stdout);
    let run_id = billing(&app.db.url, &["imports", "list"], b"").json_lines()[1]["run_id"].clone();
    for record in &records {
        assert_eq!(record["import_run_id"], run_id, "{record}");
    }
    let update = records
        .iter()
        .find(|r| r["action"] == "update")
        .expect("an update");
    assert_eq!(
        update["before"]["address"],
        "Col. Palmira, Av. Republica de Chile 1402, Tegucigalpa"
    );
    assert_eq!(update["after"]["address"], "New address");
}

#[tokio::test]
async fn a_customer_imported_is_served_by_a_running_server_at_once() {
    let app = TestApp::start().await;
    let token = app.token(&["read"]).await;
    let bills = app.api("/customers/CLIENT_CODE/7001/bills");
    let (status, _) = app.get(&bills, &token).await;
    assert_eq!(status, 404);
    let scratch = Scratch::new();
    let customers = customers_file(&scratch, 7001, 1);
    let run = scratch.file("run.jsonl", bill_run(7001, 1, 3));
    for (kind, file) in [("customers", &customers), ("invoices", &run)] {
        assert_eq!(
            import(&app.db.url, &[kind, file.to_str().expect("path")]).code,
            0
        );
    }
    let (status, body) = app.get(&bills, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["invoice"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_bill_run_and_api_writes_on_the_same_customers_go_on_together() {
    let app = TestApp::with_demo_data().await;
    let scratch = Scratch::new();
    // Ten thousand bills for the demo's three customers, older than theirs and newer.
    let run = scratch.file("run.jsonl", bill_run(1001, 3, 3400));
    let url = app.db.url.clone();
    let path = run.to_str().expect("path").to_owned();
    let load =
        std::thread::spawn(move || import(&url, &["invoices", &path, "--batch-rows", "500"]));
    let token = app.token(&["read", "write"]).await;
    let mut created = 0;
    while !load.is_finished() {
        for code in [1001, 1002] {
            let groups = app.api(&format!("/customers/CLIENT_CODE/{code}/bills/groups"));
            let group = json!({"groupId": format!("G{created}"), "address": "x"});
            let (status, body) = app
                .send_json(reqwest::Method::POST, &groups, &token, &group)
                .await;
            assert_eq!(status, 200, "{body}");
            let (status, body) = app
                .get(
                    &app.api(&format!("/customers/CLIENT_CODE/{code}/bills")),
                    &token,
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        created += 1;
    }
    let finished = load.join().expect("the import");
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(created > 0, "API writes went on during the run");
    let mut conn = app.db.connect();
    assert_eq!(
        count(&mut conn, "billing_groups WHERE group_id LIKE 'G%'"),
        2 * created
    );
    assert_eq!(numbering_errors(&mut conn), 0);
}

#[tokio::test]
async fn what_the_api_answers_loads_back_into_an_empty_database_and_is_answered_alike() {
    let source = TestApp::with_demo_data().await;
    let target = TestApp::start().await;
    let (source_token, target_token) =
        (source.token(&["read"]).await, target.token(&["read"]).await);
    let scratch = Scratch::new();
    let mut conn = source.db.connect();
    #[derive(diesel::QueryableByName)]
    struct Owned {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        code: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        msisdn: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        contract_number: i64,
    }
    let subscribers: Vec<Owned> = diesel::sql_query(
        "SELECT c.code, c.name, s.msisdn, s.contract_number
         FROM subscribers AS s JOIN customers AS c USING (customer_id) ORDER BY s.msisdn",
    )
    .load(&mut conn)
    .expect("subscribers");
    let codes = [1001_i64, 1002, 1003];
    let customer = |code: i64| json!({"idType": "CLIENT_CODE", "id": code});
    let mut files: Vec<(&str, Vec<Value>)> = vec![
        ("customers", Vec::new()),
        ("subscribers", Vec::new()),
        ("groups", Vec::new()),
        ("invoices", Vec::new()),
    ];
    for owned in &subscribers {
        let line = json!({"idType": "CLIENT_CODE", "id": owned.code, "name": owned.name});
        if !files[0].1.contains(&line) {
            files[0].1.push(line);
        }
        let (status, profile) = source
            .get(
                &source.api(&format!("/customers/{}/profile", owned.msisdn)),
                &source_token,
            )
            .await;
        assert_eq!(status, 200);
        let mut line = profile["ContractProfileType"].clone();
        line["customer"] = customer(owned.code);
        line["msisdn"] = json!(owned.msisdn);
        line["contract"] = json!(owned.contract_number.to_string());
        files[1].1.push(line);
    }
    for code in codes {
        let (_, groups) = source
            .get(
                &source.api(&format!("/customers/CLIENT_CODE/{code}/bills/groups")),
                &source_token,
            )
            .await;
        for group in groups["billingGroup"].as_array().expect("groups") {
            let mut line = group.clone();
            line["customer"] = customer(code);
            files[2].1.push(line);
        }
        for invoice in all_bills(&source, &source_token, code).await {
            files[3].1.push(with_customer(invoice, code));
        }
    }
    for (kind, values) in &files {
        let file = scratch.file(&format!("{kind}.jsonl"), lines(values));
        let finished = import(&target.db.url, &[kind, file.to_str().expect("path")]);
        assert_eq!(finished.code, 0, "{kind}: {}", finished.stderr);
    }
    for code in codes {
        assert_eq!(
            all_bills(&source, &source_token, code).await,
            all_bills(&target, &target_token, code).await
        );
        let groups = format!("/customers/CLIENT_CODE/{code}/bills/groups");
        assert_eq!(
            source.get(&source.api(&groups), &source_token).await,
            target.get(&target.api(&groups), &target_token).await
        );
    }
    for owned in &subscribers {
        let profile = format!("/customers/{}/profile", owned.msisdn);
        assert_eq!(
            source.get(&source.api(&profile), &source_token).await,
            target.get(&target.api(&profile), &target_token).await
        );
    }
}

/// Every bill of the customer `code`, page by page (pages of 7: past the first 50 bills,
/// pages are read by position).
async fn all_bills(app: &TestApp, token: &str, code: i64) -> Vec<Value> {
    let mut bills = Vec::new();
    loop {
        let url = format!(
            "/customers/CLIENT_CODE/{code}/bills?quantity=7&pageInit={}",
            bills.len()
        );
        let (status, page) = app.get(&app.api(&url), token).await;
        assert_eq!(status, 200, "{page}");
        let page = page["invoice"].as_array().expect("invoices").clone();
        let last = page.len() < 7;
        bills.extend(page);
        if last {
            return bills;
        }
    }
}
