//! How fast an import writes (`--pace`): `off`, as fast as it can; a number, a hard cap in
//! rows a second (a `governor` rate limiter); `auto`, as fast as live traffic allows. After
//! each batch `auto` reads what tells that others suffer from its writes, and holds the
//! next batches to a rate that halves at each sign of it and grows by a tenth of its
//! fastest speed at each batch without (AIMD, as TCP does), never below a twentieth of
//! it, so that the import always goes on:
//!
//! - its own batches taking `SLOWER` times as long a row as its fastest of the run: the
//!   machine is busy, whoever with;
//! - other client backends waiting on WAL or data-file I/O (`db::pressure`);
//! - replicas replaying more than `--max-replica-lag` behind (measured as the server's
//!   read routing measures it, `db::replicas::PrimaryHistory`): then it also waits, before
//!   the next batch, until they are back within it, `--max-replica-wait` at most; past
//!   that it goes on at its slowest, and waits again only once they have caught up.
//!
//! Every wait ends early when a signal asks the import to stop (`stop`).
//!
//! The last two need the privileges of `pg_read_all_stats` (`pg_monitor` has them); without
//! them `auto` says so once and watches its own batches only. `docs/import.md` says why
//! these signals.

use std::{
    fmt,
    num::NonZeroU32,
    str::FromStr,
    time::{Duration, Instant},
};

use diesel::PgConnection;
use governor::{
    DefaultDirectRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use super::stop::Stop;
use crate::db::{pressure, replicas::PrimaryHistory};

/// How fast an import writes, as `--pace` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// As fast as live traffic allows (the default).
    Auto,
    /// As fast as it can: for a maintenance window.
    Off,
    /// At most this many rows a second.
    RowsPerSecond(NonZeroU32),
}

impl FromStr for Pace {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" => Ok(Pace::Auto),
            "off" => Ok(Pace::Off),
            _ => value
                .parse::<u32>()
                .ok()
                .and_then(NonZeroU32::new)
                .map(Pace::RowsPerSecond)
                .ok_or_else(|| {
                    format!(
                        "`{value}` is no pace: say auto, off, or rows per second (a whole \
                         number from 1 to {})",
                        u32::MAX
                    )
                }),
        }
    }
}

impl fmt::Display for Pace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pace::Auto => f.write_str("auto"),
            Pace::Off => f.write_str("off"),
            Pace::RowsPerSecond(rate) => write!(f, "{rate}"),
        }
    }
}

impl Pace {
    /// The rows of a batch under this pace, `configured` at most: a capped import writes
    /// at most one second's worth at a time, so that its rate is smooth, not a burst and a
    /// long wait; `auto` at most `AUTO_BATCH_ROWS`, so that it looks often enough.
    pub fn batch_rows(self, configured: usize) -> usize {
        match self {
            Pace::Off => configured,
            Pace::Auto => configured.min(AUTO_BATCH_ROWS),
            Pace::RowsPerSecond(rate) => configured.min(rate.get() as usize),
        }
    }
}

/// The largest batch under `auto`.
const AUTO_BATCH_ROWS: usize = 5_000;
/// A batch taking this many times as long a row as the fastest of the run is a sign that
/// the machine is busy: beside a loop of bulk inserts a batch of 5,000 invoices took 3.3 to
/// 4 times as long as alone, where alone they varied by 1.3 times (docs/import.md).
const SLOWER: f64 = 2.5;
/// A batch smaller than this share of the largest is not compared: its fixed costs weigh
/// more than its rows.
const COMPARABLE_SHARE: u64 = 2;
/// The rate a sign of suffering multiplies by.
const BACK_OFF: f64 = 0.5;
/// The share of the fastest speed the rate grows by at each batch without.
const RECOVER: f64 = 0.1;
/// The share of the fastest speed the rate never goes below.
const FLOOR: f64 = 0.05;
/// How often the replicas are read again while the import waits for them.
const REPLICA_POLL: Duration = Duration::from_millis(200);
/// How often a wait for the replicas says it still waits.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(10);

