//! The `billing` tag: `GET /customers/{idType}/{id}/bills` over the demo data set.

use billing_test_support as common;
use common::{TestApp, assert_error_body, numbering_errors, snapshot};
use diesel::{RunQueryDsl, connection::SimpleConnection};
use serde_json::Value;

const BILLS_1001: &str = "/customers/CLIENT_CODE/1001/bills";

fn invoices(body: &Value) -> &Vec<Value> {
    body["invoice"].as_array().expect("an invoice array")
}

fn field<'a>(invoices: &'a [Value], name: &str) -> Vec<&'a str> {
    invoices
        .iter()
        .map(|invoice| invoice[name].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn bills_come_newest_first_with_the_invoice_number_as_tie_break() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(&app.api(&format!("{BILLS_1001}?quantity=100")), &token)
        .await;
    assert_eq!(status, 200, "{body}");
    let invoices = invoices(&body);
    assert_eq!(invoices.len(), 24, "two subscribers, twelve months");
    let keys: Vec<(&str, &str)> = field(invoices, "billDate")
        .into_iter()
        .zip(field(invoices, "invoiceNumber"))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted);
    assert_eq!(
        keys[0].0, keys[1].0,
        "two bills share the newest date, ordered by number"
    );
}

#[tokio::test]
async fn pages_follow_each_other_without_overlap() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (_, all) = app
        .get(&app.api(&format!("{BILLS_1001}?quantity=100")), &token)
        .await;
    let (_, default_page) = app.get(&app.api(BILLS_1001), &token).await;
    assert_eq!(
        invoices(&default_page).len(),
        20,
        "the default page size is 20"
    );
    let (_, first) = app
        .get(
            &app.api(&format!("{BILLS_1001}?pageInit=0&quantity=10")),
            &token,
        )
        .await;
    let (_, second) = app
        .get(
            &app.api(&format!("{BILLS_1001}?pageInit=10&quantity=10")),
            &token,
        )
        .await;
    let (_, last) = app
        .get(
            &app.api(&format!("{BILLS_1001}?pageInit=20&quantity=10")),
            &token,
        )
        .await;
    let paged: Vec<&str> = [&first, &second, &last]
        .iter()
        .flat_map(|page| field(invoices(page), "invoiceNumber"))
        .collect();
    assert_eq!(paged, field(invoices(&all), "invoiceNumber"));
    assert_eq!(invoices(&last).len(), 4);
    let (status, beyond) = app
        .get(&app.api(&format!("{BILLS_1001}?pageInit=500")), &token)
        .await;
    assert_eq!((status, invoices(&beyond).len()), (200, 0));
}

#[tokio::test]
async fn start_and_end_are_inclusive_on_the_bill_date() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(
            &app.api(&format!("{BILLS_1001}?start=20260505&end=20260505")),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        field(invoices(&body), "billDate"),
        ["2026-05-05", "2026-05-05"]
    );

    let (_, body) = app
        .get(
            &app.api(&format!("{BILLS_1001}?start=20260601&quantity=100")),
            &token,
        )
        .await;
    assert!(
        field(invoices(&body), "billDate")
            .iter()
            .all(|date| *date >= "2026-06-01")
    );
    assert_eq!(
        invoices(&body).len(),
        12,
        "June to November, two subscribers"
    );

    let (_, body) = app
        .get(
            &app.api(&format!("{BILLS_1001}?end=20260105&quantity=100")),
            &token,
        )
        .await;
    assert_eq!(
        field(invoices(&body), "billDate"),
        ["2026-01-05", "2026-01-05", "2025-12-05", "2025-12-05"]
    );
}

