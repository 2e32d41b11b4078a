//! The one error type of the server, mapped once, here, to an HTTP status, headers and the
//! contract's `errorBody`. Server-side failures answer a fixed message; their cause goes to
//! the log.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use billing_api::models::{ErrorBody, ErrorDetail};
use contract_runtime::ContractError;

use crate::{
    db::{DbError, WorkError},
    limits::enforce::{Fields, Limit},
};

/// The `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers-11).
pub const RATELIMIT_POLICY: header::HeaderName =
    header::HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` field (draft-ietf-httpapi-ratelimit-headers-11).
pub const RATELIMIT: header::HeaderName = header::HeaderName::from_static("ratelimit");

/// Seconds a client is told to wait when the database is unavailable.
pub const RETRY_AFTER_SECONDS: u64 = 2;

/// Why a bearer token was not accepted (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No credentials at all: the challenge carries no error code.
    Missing,
    /// An `Authorization` header that is not one well-formed bearer credential.
    Malformed,
    /// Unknown, expired or revoked.
    Invalid,
}

/// The `code` of an `errorBody`: every one the API answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    InvalidToken,
    InsufficientScope,
    NotFound,
    MethodNotAllowed,
    Conflict,
    Unprocessable,
    RequestTimeout,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    HeadersTooLarge,
    RateLimited,
    Unavailable,
    InternalError,
}

impl ErrorCode {
    /// The code as the body writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unprocessable => "unprocessable",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InternalError => "internal_error",
        }
    }
}

/// Everything that can go wrong while serving a request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The generated routing refused the request (a parameter, the body, the path, the
    /// method), or could not write the answer.
    #[error("{0}")]
    Contract(ContractError),
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
    /// The request is well formed but cannot be served as it stands (an `Idempotency-Key`
    /// used for another request).
    #[error("unprocessable: {0}")]
    Unprocessable(String),
    /// The query string is longer than the configured limit (bytes).
    #[error("query string over {0} bytes")]
    UriTooLong(usize),
    /// The headers together are larger than the configured limit (bytes).
    #[error("headers over {0} bytes")]
    HeadersTooLarge(usize),
    /// The request took longer than the configured limit, its upload included.
    #[error("request not complete within {0:?}")]
    RequestTimeout(std::time::Duration),
    /// An error answer actix-web wrote itself (a body over the limit, an unreadable one),
    /// rewritten as an `errorBody` of the same status.
    #[error("refused by the HTTP layer: {0}")]
    Http(StatusCode),
    /// The client is over its rate or its quota: retry after `retry_after` seconds.
    #[error("over its {} limit", limit.as_str())]
    RateLimited {
        limit: Limit,
        retry_after: u64,
        /// The RateLimit fields of the refusal.
        fields: Option<Fields>,
    },
    /// The database failed, or a statement did.
    #[error("{0}")]
    Database(DbError),
    /// Anything else; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The status, the code and what the client may read: the detail of a 4xx, a fixed
    /// sentence for a 5xx.
    fn describe(&self) -> (StatusCode, Option<ErrorCode>, String) {
        use ErrorCode as Code;
        let unavailable = || {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some(Code::Unavailable),
                "the service is briefly unavailable; retry later".to_owned(),
            )
        };
        let internal = || {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(Code::InternalError),
                "the request could not be completed".to_owned(),
            )
        };
        match self {
            ApiError::Contract(ContractError::BadRequest(detail))
            | ApiError::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                Some(Code::InvalidRequest),
                detail.clone(),
            ),
            ApiError::Contract(refused @ ContractError::NoSuchPath) => (
                StatusCode::NOT_FOUND,
                Some(Code::NotFound),
                refused.to_string(),
            ),
            ApiError::Contract(refused @ ContractError::MethodNotAllowed { .. }) => (
                StatusCode::METHOD_NOT_ALLOWED,
                Some(Code::MethodNotAllowed),
                refused.to_string(),
            ),
            ApiError::Contract(refused @ ContractError::UnsupportedMediaType) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some(Code::UnsupportedMediaType),
                refused.to_string(),
            ),
            ApiError::Contract(ContractError::Unserializable(_)) | ApiError::Internal(_) => {
                internal()
            }
            ApiError::Token { problem, .. } => match problem {
                TokenProblem::Missing => (
                    StatusCode::UNAUTHORIZED,
                    Some(Code::Unauthorized),
                    "an access token is required: send Authorization: Bearer <token>".to_owned(),
                ),
                TokenProblem::Malformed => (
                    StatusCode::BAD_REQUEST,
                    Some(Code::InvalidRequest),
                    "the request needs exactly one Authorization header, a Bearer credential"
                        .to_owned(),
                ),
                TokenProblem::Invalid => (
                    StatusCode::UNAUTHORIZED,
                    Some(Code::InvalidToken),
                    "the access token is unknown, expired or revoked".to_owned(),
                ),
            },
            ApiError::InsufficientScope { scope, .. } => (
                StatusCode::FORBIDDEN,
                Some(Code::InsufficientScope),
                format!("the access token lacks the `{scope}` scope"),
            ),
            ApiError::NotFound(detail) => {
                (StatusCode::NOT_FOUND, Some(Code::NotFound), detail.clone())
            }
            ApiError::Conflict(detail) => {
                (StatusCode::CONFLICT, Some(Code::Conflict), detail.clone())
            }
            ApiError::Unprocessable(detail) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(Code::Unprocessable),
                detail.clone(),
            ),
            ApiError::UriTooLong(limit) => (
                StatusCode::URI_TOO_LONG,
                Some(Code::UriTooLong),
                format!("the query string is longer than {limit} bytes"),
            ),
            ApiError::HeadersTooLarge(limit) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Some(Code::HeadersTooLarge),
                format!("the headers are larger than {limit} bytes"),
            ),
            ApiError::RequestTimeout(limit) => (
                StatusCode::REQUEST_TIMEOUT,
                Some(Code::RequestTimeout),
                format!("the request was not complete within {} s", limit.as_secs()),
            ),
            ApiError::Http(status) => {
                let code = match *status {
                    StatusCode::BAD_REQUEST => Some(Code::InvalidRequest),
                    StatusCode::NOT_FOUND => Some(Code::NotFound),
                    StatusCode::REQUEST_TIMEOUT => Some(Code::RequestTimeout),
                    StatusCode::PAYLOAD_TOO_LARGE => Some(Code::PayloadTooLarge),
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => Some(Code::UnsupportedMediaType),
                    _ => None,
                };
                let reason = status.canonical_reason().unwrap_or("Error");
                (*status, code, reason.to_owned())
            }
            ApiError::RateLimited { limit, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                Some(Code::RateLimited),
                match limit {
                    Limit::Rate => "too many requests a second for this client; retry after the seconds in Retry-After".to_owned(),
                    Limit::Quota => "this client's quota for the window is spent; retry after the seconds in Retry-After, when the next window starts".to_owned(),
                },
            ),
            ApiError::Database(failure) if failure.is_unavailable() => unavailable(),
            ApiError::Database(_) => internal(),
        }
    }

    /// The `WWW-Authenticate` challenge of a refused token (RFC 6750 §3).
    fn challenge(&self, code: Option<ErrorCode>, detail: &str) -> Option<String> {
        match self {
            ApiError::Token {
                problem: TokenProblem::Missing,
                realm,
            } => Some(format!("Bearer realm=\"{realm}\"")),
            ApiError::Token { realm, .. } => Some(format!(
                "Bearer realm=\"{realm}\", error=\"{}\", error_description=\"{detail}\"",
                code.map_or("", ErrorCode::as_str),
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
        self.describe().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, detail) = self.describe();
        if status.is_server_error() {
            log::error!("{self}");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                status_code: status.as_u16().to_string(),
                message: status.canonical_reason().unwrap_or("Error").to_owned(),
                code: code.map(|code| code.as_str().to_owned()),
                developer_message: Some(detail.clone()),
            },
        };
        let mut response = HttpResponse::build(status).json(body);
        let headers = response.headers_mut();
        if let Some(challenge) = self
            .challenge(code, &detail)
            .and_then(|challenge| header::HeaderValue::try_from(challenge).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let ApiError::Contract(ContractError::MethodNotAllowed { allow }) = self {
            headers.insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        if let ApiError::RateLimited {
            retry_after,
            fields,
            ..
        } = self
        {
            headers.insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after));
            if let Some(fields) = fields {
                headers.insert(RATELIMIT_POLICY, fields.policy.clone());
                headers.insert(RATELIMIT, fields.limit.clone());
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

impl From<ContractError> for ApiError {
    fn from(refused: ContractError) -> Self {
        ApiError::Contract(refused)
    }
}

impl From<DbError> for ApiError {
    fn from(failure: DbError) -> Self {
        ApiError::Database(failure)
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::Database(DbError::from(error))
    }
}

impl WorkError for ApiError {
    fn database_failure(&mut self) -> Option<&mut DbError> {
        match self {
            ApiError::Database(failure) => Some(failure),
            _ => None,
        }
    }
}
