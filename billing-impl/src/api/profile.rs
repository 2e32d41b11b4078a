//! The `profile` tag: a subscriber's contract profile.

use std::sync::Arc;

use billing_api::{
    apis::profile::{GetClientAccountGeneralInfoResponse, Profile},
    models,
};

use super::{Authenticated, BillingService};
use crate::{db, error::ApiError};

impl Profile for BillingService {
    async fn get_client_account_general_info(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::GetClientAccountGeneralInfoPathParams,
    ) -> Result<GetClientAccountGeneralInfoResponse, ApiError> {
        let models::GetClientAccountGeneralInfoPathParams { msisdn } = path_params;
        let found = self
            .reads
            .read(&caller.client.client_id, move |conn| {
                Ok::<_, ApiError>(db::subscribers::profile(conn, msisdn)?)
            })
            .await?;
        // A subscriber of a customer the caller does not serve is answered as an unknown one.
        let profile = found
            .filter(|(id_type, code, _)| caller.client.customers.serves(id_type, *code))
            .map(|(_, _, profile)| profile)
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
