//! Money columns (`NUMERIC(15, 2)`) read as exact whole cents.
//!
//! Reading them as `BigDecimal` costs an allocation per value and a trip through a decimal
//! string to reach the JSON number the contract sends; whole cents are one integer, and
//! turn into that number with one division.

use diesel::{
    deserialize::{self, FromSql, FromSqlRow},
    pg::{Pg, PgValue, data_types::PgNumeric},
    sql_types::Numeric,
};

/// An amount of money, in whole cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromSqlRow)]
pub struct Amount {
    cents: i64,
}

impl Amount {
    /// The amount of `cents` hundredths.
    const fn from_cents(cents: i64) -> Self {
        Self { cents }
    }

    /// The amount as the JSON number the contract sends: the `f64` nearest to the decimal
    /// value, which is what parsing its decimal text gives. Exact for the 15 digits of the
    /// column, because `cents` (below 2^53) converts exactly and IEEE division rounds to
    /// nearest.
    pub fn to_f64(self) -> f64 {
        self.cents as f64 / 100.0
    }
}

/// Base of PostgreSQL's numeric digits.
const NBASE: i64 = 10_000;

impl FromSql<Numeric, Pg> for Amount {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let cents = match PgNumeric::from_sql(value)? {
            PgNumeric::Positive { weight, digits, .. } => cents(weight, &digits)?,
            PgNumeric::Negative { weight, digits, .. } => -cents(weight, &digits)?,
            PgNumeric::NaN => return Err("an amount is NaN".into()),
        };
        Ok(Self::from_cents(cents))
    }
}

/// The hundredths in the base-10000 `digits` of a non-negative numeric whose first digit
/// counts 10000^`weight`.
fn cents(weight: i16, digits: &[i16]) -> Result<i64, &'static str> {
    let mut cents: i64 = 0;
    for (position, &digit) in digits.iter().enumerate() {
        let exponent = i64::from(weight) - position as i64;
        let digit = i64::from(digit);
        let contribution = match exponent {
            0.. => u32::try_from(exponent)
                .ok()
                .and_then(|exponent| NBASE.checked_pow(exponent))
                .and_then(|unit| unit.checked_mul(100))
                .and_then(|unit| unit.checked_mul(digit)),
            // The first four decimals: only the first two may be set.
            -1 if digit % 100 == 0 => Some(digit / 100),
            _ if digit == 0 => Some(0),
            _ => return Err("an amount has more than two decimals"),
        };
        cents = contribution
            .and_then(|contribution| cents.checked_add(contribution))
            .ok_or("an amount is too large")?;
    }
    Ok(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_10000_digits_are_read_as_cents() {
        // PostgreSQL's digits for 1234.56, 0.01, 10000.01, 9999999999999.99, 0, 20000000.
        assert_eq!(cents(0, &[1234, 5600]), Ok(123_456));
        assert_eq!(cents(-1, &[100]), Ok(1));
        assert_eq!(cents(1, &[1, 0, 100]), Ok(1_000_001));
        assert_eq!(
            cents(3, &[9, 9999, 9999, 9999, 9900]),
            Ok(999_999_999_999_999)
        );
        assert_eq!(cents(0, &[]), Ok(0));
        assert_eq!(cents(1, &[2000]), Ok(2_000_000_000));
    }

    #[test]
    fn more_than_two_decimals_or_more_than_i64_cents_are_refused() {
        assert!(cents(-1, &[1]).is_err(), "0.0001");
        assert!(cents(0, &[1, 2345]).is_err(), "1.2345");
        assert!(cents(-2, &[1]).is_err(), "0.00000001");
        assert!(
            cents(4, &[9, 2233, 7203, 6854, 7759]).is_err(),
            "92233720368547759: over i64::MAX cents"
        );
        assert!(cents(i16::MAX, &[1]).is_err(), "10000^32767");
    }

    #[test]
    fn the_json_number_is_the_decimal_text() {
        for (cents, text) in [
            (1, "0.01"),
            (10, "0.1"),
            (1_957, "19.57"),
            (123_456, "1234.56"),
            (-123_456, "-1234.56"),
            (999_999_999_999_999, "9999999999999.99"),
            (0, "0.0"),
        ] {
            let number = Amount::from_cents(cents).to_f64();
            assert_eq!(number, text.parse::<f64>().expect("a number"), "{text}");
            assert_eq!(serde_json::to_string(&number).expect("JSON"), text);
        }
    }
}
