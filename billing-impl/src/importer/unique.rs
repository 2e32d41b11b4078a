//! JSON read by serde_json into its `Value`, with two rules more: an object that gives a
//! property twice is refused, naming it (`customer.id`), where serde_json keeps the last
//! silently; a text of more than [`MAX_VALUES`] values is refused before they are all
//! built (a megabyte of `[0,0,…]` is half a million values, 16 MB as `Value`s); and an
//! amount (a property the caller names) of more than two decimals is refused, told by its
//! text as written (serde_json's `RawValue`), which its double cannot always tell.

use std::cell::{Cell, RefCell};

use serde::de::{self, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value, value::RawValue};

use super::fields;

/// The most values (numbers, strings, objects…, nested ones included) a text may hold:
/// a record of the contract holds about forty.
pub const MAX_VALUES: usize = 10_000;

/// Why a text is not one JSON value with each property once.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON, serde_json's message.
    NotJson(String),
    /// The property at this path is given twice.
    Twice(String),
    /// More than [`MAX_VALUES`] values.
    TooMany,
    /// The amount at this path is not one of at most two decimals: why.
    Inexact(String, &'static str),
}

/// What was found wrong at a path.
#[derive(Clone, Copy)]
enum Found {
    Twice,
    Inexact(&'static str),
}

/// The JSON value `text` holds, whose objects give each property once, and whose
/// properties named `money` are numbers of at most two decimals where they are numbers.
pub fn value(text: &str, money: &[&str]) -> Result<Value, Problem> {
    let found = RefCell::new(None);
    let values = Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let read = Unique {
        found: &found,
        values: &values,
        money,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (read, found.into_inner()) {
        (Ok(value), _) => Ok(value),
        (Err(_), _) if values.get() > MAX_VALUES => Err(Problem::TooMany),
        (Err(_), Some((found, mut path))) => {
            path.reverse();
            let path = path.concat().trim_start_matches('.').to_owned();
            Err(match found {
                Found::Twice => Problem::Twice(path),
                Found::Inexact(why) => Problem::Inexact(path, why),
            })
        }
        (Err(error), None) => Err(Problem::NotJson(error.to_string())),
    }
}

/// Builds a `Value` as serde_json's own visitor does. On a repeated property, or an
/// amount of more than two decimals, it fails, leaving in `found` what and the path to it,
/// innermost first (each object it is in adds its property on the way out, so that the
/// path costs nothing while all is well).
#[derive(Clone, Copy)]
struct Unique<'a> {
    found: &'a RefCell<Option<(Found, Vec<String>)>>,
    /// How many values were met so far.
    values: &'a Cell<usize>,
    /// The properties that are amounts.
    money: &'a [&'a str],
}

impl Unique<'_> {
    fn add_to_path(&self, segment: impl FnOnce() -> String) {
        if let Some((_, path)) = self.found.borrow_mut().as_mut() {
            path.push(segment());
        }
    }
}

impl<'de> DeserializeSeed<'de> for Unique<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.values.set(self.values.get() + 1);
        if self.values.get() > MAX_VALUES {
            return Err(D::Error::custom(format_args!(
                "more than {MAX_VALUES} values"
            )));
        }
        deserializer.deserialize_any(self)
    }
}

