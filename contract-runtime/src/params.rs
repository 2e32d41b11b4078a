//! Parameters as the spec declares them: parsed from the path, the query string and the
//! headers, then checked against the spec's constraints, each refusal naming what the
//! client sent.

use std::{borrow::Cow, fmt::Display, str::FromStr};

use actix_web::HttpRequest;
use regex::Regex;
use serde::{Deserialize, Deserializer};
use validator::{Validate, ValidationError};

use crate::ContractError;

/// Maps a Rust field name to its name on the wire, so that messages name what the client
/// sent.
pub trait WireNames {
    /// The wire name of `field`, or `field` itself when it has none of its own.
    fn wire_name(field: &str) -> &str;
}

/// How a parameter is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// Digits, with a `-` or a decimal point where the type allows; no `+`, no spaces.
    Number,
}

fn parse_value<V>(
    location: &str,
    wire_name: &str,
    raw: &str,
    kind: Kind,
) -> Result<V, ContractError>
where
    V: FromStr,
    V::Err: Display,
{
    // Rust's parsers accept a leading `+`, which no JSON-Schema number has.
    if kind == Kind::Number && raw.starts_with('+') {
        return Err(ContractError::BadRequest(format!(
            "{location} parameter `{wire_name}`: invalid digit found in string"
        )));
    }
    raw.parse().map_err(|error| {
        ContractError::BadRequest(format!("{location} parameter `{wire_name}`: {error}"))
    })
}

/// The path segment named `segment` in the route, parsed.
pub fn path_param<V>(
    request: &HttpRequest,
    segment: &str,
    wire_name: &str,
    kind: Kind,
) -> Result<V, ContractError>
where
    V: FromStr,
    V::Err: Display,
{
    let raw = request.match_info().get(segment).ok_or_else(|| {
        ContractError::BadRequest(format!("path parameter `{wire_name}` is missing"))
    })?;
    parse_value("path", wire_name, raw, kind)
}

/// The decoded query string. Parameters the operation does not declare are ignored; a
/// declared one given twice is a 400.
pub struct QueryString<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> QueryString<'a> {
    /// The query string of `request`, decoded.
    pub fn parse(request: &'a HttpRequest) -> Self {
        Self {
            pairs: form_urlencoded::parse(request.query_string().as_bytes()).collect(),
        }
    }

    fn raw(&self, wire_name: &str) -> Result<Option<&str>, ContractError> {
        let mut values = self.pairs.iter().filter(|(name, _)| name == wire_name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Ok(Some(value)),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(ContractError::BadRequest(format!(
                "query parameter `{wire_name}` is given more than once"
            ))),
        }
    }

    /// The parameter `wire_name`, parsed; `None` when absent.
    pub fn optional<V>(&self, wire_name: &str, kind: Kind) -> Result<Option<V>, ContractError>
    where
        V: FromStr,
        V::Err: Display,
    {
        self.raw(wire_name)?
            .map(|raw| parse_value("query", wire_name, raw, kind))
            .transpose()
    }

    /// The parameter `wire_name`, parsed; a 400 naming it when absent.
    pub fn required<V>(&self, wire_name: &str, kind: Kind) -> Result<V, ContractError>
    where
        V: FromStr,
        V::Err: Display,
    {
        self.optional(wire_name, kind)?.ok_or_else(|| {
            ContractError::BadRequest(format!("query parameter `{wire_name}` is required"))
        })
    }
}

/// The header `wire_name`, parsed; `None` when absent.
pub fn header_param<V>(
    request: &HttpRequest,
    wire_name: &str,
    kind: Kind,
) -> Result<Option<V>, ContractError>
where
    V: FromStr,
    V::Err: Display,
{
    request
        .headers()
        .get(wire_name)
        .map(|value| {
            let raw = value.to_str().map_err(|_| {
                ContractError::BadRequest(format!("header `{wire_name}` is not visible ASCII"))
            })?;
            parse_value("header", wire_name, raw, kind)
        })
        .transpose()
}

