//! `POST /oauth/client_credential/accesstoken`: the token endpoint of the contract's
//! `application` flow (RFC 6749 §4.4, client credentials), with the operator's extra
//! response fields `issued_at` (Unix milliseconds), `client_id`, `application_name` and
//! `status`.

use std::{collections::BTreeSet, time::Duration};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use actix_web_httpauth::headers::authorization::{Basic, Scheme};
use chrono::Utc;
use serde::Serialize;

use super::{
    SCOPES,
    keys::KeyRing,
    secrets::{self, SecretVerifier, Verdict},
    throttle::{FailureThrottle, GrantLimit},
};
use crate::{
    db::{self, Database, DbError, clients::APPROVED},
    metrics::Metrics,
};

/// The path of the token endpoint, as the spec's `tokenUrl` names it.
pub const TOKEN_PATH: &str = "/oauth/client_credential/accesstoken";

/// What the token endpoint needs.
#[derive(Clone)]
pub struct TokenIssuer {
    pub database: Database,
    pub secrets: SecretVerifier,
    pub keys: KeyRing,
    pub metrics: Metrics,
    pub throttle: FailureThrottle,
    pub grants: GrantLimit,
    pub token_ttl: Duration,
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    scope: String,
    issued_at: i64,
    client_id: String,
    application_name: String,
    status: &'static str,
}

/// A refusal (RFC 6749 §5.2).
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client(basic_challenge: bool) -> Self {
        Self {
            basic_challenge,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }

    /// A bug: `server_error` (500); the cause goes to the log.
    fn server_error(cause: impl std::fmt::Display) -> Self {
        log::error!("token endpoint: internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the request could not be completed",
        )
    }

    /// A failure of the database: `temporarily_unavailable` (503) when it is unavailable,
    /// retried after the same delay as the API's 503s; else `server_error`.
    fn database(failure: DbError) -> Self {
        if !failure.is_unavailable() {
            return Self::server_error(failure);
        }
        log::error!("token endpoint: {failure}");
        Self {
            retry_after: Some(crate::error::RETRY_AFTER_SECONDS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is briefly unavailable; retry later",
            )
        }
    }

    fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        no_store(&mut response);
        if self.basic_challenge {
            response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"oauth\""));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response
            .json(serde_json::json!({ "error": self.error, "error_description": self.description }))
    }
}

fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

/// The request's parameters: the query string's and the form body's together, each at
/// most once (RFC 6749 §3.2).
#[derive(Debug, Default)]
struct Parameters(Vec<(String, String)>);

impl Parameters {
    fn read(request: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> =
            form_urlencoded::parse(request.query_string().as_bytes())
                .into_owned()
                .collect();
        if !body.is_empty() {
            let content_type = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            if !content_type.starts_with("application/x-www-form-urlencoded") {
                return Err(OAuthError::invalid_request(
                    "the body must be application/x-www-form-urlencoded",
                ));
            }
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        let mut names = BTreeSet::new();
        for (name, value) in &pairs {
            // The seed's token URL carries grant_type in the query; the same value may repeat in the body.
            let repeated_same = name == "grant_type"
                && pairs
                    .iter()
                    .filter(|(n, _)| n == name)
                    .all(|(_, v)| v == value);
            if !names.insert(name.as_str()) && !repeated_same {
                return Err(OAuthError::invalid_request(format!(
                    "`{name}` is given more than once"
                )));
            }
        }
        Ok(Parameters(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The credentials the client presented, and whether they came by HTTP Basic.
struct PresentedCredentials {
    client_id: String,
    secret: String,
    by_basic: bool,
}

fn client_credentials(
    request: &HttpRequest,
    parameters: &Parameters,
) -> Result<PresentedCredentials, OAuthError> {
    let form = (parameters.get("client_id"), parameters.get("client_secret"));
    let mut authorizations = request.headers().get_all(header::AUTHORIZATION);
    if let Some(first) = authorizations.next() {
        if authorizations.next().is_some() {
            return Err(OAuthError::invalid_request(
                "send one Authorization header, not several",
            ));
        }
        if form.0.is_some() || form.1.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        let basic = Basic::parse(first).map_err(|_| OAuthError::invalid_client(true))?;
        // RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they are
        // joined and base64-encoded; clients that follow it (openid-client) encode `-`,
        // `_`, `.` and `~`. Decoding leaves a value that was not encoded as it is, since
        // the server makes ids and secrets of base64url characters only.
        return Ok(PresentedCredentials {
            client_id: form_urldecoded(basic.user_id()),
            secret: basic.password().map(form_urldecoded).unwrap_or_default(),
            by_basic: true,
        });
    }
    match form {
        (Some(client_id), Some(secret)) => Ok(PresentedCredentials {
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            by_basic: false,
        }),
        _ => Err(OAuthError::invalid_client(true)),
    }
}

/// `value` decoded as `application/x-www-form-urlencoded` decodes one value.
fn form_urldecoded(value: &str) -> String {
    percent_encoding::percent_decode_str(&value.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The scopes to grant: the requested ones, each allowed to the client, or all the
/// client's scopes when none are requested.
fn granted_scopes(requested: Option<&str>, allowed: &str) -> Result<Vec<String>, OAuthError> {
    let allowed: Vec<&str> = allowed.split(' ').collect();
    let Some(requested) = requested else {
        return Ok(allowed.into_iter().map(str::to_owned).collect());
    };
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&scope) || !allowed.contains(&scope) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("the client may not request `{scope}`"),
            ));
        }
        if !granted.iter().any(|g| g == scope) {
            granted.push(scope.to_owned());
        }
    }
    if granted.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "the scope is empty",
        ));
    }
    Ok(granted)
}

