//! Spike arrest: each client's requests smoothed to its rate, with its burst, on this
//! instance (GCRA, by `governor`). Over n instances behind a balancer that spreads
//! requests evenly a client gets up to n times its rate.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use governor::{
    RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed},
};
use moka::sync::Cache;

use super::Rate;

/// Clients whose limiters are kept at most; one idle longer than `IDLE` is forgotten
/// (it would be full again by then anyway).
const CLIENTS: u64 = 100_000;
const IDLE: Duration = Duration::from_secs(600);

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// Where a request stands against its client's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateCheck {
    /// Allowed, with this many requests of the burst left.
    Allowed { remaining: u32 },
    /// Refused: one more request is allowed after this long.
    Refused { wait: Duration },
}

/// One limiter per client, made with the client's rate and made again when it changes.
#[derive(Clone)]
pub struct RateLimits {
    limiters: Cache<String, Arc<(Rate, Limiter)>>,
    clock: DefaultClock,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            limiters: Cache::builder()
                .max_capacity(CLIENTS)
                .time_to_idle(IDLE)
                .build(),
            clock: DefaultClock::default(),
        }
    }
}

impl RateLimits {
    /// Counts one request of `client`, held to `rate`.
    pub fn check(&self, client: &str, rate: Rate) -> RateCheck {
        let mut entry = self
            .limiters
            .get_with_by_ref(client, || Arc::new((rate, limiter(rate))));
        if entry.0 != rate {
            // Changed by `billing clients limits`: start afresh under the new rate.
            entry = Arc::new((rate, limiter(rate)));
            self.limiters.insert(client.to_owned(), entry.clone());
        }
        match entry.1.check() {
            Ok(state) => RateCheck::Allowed {
                remaining: state.remaining_burst_capacity(),
            },
            Err(refused) => RateCheck::Refused {
                wait: refused.wait_time_from(self.clock.now()),
            },
        }
    }
}

fn limiter(rate: Rate) -> Limiter {
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(per_second);
    RateLimiter::direct(governor::Quota::per_second(per_second).allow_burst(burst))
        .with_middleware::<StateInformationMiddleware>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_served_then_refused_with_a_wait() {
        let limits = RateLimits::default();
        let rate = Rate {
            per_second: 2,
            burst: 3,
        };
        let remaining: Vec<_> = (0..3).map(|_| limits.check("a", rate)).collect();
        assert_eq!(
            remaining,
            [2, 1, 0].map(|remaining| RateCheck::Allowed { remaining })
        );
        assert!(
            matches!(limits.check("a", rate), RateCheck::Refused { wait } if wait > Duration::ZERO)
        );
        // Another client has a limiter of its own.
        assert_eq!(limits.check("b", rate), RateCheck::Allowed { remaining: 2 });
    }
}
