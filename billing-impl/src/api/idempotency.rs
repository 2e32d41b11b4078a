//! Writes that are safe to retry: a write sent with an `Idempotency-Key` stores its answer
//! with the key, in the transaction that makes the change, so that the same request sent
//! again within 24 hours gets the same answer without a second change or audit record (the
//! IETF's Idempotency-Key header, as Stripe answers it). The same key with another request
//! is a 422; a request while the first with its key is still served, a 409.

use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use super::{Authenticated, BillingService};
use crate::{
    db::{self, idempotency_keys::Claim},
    error::ApiError,
};

/// A write's answer, and whether it is the stored answer of an earlier request.
pub(super) struct Written<T> {
    pub answer: T,
    pub replayed: bool,
}

impl<T> Written<T> {
    /// The `Idempotent-Replayed` header of the answer: `true` on a replay, else none.
    pub fn replayed_header(&self) -> Option<String> {
        self.replayed.then(|| "true".to_owned())
    }
}

/// What identifies a request for its key: a digest of the operation, its parameters and
/// its body, as the contract reads them.
pub(super) fn request_digest(
    operation: &str,
    request: &impl Serialize,
) -> Result<Vec<u8>, ApiError> {
    let request = serde_json::to_vec(&(operation, request))
        .map_err(|error| ApiError::Internal(format!("a request's digest: {error}")))?;
    Ok(Sha256::digest(request).to_vec())
}

impl BillingService {
    /// Runs `work`, a write, for `caller`, once per `key` (none: every time): a request
    /// whose key stands for the same request (`digest`) is answered what was stored.
    pub(super) async fn write_once<T, F>(
        &self,
        caller: &Authenticated,
        key: Option<String>,
        digest: Vec<u8>,
        mut work: F,
    ) -> Result<Written<T>, ApiError>
    where
        F: FnMut(&mut diesel::PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        let Some(key) = key else {
            let answer = self.write(caller, work).await?;
            return Ok(Written {
                answer,
                replayed: false,
            });
        };
        let client = caller.client.client_id.clone();
        self.write(caller, move |conn| {
            match db::idempotency_keys::claim(conn, &client, &key, &digest)? {
                Claim::Busy => Err(ApiError::Conflict(
                    "a request with this Idempotency-Key is being served; retry once it is answered"
                        .to_owned(),
                )),
                Claim::Other => Err(ApiError::Unprocessable(
                    "this Idempotency-Key was used for another request".to_owned(),
                )),
                Claim::Answered(stored) => Ok(Written {
                    answer: serde_json::from_str(&stored).map_err(|error| {
                        ApiError::Internal(format!("a stored answer: {error}"))
                    })?,
                    replayed: true,
                }),
                Claim::New => {
                    let answer = work(conn)?;
                    let stored = serde_json::to_string(&answer)
                        .map_err(|error| ApiError::Internal(format!("an answer to store: {error}")))?;
                    db::idempotency_keys::store(conn, &client, &key, &digest, &stored)?;
                    Ok(Written {
                        answer,
                        replayed: false,
                    })
                }
            }
        })
        .await
    }
}
