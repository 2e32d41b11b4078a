//! Who is calling: the trait every implementation provides, and the check the generated
//! routing makes before it parses anything else.

use actix_web::{HttpRequest, ResponseError};

use crate::ContractError;

/// Who is calling, and the implementation's one error type.
///
/// The generated routing authenticates every request of an operation that declares
/// security before it parses anything else, then refuses a caller that lacks one of the
/// operation's scopes with `insufficient_scope`, so that no operation runs for an
/// unauthorised request.
#[allow(async_fn_in_trait)]
pub trait Authentication {
    /// The authenticated client, handed to every operation.
    type Caller;
    /// The implementation's one error type: refusals of the routing, of authentication and
    /// failures of operations. Its `ResponseError` implementation writes every error answer.
    type Error: ResponseError + From<ContractError> + 'static;

    /// Authenticates a request by its headers (all of them, so that a request carrying
    /// more than one `Authorization` header can be refused); the implementation may note
    /// who called in the request's extensions, for what is logged of it.
    async fn authenticate(&self, request: &HttpRequest) -> Result<Self::Caller, Self::Error>;

    /// Whether `caller` was granted `scope`.
    fn has_scope(caller: &Self::Caller, scope: &str) -> bool;

    /// The refusal of a caller that lacks `scope`.
    fn insufficient_scope(&self, scope: &'static str) -> Self::Error;
}

/// Authenticates the request and checks that the caller holds every one of `scopes`.
pub async fn authorize<A: Authentication>(
    api: &A,
    request: &HttpRequest,
    scopes: &[&'static str],
) -> Result<A::Caller, A::Error> {
    let caller = api.authenticate(request).await?;
    match scopes.iter().find(|scope| !A::has_scope(&caller, scope)) {
        Some(missing) => Err(api.insufficient_scope(missing)),
        None => Ok(caller),
    }
}
