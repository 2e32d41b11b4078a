//! Queries on `invoices`.

use chrono::NaiveDate;
use diesel::{
    PgConnection, QueryResult, connection::DefaultLoadingMode, dsl::AsSelect, pg::Pg, prelude::*,
};

use super::{
    amount::Amount,
    schema::{customers, invoices},
};

/// One invoice, with every column the API shows.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = invoices, check_for_backend(diesel::pg::Pg))]
pub struct InvoiceRow {
    pub invoice_number: String,
    pub billing_group_id: Option<String>,
    pub subscriber_msisdn: Option<i64>,
    pub contract_number: Option<i64>,
    pub invoice_status: String,
    pub bill_date: NaiveDate,
    pub bill_period: Option<String>,
    pub period_start_date: Option<NaiveDate>,
    pub period_end_date: Option<NaiveDate>,
    pub expiration_date: Option<NaiveDate>,
    pub expiration_electronic_date: Option<NaiveDate>,
    pub print_date: Option<NaiveDate>,
    pub payment_date: Option<NaiveDate>,
    pub invoice_amount: Amount,
    pub invoice_balance: Amount,
    pub payment_amount: Option<Amount>,
    pub invoiced_service_count: Option<i32>,
    pub invoice_type: Option<String>,
    pub invoice_serial: Option<String>,
    pub invoice_description: Option<String>,
    pub billing_name: Option<String>,
    pub billing_address: Option<String>,
    pub billplan: Option<String>,
    pub contact_name: Option<String>,
    pub phone: Option<String>,
    pub cai: Option<String>,
    pub dei: Option<String>,
    pub attachment: Option<String>,
}

/// Which of a customer's invoices to list, and which page.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Only this billing group's invoices.
    pub billing_group: Option<String>,
    /// Bill date on or after.
    pub from: Option<NaiveDate>,
    /// Bill date on or before.
    pub to: Option<NaiveDate>,
    pub contract_number: Option<i64>,
    /// Wire value of the invoice status.
    pub status: Option<&'static str>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of the invoices of the customer named `id_type` and `code`, newest bill date
/// first, ties by invoice number; empty when the customer does not exist, too.
///
/// One statement, whatever the filters: the page's invoice numbers are found first, in the
/// `invoices_by_customer` index alone, and only those rows are read, so that a deep
/// offset costs index entries, not rows.
pub fn page(
    conn: &mut PgConnection,
    id_type: &str,
    code: i64,
    filter: &InvoiceFilter,
) -> QueryResult<Vec<InvoiceRow>> {
    // Room for the whole page at once: collecting rows that may fail would grow and copy
    // the vector of these wide rows several times.
    let mut rows = Vec::with_capacity(usize::try_from(filter.limit).unwrap_or_default());
    for row in
        page_query(id_type, code, filter).load_iter::<InvoiceRow, DefaultLoadingMode>(conn)?
    {
        rows.push(row?);
    }
    Ok(rows)
}

/// The statement `page` runs.
pub type PageQuery = invoices::BoxedQuery<'static, Pg, AsSelect<InvoiceRow, Pg>>;

/// The statement of `page`, for it and for the benchmark, which gives PostgreSQL the very
/// statement the server sends.
pub fn page_query(id_type: &str, code: i64, filter: &InvoiceFilter) -> PageQuery {
    let customer = || {
        customers::table
            .filter(customers::id_type.eq(id_type.to_owned()))
            .filter(customers::code.eq(code))
            .select(customers::customer_id)
            .single_value()
    };
    let mut keys = invoices::table
        .filter(invoices::customer_id.nullable().eq(customer()))
        .select(invoices::invoice_number)
        .order((invoices::bill_date.desc(), invoices::invoice_number.desc()))
        .offset(filter.offset)
        .limit(filter.limit)
        .into_boxed();
    if let Some(group) = &filter.billing_group {
        keys = keys.filter(invoices::billing_group_id.eq(group.clone()));
    }
    if let Some(from) = filter.from {
        keys = keys.filter(invoices::bill_date.ge(from));
    }
    if let Some(to) = filter.to {
        keys = keys.filter(invoices::bill_date.le(to));
    }
    if let Some(contract) = filter.contract_number {
        keys = keys.filter(invoices::contract_number.eq(contract));
    }
    if let Some(status) = filter.status {
        keys = keys.filter(invoices::invoice_status.eq(status));
    }
    invoices::table
        .filter(invoices::customer_id.nullable().eq(customer()))
        .filter(invoices::invoice_number.eq_any(keys))
        .order((invoices::bill_date.desc(), invoices::invoice_number.desc()))
        .select(InvoiceRow::as_select())
        .into_boxed()
}
