//! The contract's rules, applied to the properties of an import's records: objects read
//! into the generated models (or, for what the contract has no model of, into structs of
//! the same names), checked with the generated validation, and the few rules of the
//! database that the contract leaves unsaid (money in NUMERIC(15, 2), no NUL in text).

use billing_api::models;
use contract_runtime::{Violation, WireNames, violation};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use validator::Validate;

use super::Rejection;

/// A customer as the records name it: `{"idType", "id"}`, as the paths of the API do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerName {
    #[serde(rename = "idType")]
    pub id_type: String,
    pub id: i64,
}

/// `object` read as `T`; a rejection names the property that does not fit, as `prefix`
/// and its path.
pub fn read<T: DeserializeOwned>(prefix: &str, object: Map<String, Value>) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let path = error.path().to_string();
        let problem = error.into_inner().to_string();
        match path.as_str() {
            "." => Rejection::new(format!("{}{problem}", described(prefix))),
            path => Rejection::at(format!("{prefix}{path}"), problem),
        }
    })
}

fn described(prefix: &str) -> String {
    match prefix.strip_suffix('.') {
        Some(object) => format!("`{object}`: "),
        None => String::new(),
    }
}

/// Takes the properties `names` out of `object`, into an object of their own.
pub fn take(object: &mut Map<String, Value>, names: &[&str]) -> Map<String, Value> {
    names
        .iter()
        .filter_map(|name| object.remove_entry(*name))
        .collect()
}

/// `value` when it meets the spec's constraints; else a rejection of the property that
/// breaks one, named by `wire` (its name in the record).
pub fn valid<V: Validate + WireNames>(
    value: V,
    wire: impl Fn(&str) -> String,
) -> Result<V, Rejection> {
    match violation(&value) {
        None => Ok(value),
        Some(Violation { field, detail }) => Err(Rejection::at(wire(&field), detail)),
    }
}

/// The customer `name`, checked as the API checks a customer in its paths; `prefix` is
/// where the record holds it (`customer.`, or nothing).
pub fn customer(prefix: &str, name: CustomerName) -> Result<(String, i64), Rejection> {
    let models::ListBillingGroupsPathParams { id, id_type } = valid(
        models::ListBillingGroupsPathParams {
            id: name.id,
            id_type: name.id_type,
        },
        |field| format!("{prefix}{field}"),
    )?;
    Ok((id_type, id))
}

/// Takes `customer` out of `object`: the customer the record belongs to, checked.
pub fn owner(object: &mut Map<String, Value>) -> Result<(String, i64), Rejection> {
    match object.remove("customer") {
        None => Err(Rejection::at("customer", "is missing")),
        Some(Value::Object(name)) => customer("customer.", read("customer.", name)?),
        Some(_) => Err(Rejection::at("customer", "is not an object")),
    }
}

/// An MSISDN, checked as the profile's path checks it.
pub fn msisdn(field: &str, msisdn: i64) -> Result<i64, Rejection> {
    let models::GetClientAccountGeneralInfoPathParams { msisdn } = valid(
        models::GetClientAccountGeneralInfoPathParams { msisdn },
        |_| field.to_owned(),
    )?;
    Ok(msisdn)
}

/// Text PostgreSQL can store (no NUL), of at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.contains('\0') {
        return Err(Rejection::at(field, "holds a NUL character"));
    }
    if value.chars().count() > max {
        return Err(Rejection::at(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    Ok(())
}

/// Optional text, as `text` checks it.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<(), Rejection> {
    value.map_or(Ok(()), |value| text(field, value, max))
}

/// A number written in digits only (a contract number, an MSISDN in a reference), as the
/// whole number it is. The contract writes these as strings, but the API filters bills by
/// `contractNumber`, an int64, and the database keeps the number: a leading zero, which
/// the number would drop (`007` answered as `7`), is refused rather than lost.
pub fn digits(field: &str, value: &str) -> Result<i64, Rejection> {
    if value.is_empty() || value.len() > 18 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::at(field, "is not 1 to 18 digits"));
    }
    if value.len() > 1 && value.starts_with('0') {
        return Err(Rejection::at(
            field,
            "starts with a zero, which it is not kept with: it is stored, and filtered by, as \
             the number it is",
        ));
    }
    value
        .parse()
        .map_err(|_| Rejection::at(field, "is not 1 to 18 digits"))
}

