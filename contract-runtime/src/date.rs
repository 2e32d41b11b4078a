//! Dates of the contract (`format: date`, RFC 3339 `full-date`): read strictly, written
//! fast.
//!
//! Reading: chrono's own parser takes `2023-1-1` and `+12345-01-01`, which the contract's
//! `YYYY-MM-DD` is not; [`parse`] takes exactly four digits, a dash, two, a dash, two, and
//! a real calendar day. Every place the project reads a `format: date` goes through it.
//!
//! Writing: chrono writes a date through the formatting machinery, character by character;
//! a page of bills writes about eighty, and that was two fifths of the time its JSON took
//! (`perf`, list bills under `make bench`). These write the same text directly.

use chrono::{Datelike, NaiveDate};
use serde::{
    Deserialize, Deserializer, Serializer,
    de::{self, Unexpected},
    ser::Error,
};

/// What a date must look like, for messages.
pub const EXPECTED: &str = "a calendar date written YYYY-MM-DD";

/// The date `text` writes as RFC 3339 `full-date` (`2026-12-05`): four-digit year,
/// two-digit month and day, a day the calendar has. `None` for anything else.
pub fn parse(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// Deserializes a date as [`parse`] reads it.
pub fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&text), &EXPECTED))
}

/// Deserializes an optional date that, when given, is a date as [`read`] reads it (`null`
/// is refused, as [`crate::present`] refuses it); an absent one is `None` by `default`.
pub fn read_present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    read(deserializer).map(Some)
}

/// Deserializes a nullable date: `null`, or a date as [`read`] reads it.
pub fn read_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => parse(&text)
            .map(Some)
            .ok_or_else(|| de::Error::invalid_value(Unexpected::Str(&text), &EXPECTED)),
    }
}

/// Serializes `date` as `YYYY-MM-DD`, exactly as chrono does.
pub fn write<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
    let year = date.year();
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        // Signed or five-digit years: chrono's own form.
        return serializer.collect_str(date);
    };
    let mut text = *b"0000-00-00";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], date.month());
    put_digits(&mut text[8..10], date.day());
    serializer.serialize_str(std::str::from_utf8(&text).map_err(S::Error::custom)?)
}

/// Writes the last `slots.len()` decimal digits of `value` into `slots`.
fn put_digits(slots: &mut [u8], mut value: u32) {
    for slot in slots.iter_mut().rev() {
        *slot = b"0123456789"[(value % 10) as usize];
        value /= 10;
    }
}

/// Serializes an optional date as [`write`] does; the field is skipped when `None`.
pub fn write_option<S: Serializer>(
    date: &Option<NaiveDate>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => write(date, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_dates_of_the_calendar_are_read() {
        assert_eq!(parse("2026-12-05"), NaiveDate::from_ymd_opt(2026, 12, 5));
        assert_eq!(parse("2024-02-29"), NaiveDate::from_ymd_opt(2024, 2, 29));
        assert_eq!(parse("0000-01-01"), NaiveDate::from_ymd_opt(0, 1, 1));
        assert_eq!(parse("9999-12-31"), NaiveDate::from_ymd_opt(9999, 12, 31));
        for bad in [
            "+12345-01-01",
            "12345-01-01",
            "-001-01-01",
            "2023-1-1",
            "2023-01-1",
            "23-01-01",
            "2023-02-30",
            "2023-02-29",
            "2023-13-01",
            "2023-00-10",
            "2023-01-00",
            " 2023-01-01",
            "2023-01-01 ",
            "2023/01/01",
            "2023-01-01T00:00:00Z",
            "20230101",
            "２０２３-01-01",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_date_property_is_read_strictly() {
        #[derive(Deserialize, Debug)]
        struct Dated {
            #[serde(deserialize_with = "read")]
            date: NaiveDate,
            #[serde(default, deserialize_with = "read_present")]
            maybe: Option<NaiveDate>,
        }
        let dated: Dated = serde_json::from_str(r#"{"date": "2026-01-31"}"#).expect("a date");
        assert_eq!((dated.date.day(), dated.maybe), (31, None));
        let error = serde_json::from_str::<Dated>(r#"{"date": "2026-1-31"}"#).expect_err("bad");
        assert!(error.to_string().contains(EXPECTED), "{error}");
        assert!(serde_json::from_str::<Dated>(r#"{"date": "2026-01-31", "maybe": null}"#).is_err());
        assert!(serde_json::from_str::<Dated>(r#"{"date": 20260131}"#).is_err());
    }

    #[derive(serde::Serialize)]
    struct Dated {
        #[serde(serialize_with = "write")]
        date: NaiveDate,
        #[serde(serialize_with = "write_option")]
        maybe: Option<NaiveDate>,
    }

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        let dates = [
            (0, 1, 1),
            (9, 2, 3),
            (999, 12, 31),
            (2026, 11, 5),
            (2024, 2, 29),
            (9999, 12, 31),
            (10_000, 1, 1),
            (-1, 6, 15),
            (262_142, 12, 31),
        ];
        for (year, month, day) in dates {
            let date = NaiveDate::from_ymd_opt(year, month, day).expect("a valid date");
            let written = serde_json::to_string(&Dated {
                date,
                maybe: Some(date),
            })
            .expect("json");
            let expected = serde_json::to_string(&serde_json::json!({
                "date": date.to_string(),
                "maybe": date.to_string(),
            }))
            .expect("json");
            assert_eq!(written, expected);
        }
        let none = Dated {
            date: NaiveDate::MIN,
            maybe: None,
        };
        assert!(
            serde_json::to_string(&none)
                .expect("json")
                .ends_with(r#""maybe":null}"#)
        );
    }
}
