//! Every JSON body a test receives is checked against the response schema that
//! `spec/billing.yaml` declares for its operation and status, so that a break of the
//! contract fails `cargo test` as well as `make contract`.

use std::sync::OnceLock;

use serde_json::{Value, json};

/// The spec, as JSON.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/billing.yaml"))
                .expect("spec/billing.yaml readable");
        serde_norway::from_str(&text).expect("spec/billing.yaml is YAML")
    })
}

/// The spec path template that `path` (below the base path) matches.
fn template_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    spec()["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|template| {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
}

/// Follows a local `$ref` (`#/responses/NotFound`).
fn resolve(value: &'static Value) -> &'static Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                spec()
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} resolves")),
            )
        }
        None => value,
    }
}

/// Checks `body`, answered `status` to `method` `url`, against the spec. Answers outside
/// the spec's paths (the token endpoint, health checks) are not checked.
pub fn check_response(method: &str, url: &str, status: u16, body: &Value) {
    let base = spec()["basePath"].as_str().unwrap_or_default();
    let path = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = path.find('/').map_or("", |slash| &path[slash..]);
    let path = path.split('?').next().unwrap_or_default();
    let Some(path) = path.strip_prefix(base) else {
        return;
    };
    let Some(template) = template_of(path) else {
        // An unknown path: the routing's 404 answers an errorBody.
        return check_against(
            &json!({"$ref": "#/definitions/errorBody"}),
            body,
            &format!("{method} {url}"),
        );
    };
    let operation = &spec()["paths"][template][method.to_lowercase()];
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .map(resolve);
    let what = format!("{method} {template} → {status}");
    let schema = match response {
        Some(response) => response
            .get("schema")
            .unwrap_or_else(|| panic!("{what}: a JSON body where the spec declares none: {body}")),
        // A method the path does not serve: the routing's 405 answers an errorBody.
        None => &json!({"$ref": "#/definitions/errorBody"}),
    };
    check_against(schema, body, &what);
}

fn check_against(schema: &Value, body: &Value, what: &str) {
    let mut document = schema
        .as_object()
        .cloned()
        .unwrap_or_else(|| panic!("{what}: the spec's schema is not an object: {schema}"));
    document.insert("definitions".into(), spec()["definitions"].clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&Value::Object(document))
        .expect("the spec's schemas compile");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|error| format!("{error} at {}", error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the body breaks the contract: {errors:?}\n{body}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const BILLS: &str = "http://127.0.0.1/v2/billing/customers/CLIENT_CODE/1001/bills";

    #[test]
    fn a_body_that_fits_its_schema_passes() {
        check_response("GET", BILLS, 200, &json!({"invoice": []}));
    }

    #[test]
    #[should_panic(expected = "breaks the contract")]
    fn a_body_that_breaks_its_schema_fails() {
        check_response("GET", BILLS, 200, &json!({"bills": []}));
    }

    #[test]
    #[should_panic(expected = "a JSON body where the spec declares none")]
    fn a_body_where_the_spec_declares_none_fails() {
        check_response("GET", BILLS, 304, &json!({}));
    }
}