#[tokio::test]
async fn contract_number_and_status_filter_and_combine() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (_, body) = app
        .get(
            &app.api(&format!("{BILLS_1001}?contractNumber=770001&quantity=100")),
            &token,
        )
        .await;
    assert_eq!(invoices(&body).len(), 12);
    assert!(
        field(invoices(&body), "contract")
            .iter()
            .all(|c| *c == "770001")
    );

    let (_, body) = app
        .get(&app.api(&format!("{BILLS_1001}?status=OPEN")), &token)
        .await;
    assert_eq!(field(invoices(&body), "invoiceStatus"), ["OPEN", "OPEN"]);

    let query = "contractNumber=770002&status=PAID&start=20260301&end=20260630";
    let (_, body) = app
        .get(&app.api(&format!("{BILLS_1001}?{query}")), &token)
        .await;
    assert_eq!(
        field(invoices(&body), "billDate"),
        ["2026-06-05", "2026-05-05", "2026-04-05", "2026-03-05"]
    );

    let (_, body) = app
        .get(
            &app.api("/customers/CLIENT_CODE/1003/bills?status=OVERDUE"),
            &token,
        )
        .await;
    assert_eq!(field(invoices(&body), "invoiceStatus"), ["OVERDUE"]);
}

#[tokio::test]
async fn an_unknown_customer_is_a_404_and_no_match_an_empty_list() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app
        .get(&app.api("/customers/CLIENT_CODE/999/bills"), &token)
        .await;
    assert_eq!(status, 404);
    assert_error_body(&body, 404);
    let (status, body) = app
        .get(&app.api("/customers/OTHER_TYPE/1001/bills"), &token)
        .await;
    assert_eq!(
        status, 404,
        "the idType is part of the customer's name: {body}"
    );
    let (status, body) = app
        .get(&app.api(&format!("{BILLS_1001}?status=CANCELLED")), &token)
        .await;
    assert_eq!((status, invoices(&body).len()), (200, 0));
}

#[tokio::test]
async fn impossible_dates_are_400s_and_a_reversed_range_selects_nothing() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    for query in [
        "start=20260231",
        "end=20261301",
        "start=20260000",
        "start=20250229",
        "end=2026-01-01",
    ] {
        let (status, body) = app
            .get(&app.api(&format!("{BILLS_1001}?{query}")), &token)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_error_body(&body, 400);
    }
    let (status, body) = app
        .get(
            &app.api(&format!("{BILLS_1001}?start=20240229&end=20240229")),
            &token,
        )
        .await;
    assert_eq!(
        (status, invoices(&body).len()),
        (200, 0),
        "a leap day is a date: {body}"
    );
    let (status, body) = app
        .get(
            &app.api(&format!("{BILLS_1001}?start=20260601&end=20260501")),
            &token,
        )
        .await;
    assert_eq!(
        (status, invoices(&body).len()),
        (200, 0),
        "start after end: {body}"
    );
}

#[tokio::test]
async fn amounts_and_dates_are_written_exactly() {
    let app = TestApp::with_demo_data().await;
    let mut conn = app.db.connect();
    conn.batch_execute(
        "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                               invoice_amount, invoice_balance, payment_amount)
         SELECT customer_id, 'EXACT-1', 'PARTIALLY_PAID', DATE '2030-01-31', 1234.56, 0.10, 9999999999999.99
         FROM customers WHERE code = 1001",
    )
    .expect("insert");
    let token = app.token(&["read"]).await;
    let text = app
        .http
        .get(app.api(&format!("{BILLS_1001}?quantity=1")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    for expected in [
        r#""invoiceAmount":1234.56"#,
        r#""invoiceBalace":0.1"#,
        r#""paymentAmount":9999999999999.99"#,
        r#""billDate":"2030-01-31""#,
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    let count: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "count(*) FROM invoices",
    ))
    .get_result(&mut conn)
    .expect("count");
    assert_eq!(count, 49, "the demo's 48 invoices and this one");
}

/// Every invoice number of customer 1001, newest first, read in pages of `quantity`.
async fn paged_numbers(app: &TestApp, token: &str, quantity: usize) -> Vec<String> {
    let mut numbers = Vec::new();
    loop {
        let url = format!(
            "{BILLS_1001}?pageInit={}&quantity={quantity}",
            numbers.len()
        );
        let (status, body) = app.get(&app.api(&url), token).await;
        assert_eq!(status, 200, "{body}");
        let page = field(invoices(&body), "invoiceNumber");
        numbers.extend(page.iter().map(|number| (*number).to_owned()));
        if page.len() < quantity {
            return numbers;
        }
    }
}

/// Customer 1001's invoice numbers, newest first, as the database orders them.
fn numbers_in_order(conn: &mut diesel::PgConnection) -> Vec<String> {
    diesel::sql_query(
        "SELECT invoice_number FROM invoices JOIN customers USING (customer_id)
         WHERE code = 1001 ORDER BY bill_date DESC, invoice_number DESC",
    )
    .load::<Number>(conn)
    .expect("numbers")
    .into_iter()
    .map(|row| row.invoice_number)
    .collect()
}

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::Text)]
    invoice_number: String,
}

