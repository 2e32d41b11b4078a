//! The `profile` tag: a subscriber's contract profile.

use std::sync::Arc;

use billing_api::{
    apis::profile::{GetClientAccountGeneralInfoResponse, Profile},
    models,
};

use super::{Authenticated, BillingService};
use crate::{
    db::{self, subscribers::OwnedProfile},
    error::ApiError,
    http::conditional::{self, Answer, CACHE_CONTROL, IfNoneMatch},
};

impl Profile for BillingService {
    async fn get_client_account_general_info(
        &self,
        caller: Arc<Authenticated>,
        path_params: models::GetClientAccountGeneralInfoPathParams,
        header_params: models::GetClientAccountGeneralInfoHeaderParams,
    ) -> Result<GetClientAccountGeneralInfoResponse, ApiError> {
        let models::GetClientAccountGeneralInfoPathParams { msisdn } = path_params;
        let models::GetClientAccountGeneralInfoHeaderParams { if_none_match } = header_params;
        // The profile and its version come from one statement; reading the version alone
        // would cost as much.
        let current_tag = || async { Ok::<_, ApiError>(None) };
        let read = || async {
            let found = self
                .reads
                .read(&caller.client.client_id, move |conn| {
                    Ok::<_, ApiError>(db::subscribers::profile(conn, msisdn)?)
                })
                .await?;
            // A subscriber of a customer the caller does not serve is answered as an
            // unknown one.
            let OwnedProfile {
                customer_id,
                version,
                profile,
                ..
            } = found
                .filter(|owned| caller.client.customers.serves(&owned.id_type, owned.code))
                .ok_or_else(|| ApiError::NotFound(format!("no subscriber with MSISDN {msisdn}")))?;
            let etag = conditional::etag(customer_id, version, &format!("profile {msisdn}"));
            Ok((profile, etag))
        };
        let answer =
            conditional::answer(IfNoneMatch::new(if_none_match), current_tag, read).await?;
        let cache_control = CACHE_CONTROL.to_owned();
        let (profile, e_tag) = match answer {
            Answer::Full { body, etag } => (body, etag),
            Answer::NotModified { etag } => {
                return Ok(GetClientAccountGeneralInfoResponse::NotModified {
                    rate_limit: caller.rate_limit(),
                    rate_limit_policy: caller.rate_limit_policy(),
                    cache_control,
                    e_tag: etag,
                });
            }
        };
        let db::subscribers::ContractProfile {
            billing_address,
            billing_cycle,
            city,
            department,
        } = profile;
        Ok(GetClientAccountGeneralInfoResponse::Ok {
            rate_limit: caller.rate_limit(),
            rate_limit_policy: caller.rate_limit_policy(),
            body: models::Profile {
                contract_profile_type: models::ContractProfileType {
                    billing_address,
                    billing_cycle,
                    city,
                    department,
                },
            },
            cache_control,
            e_tag,
        })
    }
}
