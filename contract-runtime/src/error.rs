//! What the generated routing refuses before an operation runs.

use actix_web::HttpResponse;

/// A request the generated routing refused, or an answer it could not write. The
/// implementation's error type converts it and decides the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractError {
    /// A parameter or body that breaks the contract: the detail names it.
    BadRequest(String),
    /// No operation is served at this path.
    NoSuchPath,
    /// The path is served, but not with this method; `allow` lists the methods it serves.
    MethodNotAllowed {
        /// The value of the `Allow` header: the methods, comma-separated.
        allow: &'static str,
    },
    /// A body sent as anything but `application/json`.
    UnsupportedMediaType,
    /// The answer could not be written as JSON; the detail is for the log.
    Unserializable(String),
}

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContractError::BadRequest(detail) => write!(f, "bad request: {detail}"),
            ContractError::NoSuchPath => f.write_str("no operation is served at this path"),
            ContractError::MethodNotAllowed { allow } => write!(f, "this path serves {allow}"),
            ContractError::UnsupportedMediaType => {
                f.write_str("the body must be sent as Content-Type: application/json")
            }
            ContractError::Unserializable(detail) => write!(f, "answer not serialisable: {detail}"),
        }
    }
}

impl std::error::Error for ContractError {}

/// A handler that refuses every request with `error`: the routes' answers for unknown
/// paths and for methods a path does not serve.
pub async fn refuse<E: From<ContractError>>(error: ContractError) -> Result<HttpResponse, E> {
    Err(error.into())
}
