//! The contract and its docs page, needing no token: `GET {basePath}/swagger.json` and
//! `GET {basePath}/swagger.yaml` serve the spec the server was generated from, and
//! `GET {basePath}/docs/` serves Swagger UI, its assets compiled into the binary. The spec
//! names this deployment (host, schemes, base path and token URL: those of
//! `BILLING_PUBLIC_URL`, else of the request), so that "Try it out" works against it.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header,
    web::{self, ServiceConfig},
};
use serde_json::{Value, json};
use swagger_ui_dist::{ApiDefinition, OpenApiSource};

use crate::{auth::token_endpoint::TOKEN_PATH, error::ApiError};

/// The spec the generated code was made from.
const SPEC: &str = include_str!("../../spec/billing.yaml");

/// The contract as this deployment serves it.
pub struct Contract {
    spec: Value,
    base_path: String,
    /// `scheme://host[:port]` clients reach the server at, when set.
    public_url: Option<String>,
}

impl Contract {
    /// The spec, read once, for a deployment under `base_path`.
    pub fn new(base_path: &str, public_url: Option<String>) -> Result<Self, serde_norway::Error> {
        Ok(Self {
            spec: serde_norway::from_str(SPEC)?,
            base_path: base_path.to_owned(),
            public_url,
        })
    }

    /// The spec with this deployment's host, schemes, base path and token URL.
    fn for_request(&self, request: &HttpRequest) -> Value {
        let info = request.connection_info();
        let (scheme, host) = match self
            .public_url
            .as_deref()
            .and_then(|url| url.split_once("://"))
        {
            Some((scheme, host)) => (scheme.to_owned(), host.trim_end_matches('/').to_owned()),
            None => (info.scheme().to_owned(), info.host().to_owned()),
        };
        let mut spec = self.spec.clone();
        spec["host"] = json!(host);
        spec["schemes"] = json!([scheme]);
        spec["basePath"] = json!(self.base_path);
        if let Some(flow) = spec.pointer_mut("/securityDefinitions/application") {
            flow["tokenUrl"] = json!(format!(
                "{scheme}://{host}{TOKEN_PATH}?grant_type=client_credentials"
            ));
        }
        spec
    }
}

/// Mounts the contract and the docs page under the base path; before the API's own scope,
/// which would answer these paths 404.
pub fn configure(cfg: &mut ServiceConfig, contract: web::Data<Contract>) {
    let base = contract.base_path.clone();
    cfg.app_data(contract)
        .route(&format!("{base}/swagger.json"), web::get().to(spec_json))
        .route(&format!("{base}/swagger.yaml"), web::get().to(spec_yaml))
        .route(&format!("{base}/docs"), web::get().to(docs_root))
        .service(swagger_ui_dist::generate_scope(ApiDefinition {
            uri_prefix: format!("{base}/docs"),
            api_definition: OpenApiSource::Uri(format!("{base}/swagger.json")),
            title: Some("Selfcare API Billing".to_owned()),
        }));
}

async fn spec_json(request: HttpRequest, contract: web::Data<Contract>) -> HttpResponse {
    HttpResponse::Ok().json(contract.for_request(&request))
}

async fn spec_yaml(
    request: HttpRequest,
    contract: web::Data<Contract>,
) -> Result<HttpResponse, ApiError> {
    let yaml = serde_norway::to_string(&contract.for_request(&request))
        .map_err(|error| ApiError::Internal(format!("the spec as YAML: {error}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml")
        .body(yaml))
}

/// `{basePath}/docs` → `{basePath}/docs/`, where the page is.
async fn docs_root(request: HttpRequest) -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, format!("{}/", request.path())))
        .finish()
}
