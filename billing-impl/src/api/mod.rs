//! The implementation of the generated traits: one module per tag of the spec.

mod billing;
mod billing_group;
mod profile;

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use billing_api::apis::Authentication;
use chrono::NaiveDate;

use crate::{
    auth::{Caller, TokenVerifier},
    db::{self, DbPool, invoices::InvoiceFilter},
    error::ApiError,
};

/// The server's state, shared by every worker: the pool and the token verifier.
#[derive(Clone)]
pub struct BillingService {
    pool: DbPool,
    tokens: TokenVerifier,
}

impl BillingService {
    /// The service over `pool`, checking bearer tokens with `tokens`.
    pub fn new(pool: DbPool, tokens: TokenVerifier) -> Self {
        Self { pool, tokens }
    }
}

impl Authentication for BillingService {
    type Caller = Arc<Caller>;
    type Error = ApiError;

    async fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
    ) -> Result<Arc<Caller>, ApiError> {
        self.tokens.verify(authorization).await
    }

    fn has_scope(caller: &Arc<Caller>, scope: &str) -> bool {
        caller.has_scope(scope)
    }

    fn insufficient_scope(&self, scope: &'static str) -> ApiError {
        self.tokens.insufficient_scope(scope)
    }
}

/// A customer as the paths name it.
struct CustomerRef {
    id_type: String,
    code: i64,
}

impl CustomerRef {
    fn new(id_type: String, id: u64) -> Result<Self, ApiError> {
        // The spec caps `id` at i64::MAX; the generated validation has enforced it.
        let code =
            i64::try_from(id).map_err(|_| ApiError::BadRequest("`id` is too large".into()))?;
        Ok(Self { id_type, code })
    }

    /// The customer's key, or a 404.
    fn key(&self, conn: &mut diesel::PgConnection) -> Result<i64, ApiError> {
        db::customers::find_key(conn, &self.id_type, self.code)?.ok_or_else(|| {
            ApiError::NotFound(format!(
                "no customer `{}` with idType `{}`",
                self.code, self.id_type
            ))
        })
    }
}

/// The query parameters shared by both bill listings.
struct BillQuery {
    page_init: u32,
    quantity: u32,
    start: Option<String>,
    end: Option<String>,
    contract_number: Option<u64>,
    status: Option<billing_api::models::InvoiceStatus>,
}

/// Both bill listings take the same query parameters, each in a struct of its own.
macro_rules! bill_query_from {
    ($($params:ty),+) => {$(
        impl From<$params> for BillQuery {
            fn from(query: $params) -> Self {
                BillQuery {
                    page_init: query.page_init,
                    quantity: query.quantity,
                    start: query.start,
                    end: query.end,
                    contract_number: query.contract_number,
                    status: query.status,
                }
            }
        }
    )+};
}

bill_query_from!(
    billing_api::models::FindCustomerBillsByClientCodeQueryParams,
    billing_api::models::FindCustomerBillsByClientCodeAndBillingGroupQueryParams
);

impl BillQuery {
    /// The database filter. A `start` after `end` is an empty range: it selects no bill.
    fn into_filter(self, billing_group: Option<String>) -> Result<InvoiceFilter, ApiError> {
        let from = self
            .start
            .as_deref()
            .map(|value| calendar_date("start", value))
            .transpose()?;
        let to = self
            .end
            .as_deref()
            .map(|value| calendar_date("end", value))
            .transpose()?;
        let contract_number = self
            .contract_number
            .map(|number| {
                i64::try_from(number).map_err(|_| {
                    ApiError::BadRequest("query parameter `contractNumber` is too large".into())
                })
            })
            .transpose()?;
        Ok(InvoiceFilter {
            billing_group,
            from,
            to,
            contract_number,
            status: self.status.map(|status| status.as_str()),
            offset: i64::from(self.page_init),
            limit: i64::from(self.quantity),
        })
    }
}

/// A `YYYYMMDD` date. The spec's pattern admits calendar dates only; this is its second line.
fn calendar_date(name: &str, value: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|_| {
        ApiError::BadRequest(format!(
            "query parameter `{name}` is not a calendar date YYYYMMDD"
        ))
    })
}
