//! Work that lost its connection, run again on another.
//!
//! A connection that died while idle (PostgreSQL restarted, a backend terminated) fails its
//! next work with `ConnectionLost`: it is retired, and the work runs again on another
//! connection, up to once per pooled connection, so that a pool of dead connections is
//! replaced without failing a request. Reads are always retried so. A write runs in a
//! transaction and is retried only when COMMIT was never sent, so that it provably did not
//! take effect; when the connection is lost at COMMIT, the outcome is unknown and the
//! request answers 503. A failure on a connection opened for this very checkout is not
//! retried: the database is down, not the connection.

use std::time::{Duration, Instant};

use backon::{BlockingRetryable, ConstantBuilder};
use diesel::{Connection, PgConnection};

use super::{DbError, pool::Pool};
use crate::metrics::Metrics;

/// The error of a unit of database work: the caller's own, which may carry a `DbError`.
/// The retries look at that one to retire a lost connection and to run the work again.
pub trait WorkError: From<DbError> + Send + 'static {
    /// The database's failure this error carries, if it is one.
    fn database_failure(&mut self) -> Option<&mut DbError>;
}

impl WorkError for DbError {
    fn database_failure(&mut self) -> Option<&mut DbError> {
        Some(self)
    }
}

/// Whether a unit of work may change data: writes run in a transaction, which decides
/// whether a failed one may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A failed attempt, and whether it may be made again on another connection.
pub struct Attempt<E> {
    pub error: E,
    pub retry: bool,
}

/// Whether work that failed may run again on another connection: only when its connection
/// was lost, had sat idle in the pool (a new one failing means the database is down), and
/// COMMIT was never sent on it.
pub fn may_retry(lost: bool, was_idle: bool, commit_sent: bool) -> bool {
    lost && was_idle && !commit_sent
}

/// Makes `attempt` until it succeeds, fails for good, or has been retried `retries` times;
/// `on_retry` hears of each retry.
pub fn with_retries<T, E>(
    retries: usize,
    attempt: impl FnMut() -> Result<T, Attempt<E>>,
    on_retry: impl Fn(),
) -> Result<T, E> {
    attempt
        .retry(
            ConstantBuilder::default()
                .with_delay(Duration::ZERO)
                .with_max_times(retries),
        )
        .sleep(std::thread::sleep)
        .when(|failed| failed.retry)
        .notify(|_, _| on_retry())
        .call()
        .map_err(|failed| failed.error)
}

/// One attempt of `work` on a connection of `pool`, checked out by `deadline`; a failure
/// that is the database's is counted in `metrics`, and a lost connection retired.
pub fn attempt<T, E, F>(
    pool: &Pool,
    access: Access,
    work: &mut F,
    deadline: Instant,
    statement_timeout: Duration,
    metrics: &Metrics,
) -> Result<T, Attempt<E>>
where
    F: FnMut(&mut PgConnection) -> Result<T, E>,
    E: WorkError,
{
    let checkout = Instant::now();
    let mut pooled = pool
        .checkout(deadline.saturating_duration_since(checkout))
        .map_err(|error| Attempt {
            error: E::from(error),
            retry: false,
        })?;
    let was_idle = pooled.opened_before(checkout);
    let started = Instant::now();
    let (result, commit_sent) = match access {
        Access::Read => (work(&mut pooled), false),
        Access::Write => in_transaction(&mut pooled, work),
    };
    result.map_err(|mut error| {
        let mut retry = false;
        if let Some(failure) = error.database_failure() {
            failure.note_elapsed(started.elapsed(), statement_timeout);
            if failure.is_unavailable() {
                metrics.database_failure();
            }
            if matches!(failure, DbError::ConnectionLost(_)) {
                pooled.retire();
                retry = may_retry(true, was_idle, commit_sent);
            }
        }
        Attempt { error, retry }
    })
}

/// Runs `work` in a transaction; also says whether COMMIT was sent (the work succeeded),
/// after which a lost connection leaves the outcome unknown.
fn in_transaction<T, E, F>(conn: &mut PgConnection, work: &mut F) -> (Result<T, E>, bool)
where
    F: FnMut(&mut PgConnection) -> Result<T, E>,
    E: WorkError,
{
    /// The work's own error, or the transaction's (BEGIN, COMMIT, ROLLBACK).
    enum Failed<E> {
        Work(E),
        Transaction(diesel::result::Error),
    }
    impl<E> From<diesel::result::Error> for Failed<E> {
        fn from(error: diesel::result::Error) -> Self {
            Failed::Transaction(error)
        }
    }
    let mut commit_sent = false;
    let result = conn
        .transaction(|conn| {
            let result = work(conn).map_err(Failed::Work);
            commit_sent = result.is_ok();
            result
        })
        .map_err(|failed| match failed {
            Failed::Work(error) => error,
            Failed::Transaction(error) => E::from(DbError::from(error)),
        });
    (result, commit_sent)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn lost(retry: bool) -> Attempt<&'static str> {
        Attempt {
            error: "lost",
            retry,
        }
    }

    #[test]
    fn only_a_lost_idle_connection_before_commit_is_retried() {
        assert!(may_retry(true, true, false));
        assert!(
            !may_retry(true, true, true),
            "lost at COMMIT: outcome unknown"
        );
        assert!(
            !may_retry(true, false, false),
            "a new connection failed: down"
        );
        assert!(!may_retry(false, true, false), "the statement failed");
    }

    #[test]
    fn a_retryable_failure_runs_again_until_the_work_succeeds() {
        let (attempts, retries) = (Cell::new(0), Cell::new(0));
        let answer = with_retries(
            5,
            || {
                attempts.set(attempts.get() + 1);
                if attempts.get() < 3 {
                    Err(lost(true))
                } else {
                    Ok(attempts.get())
                }
            },
            || retries.set(retries.get() + 1),
        );
        assert_eq!(answer, Ok(3));
        assert_eq!(retries.get(), 2);
    }

    #[test]
    fn retries_stop_at_their_bound_and_at_a_failure_for_good() {
        let attempts = Cell::new(0);
        let always_lost = || {
            attempts.set(attempts.get() + 1);
            Err::<(), _>(lost(true))
        };
        assert_eq!(with_retries(4, always_lost, || ()), Err("lost"));
        assert_eq!(attempts.get(), 5, "the first attempt and four retries");

        attempts.set(0);
        let for_good = || {
            attempts.set(attempts.get() + 1);
            Err::<(), _>(lost(false))
        };
        assert_eq!(with_retries(4, for_good, || ()), Err("lost"));
        assert_eq!(attempts.get(), 1);
    }
}
