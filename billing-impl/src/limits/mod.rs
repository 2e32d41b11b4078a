//! Each client's fair share: a rate (spike arrest, on each instance) and a quota (requests
//! per calendar window, counted across instances on the primary), and the IETF RateLimit
//! fields (draft-ietf-httpapi-ratelimit-headers-11) that tell a client where it stands.

pub mod enforce;
pub mod quota;
pub mod rate;

use std::{fmt, str::FromStr};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::Serialize;

/// The largest rate or burst: they are stored as PostgreSQL `integer`s.
pub const MAX_RATE: u32 = i32::MAX as u32;

/// The largest quota: the RateLimit fields carry it as a structured-field integer, which
/// has at most 15 digits (RFC 9651 §3.3.1).
pub const MAX_QUOTA: i64 = 999_999_999_999_999;

/// Requests smoothed to `per_second` a second, with bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s burst {}", self.per_second, self.burst)
    }
}

/// `N/s`: a rate whose burst is one second's worth, unless set apart.
impl FromStr for Rate {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let refused =
            || format!("`{value}` is not a rate: write N/s, N a whole number from 1 to {MAX_RATE}");
        let count = value.strip_suffix("/s").ok_or_else(refused)?;
        let per_second = count
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_RATE).contains(n))
            .ok_or_else(refused)?;
        Ok(Rate {
            per_second,
            burst: per_second,
        })
    }
}

/// A quota's calendar window, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Minute,
    Hour,
    Day,
    Month,
}

impl Unit {
    /// The word stored and written for the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::Day => "day",
            Unit::Month => "month",
        }
    }

    /// The name of a quota policy of this unit in the RateLimit fields.
    pub fn policy_name(self) -> &'static str {
        match self {
            Unit::Minute => "minutely",
            Unit::Hour => "hourly",
            Unit::Day => "daily",
            Unit::Month => "monthly",
        }
    }

    /// The start of the window that holds `at`.
    pub fn window_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let start = match self {
            Unit::Minute => day.and_hms_opt(at.time().hour(), at.time().minute(), 0),
            Unit::Hour => day.and_hms_opt(at.time().hour(), 0, 0),
            Unit::Day => day.and_hms_opt(0, 0, 0),
            Unit::Month => day.with_day(1).and_then(|first| first.and_hms_opt(0, 0, 0)),
        };
        start.map_or(at, |start| Utc.from_utc_datetime(&start))
    }

    /// The end of the window that starts at `start` (the start of the next).
    pub fn window_end(self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Unit::Minute => start + Duration::minutes(1),
            Unit::Hour => start + Duration::hours(1),
            Unit::Day => start + Duration::days(1),
            Unit::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start + Duration::days(31)),
        }
    }
}

impl FromStr for Unit {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "minute" => Ok(Unit::Minute),
            "hour" => Ok(Unit::Hour),
            "day" => Ok(Unit::Day),
            "month" => Ok(Unit::Month),
            other => Err(format!(
                "`{other}` is not a quota's window: minute, hour, day or month"
            )),
        }
    }
}

/// At most `limit` requests in each calendar window of `unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub limit: i64,
    pub unit: Unit,
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.limit, self.unit.as_str())
    }
}

/// `N/minute`, `N/hour`, `N/day` or `N/month`.
impl FromStr for Quota {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (count, unit) = value.split_once('/').ok_or_else(|| {
            format!("`{value}` is not a quota: write N/minute, N/hour, N/day or N/month")
        })?;
        let limit = count
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_QUOTA).contains(n))
            .ok_or_else(|| {
                format!("`{count}` is not a quota's count: a whole number from 1 to {MAX_QUOTA}")
            })?;
        Ok(Quota {
            limit,
            unit: unit.parse()?,
        })
    }
}

/// A client's own setting of one kind of limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting<T> {
    /// The server's default for that kind.
    Default,
    /// No limit of that kind, whatever the default.
    None,
    /// This limit.
    Own(T),
}

impl<T: Copy> Setting<T> {
    /// The limit in force under `default`.
    pub fn resolve(self, default: Option<T>) -> Option<T> {
        match self {
            Setting::Default => default,
            Setting::None => None,
            Setting::Own(limit) => Some(limit),
        }
    }

    /// The mode stored for the setting.
    pub fn mode(self) -> &'static str {
        match self {
            Setting::Default => "default",
            Setting::None => "none",
            Setting::Own(_) => "own",
        }
    }
}

impl<T: FromStr<Err = String>> FromStr for Setting<T> {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "default" => Ok(Setting::Default),
            "none" => Ok(Setting::None),
            value => value.parse().map(Setting::Own),
        }
    }
}

/// The limits in force for one client, resolved against the server's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub rate: Option<Rate>,
    pub quota: Option<Quota>,
}

/// The server's defaults, for clients with no limit of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Defaults {
    pub rate: Option<Rate>,
    pub quota: Option<Quota>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_refuse_clearly() {
        assert_eq!(
            "20/s".parse::<Rate>(),
            Ok(Rate {
                per_second: 20,
                burst: 20
            })
        );
        assert_eq!(
            "100/minute".parse::<Quota>(),
            Ok(Quota {
                limit: 100,
                unit: Unit::Minute
            })
        );
        assert_eq!("none".parse::<Setting<Quota>>(), Ok(Setting::None));
        assert_eq!("default".parse::<Setting<Rate>>(), Ok(Setting::Default));
        for bad in ["0/s", "20", "20/m", "-1/s", "x/s", "2147483648/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        for bad in [
            "0/day",
            "100",
            "100/week",
            "1.5/day",
            "1000000000000000/day",
        ] {
            assert!(bad.parse::<Quota>().is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_are_calendar_windows_in_utc() {
        let at = Utc.with_ymd_and_hms(2026, 2, 14, 13, 45, 30).unwrap();
        let start = Unit::Month.window_start(at);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap());
        assert_eq!(
            Unit::Month.window_end(start),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            Unit::Minute.window_start(at),
            Utc.with_ymd_and_hms(2026, 2, 14, 13, 45, 0).unwrap()
        );
        assert_eq!(
            Unit::Day.window_start(at),
            Utc.with_ymd_and_hms(2026, 2, 14, 0, 0, 0).unwrap()
        );
    }
}
