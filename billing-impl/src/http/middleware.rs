//! Request middleware: the request id every answer carries, the limits every request is
//! held to before any handler runs, `errorBody` answers in place of actix-web's own, and
//! what is counted and logged of every request.

use std::time::{Duration, Instant};

use actix_web::{
    HttpMessage, ResponseError,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::{ErrorHandlerResponse, ErrorHandlers, Next},
    web,
};

use crate::{
    auth::token_endpoint::TOKEN_PATH,
    error::{ApiError, RATELIMIT, RATELIMIT_POLICY},
    limits::enforce::{Fields, Limit},
    metrics::Metrics,
};

/// The client a request was authenticated as, noted in its extensions for the access log.
#[derive(Debug, Clone)]
pub struct ClientId(pub String);

/// What `observe` needs: the metrics, and how to name a request's operation.
#[derive(Clone)]
pub struct Observer {
    pub metrics: Metrics,
    /// The base path the API is served under.
    pub base_path: String,
}

impl Observer {
    /// The name a request is counted under: the spec's operationId for an operation, else
    /// `token`, `health`, `ready` or `unmatched`, never the path itself (whose ids would
    /// make a label per customer).
    fn operation(&self, method: &str, pattern: Option<&str>) -> &'static str {
        let Some(pattern) = pattern else {
            return "unmatched";
        };
        if pattern == TOKEN_PATH {
            return "token";
        }
        match pattern {
            "/health" => return "health",
            "/ready" => return "ready",
            _ => {}
        }
        let below_base = pattern.strip_prefix(self.base_path.as_str());
        match below_base {
            Some("/swagger.json" | "/swagger.yaml") => return "contract",
            Some(path) if path.starts_with("/docs") => return "docs",
            _ => {}
        }
        below_base
            .and_then(|path| {
                billing_api::server::OPERATIONS
                    .iter()
                    .find(|(verb, route, _)| {
                        verb.eq_ignore_ascii_case(method) && same_route(route, path)
                    })
            })
            .map_or("unmatched", |(_, _, operation)| operation)
    }
}

/// Whether two route paths are the same but for the names of their parameters (the spec
/// writes `{idType}` where the routes write `{id_type}`).
fn same_route(spec: &str, route: &str) -> bool {
    let placeholder = |segment: &str| segment.starts_with('{') && segment.ends_with('}');
    spec.split('/').count() == route.split('/').count()
        && spec
            .split('/')
            .zip(route.split('/'))
            .all(|(a, b)| a == b || (placeholder(a) && placeholder(b)))
}

/// Counts every answered request (by operation, method and status, with its latency) and
/// writes its access-log line (`access` target): no query string, header or body, so that
/// no token or secret reaches the log.
pub async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let observer = request.app_data::<web::Data<Observer>>().cloned();
    let method = request.method().clone();
    // Kept only for the access line, which is written only when its target is enabled.
    let path =
        log::log_enabled!(target: "access", log::Level::Info).then(|| request.path().to_owned());
    let peer = request.peer_addr().map(|peer| peer.ip());
    let answered = next.call(request).await;
    let took = started.elapsed();
    let (status, pattern, client, request_id, refused_by) = match &answered {
        Ok(response) => (
            response.status(),
            response.request().match_pattern(),
            response
                .request()
                .extensions()
                .get::<ClientId>()
                .map(|client| client.0.clone()),
            response
                .headers()
                .get(&REQUEST_ID)
                .and_then(|id| id.to_str().ok())
                .map(str::to_owned),
            response.request().extensions().get::<Limit>().copied(),
        ),
        Err(error) => (
            error.as_response_error().status_code(),
            None,
            None,
            None,
            None,
        ),
    };
    let operation = observer.as_ref().map_or("unmatched", |observer| {
        observer.operation(method.as_str(), pattern.as_deref())
    });
    if let Some(observer) = &observer {
        observer
            .metrics
            .request(operation, method.as_str(), status, took);
    }
    log::info!(
        target: "access",
        request_id = request_id.as_deref().unwrap_or("-"),
        operation = operation,
        status = status.as_u16(),
        latency_ms = took.as_secs_f64() * 1000.0,
        client_id = client.as_deref().unwrap_or("-"),
        refused_by = refused_by.map_or("-", Limit::as_str);
        "{} \"{method} {}\" {} {:.3} ms",
        peer.map_or_else(|| "-".to_owned(), |peer| peer.to_string()),
        path.as_deref().unwrap_or_default(),
        status.as_u16(),
        took.as_secs_f64() * 1000.0,
    );
    answered
}

/// Writes the RateLimit fields that the client's check noted in the request's
/// extensions on its answer, whatever the answer (a 429 writes its own).
pub async fn rate_limit_fields(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    let fields = response.request().extensions().get::<Fields>().cloned();
    if let Some(fields) = fields {
        let headers = response.headers_mut();
        if !headers.contains_key(&RATELIMIT) {
            headers.insert(RATELIMIT_POLICY, fields.policy);
            headers.insert(RATELIMIT, fields.limit);
        }
    }
    Ok(response)
}

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
