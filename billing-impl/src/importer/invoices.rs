//! Invoices: the contract's `Invoice` exactly as list bills answers it, plus
//! `"customer": {"idType", "id"}`, upserted by (customer, `invoiceNumber`); a changed
//! invoice (a payment update re-exports it) is updated. Its group and subscriber must be
//! the customer's. New invoices that come after a customer's newest carry the positions
//! that follow, which the statement trigger then keeps instead of renumbering the customer
//! (migration 000007).

use std::sync::LazyLock;

use billing_api::models;
use chrono::NaiveDate;
use contract_runtime::{WireEnum, WireNames};
use diesel::{
    ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult, RunQueryDsl, sql_types::BigInt,
};
use serde_json::{Map, Value};

use super::{
    Rejection,
    batch::{Loader, Superseded, Unresolved, Written},
    fields,
    records::{Cell, Column},
};

diesel::table! {
    import_invoices (line) {
        line -> Int8,
        id_type -> Text,
        code -> Int8,
        invoice_number -> Text,
        billing_group_id -> Nullable<Text>,
        subscriber_msisdn -> Nullable<Int8>,
        contract_number -> Nullable<Int8>,
        invoice_status -> Text,
        bill_date -> Date,
        bill_period -> Nullable<Text>,
        period_start_date -> Nullable<Date>,
        period_end_date -> Nullable<Date>,
        expiration_date -> Nullable<Date>,
        expiration_electronic_date -> Nullable<Date>,
        print_date -> Nullable<Date>,
        payment_date -> Nullable<Date>,
        invoice_amount_cents -> Int8,
        invoice_balance_cents -> Int8,
        payment_amount_cents -> Nullable<Int8>,
        invoiced_service_count -> Nullable<Int4>,
        invoice_type -> Nullable<Text>,
        invoice_serial -> Nullable<Text>,
        invoice_description -> Nullable<Text>,
        billing_name -> Nullable<Text>,
        billing_address -> Nullable<Text>,
        billplan -> Nullable<Text>,
        contact_name -> Nullable<Text>,
        phone -> Nullable<Text>,
        cai -> Nullable<Text>,
        dei -> Nullable<Text>,
        attachment -> Nullable<Text>,
    }
}

/// An invoice, staged: amounts in whole cents.
#[derive(Insertable)]
#[diesel(table_name = import_invoices, treat_none_as_default_value = false)]
pub struct Row {
    line: i64,
    id_type: String,
    code: i64,
    invoice_number: String,
    billing_group_id: Option<String>,
    subscriber_msisdn: Option<i64>,
    contract_number: Option<i64>,
    invoice_status: String,
    bill_date: NaiveDate,
    bill_period: Option<String>,
    period_start_date: Option<NaiveDate>,
    period_end_date: Option<NaiveDate>,
    expiration_date: Option<NaiveDate>,
    expiration_electronic_date: Option<NaiveDate>,
    print_date: Option<NaiveDate>,
    payment_date: Option<NaiveDate>,
    invoice_amount_cents: i64,
    invoice_balance_cents: i64,
    payment_amount_cents: Option<i64>,
    invoiced_service_count: Option<i32>,
    invoice_type: Option<String>,
    invoice_serial: Option<String>,
    invoice_description: Option<String>,
    billing_name: Option<String>,
    billing_address: Option<String>,
    billplan: Option<String>,
    contact_name: Option<String>,
    phone: Option<String>,
    cai: Option<String>,
    dei: Option<String>,
    attachment: Option<String>,
}

/// The longest invoice number (the key of the invoice, indexed).
const NUMBER_CHARACTERS: usize = 100;
/// The longest text of any other property.
const TEXT_CHARACTERS: usize = 2_000;

/// The columns of `invoices` an import writes beside the key, in the staging table's order
/// (where the amounts are whole cents, `<name>_cents`).
const CONTENT: [&str; 27] = [
    "billing_group_id",
    "subscriber_msisdn",
    "contract_number",
    "invoice_status",
    "bill_date",
    "bill_period",
    "period_start_date",
    "period_end_date",
    "expiration_date",
    "expiration_electronic_date",
    "print_date",
    "payment_date",
    "invoice_amount",
    "invoice_balance",
    "payment_amount",
    "invoiced_service_count",
    "invoice_type",
    "invoice_serial",
    "invoice_description",
    "billing_name",
    "billing_address",
    "billplan",
    "contact_name",
    "phone",
    "cai",
    "dei",
    "attachment",
];

