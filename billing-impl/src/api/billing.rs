//! The `billing` tag: a customer's bills.

use std::sync::Arc;

use billing_api::{
    apis::billing::{Billing, FindCustomerBillsByClientCodeResponse},
    models,
};

use super::{Authenticated, BillQuery, BillingService};
use crate::{
    db::{amount::Amount, invoices::InvoiceRow},
    error::ApiError,
};

impl Billing for BillingService {
    async fn find_customer_bills_by_client_code(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::FindCustomerBillsByClientCodePathParams,
        query_params: models::FindCustomerBillsByClientCodeQueryParams,
    ) -> Result<FindCustomerBillsByClientCodeResponse, ApiError> {
        let models::FindCustomerBillsByClientCodePathParams { id, id_type } = path_params;
        let models::FindCustomerBillsByClientCodeQueryParams {
            page_init,
            quantity,
            start,
            end,
            contract_number,
            status,
        } = query_params;
        let customer = caller.customer(id_type, id)?;
        let filter = BillQuery {
            page_init,
            quantity,
            start,
            end,
            contract_number,
            status,
        }
        .into_filter(None)?;
        let keys = self.customer_keys.clone();
        let (_, rows) = self
            .reads
            .read(&caller.client.client_id, move |conn| {
                customer.bills(conn, &keys, &filter)
            })
            .await?;
        Ok(FindCustomerBillsByClientCodeResponse::Ok(bill_collection(
            rows,
        )?))
    }
}

/// A page of invoice rows as the contract's `BillCollection`.
pub(super) fn bill_collection(rows: Vec<InvoiceRow>) -> Result<models::BillCollection, ApiError> {
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
