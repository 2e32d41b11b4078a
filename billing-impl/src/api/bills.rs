//! Listing bills, for both operations that do: the customer's bills (`billing` tag) and
//! one group's (`billingGroup` tag) take the same query parameters and answer the same
//! page; the database side is `db::invoices::list`.

use billing_api::models;
use chrono::NaiveDate;
use contract_runtime::WireEnum;

use super::{Authenticated, BillingService};
use crate::{
    db::{
        self,
        amount::Amount,
        invoices::{InvoiceFilter, InvoiceRow, Listing},
    },
    error::ApiError,
};

/// The query parameters of both bill listings (the spec's `x-same-query-params-as`).
pub(super) type BillQuery = models::FindCustomerBillsByClientCodeQueryParams;

impl BillingService {
    /// A page of the bills of the customer `id_type`/`id`, of its group `group` when one is
    /// named, as `query` asks for them; a 404 for a customer the caller does not serve, an
    /// unknown customer, or an unknown group.
    pub(super) async fn list_bills(
        &self,
        caller: &Authenticated,
        id_type: String,
        id: i64,
        group: Option<String>,
        query: BillQuery,
    ) -> Result<models::BillCollection, ApiError> {
        let customer = caller.customer(id_type, id)?;
        let filter = filter(query, group)?;
        let keys = self.customer_keys.clone();
        let rows = self
            .reads
            .read(&caller.client.client_id, move |conn| {
                let listing =
                    db::invoices::list(conn, &keys, &customer.id_type, customer.code, &filter)?;
                match listing {
                    Listing::Page(rows) => Ok(rows),
                    Listing::NoCustomer => Err(customer.not_found()),
                    Listing::NoGroup => Err(super::billing_group::no_group(
                        filter.billing_group.as_deref().unwrap_or_default(),
                    )),
                }
            })
            .await?;
        bill_collection(rows)
    }
}

/// The database filter of `query`, on the group `billing_group` when one is named. A
/// `start` after `end` is an empty range: it selects no bill.
fn filter(query: BillQuery, billing_group: Option<String>) -> Result<InvoiceFilter, ApiError> {
    let BillQuery {
        page_init,
        quantity,
        start,
        end,
        contract_number,
        status,
    } = query;
    Ok(InvoiceFilter {
        billing_group,
        from: start
            .as_deref()
            .map(|value| calendar_date("start", value))
            .transpose()?,
        to: end
            .as_deref()
            .map(|value| calendar_date("end", value))
            .transpose()?,
        contract_number,
        status: status.map(|status| status.as_str()),
        offset: i64::from(page_init),
        limit: i64::from(quantity),
    })
}

/// A `YYYYMMDD` date. The spec's pattern admits calendar dates only; this is its second line.
fn calendar_date(name: &str, value: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|_| {
        ApiError::BadRequest(format!(
            "query parameter `{name}` is not a calendar date YYYYMMDD"
        ))
    })
}

/// A page of invoice rows as the contract's `BillCollection`.
fn bill_collection(rows: Vec<InvoiceRow>) -> Result<models::BillCollection, ApiError> {
    let invoice = rows.into_iter().map(invoice).collect::<Result<_, _>>()?;
    Ok(models::BillCollection { invoice })
}

fn invoice(row: InvoiceRow) -> Result<models::Invoice, ApiError> {
    let invoice_status = row.invoice_status.parse().map_err(|error| {
        ApiError::Internal(format!("invoice {}: status {error}", row.invoice_number))
    })?;
    Ok(models::Invoice {
        billing_group: row.billing_group_id.map(|id| models::IdentifierRef {
            id,
            id_type: "GROUP_ID".to_owned(),
        }),
        attachment: row.attachment,
        bill_date: row.bill_date,
        bill_period: row.bill_period,
        billing_address: row.billing_address,
        billing_name: row.billing_name,
        billplan: row.billplan,
        cai: row.cai,
        subscriber: row.subscriber_msisdn.map(|msisdn| models::IdentifierRef {
            id: msisdn.to_string(),
            id_type: "MSISDN".to_owned(),
        }),
        contact_name: row.contact_name,
        contract: row.contract_number.map(|number| number.to_string()),
        dei: row.dei,
        expiration_date: row.expiration_date,
        expiration_electronic_date: row.expiration_electronic_date,
        invoice_amount: row.invoice_amount.to_f64(),
        invoice_balace: row.invoice_balance.to_f64(),
        invoice_description: row.invoice_description,
        invoice_number: row.invoice_number,
        invoice_serial: row.invoice_serial,
        invoice_status,
        invoice_type: row.invoice_type,
        invoiced_service_count: row
            .invoiced_service_count
            .map(|count| {
                u32::try_from(count)
                    .map_err(|_| ApiError::Internal(format!("negative service count {count}")))
            })
            .transpose()?,
        payment_amount: row.payment_amount.map(Amount::to_f64),
        payment_date: row.payment_date,
        period_end_date: row.period_end_date,
        period_start_date: row.period_start_date,
        print_date: row.print_date,
        phone: row.phone,
    })
}