/// Whether `column` is an amount, staged in cents.
fn is_amount(column: &str) -> bool {
    column.ends_with("_amount") || column == "invoice_balance"
}

/// `CONTENT`, each as `prefix` and `column` makes it, comma-separated.
fn content(each: impl Fn(&str) -> String) -> String {
    CONTENT
        .iter()
        .map(|column| each(column))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The staged columns of `CONTENT` of the staging row `alias`.
fn staged(alias: &str) -> String {
    content(|column| match is_amount(column) {
        true => format!("{alias}.{column}_cents"),
        false => format!("{alias}.{column}"),
    })
}

static SUPERSEDED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "DELETE FROM import_invoices AS s
         USING (SELECT DISTINCT ON (id_type, code, invoice_number) *
                FROM import_invoices ORDER BY id_type, code, invoice_number, line DESC) AS w
         WHERE w.id_type = s.id_type AND w.code = s.code AND w.invoice_number = s.invoice_number
           AND w.line > s.line
         RETURNING ({}) IS NOT DISTINCT FROM ({}) AS same",
        staged("s"),
        staged("w")
    )
});

static WRITE: LazyLock<String> = LazyLock::new(|| {
    let converted = content(|column| match is_amount(column) {
        true => format!("(s.{column}_cents::numeric / 100)::numeric(15, 2) AS {column}"),
        false => format!("s.{column}"),
    });
    let of = |alias: &str| content(|column| format!("{alias}.{column}"));
    let set = content(|column| format!("{column} = EXCLUDED.{column}"));
    format!(
        "WITH converted AS (
             SELECT c.customer_id, s.invoice_number, {converted}
             FROM import_invoices AS s
             JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
         ), staged AS (
             SELECT s.*, i.customer_id IS NULL AS new
             FROM converted AS s
             LEFT JOIN invoices AS i
                 ON i.customer_id = s.customer_id AND i.invoice_number = s.invoice_number
             WHERE i.customer_id IS NULL OR ({stored}) IS DISTINCT FROM ({incoming})
         ), newest AS (
             SELECT n.customer_id, p.customer_position, p.bill_date, p.invoice_number
             FROM (SELECT DISTINCT customer_id FROM staged WHERE new) AS n
             LEFT JOIN LATERAL (
                 SELECT i.customer_position, i.bill_date, i.invoice_number
                 FROM invoices AS i
                 WHERE i.customer_id = n.customer_id AND i.customer_position IS NOT NULL
                 ORDER BY i.customer_position DESC LIMIT 1) AS p ON true
         ), written AS (
             INSERT INTO invoices (customer_id, invoice_number, {columns}, customer_position)
             SELECT s.customer_id, s.invoice_number, {incoming},
                    CASE WHEN s.new AND (p.customer_position IS NULL
                                         OR (s.bill_date, s.invoice_number)
                                            > (p.bill_date, p.invoice_number))
                         THEN coalesce(p.customer_position, 0)
                              + row_number() OVER (PARTITION BY s.customer_id, s.new
                                                   ORDER BY s.bill_date, s.invoice_number)
                    END
             FROM staged AS s
             LEFT JOIN newest AS p ON p.customer_id = s.customer_id
             ORDER BY s.customer_id, s.invoice_number
             ON CONFLICT (customer_id, invoice_number) DO UPDATE SET {set}
                 WHERE ({current}) IS DISTINCT FROM ({excluded})
             RETURNING xmax = 0 AS inserted
         )
         SELECT count(*) FILTER (WHERE inserted) AS inserted,
                count(*) FILTER (WHERE NOT inserted) AS updated
         FROM written",
        columns = CONTENT.join(", "),
        stored = of("i"),
        incoming = of("s"),
        current = of("invoices"),
        excluded = of("EXCLUDED"),
    )
});

/// The invoices kind.
pub struct Invoices;