#[tokio::test]
async fn deep_pages_keep_the_order_as_invoices_come_go_and_move() {
    let app = TestApp::with_demo_data().await;
    let mut conn = app.db.connect();
    // 150 more bills out of date order, some sharing a date: pages past the first 50 rows
    // are read by position, the first ones by the ordered scan.
    conn.batch_execute(
        "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                               invoice_amount, invoice_balance)
         SELECT customer_id, 'DEEP-' || lpad(i::text, 3, '0'), 'OPEN',
                DATE '2020-01-01' + (i * 37 % 101), 1, 1
         FROM customers, generate_series(1, 150) AS i WHERE code = 1001",
    )
    .expect("insert");
    let token = app.token(&["read"]).await;
    let expected = numbers_in_order(&mut conn);
    assert_eq!(expected.len(), 174);
    assert_eq!(paged_numbers(&app, &token, 7).await, expected);
    assert_eq!(paged_numbers(&app, &token, 100).await, expected);

    // An older bill arrives, one goes, one moves to another date, one is renumbered.
    conn.batch_execute(
        "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                               invoice_amount, invoice_balance)
         SELECT customer_id, 'DEEP-OLD', 'OPEN', DATE '2019-06-30', 1, 1
         FROM customers WHERE code = 1001;
         DELETE FROM invoices WHERE invoice_number = 'DEEP-040';
         UPDATE invoices SET bill_date = DATE '2020-02-15' WHERE invoice_number = 'DEEP-077';
         UPDATE invoices SET invoice_number = 'DEEP-ZZZ' WHERE invoice_number = 'DEEP-100';",
    )
    .expect("change");
    let expected = numbers_in_order(&mut conn);
    assert_eq!(expected.len(), 174);
    assert_eq!(paged_numbers(&app, &token, 7).await, expected);

    assert_eq!(numbering_errors(&mut conn), 0);
    let (status, beyond) = app
        .get(&app.api(&format!("{BILLS_1001}?pageInit=174")), &token)
        .await;
    assert_eq!((status, invoices(&beyond).len()), (200, 0));
}