/// Paces one import: called once after each batch, it waits as the pace says.
pub(super) struct Pacer {
    mode: Mode,
    stop: Stop,
    throttled: Duration,
    /// Why the last batch was followed by a wait, or `None` when it was not.
    reason: Option<String>,
}

enum Mode {
    Off,
    Cap {
        rate: NonZeroU32,
        limiter: DefaultDirectRateLimiter,
    },
    Auto(Box<Auto>),
}

/// What `auto` knows of the run so far.
struct Auto {
    /// Rows a second the batches are held to; `None` at full speed.
    rate: Option<f64>,
    /// The fewest seconds a row took in a batch of the run, and the largest batch.
    fastest_row: Option<f64>,
    largest_batch: u64,
    /// Whether others' wait events and the replicas' positions can be read.
    sees_statistics: bool,
    max_replica_lag: Duration,
    /// The longest wait for the replicas in one go.
    max_replica_wait: Duration,
    /// Set when a wait for the replicas reached `max_replica_wait`: no wait again until
    /// they have been seen within their lag.
    replicas_given_up: bool,
    history: PrimaryHistory,
    /// When the batches were first held back, while they are.
    throttled_since: Option<Instant>,
}

impl Pacer {
    /// A pacer for an import at `pace` on `conn`, keeping replicas within
    /// `max_replica_lag` under `auto`, waiting `max_replica_wait` for them at most, and
    /// cutting its waits short when `stop` is asked.
    pub fn new(
        conn: &mut PgConnection,
        pace: Pace,
        max_replica_lag: Duration,
        max_replica_wait: Duration,
        stop: Stop,
    ) -> Self {
        let mode = match pace {
            Pace::Off => Mode::Off,
            Pace::RowsPerSecond(rate) => Mode::Cap {
                rate,
                limiter: RateLimiter::direct(Quota::per_second(rate)),
            },
            Pace::Auto => {
                let sees_statistics = pressure::sees_statistics(conn).unwrap_or(false);
                if !sees_statistics {
                    log::warn!(
                        "--pace auto watches this import's own batches only: its role lacks \
                         pg_monitor, without which other sessions' waits and the replicas' \
                         replay are hidden (docs/import.md)"
                    );
                }
                Mode::Auto(Box::new(Auto {
                    rate: None,
                    fastest_row: None,
                    largest_batch: 0,
                    sees_statistics,
                    max_replica_lag,
                    max_replica_wait,
                    replicas_given_up: false,
                    history: PrimaryHistory::default(),
                    throttled_since: None,
                }))
            }
        };
        Self {
            mode,
            stop,
            throttled: Duration::ZERO,
            reason: None,
        }
    }

    /// After a batch of `rows` that took `took` to write, waits as the pace says before
    /// the next one (less, when a stop is asked).
    pub fn after_batch(&mut self, conn: &mut PgConnection, rows: u64, took: Duration) {
        let started = Instant::now();
        let stop = &self.stop;
        self.reason = match &mut self.mode {
            Mode::Off => None,
            Mode::Cap { rate, limiter } => {
                cap(limiter, *rate, rows, stop).then(|| format!("the pace of {rate} rows/s"))
            }
            Mode::Auto(auto) => auto.after_batch(conn, rows, took, stop),
        };
        // Only a wait counts, not the look at the signs.
        if self.reason.is_some() {
            self.throttled += started.elapsed();
        }
    }

    /// Why the import waited after its last batch, if it did.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The time spent waiting so far.
    pub fn throttled(&self) -> Duration {
        self.throttled
    }
}

