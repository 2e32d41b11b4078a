//! Dates of the contract (`format: date`) written into JSON answers. chrono writes a date
//! through the formatting machinery, character by character; a page of bills writes about
//! eighty, and that was two fifths of the time its JSON took (`perf`, list bills under
//! `make bench`). These write the same text directly.

use chrono::{Datelike, NaiveDate};
use serde::{Serializer, ser::Error};

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
