//! Invoices: the contract's `Invoice` exactly as list bills answers it, plus
//! `"customer": {"idType", "id"}`, upserted by (customer, `invoiceNumber`); a changed
//! invoice (a payment update re-exports it) is updated. Its group and subscriber must be
//! the customer's. New invoices that come after a customer's newest carry the positions
//! that follow, which the statement trigger then keeps instead of renumbering the customer
//! (migration 000007). Its staging table, with every column it writes, is
//! `db::invoices::staging`, from which the statements there take their columns.

use billing_api::models;
use contract_runtime::{WireEnum, WireNames};
use diesel::{ExecuteCopyFromDsl, PgConnection, QueryResult};
use serde_json::{Map, Value};

use super::{
    Rejection, fields,
    loader::{Loader, Superseded, Unresolved, Written},
    records::{Cell, Column},
};
use crate::db::{
    self,
    invoices::staging::{Row, STAGING, TABLE, import_invoices},
};

/// The longest invoice number (the key of the invoice, indexed).
const NUMBER_CHARACTERS: usize = 100;
/// The longest text of any other property.
const TEXT_CHARACTERS: usize = 2_000;

/// The invoices kind.
pub struct Invoices;

impl Loader for Invoices {
    type Row = Row;
    const COLUMNS: &'static [Column] = &[
        Column::required("customer.idType", Cell::Text),
        Column::required("customer.id", Cell::Integer),
        Column::required("invoiceNumber", Cell::Text),
        Column::required("billDate", Cell::Text),
        Column::required("invoiceAmount", Cell::Money),
        Column::required("invoiceBalace", Cell::Money),
        Column::required("invoiceStatus", Cell::Text),
        Column::optional("billingGroup.id", Cell::Text),
        Column::optional("billingGroup.idType", Cell::Text),
        Column::optional("subscriber.id", Cell::Text),
        Column::optional("subscriber.idType", Cell::Text),
        Column::optional("contract", Cell::Text),
        Column::optional("attachment", Cell::Text),
        Column::optional("billPeriod", Cell::Text),
        Column::optional("billingAddress", Cell::Text),
        Column::optional("billingName", Cell::Text),
        Column::optional("billplan", Cell::Text),
        Column::optional("cai", Cell::Text),
        Column::optional("contactName", Cell::Text),
        Column::optional("dei", Cell::Text),
        Column::optional("expirationDate", Cell::Text),
        Column::optional("expirationElectronicDate", Cell::Text),
        Column::optional("invoiceDescription", Cell::Text),
        Column::optional("invoiceSerial", Cell::Text),
        Column::optional("invoiceType", Cell::Text),
        Column::optional("invoicedServiceCount", Cell::Integer),
        Column::optional("paymentAmount", Cell::Money),
        Column::optional("paymentDate", Cell::Text),
        Column::optional("periodEndDate", Cell::Text),
        Column::optional("periodStartDate", Cell::Text),
        Column::optional("printDate", Cell::Text),
        Column::optional("phone", Cell::Text),
    ];
    const TABLE: &'static str = TABLE;
    const STAGING: &'static str = STAGING;

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

    fn write(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
        db::invoices::upsert_staged(conn, run_id)
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
