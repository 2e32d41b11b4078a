//! Listing bills, for both operations that do: the customer's bills (`billing` tag) and
//! one group's (`billingGroup` tag) take the same query parameters and answer the same
//! page, with the same headers; the database side is `db::invoices::list`.

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
    http::conditional::{self, Answer, IfNoneMatch},
};

/// The query parameters of both bill listings (the spec's `x-same-query-params-as`).
pub(super) type BillQuery = models::FindCustomerBillsByClientCodeQueryParams;

/// A page of bills as both listings answer it: its bills, its links to the other pages,
/// and how many bills match (its tag comes with it, in `Answer`).
pub(super) struct BillsPage {
    pub bills: models::BillCollection,
    pub link: String,
    pub total: i64,
}

impl BillingService {
    /// A page of the bills of the customer `id_type`/`id`, of its group `group` when one is
    /// named, as `query` asks for them; a 404 for a customer the caller does not serve, an
    /// unknown customer, or an unknown group. The page's tag is keyed by the customer, its
    /// version and the page's own link (its path, filters, `quantity` and `pageInit`).
    pub(super) async fn list_bills(
        &self,
        caller: &Authenticated,
        id_type: String,
        id: i64,
        group: Option<String>,
        query: BillQuery,
        if_none_match: Option<String>,
    ) -> Result<Answer<BillsPage>, ApiError> {
        let customer = caller.customer(id_type, id)?;
        let filter = filter(query, group)?;
        let links = Links::new(&self.base_path, &customer.id_type, customer.code, &filter);
        let what = links.of_page(filter.offset);
        let client = &caller.client.client_id;
        let current_tag = || self.current_tag(caller, &customer, &what);
        let read = || async {
            let (customer, keys) = (customer.clone(), self.customer_keys.clone());
            let page = self
                .reads
                .read(client, move |conn| {
                    let listing =
                        db::invoices::list(conn, &keys, &customer.id_type, customer.code, &filter)?;
                    match listing {
                        Listing::Page(page) => Ok(page),
                        Listing::NoCustomer => Err(customer.not_found()),
                        Listing::NoGroup => Err(super::billing_group::no_group(
                            filter.billing_group.as_deref().unwrap_or_default(),
                        )),
                    }
                })
                .await?;
            let etag = conditional::etag(page.customer_id, page.version, &what);
            let page = BillsPage {
                link: links.header(page.total),
                total: page.total,
                bills: bill_collection(page.rows)?,
            };
            Ok((page, etag))
        };
        conditional::answer(IfNoneMatch::new(if_none_match), current_tag, read).await
    }
}

/// The links of a listing to its other pages (RFC 8288): each with the request's filters
/// and `quantity`, as the path under the base path.
struct Links {
    /// The path and the query string up to `pageInit`.
    path: String,
    /// The rest of the query string: `quantity` and the filters.
    rest: String,
    offset: i64,
    quantity: i64,
}

/// The most a link's query string adds to the path and the rest, with room to spare.
const LINK_OVERHEAD_BYTES: usize = 48;

impl Links {
    fn new(base_path: &str, id_type: &str, code: i64, filter: &InvoiceFilter) -> Self {
        let InvoiceFilter {
            billing_group,
            from,
            to,
            contract_number,
            status,
            offset,
            limit,
        } = filter;
        let mut path = format!("{base_path}/customers/{id_type}/{code}/bills");
        if let Some(group) = billing_group {
            path.push_str(&format!("/groups/{group}"));
        }
        let mut rest = form_urlencoded::Serializer::new(String::new());
        rest.append_pair("quantity", &limit.to_string());
        if let Some(from) = from {
            rest.append_pair("start", &from.format("%Y%m%d").to_string());
        }
        if let Some(to) = to {
            rest.append_pair("end", &to.format("%Y%m%d").to_string());
        }
        if let Some(contract) = contract_number {
            rest.append_pair("contractNumber", &contract.to_string());
        }
        if let Some(status) = status {
            rest.append_pair("status", status);
        }
        Self {
            path,
            rest: rest.finish(),
            offset: *offset,
            quantity: *limit,
        }
    }

    /// The `Link` header of a page of a listing of `total` bills: `first` and `last`
    /// always, `prev` but on the first page, `next` but on the last.
    fn header(&self, total: i64) -> String {
        let last = (total.max(1) - 1) / self.quantity * self.quantity;
        let prev = (self.offset > 0).then(|| (self.offset - self.quantity).clamp(0, last));
        let next = (self.offset + self.quantity < total).then_some(self.offset + self.quantity);
        let links = [
            (Some(0), "first"),
            (prev, "prev"),
            (next, "next"),
            (Some(last), "last"),
        ];
        let mut header = String::with_capacity(
            links.len() * (self.path.len() + self.rest.len() + LINK_OVERHEAD_BYTES),
        );
        for (offset, rel) in links {
            let Some(offset) = offset else { continue };
            if !header.is_empty() {
                header.push_str(", ");
            }
            header.push('<');
            self.write_page(&mut header, offset);
            header.push_str(">; rel=\"");
            header.push_str(rel);
            header.push('"');
        }
        header
    }

    /// The path and query string of the page at `offset`.
    fn of_page(&self, offset: i64) -> String {
        let mut link =
            String::with_capacity(self.path.len() + self.rest.len() + LINK_OVERHEAD_BYTES);
        self.write_page(&mut link, offset);
        link
    }

    /// Writes `of_page(offset)` to `out`.
    fn write_page(&self, out: &mut String, offset: i64) {
        out.push_str(&self.path);
        out.push_str("?pageInit=");
        out.push_str(itoa::Buffer::new().format(offset));
        out.push('&');
        out.push_str(&self.rest);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn links(offset: i64, quantity: i64, total: i64) -> String {
        let filter = InvoiceFilter {
            status: Some("PAID"),
            offset,
            limit: quantity,
            ..InvoiceFilter::default()
        };
        Links::new("/v2/billing", "CLIENT_CODE", 1001, &filter).header(total)
    }

    #[test]
    fn a_page_links_first_prev_next_and_last_with_its_filters() {
        let path = "/v2/billing/customers/CLIENT_CODE/1001/bills";
        assert_eq!(
            links(20, 20, 45),
            format!(
                "<{path}?pageInit=0&quantity=20&status=PAID>; rel=\"first\", \
                 <{path}?pageInit=0&quantity=20&status=PAID>; rel=\"prev\", \
                 <{path}?pageInit=40&quantity=20&status=PAID>; rel=\"next\", \
                 <{path}?pageInit=40&quantity=20&status=PAID>; rel=\"last\""
            )
        );
        let first = links(0, 20, 45);
        assert!(!first.contains("prev") && first.contains("next"), "{first}");
        let last = links(40, 20, 45);
        assert!(last.contains("prev") && !last.contains("next"), "{last}");
        let empty = links(0, 20, 0);
        assert!(
            empty.contains("pageInit=0") && !empty.contains("next"),
            "{empty}"
        );
        let beyond = links(100, 20, 45);
        assert!(
            beyond.contains("pageInit=40&quantity=20&status=PAID>; rel=\"prev\""),
            "{beyond}"
        );
    }
}