/// Serves the token endpoint.
pub async fn issue_token(
    request: HttpRequest,
    body: web::Bytes,
    issuer: web::Data<TokenIssuer>,
) -> HttpResponse {
    match issue(&request, &body, &issuer).await {
        Ok(token) => {
            issuer.metrics.granted();
            let mut response = HttpResponse::Ok();
            no_store(&mut response);
            response.json(token)
        }
        Err(error) => {
            let throttled = error.status == StatusCode::TOO_MANY_REQUESTS;
            issuer.metrics.grant_refused(error.error, throttled);
            error.into_response()
        }
    }
}

async fn issue(
    request: &HttpRequest,
    body: &[u8],
    issuer: &TokenIssuer,
) -> Result<TokenResponse, OAuthError> {
    let parameters = Parameters::read(request, body)?;
    match parameters.get("grant_type") {
        None => return Err(OAuthError::invalid_request("`grant_type` is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
    }
    let credentials = client_credentials(request, &parameters)?;
    let address = request
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    // Failures count against the (client id, address) pair and against the address: one
    // address that sends wrong secrets locks itself out, never the client elsewhere.
    let throttle_keys = [
        format!("client:{}@{address}", credentials.client_id),
        format!("address:{address}"),
    ];
    if let Some(seconds) = issuer.throttle.locked_out(&throttle_keys) {
        return Err(OAuthError {
            retry_after: Some(seconds),
            ..OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed client authentications; retry later",
            )
        });
    }
    // Before any lookup: a client over its grants costs neither a read nor a secret check.
    if let Some(seconds) = issuer.grants.check(&throttle_keys[0]) {
        return Err(OAuthError {
            retry_after: Some(seconds),
            ..OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many tokens asked for; reuse a token until it expires",
            )
        });
    }

    let client_id = credentials.client_id.clone();
    let client = issuer
        .database
        .read(move |conn| Ok(db::clients::credentials(conn, &client_id)?))
        .await
        .map_err(OAuthError::database)?;
    let hash = client.as_ref().map(|c| c.secret_hash.clone());
    let verdict = issuer.secrets.verify(credentials.secret, hash).await;
    let (Some(client), Verdict::Accepted { upgrade }) = (client, verdict) else {
        issuer.throttle.record_failure(&throttle_keys);
        return Err(OAuthError::invalid_client(credentials.by_basic));
    };
    if client.status != APPROVED {
        issuer.throttle.record_failure(&throttle_keys);
        return Err(OAuthError::invalid_client(credentials.by_basic));
    }

    let scopes = granted_scopes(parameters.get("scope"), &client.scopes)?;
    issuer
        .keys
        .ensure_loaded(&issuer.database)
        .await
        .map_err(OAuthError::database)?;
    let random = secrets::new_secret().map_err(OAuthError::server_error)?;
    let token = issuer.keys.sign(&random).ok_or_else(|| {
        OAuthError::server_error("no live token-signing key: run `billing keys rotate`")
    })?;
    let digest = secrets::token_digest(&token);
    let issued_at = Utc::now();
    let ttl = chrono::Duration::from_std(issuer.token_ttl).map_err(OAuthError::server_error)?;
    let expires_at = issued_at + ttl;
    let (client_id, stored_scopes) = (client.client_id.clone(), scopes.join(" "));
    issuer
        .database
        .write(move |conn| {
            // The client's dead tokens go as it gets a new one: the table holds live tokens only.
            db::tokens::delete_expired(conn, &client_id, issued_at)?;
            if let Some(digest) = &upgrade {
                db::clients::set_secret_hash(conn, &client_id, digest)?;
            }
            Ok(db::tokens::insert(
                conn,
                &digest,
                &client_id,
                &stored_scopes,
                issued_at,
                expires_at,
            )?)
        })
        .await
        .map_err(OAuthError::database)?;

    Ok(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: issuer.token_ttl.as_secs(),
        scope: scopes.join(" "),
        issued_at: issued_at.timestamp_millis(),
        client_id: client.client_id,
        application_name: client.name,
        status: APPROVED,
    })
}