impl Loader for Invoices {
    type Row = Row;
    const COLUMNS: &'static [Column] = &[
        Column {
            name: "customer.idType",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "customer.id",
            cell: Cell::Integer,
            required: true,
        },
        Column {
            name: "invoiceNumber",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "billDate",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "invoiceAmount",
            cell: Cell::Number,
            required: true,
        },
        Column {
            name: "invoiceBalace",
            cell: Cell::Number,
            required: true,
        },
        Column {
            name: "invoiceStatus",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "billingGroup.id",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "billingGroup.idType",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "subscriber.id",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "subscriber.idType",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "contract",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "attachment",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "billPeriod",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "billingAddress",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "billingName",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "billplan",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "cai",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "contactName",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "dei",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "expirationDate",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "expirationElectronicDate",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "invoiceDescription",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "invoiceSerial",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "invoiceType",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "invoicedServiceCount",
            cell: Cell::Integer,
            required: false,
        },
        Column {
            name: "paymentAmount",
            cell: Cell::Number,
            required: false,
        },
        Column {
            name: "paymentDate",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "periodEndDate",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "periodStartDate",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "printDate",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "phone",
            cell: Cell::Text,
            required: false,
        },
    ];
    const TABLE: &'static str = "import_invoices";
    const STAGING: &'static str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_invoices (
        line BIGINT NOT NULL, id_type TEXT NOT NULL, code BIGINT NOT NULL,
        invoice_number TEXT NOT NULL, billing_group_id TEXT, subscriber_msisdn BIGINT,
        contract_number BIGINT, invoice_status TEXT NOT NULL, bill_date DATE NOT NULL,
        bill_period TEXT, period_start_date DATE, period_end_date DATE, expiration_date DATE,
        expiration_electronic_date DATE, print_date DATE, payment_date DATE,
        invoice_amount_cents BIGINT NOT NULL, invoice_balance_cents BIGINT NOT NULL,
        payment_amount_cents BIGINT, invoiced_service_count INTEGER, invoice_type TEXT,
        invoice_serial TEXT, invoice_description TEXT, billing_name TEXT, billing_address TEXT,
        billplan TEXT, contact_name TEXT, phone TEXT, cai TEXT, dei TEXT, attachment TEXT)";

    fn row(line: i64, mut object: Map<String, Value>) -> Result<Row, Rejection> {
        let (id_type, code) = fields::owner(&mut object)?;
        let invoice = fields::valid(fields::read::<models::Invoice>("", object)?, |field| {
            models::Invoice::wire_name(field).to_owned()
        })?;
        row_of(line, id_type, code, invoice)
    }

    fn stage(conn: &mut PgConnection, rows: &[Row]) -> QueryResult<usize> {
        diesel::copy_from(import_invoices::table)
            .from_insertable(rows)
            .execute(conn)
    }

    fn unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>> {
        diesel::sql_query(
            "WITH checked AS (
                 SELECT s.line,
                        CASE WHEN c.customer_id IS NULL THEN 1
                             WHEN s.billing_group_id IS NOT NULL AND NOT EXISTS (
                                  SELECT 1 FROM billing_groups AS g
                                  WHERE g.customer_id = c.customer_id
                                    AND g.group_id = s.billing_group_id) THEN 2
                             WHEN s.subscriber_msisdn IS NOT NULL AND NOT EXISTS (
                                  SELECT 1 FROM subscribers AS b
                                  WHERE b.customer_id = c.customer_id
                                    AND b.msisdn = s.subscriber_msisdn) THEN 3
                        END AS problem
                 FROM import_invoices AS s
                 LEFT JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
                 WHERE s.line >= $1
             )
             DELETE FROM import_invoices AS s
             USING checked AS k
             WHERE k.line = s.line AND k.problem IS NOT NULL
             RETURNING s.line,
                 CASE k.problem
                     WHEN 1 THEN format('no customer %s:%s', s.id_type, s.code)
                     WHEN 2 THEN format('the customer has no billing group `%s`', s.billing_group_id)
                     ELSE format('the customer has no subscriber %s', s.subscriber_msisdn)
                 END AS reason,
                 CASE k.problem WHEN 1 THEN 'customer' WHEN 2 THEN 'billingGroup.id'
                                ELSE 'subscriber.id' END AS field",
        )
        .bind::<BigInt, _>(from_line)
        .load(conn)
    }

    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
        diesel::sql_query(SUPERSEDED.as_str()).load(conn)
    }

    fn write(conn: &mut PgConnection, _run_id: i64) -> QueryResult<Written> {
        diesel::sql_query(WRITE.as_str()).get_result(conn)
    }
}