/// The header `wire_name`, parsed; a 400 naming it when absent.
pub fn required_header<V>(
    request: &HttpRequest,
    wire_name: &str,
    kind: Kind,
) -> Result<V, ContractError>
where
    V: FromStr,
    V::Err: Display,
{
    header_param(request, wire_name, kind)?
        .ok_or_else(|| ContractError::BadRequest(format!("header `{wire_name}` is required")))
}

/// `value` once it meets the constraints of the spec; else a 400 naming the first field
/// (by its wire name) that breaks one. `what` says where the field was sent.
pub fn validated<V: Validate + WireNames>(what: &str, value: V) -> Result<V, ContractError> {
    match violation(&value) {
        None => Ok(value),
        Some(Violation { field, detail }) => Err(ContractError::BadRequest(format!(
            "{what} `{field}` {detail}"
        ))),
    }
}

/// The first constraint of the spec a value breaks: the field, by its wire name, and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub detail: String,
}

/// The first constraint of the spec that `value` breaks, if any (fields in name order).
pub fn violation<V: Validate + WireNames>(value: &V) -> Option<Violation> {
    let errors = value.validate().err()?;
    let mut fields: Vec<_> = errors.errors().keys().collect();
    fields.sort();
    let field = fields
        .first()
        .map(|field| V::wire_name(field))
        .unwrap_or("value");
    let detail = errors
        .field_errors()
        .iter()
        .filter(|(name, _)| V::wire_name(name) == field)
        .flat_map(|(_, errors)| errors.iter())
        .next()
        .map(describe_one)
        .unwrap_or_else(|| "is invalid".to_owned());
    Some(Violation {
        field: field.to_owned(),
        detail,
    })
}

fn describe_one(error: &ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(|value| value.to_string());
    match error.code.as_ref() {
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (None, None) => "is out of range".to_owned(),
        },
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            (None, None) => "has the wrong length".to_owned(),
        },
        "regex" => "does not match the pattern of the spec".to_owned(),
        other => format!("fails the `{other}` check"),
    }
}

/// One of the spec's patterns, compiled. The generated code calls it once per pattern
/// (each is named once in the spec's `x-patterns`), on first use.
///
/// # Panics
/// When `source` is not a valid regular expression: `make generate` copies the spec's
/// patterns, so this is a broken spec, found by the first test that uses the pattern.
pub fn pattern(source: &str) -> Regex {
    Regex::new(source).unwrap_or_else(|error| panic!("the spec's pattern {source:?}: {error}"))
}

/// Reads an optional property that may be left out but, not being nullable, not sent as
/// `null` (serde's `deserialize_with` of such properties).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[derive(Validate)]
    struct Page {
        #[validate(range(min = 1, max = 100))]
        quantity: u32,
    }

    impl WireNames for Page {
        fn wire_name(field: &str) -> &str {
            match field {
                "quantity" => "pageSize",
                other => other,
            }
        }
    }

    #[test]
    fn a_refusal_names_the_wire_name_and_the_bounds() {
        let refused = validated("query parameter", Page { quantity: 0 });
        assert_eq!(
            refused.err(),
            Some(ContractError::BadRequest(
                "query parameter `pageSize` must be between 1 and 100".to_owned()
            ))
        );
    }

    #[test]
    fn a_number_with_a_plus_sign_is_refused() {
        let request = TestRequest::with_uri("/?n=+5").to_http_request();
        let query = QueryString::parse(&request);
        assert!(query.optional::<u32>("n", Kind::Number).is_err());
        assert_eq!(
            query.optional::<String>("n", Kind::Text),
            Ok(Some(" 5".to_owned()))
        );
    }

    #[test]
    fn a_parameter_given_twice_is_refused_and_a_missing_required_one_named() {
        let request = TestRequest::with_uri("/?a=1&a=2").to_http_request();
        let query = QueryString::parse(&request);
        assert!(query.optional::<u32>("a", Kind::Number).is_err());
        assert_eq!(
            query.required::<u32>("b", Kind::Number),
            Err(ContractError::BadRequest(
                "query parameter `b` is required".to_owned()
            ))
        );
    }
}