#[tokio::test]
async fn positions_stay_exact_when_two_transactions_add_bills_of_one_customer_at_once() {
    let app = TestApp::with_demo_data().await;
    let insert = |prefix: &str, day: u32| {
        format!(
            "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                                   invoice_amount, invoice_balance)
             SELECT customer_id, '{prefix}-' || i, 'OPEN', DATE '2021-01-01' + {day} + i, 1, 1
             FROM customers, generate_series(1, 5) AS i WHERE code = 1001"
        )
    };
    // The first adds its bills and holds its transaction open while the second adds its own.
    let mut first = app.db.connect();
    first
        .batch_execute(&format!("BEGIN; {}", insert("FIRST", 0)))
        .expect("first insert");
    let mut second = app.db.connect();
    let second_insert = insert("SECOND", 2);
    let concurrent = std::thread::spawn(move || {
        second
            .batch_execute(&format!("BEGIN; {second_insert}; COMMIT"))
            .expect("second insert");
    });
    // The second waits for the first's lock on the customer's positions: the two overlap.
    let mut watcher = app.db.connect();
    let waiting = |conn: &mut diesel::PgConnection| -> i64 {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "count(*) FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ))
        .get_result(conn)
        .expect("count the lock waits")
    };
    // A bound for a test that would otherwise hang: the second reaches the lock at once.
    let bound = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while waiting(&mut watcher) == 0 {
        assert!(
            std::time::Instant::now() < bound,
            "the second transaction never waited for the first"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.batch_execute("COMMIT").expect("first commit");
    concurrent.join().expect("the second transaction");
    assert_eq!(numbering_errors(&mut app.db.connect()), 0);
}

#[tokio::test]
async fn a_load_of_many_customers_renumbers_them_under_a_bounded_number_of_locks() {
    let app = TestApp::with_demo_data().await;
    let mut conn = app.db.connect();
    // One statement adds a bill to each of 1,000 new customers; the locks it took are
    // counted before its transaction ends and lets them go.
    conn.batch_execute(
        "BEGIN;
         INSERT INTO customers (id_type, code, name)
         SELECT 'CLIENT_CODE', 500000 + n, 'Loaded ' || n FROM generate_series(1, 1000) AS n;
         INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                               invoice_amount, invoice_balance)
         SELECT customer_id, 'LOAD-' || code, 'OPEN', DATE '2026-01-01', 1, 1
         FROM customers WHERE code > 500000;",
    )
    .expect("load");
    let locks: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    ))
    .get_result(&mut conn)
    .expect("locks");
    conn.batch_execute("COMMIT").expect("commit");
    assert!((1..=64).contains(&locks), "{locks} advisory locks");
    assert_eq!(numbering_errors(&mut conn), 0);
}

#[tokio::test]
async fn a_customer_deleted_after_its_bills_were_listed_is_a_404() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app.get(&app.api(BILLS_1001), &token).await;
    assert_eq!((status, invoices(&body).len()), (200, 20), "{body}");

    let mut conn = app.db.connect();
    conn.batch_execute("DELETE FROM customers WHERE id_type = 'CLIENT_CODE' AND code = 1001")
        .expect("delete");
    let (status, body) = app.get(&app.api(BILLS_1001), &token).await;
    assert_eq!(status, 404, "a deleted customer is not served: {body}");
    assert_error_body(&body, 404);
}

#[tokio::test]
async fn a_customer_created_again_under_its_name_shows_its_new_bills() {
    let app = TestApp::with_demo_data().await;
    let token = app.token(&["read"]).await;
    let (status, body) = app.get(&app.api(BILLS_1001), &token).await;
    assert_eq!((status, invoices(&body).len()), (200, 20), "{body}");

    // The same name, a new key.
    let mut conn = app.db.connect();
    conn.batch_execute(
        "DELETE FROM customers WHERE id_type = 'CLIENT_CODE' AND code = 1001;
         INSERT INTO customers (id_type, code, name) VALUES ('CLIENT_CODE', 1001, 'New owner');
         INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                               invoice_amount, invoice_balance)
         SELECT customer_id, 'NEW-' || i, 'OPEN', DATE '2026-01-01' + i, 1, 1
         FROM customers, generate_series(1, 3) AS i WHERE id_type = 'CLIENT_CODE' AND code = 1001",
    )
    .expect("create again");
    let (status, body) = app.get(&app.api(BILLS_1001), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        field(invoices(&body), "invoiceNumber"),
        ["NEW-3", "NEW-2", "NEW-1"],
        "the bills of the customer the name now belongs to"
    );
}