impl Unique<'_> {
    /// The next value of `entries`, an amount: read from its text as written, which must
    /// have at most two decimals when it is a number (any other value is left to the
    /// record's checks, as it is).
    fn amount<'de, A: MapAccess<'de>>(self, entries: &mut A) -> Result<Value, A::Error> {
        let written: &RawValue = entries.next_value()?;
        let mut deserializer = serde_json::Deserializer::from_str(written.get());
        let value = self
            .deserialize(&mut deserializer)
            .map_err(A::Error::custom)?;
        if value.is_number()
            && let Err(why) = fields::two_decimals(written.get())
        {
            *self.found.borrow_mut() = Some((Found::Inexact(why), Vec::new()));
            return Err(A::Error::custom(why));
        }
        Ok(value)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut values = Vec::new();
        loop {
            match items.next_element_seed(self) {
                Ok(Some(value)) => values.push(value),
                Ok(None) => return Ok(Value::Array(values)),
                Err(error) => {
                    let at = values.len();
                    self.add_to_path(|| format!("[{at}]"));
                    return Err(error);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if object.contains_key(&key) {
                *self.found.borrow_mut() = Some((Found::Twice, vec![format!(".{key}")]));
                return Err(A::Error::custom(format_args!("`{key}` is given twice")));
            }
            let value = match self.money.contains(&key.as_str()) {
                true => self.amount(&mut entries),
                false => entries.next_value_seed(self),
            };
            match value {
                Ok(value) => {
                    object.insert(key, value);
                }
                Err(error) => {
                    self.add_to_path(|| format!(".{key}"));
                    return Err(error);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_is_read_as_serde_json_reads_it() {
        let text = r#"{"a": [1, -2, 2.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        assert_eq!(
            value(text, &[]),
            Ok(serde_json::from_str::<Value>(text).expect("JSON"))
        );
        assert_eq!(value("[]", &[]), Ok(json!([])));
        let most = format!("[{}]", vec!["0"; MAX_VALUES - 1].join(","));
        assert!(value(&most, &[]).is_ok());
        let more = format!("[{}]", vec!["0"; MAX_VALUES].join(","));
        assert_eq!(value(&more, &[]), Err(Problem::TooMany));
        assert!(matches!(
            value("{\"a\": 1} x", &[]),
            Err(Problem::NotJson(_))
        ));
        assert!(matches!(value("{\"a\": ", &[]), Err(Problem::NotJson(_))));
    }

    #[test]
    fn a_property_given_twice_is_named_by_its_path() {
        assert_eq!(
            value(r#"{"name": "first", "name": "second"}"#, &[]),
            Err(Problem::Twice("name".to_owned()))
        );
        assert_eq!(
            value(r#"{"customer": {"id": 1, "idType": "X", "id": 2}}"#, &[]),
            Err(Problem::Twice("customer.id".to_owned()))
        );
        assert_eq!(
            value(r#"{"a": [{}, {"b": 1, "b": 1}]}"#, &[]),
            Err(Problem::Twice("a[1].b".to_owned()))
        );
        assert_eq!(
            value(r#"{"a": {"b": 1}, "c": {"b": 1}}"#, &[]),
            Ok(json!({"a": {"b": 1}, "c": {"b": 1}}))
        );
    }

    #[test]
    fn an_amount_is_told_by_its_text() {
        let money = &["a"];
        for exact in [
            "1",
            "-0.5",
            "12.34",
            "9999999999999.99",
            "12.340",
            "1.5e1",
            "\"x\"",
        ] {
            let text = format!("{{\"a\": {exact}, \"b\": 1.2345}}");
            assert!(value(&text, money).is_ok(), "{exact}");
        }
        for inexact in [
            "9999999999999.991",
            "12.345",
            "0.001",
            "1e-3",
            "12.340000000000001",
        ] {
            let text = format!("{{\"c\": {{\"a\": 1.001}}, \"a\": {inexact}}}");
            assert_eq!(
                value(&text, money),
                Err(Problem::Inexact(
                    "c.a".to_owned(),
                    "has more than two decimals"
                )),
                "the first, nested: {inexact}"
            );
            let text = format!("{{\"a\": {inexact}}}");
            assert_eq!(
                value(&text, money),
                Err(Problem::Inexact(
                    "a".to_owned(),
                    "has more than two decimals"
                )),
                "{inexact}"
            );
        }
        assert_eq!(
            value(r#"{"a": 1, "a": 2}"#, money),
            Err(Problem::Twice("a".to_owned()))
        );
    }
}
