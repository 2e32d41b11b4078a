//! The check every authenticated request passes: its client's rate on this instance,
//! then its quota, and the RateLimit fields of its answer.

use std::fmt::Write as _;

use actix_web::http::header::HeaderValue;
use chrono::{DateTime, Utc};

use super::{
    Limits, Quota, Rate,
    quota::{QuotaCheck, QuotaLimits},
    rate::{RateCheck, RateLimits},
};
use crate::{db::Database, error::ApiError, metrics::Metrics};

/// Which limit refused a request, as metrics and the access log name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Rate,
    Quota,
}

impl Limit {
    /// The limit's name in metrics and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Rate => "rate",
            Limit::Quota => "quota",
        }
    }
}

/// The `RateLimit-Policy` and `RateLimit` fields of an answer
/// (draft-ietf-httpapi-ratelimit-headers-11), ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub policy: HeaderValue,
    pub limit: HeaderValue,
}

/// Holds each client to its limits on this instance.
#[derive(Clone)]
pub struct Enforcer {
    rates: RateLimits,
    quotas: QuotaLimits,
    metrics: Metrics,
}

/// One policy's entry in the fields.
struct Entry {
    name: &'static str,
    quota: i64,
    window: i64,
    remaining: i64,
    reset: i64,
}

impl Enforcer {
    /// An enforcer whose quotas are counted on `primary`.
    pub fn new(primary: Database, metrics: Metrics) -> Self {
        Self {
            rates: RateLimits::default(),
            quotas: QuotaLimits::new(primary),
            metrics,
        }
    }

    /// Counts one request of `client` against `limits`: its answer's fields (`None` for
    /// an unlimited client), or the 429 (or 503 when the quota store is out of reach and
    /// the fail-open allowance is spent). A refusal by the rate or by a spent quota runs
    /// no SQL.
    pub async fn admit(&self, client: &str, limits: Limits) -> Result<Option<Fields>, ApiError> {
        if limits.rate.is_none() && limits.quota.is_none() {
            return Ok(None);
        }
        let now = Utc::now();
        let mut entries = Vec::with_capacity(2);
        let mut refused: Option<(Limit, u64)> = None;
        if let Some(quota) = limits.quota {
            // The rate is checked first so that a request it refuses spends no quota.
            if let Some(rate) = limits.rate
                && let Some(entry) = self.rate_entry(rate, client, &mut refused)
            {
                entries.push(entry);
            }
            let (start, end) = window(quota, now);
            let remaining = if let Some((_, wait)) = refused {
                let remaining = self.quotas.peek(client, quota, now).await;
                let until_next_window = seconds_until(end, now);
                if remaining == 0 && until_next_window > wait {
                    // The quota is spent too: the rate's short wait would only earn the
                    // client another refusal, so the answer names the longer one.
                    refused = Some((Limit::Quota, until_next_window));
                }
                remaining
            } else {
                match self.quotas.check(client, quota, now).await {
                    QuotaCheck::Allowed { remaining } => remaining,
                    QuotaCheck::Refused => {
                        refused = Some((Limit::Quota, seconds_until(end, now)));
                        0
                    }
                    QuotaCheck::Unavailable(failure) => return Err(ApiError::Database(failure)),
                }
            };
            entries.insert(
                0,
                Entry {
                    name: quota.unit.policy_name(),
                    quota: quota.limit,
                    window: (end - start).num_seconds(),
                    remaining,
                    reset: i64::try_from(seconds_until(end, now)).unwrap_or(i64::MAX),
                },
            );
        } else if let Some(rate) = limits.rate
            && let Some(entry) = self.rate_entry(rate, client, &mut refused)
        {
            entries.push(entry);
        }
        let fields = fields(&entries);
        match refused {
            None => Ok(fields),
            Some((limit, retry_after)) => {
                self.metrics.rate_limited(client, limit.as_str());
                Err(ApiError::RateLimited {
                    limit,
                    retry_after,
                    fields,
                })
            }
        }
    }

    fn rate_entry(
        &self,
        rate: Rate,
        client: &str,
        refused: &mut Option<(Limit, u64)>,
    ) -> Option<Entry> {
        let per_second = i64::from(rate.per_second);
        let burst = i64::from(rate.burst);
        let (remaining, reset) = match self.rates.check(client, rate) {
            RateCheck::Allowed { remaining } => {
                let remaining = i64::from(remaining);
                // Seconds until the whole burst is back.
                (remaining, (burst - remaining + per_second - 1) / per_second)
            }
            RateCheck::Refused { wait } => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                *refused = Some((Limit::Rate, seconds.max(1)));
                (0, i64::try_from(seconds.max(1)).unwrap_or(i64::MAX))
            }
        };
        Some(Entry {
            name: "rate",
            quota: burst,
            window: ((burst + per_second - 1) / per_second).max(1),
            remaining,
            reset,
        })
    }
}

/// The window of `quota` that holds `now`: its start and end.
fn window(quota: Quota, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = quota.unit.window_start(now);
    (start, quota.unit.window_end(start))
}

/// Whole seconds from `now` to `end`, rounded up, at least 1.
fn seconds_until(end: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (end - now).num_milliseconds().max(0);
    u64::try_from((millis + 999) / 1000).unwrap_or(1).max(1)
}

/// The fields of `entries`: lists of items whose values are the policies' names as
/// strings (names are fixed words, so no escaping is needed).
fn fields(entries: &[Entry]) -> Option<Fields> {
    if entries.is_empty() {
        return None;
    }
    let (mut policy, mut limit) = (String::new(), String::new());
    for (i, entry) in entries.iter().enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(
            policy,
            "{separator}\"{}\";q={};w={}",
            entry.name, entry.quota, entry.window
        );
        let _ = write!(
            limit,
            "{separator}\"{}\";r={};t={}",
            entry.name, entry.remaining, entry.reset
        );
    }
    Some(Fields {
        policy: HeaderValue::from_str(&policy).ok()?,
        limit: HeaderValue::from_str(&limit).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_are_structured_field_lists_of_named_policies() {
        let fields = fields(&[
            Entry {
                name: "daily",
                quota: 1000,
                window: 86_400,
                remaining: 50,
                reset: 30,
            },
            Entry {
                name: "rate",
                quota: 20,
                window: 1,
                remaining: 0,
                reset: 1,
            },
        ])
        .expect("fields");
        assert_eq!(
            fields.policy.to_str().ok(),
            Some(r#""daily";q=1000;w=86400, "rate";q=20;w=1"#)
        );
        for value in [&fields.policy, &fields.limit] {
            let list = sfv::Parser::new(value.as_bytes())
                .parse::<sfv::List>()
                .expect("a structured field list");
            assert_eq!(list.len(), 2);
        }
        assert_eq!(
            fields.limit.to_str().ok(),
            Some(r#""daily";r=50;t=30, "rate";r=0;t=1"#)
        );
        assert!(super::fields(&[]).is_none(), "no fields without a policy");
    }
}
