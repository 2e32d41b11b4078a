//! The implementation of the generated traits: one module per tag of the spec.
//!
//! Every method takes its parameters and body apart field by field, with no `..`, so that
//! a parameter or property the spec gains is a compile error in the method that must
//! handle it (`make check-contract-change` proves it).

mod billing;
mod billing_group;
mod profile;

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use billing_api::{apis::Authentication, models};
use chrono::NaiveDate;
use contract_runtime::WireEnum;

use crate::{
    auth::{Caller, TokenVerifier},
    db::{Database, invoices::InvoiceFilter},
    error::ApiError,
};

/// The server's state, shared by every worker: the database and the token verifier.
#[derive(Clone)]
pub struct BillingService {
    database: Database,
    tokens: TokenVerifier,
}

impl BillingService {
    /// The service over `database`, checking bearer tokens with `tokens`.
    pub fn new(database: Database, tokens: TokenVerifier) -> Self {
        Self { database, tokens }
    }
}

impl Authentication for BillingService {
    type Caller = Arc<Caller>;
    type Error = ApiError;

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Caller>, ApiError> {
        self.tokens.verify(headers).await
    }

    fn has_scope(caller: &Arc<Caller>, scope: &str) -> bool {
        caller.has_scope(scope)
    }

    fn insufficient_scope(&self, scope: &'static str) -> ApiError {
        self.tokens.insufficient_scope(scope)
    }
}

/// A customer as the paths name it: by `idType` and `id`.
struct CustomerRef {
    id_type: String,
    code: i64,
}

impl CustomerRef {
    /// The customer's key, or a 404.
    fn key(&self, conn: &mut diesel::PgConnection) -> Result<i64, ApiError> {
        crate::db::customers::find_key(conn, &self.id_type, self.code)?
            .ok_or_else(|| self.not_found())
    }

    fn not_found(&self) -> ApiError {
        ApiError::NotFound(format!(
            "no customer `{}` with idType `{}`",
            self.code, self.id_type
        ))
    }
}

/// The query parameters both bill listings take, as the database filters on them.
struct BillQuery {
    page_init: u32,
    quantity: u32,
    start: Option<String>,
    end: Option<String>,
    contract_number: Option<i64>,
    status: Option<models::InvoiceStatus>,
}

impl BillQuery {
    /// The database filter. A `start` after `end` is an empty range: it selects no bill.
    fn into_filter(self, billing_group: Option<String>) -> Result<InvoiceFilter, ApiError> {
        let BillQuery {
            page_init,
            quantity,
            start,
            end,
            contract_number,
            status,
        } = self;
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
}

/// A `YYYYMMDD` date. The spec's pattern admits calendar dates only; this is its second line.
fn calendar_date(name: &str, value: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(value, "%Y%m%d").map_err(|_| {
        ApiError::BadRequest(format!(
            "query parameter `{name}` is not a calendar date YYYYMMDD"
        ))
    })
}
