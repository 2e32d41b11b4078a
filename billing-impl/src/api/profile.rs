//! The `profile` tag: a subscriber's contract profile.

use std::sync::Arc;

use billing_api::{
    apis::profile::{GetClientAccountGeneralInfoResponse, Profile},
    models,
};

use super::BillingService;
use crate::{auth::Caller, db, error::ApiError};

impl Profile for BillingService {
    async fn get_client_account_general_info(
        &self,
        _caller: Arc<Caller>,
        path_params: models::GetClientAccountGeneralInfoPathParams,
        _header_params: models::GetClientAccountGeneralInfoHeaderParams,
    ) -> Result<GetClientAccountGeneralInfoResponse, ApiError> {
        // The spec caps an MSISDN at 15 digits, well inside i64.
        let msisdn = i64::try_from(path_params.msisdn)
            .map_err(|_| ApiError::BadRequest("path parameter `msisdn` is too large".into()))?;
        let profile = db::run(&self.pool, move |conn| {
            Ok(db::subscribers::profile(conn, msisdn)?)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no subscriber with MSISDN {msisdn}")))?;
        Ok(GetClientAccountGeneralInfoResponse::Ok(models::Profile {
            contract_profile_type: models::ContractProfileType {
                billing_address: profile.billing_address,
                billing_cycle: profile.billing_cycle,
                city: profile.city,
                department: profile.department,
            },
        }))
    }
}