#[tokio::test]
async fn bills_that_carry_the_next_positions_keep_them_and_any_other_claim_is_renumbered() {
    let app = TestApp::with_demo_data().await;
    let mut conn = app.db.connect();
    // Customer 1001 has 24 bills, the newest of 2026-11-05.
    let insert = |rows: &str| {
        format!(
            "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                                   invoice_amount, invoice_balance, customer_position)
             SELECT customer_id, number, 'OPEN', day::date, 1, 1, position
             FROM customers, (VALUES {rows}) AS new (number, day, position)
             WHERE code = 1001"
        )
    };
    for (claim, rows) in [
        (
            "the next positions, in order",
            "('N-1', '2026-12-01', 25), ('N-2', '2026-12-02', 26), ('N-3', '2026-12-02', 27)",
        ),
        ("a gap", "('G-1', '2027-01-01', 40)"),
        (
            "a place taken",
            "('T-1', '2027-02-01', 28), ('T-2', '2027-02-02', 28)",
        ),
        (
            "out of order",
            "('O-1', '2027-03-02', 31), ('O-2', '2027-03-01', 32)",
        ),
        ("older than the newest", "('E-1', '2019-01-01', 33)"),
        ("no position", "('U-1', '2027-04-01', NULL::bigint)"),
    ] {
        conn.batch_execute(&insert(rows)).expect(claim);
        assert_eq!(numbering_errors(&mut conn), 0, "{claim}");
    }
}

/// A bill of customer `code`, billed on `date` with `status`, as SQL.
fn new_bill(code: i64, number: &str, status: &str, date: &str) -> String {
    format!(
        "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                               invoice_amount, invoice_balance)
         SELECT customer_id, '{number}', '{status}', DATE '{date}', 1, 1
         FROM customers WHERE code = {code}"
    )
}

/// Asserts that the page at `path`, asked for while a bill is committed, describes one
/// state, with `customers` locked (which a page reading its rows first waits for last)
/// and with `invoices` locked (the other way round).
async fn a_page_across_a_commit_is_one_state(path: &str, change: &str) {
    for table in ["customers", "invoices"] {
        let app = TestApp::with_demo_data().await;
        snapshot::assert_one_state_across_a_commit(&app, &app.api(path), table, change).await;
    }
}

#[tokio::test]
async fn a_filtered_page_its_count_and_its_tag_come_from_one_snapshot() {
    a_page_across_a_commit_is_one_state(
        &format!("{BILLS_1001}?status=PAID"),
        &new_bill(1001, "RACE-1", "PAID", "2031-01-01"),
    )
    .await;
}

#[tokio::test]
async fn an_empty_page_its_count_and_its_tag_come_from_one_snapshot() {
    a_page_across_a_commit_is_one_state(
        &format!("{BILLS_1001}?status=OVERDUE&start=20310101"),
        &new_bill(1001, "RACE-1", "OVERDUE", "2031-01-01"),
    )
    .await;
}

#[tokio::test]
async fn a_page_without_filters_its_count_and_its_tag_come_from_one_snapshot() {
    a_page_across_a_commit_is_one_state(
        &format!("{BILLS_1001}?quantity=100"),
        &new_bill(1001, "RACE-1", "OPEN", "2031-01-01"),
    )
    .await;
}

#[tokio::test]
async fn a_deep_page_its_count_and_its_tag_come_from_one_snapshot() {
    // Past the 50th bill a page is read by position; an older bill renumbers them all.
    let more_bills = "INSERT INTO invoices (customer_id, invoice_number, invoice_status, bill_date,
                                            invoice_amount, invoice_balance)
                      SELECT customer_id, 'MORE-' || lpad(i::text, 3, '0'), 'OPEN',
                             DATE '2010-01-01' + i, 1, 1
                      FROM customers, generate_series(1, 60) AS i WHERE code = 1001";
    for table in ["customers", "invoices"] {
        let app = TestApp::with_demo_data().await;
        app.db
            .connect()
            .batch_execute(more_bills)
            .expect("more bills");
        let url = app.api(&format!("{BILLS_1001}?pageInit=60&quantity=30"));
        snapshot::assert_one_state_across_a_commit(
            &app,
            &url,
            table,
            &new_bill(1001, "RACE-1", "OPEN", "2000-01-01"),
        )
        .await;
    }
}