/// The staged row of `invoice`, of the customer `id_type`/`code`, with the rules the
/// contract's schema leaves to the database.
fn row_of(
    line: i64,
    id_type: String,
    code: i64,
    invoice: models::Invoice,
) -> Result<Row, Rejection> {
    let models::Invoice {
        billing_group,
        attachment,
        bill_date,
        bill_period,
        billing_address,
        billing_name,
        billplan,
        cai,
        subscriber,
        contact_name,
        contract,
        dei,
        expiration_date,
        expiration_electronic_date,
        invoice_amount,
        invoice_balace,
        invoice_description,
        invoice_number,
        invoice_serial,
        invoice_status,
        invoice_type,
        invoiced_service_count,
        payment_amount,
        payment_date,
        period_end_date,
        period_start_date,
        print_date,
        phone,
    } = invoice;
    if invoice_number.is_empty() {
        return Err(Rejection::at("invoiceNumber", "is empty"));
    }
    fields::text("invoiceNumber", &invoice_number, NUMBER_CHARACTERS)?;
    for (field, value) in [
        ("attachment", &attachment),
        ("billPeriod", &bill_period),
        ("billingAddress", &billing_address),
        ("billingName", &billing_name),
        ("billplan", &billplan),
        ("cai", &cai),
        ("contactName", &contact_name),
        ("dei", &dei),
        ("invoiceDescription", &invoice_description),
        ("invoiceSerial", &invoice_serial),
        ("invoiceType", &invoice_type),
        ("phone", &phone),
    ] {
        fields::optional_text(field, value.as_deref(), TEXT_CHARACTERS)?;
    }
    Ok(Row {
        line,
        billing_group_id: billing_group
            .map(|group| group_of(&id_type, code, group))
            .transpose()?,
        subscriber_msisdn: subscriber.map(subscriber_of).transpose()?,
        id_type,
        code,
        invoice_number,
        contract_number: contract
            .as_deref()
            .map(|contract| fields::digits("contract", contract))
            .transpose()?,
        invoice_status: invoice_status.as_str().to_owned(),
        bill_date,
        bill_period,
        period_start_date,
        period_end_date,
        expiration_date,
        expiration_electronic_date,
        print_date,
        payment_date,
        invoice_amount_cents: fields::cents("invoiceAmount", invoice_amount)?,
        invoice_balance_cents: fields::cents("invoiceBalace", invoice_balace)?,
        payment_amount_cents: payment_amount
            .map(|amount| fields::cents("paymentAmount", amount))
            .transpose()?,
        invoiced_service_count: invoiced_service_count
            .map(|count| {
                i32::try_from(count)
                    .map_err(|_| Rejection::at("invoicedServiceCount", "is beyond 2147483647"))
            })
            .transpose()?,
        invoice_type,
        invoice_serial,
        invoice_description,
        billing_name,
        billing_address,
        billplan,
        contact_name,
        phone,
        cai,
        dei,
        attachment,
    })
}

/// The group an invoice names (`{"id", "idType": "GROUP_ID"}`), checked as the API's
/// paths check a group of the customer `id_type`/`code`.
fn group_of(id_type: &str, code: i64, group: models::IdentifierRef) -> Result<String, Rejection> {
    let models::IdentifierRef {
        id,
        id_type: reference,
    } = group;
    if reference != "GROUP_ID" {
        return Err(Rejection::at("billingGroup.idType", "is not GROUP_ID"));
    }
    let models::DeleteBillingGroupPathParams { group_id, .. } = fields::valid(
        models::DeleteBillingGroupPathParams {
            id: code,
            id_type: id_type.to_owned(),
            group_id: id,
        },
        |_| "billingGroup.id".to_owned(),
    )?;
    Ok(group_id)
}

/// The subscriber an invoice names (`{"id", "idType": "MSISDN"}`), checked as the
/// profile's path checks an MSISDN.
fn subscriber_of(subscriber: models::IdentifierRef) -> Result<i64, Rejection> {
    let models::IdentifierRef { id, id_type } = subscriber;
    if id_type != "MSISDN" {
        return Err(Rejection::at("subscriber.idType", "is not MSISDN"));
    }
    fields::msisdn("subscriber.id", fields::digits("subscriber.id", &id)?)
}
