//! Throttling of failed client authentications at the token endpoint, so that secrets
//! cannot be guessed by brute force: after `max_failures` failures for one client id, or
//! from one address, within the lockout, further attempts are answered 429 until it ends.

use std::time::Duration;

use moka::sync::Cache;

/// Keys (client ids and addresses) tracked at most.
const TRACKED_KEYS: u64 = 100_000;

/// Failure counts per client id and per address, forgotten `lockout` after the last.
#[derive(Clone)]
pub struct FailureThrottle {
    failures: Cache<String, u32>,
    max_failures: u32,
    lockout: Duration,
}

impl FailureThrottle {
    /// A throttle that locks a key out after `max_failures` failures within `lockout`.
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        let failures = Cache::builder()
            .max_capacity(TRACKED_KEYS)
            .time_to_live(lockout)
            .build();
        Self {
            failures,
            max_failures,
            lockout,
        }
    }

    /// Seconds to wait when any of `keys` is locked out; `None` when all may try.
    pub fn locked_out(&self, keys: &[String]) -> Option<u64> {
        keys.iter()
            .any(|key| {
                self.failures
                    .get(key)
                    .is_some_and(|count| count >= self.max_failures)
            })
            .then_some(self.lockout.as_secs().max(1))
    }

    /// Counts one failure against each of `keys`.
    pub fn record_failure(&self, keys: &[String]) {
        for key in keys {
            // Every failure restarts the key's lockout window.
            self.failures.entry(key.clone()).and_upsert_with(|entry| {
                entry.map_or(1, |count| count.into_value().saturating_add(1))
            });
        }
    }
}
