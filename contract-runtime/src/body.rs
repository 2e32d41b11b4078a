//! JSON request bodies and answers.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
};
use serde::{Serialize, de::DeserializeOwned};
use validator::Validate;

use crate::{ContractError, WireNames, validated};

/// The largest request body any operation accepts, in bytes; a larger one is a 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Room reserved for a JSON answer, so that writing a page of bills does not grow and copy
/// its buffer again and again.
const ANSWER_BUFFER_BYTES: usize = 16 * 1024;

/// The JSON body of the request, parsed and checked against its schema.
pub fn json_body<B>(request: &HttpRequest, body: &[u8]) -> Result<B, ContractError>
where
    B: DeserializeOwned + Validate + WireNames,
{
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !content_type.is_some_and(|value| value.eq_ignore_ascii_case("application/json")) {
        return Err(ContractError::UnsupportedMediaType);
    }
    if body.is_empty() {
        return Err(ContractError::BadRequest(
            "a JSON body is required".to_owned(),
        ));
    }
    let value: B = serde_json::from_slice(body).map_err(|error| {
        ContractError::BadRequest(format!("the body is not a valid document: {error}"))
    })?;
    validated("body property", value)
}

/// `body` as the JSON answer of a declared status.
pub fn json_answer<S: Serialize>(
    status: StatusCode,
    body: &S,
) -> Result<HttpResponse, ContractError> {
    let mut buffer = Vec::with_capacity(ANSWER_BUFFER_BYTES);
    serde_json::to_writer(&mut buffer, body)
        .map_err(|error| ContractError::Unserializable(error.to_string()))?;
    Ok(HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(buffer))
}

/// The headers the spec declares for an answer, set on it.
pub trait AnswerHeaders: Sized {
    /// The answer with the header `name` set to `value`, when there is a value.
    fn with_header<V: std::fmt::Display>(
        self,
        name: &'static str,
        value: Option<&V>,
    ) -> Result<Self, ContractError>;
}

impl AnswerHeaders for HttpResponse {
    fn with_header<V: std::fmt::Display>(
        mut self,
        name: &'static str,
        value: Option<&V>,
    ) -> Result<Self, ContractError> {
        if let Some(value) = value {
            let unwritable = || ContractError::Unserializable(format!("header {name}: {value}"));
            let name = header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| unwritable())?;
            let value =
                header::HeaderValue::try_from(value.to_string()).map_err(|_| unwritable())?;
            self.headers_mut().insert(name, value);
        }
        Ok(self)
    }
}
