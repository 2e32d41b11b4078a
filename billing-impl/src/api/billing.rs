//! The `billing` tag: a customer's bills.

use std::sync::Arc;

use billing_api::{
    apis::billing::{Billing, FindCustomerBillsByClientCodeResponse},
    models,
};

use super::{Authenticated, BillingService, bills::BillsPage};
use crate::{
    error::ApiError,
    http::conditional::{Answer, CACHE_CONTROL},
};

impl Billing for BillingService {
    async fn find_customer_bills_by_client_code(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::FindCustomerBillsByClientCodePathParams,
        query_params: models::FindCustomerBillsByClientCodeQueryParams,
        header_params: models::FindCustomerBillsByClientCodeHeaderParams,
    ) -> Result<FindCustomerBillsByClientCodeResponse, ApiError> {
        let models::FindCustomerBillsByClientCodePathParams { id, id_type } = path_params;
        let models::FindCustomerBillsByClientCodeHeaderParams { if_none_match } = header_params;
        let bills = self
            .list_bills(&caller, id_type, id, None, query_params, if_none_match)
            .await?;
        Ok(match bills {
            Answer::Full {
                body: BillsPage { bills, link, total },
                etag,
            } => FindCustomerBillsByClientCodeResponse::Ok {
                rate_limit: caller.rate_limit(),
                rate_limit_policy: caller.rate_limit_policy(),
                body: bills,
                cache_control: CACHE_CONTROL.to_owned(),
                e_tag: etag,
                x_total_count: total,
                link,
            },
            Answer::NotModified { etag } => FindCustomerBillsByClientCodeResponse::NotModified {
                rate_limit: caller.rate_limit(),
                rate_limit_policy: caller.rate_limit_policy(),
                cache_control: CACHE_CONTROL.to_owned(),
                e_tag: etag,
            },
        })
    }
}
