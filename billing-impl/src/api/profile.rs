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
    ) -> Result<GetClientAccountGeneralInfoResponse, ApiError> {
        let models::GetClientAccountGeneralInfoPathParams { msisdn } = path_params;
        let profile = self
            .database
            .read(move |conn| Ok::<_, ApiError>(db::subscribers::profile(conn, msisdn)?))
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no subscriber with MSISDN {msisdn}")))?;
        let db::subscribers::ContractProfile {
            billing_address,
            billing_cycle,
            city,
            department,
        } = profile;
        Ok(GetClientAccountGeneralInfoResponse::Ok(models::Profile {
            contract_profile_type: models::ContractProfileType {
                billing_address,
                billing_cycle,
                city,
                department,
            },
        }))
    }
}
