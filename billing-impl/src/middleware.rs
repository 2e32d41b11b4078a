//! Request middleware: the request id every answer carries, the limits every request is
//! held to before any handler runs, and `errorBody` answers in place of actix-web's own.

use std::time::Duration;

use actix_web::{
    ResponseError,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::{ErrorHandlerResponse, ErrorHandlers, Next},
    web,
};

use crate::error::ApiError;

/// The header that carries a request's id, taken from the client or made, and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What a request may be.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Longest query string, in bytes; a longer one is a 414.
    pub max_query_bytes: usize,
    /// Most bytes of header names and values together; more is a 431.
    pub max_header_bytes: usize,
    /// Time from the request's head to the end of its answer, body upload included; a
    /// request that takes longer (a client sending its body too slowly) is a 408.
    pub timeout: Duration,
}

/// Takes the client's `X-Request-ID` (at most 128 visible ASCII characters) or makes one,
/// and sets it on the request and on the answer.
pub async fn request_id(
    mut request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| {
            let bytes = value.as_bytes();
            !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
        });
    // On the request too, for what is recorded of it (the audit trail of writes).
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let mut response = next.call(request).await?;
    response.headers_mut().insert(REQUEST_ID, id);
    Ok(response)
}

/// Enforces the `RequestLimits` registered as app data.
pub async fn request_limits(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(limits) = request
        .app_data::<web::Data<RequestLimits>>()
        .map(|limits| *limits.get_ref())
    else {
        return next.call(request).await;
    };
    if request.query_string().len() > limits.max_query_bytes {
        return Err(ApiError::UriTooLong(limits.max_query_bytes).into());
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(ApiError::HeadersTooLarge(limits.max_header_bytes).into());
    }
    actix_web::rt::time::timeout(limits.timeout, next.call(request))
        .await
        .map_err(|_| ApiError::RequestTimeout(limits.timeout))?
}

/// Turns any error answer that is not JSON (those actix-web writes itself, such as a body
/// over the limit or an unreadable payload) into an `errorBody` of the same status, so that
/// no client ever sees a plain-text error.
pub fn json_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(
                response.map_into_left_body(),
            ));
        }
        let replacement = ApiError::Http(response.status()).error_response();
        let (request, _) = response.into_parts();
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(request, replacement).map_into_right_body(),
        ))
    })
}
