//! Quotas counted across instances without a database round trip per request: each
//! instance leases counts of the window's row on the primary in blocks (one
//! `INSERT … ON CONFLICT DO UPDATE … RETURNING`), serves from its block, and leases again
//! when it is spent. A block is at most 1/`STRANDED_SHARE` of what the window has left
//! when it is leased, so what sits unused on an instance shrinks with the remainder; the
//! row never grants past the quota, and a restart finds the count where it was.

use std::{sync::Arc, time::Duration as StdDuration};

use chrono::{DateTime, Utc};
use moka::sync::Cache;
use tokio::{sync::Mutex, time::Instant};

use super::Quota;
use crate::db::{self, Database, DbError};

/// A block is at most the window's remainder divided by this: with n instances, at most
/// n/64 of what is left can sit unused on them when the row runs out (n ≤ 3 keeps 95 %
/// served even if all strand a block; blocks shrink to 1 near the end in any case).
const STRANDED_SHARE: i64 = 64;

/// While the primary cannot be reached, each instance serves each client at most this
/// share of its quota per window on its own count (fail open, bounded), and charges it to
/// the row when the primary is back.
const FAIL_OPEN_SHARE: i64 = 20;

/// How long an instance leaves the primary alone after a lease failed, serving from its
/// fail-open allowance meanwhile, so that an outage does not cost every request a timeout.
const RETRY_STORE_AFTER: StdDuration = StdDuration::from_secs(1);

const CLIENTS: u64 = 100_000;
const IDLE: StdDuration = StdDuration::from_secs(3600);

/// Where a request stands against its client's quota.
#[derive(Debug, Clone)]
pub enum QuotaCheck {
    /// Served; `remaining` is what the window has left as this instance knows it.
    Allowed { remaining: i64 },
    /// The window's quota is spent.
    Refused,
    /// The primary cannot be reached and the fail-open allowance is spent.
    Unavailable(DbError),
}

/// What this instance holds of one client's quota.
#[derive(Debug)]
struct Lease {
    quota: Quota,
    window_start: DateTime<Utc>,
    /// Counts leased and not yet served.
    left: i64,
    /// The window's remainder as last seen (never rises within a window).
    remaining: i64,
    /// The row granted nothing: refuse until the window ends.
    exhausted: bool,
    /// The next block asked for: doubles with each lease, so that a busy client leases
    /// rarely and an idle one strands little.
    next_block: i64,
    /// Served on this instance's own count while the primary could not be reached.
    owed: i64,
    /// Counts that may still be served on this instance's own count in this window.
    fail_open_left: i64,
    /// No lease is tried before then, after a failure.
    retry_store_at: Option<Instant>,
}

impl Lease {
    fn new(quota: Quota, window_start: DateTime<Utc>) -> Self {
        Self {
            quota,
            window_start,
            left: 0,
            remaining: quota.limit,
            exhausted: false,
            next_block: 1,
            owed: 0,
            fail_open_left: (quota.limit / FAIL_OPEN_SHARE).max(1),
            retry_store_at: None,
        }
    }

    fn serve(&mut self) -> QuotaCheck {
        self.left -= 1;
        self.remaining = (self.remaining - 1).max(0);
        QuotaCheck::Allowed {
            remaining: self.remaining,
        }
    }
}

/// Every client's lease on this instance.
#[derive(Clone)]
pub struct QuotaLimits {
    primary: Database,
    leases: Cache<String, Arc<Mutex<Lease>>>,
}

impl QuotaLimits {
    /// Quotas counted on `primary`.
    pub fn new(primary: Database) -> Self {
        Self {
            primary,
            leases: Cache::builder()
                .max_capacity(CLIENTS)
                .time_to_idle(IDLE)
                .build(),
        }
    }

    fn lease_of(&self, client: &str, quota: Quota, now: DateTime<Utc>) -> Arc<Mutex<Lease>> {
        self.leases.get_with_by_ref(client, || {
            Arc::new(Mutex::new(Lease::new(quota, quota.unit.window_start(now))))
        })
    }

    /// What the window has left for `client` as this instance knows it, counting nothing.
    pub async fn peek(&self, client: &str, quota: Quota, now: DateTime<Utc>) -> i64 {
        let lease = self.lease_of(client, quota, now);
        let lease = lease.lock().await;
        if lease.quota == quota && lease.window_start == quota.unit.window_start(now) {
            lease.remaining
        } else {
            quota.limit
        }
    }

    /// Counts one request of `client` against `quota` in the window that holds `now`.
    pub async fn check(&self, client: &str, quota: Quota, now: DateTime<Utc>) -> QuotaCheck {
        let window_start = quota.unit.window_start(now);
        let lease = self.lease_of(client, quota, now);
        // One lease at a time per client: the requests that find the block spent wait for
        // the one that leases, then share its block.
        let mut lease = lease.lock().await;
        if lease.quota != quota || lease.window_start != window_start {
            // A new window, or a quota changed by `billing clients limits`. What was
            // owed to the last window is left there: it has ended.
            *lease = Lease::new(quota, window_start);
        }
        if lease.left > 0 {
            return lease.serve();
        }
        if lease.exhausted {
            return QuotaCheck::Refused;
        }
        if lease.retry_store_at.is_some_and(|at| Instant::now() < at) {
            return fail_open(&mut lease, None);
        }
        let block = lease
            .next_block
            .min(lease.remaining / STRANDED_SHARE)
            .max(1);
        let (owed, limit, client_id) = (lease.owed, quota.limit, client.to_owned());
        let leased = self
            .primary
            .write(move |conn| {
                db::quota_counts::lease(conn, &client_id, window_start, owed, block, limit)
                    .map_err(DbError::from)
            })
            .await;
        match leased {
            Ok(grant) => {
                lease.owed = 0;
                lease.retry_store_at = None;
                lease.next_block = block.saturating_mul(2);
                lease.left = grant.granted;
                lease.remaining = lease
                    .remaining
                    .min(limit - grant.used + grant.granted)
                    .max(0);
                if grant.granted == 0 {
                    lease.exhausted = true;
                    lease.remaining = 0;
                    return QuotaCheck::Refused;
                }
                lease.serve()
            }
            Err(failure) => {
                log::warn!("quota of client {client} not leased, counting locally: {failure}");
                lease.retry_store_at = Some(Instant::now() + RETRY_STORE_AFTER);
                fail_open(&mut lease, Some(failure))
            }
        }
    }
}

/// Serves from the fail-open allowance, or refuses as unavailable once it is spent.
fn fail_open(lease: &mut Lease, failure: Option<DbError>) -> QuotaCheck {
    if lease.fail_open_left > 0 {
        lease.fail_open_left -= 1;
        lease.owed += 1;
        lease.remaining = (lease.remaining - 1).max(0);
        return QuotaCheck::Allowed {
            remaining: lease.remaining,
        };
    }
    QuotaCheck::Unavailable(
        failure.unwrap_or_else(|| {
            DbError::Unreachable("the quota store cannot be reached".to_owned())
        }),
    )
}
