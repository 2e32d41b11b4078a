//! The `billing` tag: a customer's bills.

use std::sync::Arc;

use billing_api::{
    apis::billing::{Billing, FindCustomerBillsByClientCodeResponse},
    models,
};

use super::{Authenticated, BillingService};
use crate::error::ApiError;

impl Billing for BillingService {
    async fn find_customer_bills_by_client_code(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::FindCustomerBillsByClientCodePathParams,
        query_params: models::FindCustomerBillsByClientCodeQueryParams,
    ) -> Result<FindCustomerBillsByClientCodeResponse, ApiError> {
        let models::FindCustomerBillsByClientCodePathParams { id, id_type } = path_params;
        let bills = self
            .list_bills(&caller, id_type, id, None, query_params)
            .await?;
        Ok(FindCustomerBillsByClientCodeResponse::Ok(bills))
    }
}
