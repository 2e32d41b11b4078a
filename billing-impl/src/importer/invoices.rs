//! Invoices: the contract's `Invoice` exactly as list bills answers it, plus
//! `"customer": {"idType", "id"}`, upserted by (customer, `invoiceNumber`); a changed
//! invoice (a payment update re-exports it) is updated. Its group and subscriber must be
//! the customer's. New invoices that come after a customer's newest carry the positions
//! that follow, which the statement trigger then keeps instead of renumbering the customer
//! (migration 000007).

use billing_api::models;
use chrono::NaiveDate;
use contract_runtime::{WireEnum, WireNames};
use diesel::{ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult};
use serde_json::{Map, Value};

use super::{
    Rejection, fields,
    loader::{Loader, Superseded, Unresolved, Written},
    records::{Cell, Column},
};
use crate::db;

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
        db::invoices::staged_unresolved(conn, from_line)
    }

    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
        db::invoices::staged_superseded(conn)
    }

    fn write(conn: &mut PgConnection, _run_id: i64) -> QueryResult<Written> {
        db::invoices::upsert_staged(conn)
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