/// Waits until `limiter` lets `rows` rows through, `rate` at a time at most (its burst),
/// or a stop is asked; whether it waited.
fn cap(limiter: &DefaultDirectRateLimiter, rate: NonZeroU32, rows: u64, stop: &Stop) -> bool {
    let clock = DefaultClock::default();
    let mut left = rows;
    let mut waited = false;
    while left > 0 {
        let step = left.min(u64::from(rate.get()));
        let n = NonZeroU32::new(u32::try_from(step).unwrap_or(rate.get())).unwrap_or(rate);
        match limiter.check_n(n) {
            Ok(Ok(())) => left -= step,
            Ok(Err(not_until)) => {
                waited = true;
                if stop.sleep(not_until.wait_time_from(clock.now())) {
                    break;
                }
            }
            // Never more than the burst is asked for: let the rest through.
            Err(_) => break,
        }
    }
    waited
}

impl Auto {
    /// Reads the signs after a batch, adjusts the rate, and waits as it says; why it
    /// waited, if it did.
    fn after_batch(
        &mut self,
        conn: &mut PgConnection,
        rows: u64,
        took: Duration,
        stop: &Stop,
    ) -> Option<String> {
        let mut signs = Vec::new();
        if let Some(slower) = self.slower(rows, took) {
            signs.push(format!(
                "its batches take {slower:.1}× as long a row as at best"
            ));
        }
        if self.sees_statistics {
            match pressure::others_waiting_on_io(conn) {
                Ok(0) => {}
                Ok(waiting) => signs.push(format!("{waiting} other sessions wait on WAL or I/O")),
                Err(error) => self.cannot_see(&error),
            }
        }
        let lag = self.replica_lag(conn);
        if let Some(lag) = lag.filter(|lag| *lag > self.max_replica_lag) {
            signs.push(format!(
                "a replica replays {} ms behind (at most {} ms)",
                lag.as_millis(),
                self.max_replica_lag.as_millis()
            ));
        }
        log::debug!(
            "pace: a batch of {rows} rows in {:.3} s (fastest row {:.1} µs), lag {lag:?}: {}",
            took.as_secs_f64(),
            self.fastest_row.unwrap_or_default() * 1e6,
            signs.join("; ")
        );
        let fastest = self.fastest_rate();
        let batch_rate = rows as f64 / took.as_secs_f64().max(1e-6);
        self.rate = match (self.rate, signs.is_empty()) {
            (rate, false) => Some((rate.unwrap_or(batch_rate) * BACK_OFF).max(fastest * FLOOR)),
            (Some(rate), true) => Some(rate + fastest * RECOVER).filter(|rate| *rate < fastest),
            (None, true) => None,
        };
        let why = match (self.rate, signs.is_empty()) {
            (None, _) => None,
            (Some(rate), true) => Some(format!("recovering at {rate:.0} rows/s")),
            (Some(rate), false) => Some(format!("{rate:.0} rows/s: {}", signs.join("; "))),
        };
        self.note_throttle(why.as_deref());
        if let Some(rate) = self.rate
            && stop.sleep(Duration::from_secs_f64(rows as f64 / rate).saturating_sub(took))
        {
            return why;
        }
        match lag {
            Some(lag) if lag > self.max_replica_lag => {
                if !self.replicas_given_up {
                    self.replicas_given_up = !self.wait_for_replicas(conn, stop);
                }
            }
            _ => self.replicas_given_up = false,
        }
        why
    }

    /// How many times as long a row of this batch took as the fastest, when that is
    /// `SLOWER` or more; the fastest is updated with it.
    fn slower(&mut self, rows: u64, took: Duration) -> Option<f64> {
        self.largest_batch = self.largest_batch.max(rows);
        if rows == 0 || rows < self.largest_batch / COMPARABLE_SHARE {
            return None;
        }
        let per_row = took.as_secs_f64() / rows as f64;
        let fastest = *self.fastest_row.get_or_insert(per_row);
        self.fastest_row = Some(fastest.min(per_row));
        let ratio = per_row / fastest;
        (ratio >= SLOWER).then_some(ratio)
    }

    /// Rows a second at the fastest batch of the run.
    fn fastest_rate(&self) -> f64 {
        1.0 / self.fastest_row.unwrap_or(1.0).max(1e-9)
    }

