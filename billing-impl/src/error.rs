//! The one error type of the server, mapped once to an HTTP status and the contract's
//! `errorBody`. Server-side failures answer a fixed message; their cause goes to the log.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use billing_api::server::{error_body, error_response};
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Seconds a client is told to wait when the database is unavailable.
const RETRY_AFTER_SECONDS: &str = "2";

/// Why a bearer token was not accepted (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No credentials at all: the challenge carries no error code.
    Missing,
    /// An `Authorization` header that is not a well-formed bearer credential.
    Malformed,
    /// Unknown, expired or revoked.
    Invalid,
}

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request breaks a rule the generated validation cannot express.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The bearer token is missing, malformed or not valid.
    #[error("token refused: {problem:?}")]
    Token {
        problem: TokenProblem,
        realm: String,
    },
    /// The token is valid but lacks the scope the operation needs.
    #[error("insufficient scope: {scope}")]
    InsufficientScope { scope: &'static str, realm: String },
    /// The named resource does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The query string is longer than the configured limit (bytes).
    #[error("query string over {0} bytes")]
    UriTooLong(usize),
    /// The headers together are larger than the configured limit (bytes).
    #[error("headers over {0} bytes")]
    HeadersTooLarge(usize),
    /// The request took longer than the configured limit, its upload included.
    #[error("request not complete within {0:?}")]
    RequestTimeout(std::time::Duration),
    /// The database cannot be reached or has no free connection; retrying may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::Token {
                problem: TokenProblem::Malformed,
                ..
            } => "invalid_request",
            ApiError::Token {
                problem: TokenProblem::Missing,
                ..
            } => "unauthorized",
            ApiError::Token {
                problem: TokenProblem::Invalid,
                ..
            } => "invalid_token",
            ApiError::InsufficientScope { .. } => "insufficient_scope",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::UriTooLong(_) => "uri_too_long",
            ApiError::HeadersTooLarge(_) => "headers_too_large",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// What the client may read: the detail of a 4xx, a fixed sentence for a 5xx.
    fn developer_message(&self) -> String {
        match self {
            ApiError::BadRequest(detail)
            | ApiError::NotFound(detail)
            | ApiError::Conflict(detail) => detail.clone(),
            ApiError::Token {
                problem: TokenProblem::Missing,
                ..
            } => "an access token is required: send Authorization: Bearer <token>".to_owned(),
            ApiError::Token {
                problem: TokenProblem::Malformed,
                ..
            } => "the Authorization header is not a Bearer credential".to_owned(),
            ApiError::Token {
                problem: TokenProblem::Invalid,
                ..
            } => "the access token is unknown, expired or revoked".to_owned(),
            ApiError::InsufficientScope { scope, .. } => {
                format!("the access token lacks the `{scope}` scope")
            }
            ApiError::UriTooLong(limit) => format!("the query string is longer than {limit} bytes"),
            ApiError::HeadersTooLarge(limit) => {
                format!("the headers are larger than {limit} bytes")
            }
            ApiError::RequestTimeout(limit) => {
                format!("the request was not complete within {} s", limit.as_secs())
            }
            ApiError::Unavailable(_) => {
                "the service is briefly unavailable; retry later".to_owned()
            }
            ApiError::Internal(_) => "the request could not be completed".to_owned(),
        }
    }

    /// The `WWW-Authenticate` challenge of a refused token (RFC 6750 §3).
    fn challenge(&self) -> Option<String> {
        match self {
            ApiError::Token {
                problem: TokenProblem::Missing,
                realm,
            } => Some(format!("Bearer realm=\"{realm}\"")),
            ApiError::Token { realm, .. } => Some(format!(
                "Bearer realm=\"{realm}\", error=\"{}\", error_description=\"{}\"",
                self.code(),
                self.developer_message()
            )),
            ApiError::InsufficientScope { scope, realm } => Some(format!(
                "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{scope}\""
            )),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Token {
                problem: TokenProblem::Malformed,
                ..
            } => StatusCode::BAD_REQUEST,
            ApiError::Token { .. } => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            log::error!("{self}");
        }
        let message = status.canonical_reason().unwrap_or("Error");
        let body = error_body(
            status,
            message,
            Some(self.code()),
            Some(self.developer_message()),
        );
        let mut response = error_response(status, &body);
        let headers = response.headers_mut();
        if let Some(challenge) = self
            .challenge()
            .and_then(|c| header::HeaderValue::try_from(c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if matches!(self, ApiError::Unavailable(_)) {
            headers.insert(
                header::RETRY_AFTER,
                header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::BrokenTransactionManager => ApiError::Unavailable(error.to_string()),
            DieselError::DatabaseError(_, info) if is_transient(info.message()) => {
                ApiError::Unavailable(error.to_string())
            }
            _ => ApiError::Internal(error.to_string()),
        }
    }
}

/// Messages of failures that end with the database, not with the request: a connection
/// that went away or a statement cancelled by `statement_timeout` or an administrator.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 5] = [
        "server closed the connection",
        "terminating connection",
        "canceling statement",
        "connection to server",
        "no connection to the server",
    ];
    TRANSIENT.iter().any(|fragment| message.contains(fragment))
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        ApiError::Unavailable(format!("no database connection: {error}"))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(format!("blocking task failed: {error}"))
    }
}
