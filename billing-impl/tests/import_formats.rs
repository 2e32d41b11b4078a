//! `billing import` reading the contract's own shapes, run through the binary: each kind in
//! both formats, an invoice answered exactly as it was written, gzip and standard input,
//! and what the API answers loaded back into an empty database.

use billing_test_support as common;
use std::io::Write;

use common::{
    Scratch, TestApp, TestDb,
    import::{count, everything, full_invoice, import, lines, summary, with_customer},
    numbering_errors,
    process::billing,
};
use diesel::RunQueryDsl;
use serde_json::{Value, json};

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