/// Refuses an amount written `written` (a JSON number's text, or a CSV cell that is one)
/// that has more than two decimals, its trailing zeros not counted: told from the text, as
/// its double cannot tell `9999999999999.991` from `9999999999999.99`.
pub fn two_decimals(written: &str) -> Result<(), &'static str> {
    let exact = match written.contains(['e', 'E']) {
        true => rust_decimal::Decimal::from_scientific(written),
        false => rust_decimal::Decimal::from_str_exact(written),
    };
    match exact {
        Ok(amount) if amount.normalize().scale() <= 2 => Ok(()),
        Ok(_) => Err("has more than two decimals"),
        Err(_) => Err("has more digits than an amount holds"),
    }
}

/// The largest amount NUMERIC(15, 2) holds, in cents.
const MAX_CENTS: i64 = 999_999_999_999_999;

/// An amount of money as whole cents: a number with at most two decimals, within what
/// NUMERIC(15, 2) holds. Its text was checked as it was read ([`two_decimals`]); here its
/// double is checked to be the one nearest its cents ÷ 100 (both are below 2^53, and IEEE
/// division rounds to nearest), which a number built otherwise may not be.
pub fn cents(field: &str, amount: f64) -> Result<i64, Rejection> {
    let cents = (amount * 100.0).round();
    if !amount.is_finite() || cents.abs() > MAX_CENTS as f64 {
        return Err(Rejection::at(field, "is beyond ±9999999999999.99"));
    }
    if cents / 100.0 != amount {
        return Err(Rejection::at(field, "has more than two decimals"));
    }
    Ok(cents as i64)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn amounts_have_at_most_two_decimals_within_numeric_15_2() {
        assert_eq!(cents("a", 12.34), Ok(1234));
        assert_eq!(cents("a", -0.01), Ok(-1));
        assert_eq!(cents("a", 9_999_999_999_999.99), Ok(MAX_CENTS));
        for written in ["0.3", "1234567890123.45", "0.07", "-42"] {
            let amount: f64 = written.parse().expect("a number");
            let cents = cents("a", amount).expect(written);
            assert_eq!(
                format!("{}", cents as f64 / 100.0),
                written,
                "back to {written}"
            );
        }
        assert!(
            cents("a", 0.1 + 0.2).is_err(),
            "not the number nearest to 0.3"
        );
        assert!(cents("a", 12.345).is_err());
        assert!(cents("a", 10_000_000_000_000.0).is_err());
        assert!(cents("a", f64::NAN).is_err());
    }

    #[test]
    fn a_property_that_does_not_fit_is_named_with_its_path() {
        let object = json!({"idType": "CLIENT_CODE", "id": "x"});
        let Value::Object(object) = object else {
            unreachable!()
        };
        let rejection = read::<CustomerName>("customer.", object).expect_err("a string id");
        assert_eq!(rejection.field.as_deref(), Some("customer.id"));
        let Value::Object(missing) = json!({"idType": "CLIENT_CODE"}) else {
            unreachable!()
        };
        let rejection = read::<CustomerName>("customer.", missing).expect_err("no id");
        assert!(
            rejection.reason.contains("missing field `id`"),
            "{rejection:?}"
        );
    }

    #[test]
    fn a_customer_is_checked_as_the_paths_check_it() {
        let name = |id_type: &str, id| CustomerName {
            id_type: id_type.to_owned(),
            id,
        };
        assert_eq!(
            customer("customer.", name("CLIENT_CODE", 7)),
            Ok(("CLIENT_CODE".to_owned(), 7))
        );
        let bad = customer("customer.", name("1BAD", 7)).expect_err("pattern");
        assert_eq!(bad.field.as_deref(), Some("customer.idType"));
        let negative = customer("", name("CLIENT_CODE", -1)).expect_err("range");
        assert_eq!(negative.field.as_deref(), Some("id"));
    }
}
