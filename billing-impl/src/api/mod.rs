//! The implementation of the generated traits: one module per tag of the spec.
//!
//! Every method takes its parameters and body apart field by field, with no `..`, so that
//! a parameter or property the spec gains is a compile error in the method that must
//! handle it (`make check-contract-change` proves it).

mod billing;
mod billing_group;
mod bills;
mod idempotency;
mod profile;

use std::sync::Arc;

use actix_web::{HttpMessage, HttpRequest};
use billing_api::apis::Authentication;

use crate::{
    auth::{Caller, TokenVerifier},
    db::{
        self,
        audit::{self, Action},
        customers::CustomerKeys,
        replicas::Reads,
    },
    error::ApiError,
    http::middleware::{ClientId, REQUEST_ID},
    limits::enforce::{Enforcer, Fields},
};

/// The server's state, shared by every worker: where reads and writes go, the token
/// verifier, the clients' limits, and the customers' keys the bill listings remember.
#[derive(Clone)]
pub struct BillingService {
    reads: Reads,
    tokens: TokenVerifier,
    limits: Enforcer,
    customer_keys: CustomerKeys,
    /// The path every operation is served under, for the links between pages.
    base_path: String,
}

impl BillingService {
    /// The service reading through `reads` (writes go to its primary), checking bearer
    /// tokens with `tokens`, holding clients to their limits with `limits`, listing bills by the keys remembered in `customer_keys`,
    /// serving its operations under `base_path`.
    pub fn new(
        reads: Reads,
        tokens: TokenVerifier,
        limits: Enforcer,
        customer_keys: CustomerKeys,
        base_path: String,
    ) -> Self {
        Self {
            reads,
            tokens,
            limits,
            customer_keys,
            base_path,
        }
    }

    /// Runs `work`, which writes, on the primary, for `caller`, whose reads then go to the
    /// primary for the read-after-write window.
    async fn write<T, F>(&self, caller: &Authenticated, work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut diesel::PgConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let written = self.reads.primary().write(work).await?;
        self.reads.wrote(&caller.client.client_id);
        Ok(written)
    }

    /// The tag an answer about `customer` to the request `what` has now, read from the
    /// customer's version alone (one statement); `None` when there is no such customer.
    async fn current_tag(
        &self,
        caller: &Authenticated,
        customer: &CustomerRef,
        what: &str,
    ) -> Result<Option<String>, ApiError> {
        let (name, keys) = (customer.clone(), self.customer_keys.clone());
        let current = self
            .reads
            .read(&caller.client.client_id, move |conn| {
                Ok::<_, ApiError>(keys.versioned(conn, &name.id_type, name.code)?)
            })
            .await?;
        Ok(current.map(|(key, version)| crate::http::conditional::etag(key, version, what)))
    }
}

/// Who sent a request: the authenticated client, and the request's id.
pub struct Authenticated {
    pub client: Arc<Caller>,
    pub request_id: String,
    /// The RateLimit fields of its answers; `None` for a client without limits.
    pub fields: Option<Fields>,
}

impl Authenticated {
    /// The `RateLimit` field of its answers.
    fn rate_limit(&self) -> Option<String> {
        let fields = self.fields.as_ref()?;
        fields.limit.to_str().ok().map(str::to_owned)
    }

    /// The `RateLimit-Policy` field of its answers.
    fn rate_limit_policy(&self) -> Option<String> {
        let fields = self.fields.as_ref()?;
        fields.policy.to_str().ok().map(str::to_owned)
    }

    /// The customer named by `id_type` and `id` when the caller serves it; else the very
    /// refusal an unknown customer gets, so that no answer tells that it exists.
    fn customer(&self, id_type: String, id: i64) -> Result<CustomerRef, ApiError> {
        let customer = CustomerRef { id_type, code: id };
        if self
            .client
            .customers
            .serves(&customer.id_type, customer.code)
        {
            Ok(customer)
        } else {
            Err(customer.not_found())
        }
    }

    /// The record of a change to the group `group_id` of the customer `customer_id`.
    fn change<'a>(
        &'a self,
        customer_id: i64,
        group_id: &'a str,
        action: Action,
        before: Option<&db::billing_groups::BillingGroup>,
        after: Option<&db::billing_groups::BillingGroup>,
    ) -> audit::Change<'a> {
        let json = |group: &db::billing_groups::BillingGroup| serde_json::json!({"groupId": group.group_id, "address": group.address});
        audit::Change {
            customer_id,
            client_id: &self.client.client_id,
            request_id: &self.request_id,
            group_id,
            action,
            before: before.map(json),
            after: after.map(json),
        }
    }
}

impl Authentication for BillingService {
    type Caller = Arc<Authenticated>;
    type Error = ApiError;

    async fn authenticate(&self, request: &HttpRequest) -> Result<Arc<Authenticated>, ApiError> {
        let client = self.tokens.verify(request.headers()).await?;
        // For the access log.
        request
            .extensions_mut()
            .insert(ClientId(client.client_id.clone()));
        // Held to its limits once it is known who is calling, before anything is parsed;
        // every answer then carries the RateLimit fields (`http::middleware`).
        let fields = match self.limits.admit(&client.client_id, client.limits).await {
            Ok(fields) => {
                // For the error answers, which the handlers do not write.
                if let Some(fields) = &fields {
                    request.extensions_mut().insert(fields.clone());
                }
                fields
            }
            Err(refused) => {
                if let ApiError::RateLimited { limit, .. } = &refused {
                    request.extensions_mut().insert(*limit);
                }
                return Err(refused);
            }
        };
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .and_then(|id| id.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Arc::new(Authenticated {
            client,
            request_id,
            fields,
        }))
    }

    fn has_scope(caller: &Arc<Authenticated>, scope: &str) -> bool {
        caller.client.has_scope(scope)
    }

    fn insufficient_scope(&self, scope: &'static str) -> ApiError {
        self.tokens.insufficient_scope(scope)
    }
}

/// A customer as the paths name it: by `idType` and `id`.
#[derive(Clone)]
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
