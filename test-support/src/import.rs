//! What the tests of `billing import` share: records in the contract's shapes, the
//! command run through the binary, and what it left in the database and beside its input.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use diesel::{PgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::{
    Scratch,
    process::{Finished, billing, billing_binary},
};

/// One invoice, exactly as list bills answers it, of customer CLIENT_CODE 1001's
/// subscriber 50499001001 in its group HQ.
pub fn full_invoice(number: &str, balance: f64) -> Value {
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
pub fn with_customer(mut invoice: Value, code: i64) -> Value {
    invoice["customer"] = json!({"idType": "CLIENT_CODE", "id": code});
    invoice
}

/// `values` as JSON Lines.
pub fn lines(values: &[Value]) -> String {
    values.iter().map(|value| format!("{value}\n")).collect()
}

/// Runs `billing import` with `args` over `url`, to its end.
pub fn import(url: &str, args: &[&str]) -> Finished {
    let mut command = vec!["import"];
    command.extend_from_slice(args);
    billing(url, &command, b"")
}

/// How many rows `from` (a table, and maybe a `WHERE`) has.
pub fn count(conn: &mut PgConnection, from: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
        "count(*) FROM {from}"
    )))
    .get_result(conn)
    .expect("count")
}

/// Every row the API serves from, as one text, for comparing two databases.
pub fn everything(conn: &mut PgConnection) -> String {
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

/// The one summary line a load of one file prints.
pub fn summary(finished: &Finished) -> Value {
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

/// A bill run of `customers` × `per_customer` minimal invoices, as JSON Lines.
pub fn bill_run(first_code: i64, customers: i64, per_customer: i64) -> String {
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

/// A customers file of `customers` customers from `first_code` on.
pub fn customers_file(scratch: &Scratch, first_code: i64, customers: i64) -> PathBuf {
    let lines: String = (first_code..first_code + customers)
        .map(|code| {
            format!("{{\"idType\": \"CLIENT_CODE\", \"id\": {code}, \"name\": \"C{code}\"}}\n")
        })
        .collect();
    scratch.file("customers.jsonl", lines)
}

/// Starts `billing import` over `url` and kills it (SIGKILL) once a batch has committed.
pub fn kill_mid_run(url: &str, args: &[&str]) {
    let mut child = Command::new(billing_binary())
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

/// `path` as the command line takes it.
pub fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The rejects file at `file`, each line parsed.
pub fn rejects_of(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .expect("a rejects file")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}
