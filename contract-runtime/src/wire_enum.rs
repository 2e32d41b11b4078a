//! The spec's enums: each value as it is written on the wire.

/// An enum of the spec, whose values are written on the wire as the spec spells them.
pub trait WireEnum: Sized + Copy + 'static {
    /// Every value, in the order of the spec.
    const ALL: &'static [Self];

    /// The value as it is written on the wire.
    fn as_str(&self) -> &'static str;
}

/// The value of `E` written `value`; else a message listing the values there are.
pub fn parse_enum<E: WireEnum>(value: &str) -> Result<E, String> {
    E::ALL
        .iter()
        .find(|known| known.as_str() == value)
        .copied()
        .ok_or_else(|| {
            let allowed: Vec<&str> = E::ALL.iter().map(WireEnum::as_str).collect();
            format!("must be one of {}", allowed.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Light {
        Red,
        Green,
    }

    impl WireEnum for Light {
        const ALL: &'static [Self] = &[Light::Red, Light::Green];

        fn as_str(&self) -> &'static str {
            match self {
                Light::Red => "RED",
                Light::Green => "GREEN",
            }
        }
    }

    #[test]
    fn values_parse_by_their_wire_spelling_only() {
        assert_eq!(parse_enum::<Light>("GREEN"), Ok(Light::Green));
        assert_eq!(
            parse_enum::<Light>("green"),
            Err("must be one of RED, GREEN".to_owned())
        );
    }
}
