//! Throttling of failed client authentications at the token endpoint, so that secrets
//! cannot be guessed by brute force: after `max_failures` failures for one client id, or
//! from one address, within the lockout, further attempts are answered 429 until it ends;
//! and of grants, so that a client cannot spend the server's work by asking for tokens.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    DefaultDirectRateLimiter, RateLimiter,
    clock::{Clock, DefaultClock},
};
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

/// Token grants per (client id, address) on one instance: a client that asks for a token
/// per request instead of reusing it until it expires would otherwise cost a secret check
/// and a row of `oauth_tokens` each time, whatever its rate and quota.
#[derive(Clone)]
pub struct GrantLimit {
    limiters: Cache<String, Arc<DefaultDirectRateLimiter>>,
    quota: governor::Quota,
    clock: DefaultClock,
}

impl GrantLimit {
    /// At most `per_minute` grants a minute per key, all of them at once if need be.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self {
            limiters: Cache::builder()
                .max_capacity(TRACKED_KEYS)
                // Idle that long, a limiter is full again: forgetting it changes nothing.
                .time_to_idle(Duration::from_secs(60))
                .build(),
            quota: governor::Quota::per_minute(per_minute),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt of `key`: `None` when it may go on, else the whole seconds to
    /// wait (at least 1).
    pub fn check(&self, key: &str) -> Option<u64> {
        let limiter = self
            .limiters
            .get_with_by_ref(key, || Arc::new(RateLimiter::direct(self.quota)));
        limiter.check().err().map(|refused| {
            let wait = refused.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}