    /// How far behind the replica furthest behind replays; `None` without replicas or
    /// the privilege to see them.
    fn replica_lag(&mut self, conn: &mut PgConnection) -> Option<Duration> {
        if !self.sees_statistics {
            return None;
        }
        match pressure::replication(conn) {
            Ok(replication) => {
                let now = Instant::now();
                self.history
                    .record(now, replication.position, self.max_replica_lag);
                self.history.lag(now, replication.slowest_replayed?)
            }
            Err(error) => {
                self.cannot_see(&error);
                None
            }
        }
    }

    /// Waits until every replica replays within the allowed lag, saying so, for
    /// `max_replica_wait` at most or until a stop is asked; whether they came back within
    /// it (or no replica is left to wait for).
    fn wait_for_replicas(&mut self, conn: &mut PgConnection, stop: &Stop) -> bool {
        let started = Instant::now();
        log::info!(
            "waiting for the replicas to replay within {} ms",
            self.max_replica_lag.as_millis()
        );
        let mut said = started;
        while let Some(lag) = self
            .replica_lag(conn)
            .filter(|lag| *lag > self.max_replica_lag)
        {
            if started.elapsed() >= self.max_replica_wait {
                log::warn!(
                    "a replica still replays at least {} ms behind after {:.0} s of waiting \
                     (--max-replica-wait): the import goes on at its slowest pace, and \
                     waits again once the replicas have caught up",
                    lag.as_millis(),
                    started.elapsed().as_secs_f64()
                );
                return false;
            }
            if said.elapsed() >= STILL_WAITING_EVERY {
                said = Instant::now();
                log::info!(
                    "still waiting for the replicas: at least {} ms behind after {:.0} s",
                    lag.as_millis(),
                    started.elapsed().as_secs_f64()
                );
            }
            if stop.sleep(REPLICA_POLL) {
                return false;
            }
        }
        log::info!(
            "the replicas caught up after {:.1} s; the import goes on",
            started.elapsed().as_secs_f64()
        );
        true
    }

    /// Logs when the batches start and stop being held back.
    fn note_throttle(&mut self, why: Option<&str>) {
        match (why, self.throttled_since) {
            (Some(why), None) => {
                self.throttled_since = Some(Instant::now());
                log::info!("throttled: {why}");
            }
            (None, Some(since)) => {
                self.throttled_since = None;
                log::info!(
                    "full speed again after {:.1} s throttled",
                    since.elapsed().as_secs_f64()
                );
            }
            _ => {}
        }
    }

    /// Stops reading the statistics after a failure to, saying so once: the import goes
    /// on, watching its own batches.
    fn cannot_see(&mut self, error: &diesel::result::Error) {
        self.sees_statistics = false;
        log::warn!(
            "--pace auto watches this import's own batches only: the statistics views \
             could not be read: {error}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_is_auto_off_or_a_positive_whole_number() {
        assert_eq!("auto".parse(), Ok(Pace::Auto));
        assert_eq!("off".parse(), Ok(Pace::Off));
        assert_eq!(
            "1000".parse(),
            Ok(Pace::RowsPerSecond(NonZeroU32::new(1000).expect("1000")))
        );
        for bad in ["0", "-1", "fast", "", "1.5"] {
            let refused = bad.parse::<Pace>().expect_err(bad);
            assert!(
                refused.contains("auto, off, or rows per second"),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_capped_batch_holds_one_seconds_worth_and_auto_a_bounded_one() {
        let cap = Pace::RowsPerSecond(NonZeroU32::new(800).expect("800"));
        assert_eq!(cap.batch_rows(50_000), 800);
        assert_eq!(cap.batch_rows(100), 100);
        assert_eq!(Pace::Off.batch_rows(50_000), 50_000);
        assert_eq!(Pace::Auto.batch_rows(50_000), AUTO_BATCH_ROWS);
    }
}
