//! Reads on streaming replicas, writes on the primary.
//!
//! `Reads` sends the work of a GET to a usable replica, round robin, and falls back to the
//! primary when none is usable, when the replica fails the work for its own sake, and for
//! a client that wrote on this instance within the read-after-write window, so that it
//! reads its own writes. A monitor asks every replica for its replay position each
//! `CHECK_EVERY`: a replica that does not answer, or whose position the primary passed
//! more than `max_lag` ago (WAL positions, not the last replayed transaction's time, which
//! stops advancing while the primary is idle), is left out until it is back.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::{PgConnection, RunQueryDsl, sql_types::BigInt};

use super::{Database, DbError, WorkError};

/// How often the replicas' positions are read.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// One replica and whether reads may go to it.
struct Replica {
    database: Database,
    usable: AtomicBool,
}

/// Where reads go. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    primary: Database,
    replicas: Arc<[Replica]>,
    next: Arc<AtomicUsize>,
    /// Clients that wrote on this instance within the read-after-write window.
    recent_writers: moka::sync::Cache<String, ()>,
}

impl Reads {
    /// Reads on `replicas` while they are usable; a client that wrote reads on the primary
    /// for `read_after_write`. The replicas are usable once the monitor
    /// (`monitor`) has seen them so.
    pub fn new(primary: Database, replicas: Vec<Database>, read_after_write: Duration) -> Self {
        let replicas: Arc<[Replica]> = replicas
            .into_iter()
            .map(|database| Replica {
                database,
                usable: AtomicBool::new(false),
            })
            .collect();
        Self {
            primary,
            replicas,
            next: Arc::new(AtomicUsize::new(0)),
            recent_writers: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(read_after_write.max(Duration::from_millis(1)))
                .build(),
        }
    }

    /// Whether any replica is configured.
    pub fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// The primary, where writes go.
    pub fn primary(&self) -> &Database {
        &self.primary
    }

    /// Notes that `client` wrote: its reads go to the primary for the read-after-write
    /// window.
    pub fn wrote(&self, client: &str) {
        if !self.replicas.is_empty() {
            self.recent_writers.insert(client.to_owned(), ());
        }
    }

    /// A usable replica, round robin; `None` when there is none.
    fn replica(&self) -> Option<&Replica> {
        let count = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| &self.replicas[(start + offset) % count])
            .find(|replica| replica.usable.load(Ordering::Relaxed))
    }

    /// Runs `work`, which only reads, for `client` on a usable replica, else on the
    /// primary. A replica that fails the work for its own sake is left out until the
    /// monitor sees it back, and the work runs on the primary.
    pub async fn read<T, E, F>(&self, client: &str, work: F) -> Result<T, E>
    where
        F: FnMut(&mut PgConnection) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: WorkError,
    {
        // Without replicas, nothing to choose: no look-up of recent writers either.
        let replica = if self.replicas.is_empty() || self.recent_writers.contains_key(client) {
            None
        } else {
            self.replica()
        };
        let Some(replica) = replica else {
            self.primary.metrics.read_served_by("primary");
            return self.primary.read(work).await;
        };
        let mut answered = replica.database.read(work.clone()).await;
        let replica_failed = answered
            .as_mut()
            .err()
            .and_then(WorkError::database_failure)
            .is_some_and(|failure| failure.is_unavailable());
        if !replica_failed {
            self.primary.metrics.read_served_by("replica");
            return answered;
        }
        replica.usable.store(false, Ordering::Relaxed);
        log::warn!("a replica failed a read; reads go elsewhere until it is back");
        self.primary.metrics.read_served_by("primary");
        self.primary.read(work).await
    }

    /// Reads the replicas' positions every `CHECK_EVERY`, for as long as the server runs:
    /// a replica is usable while it answers and replays within `max_lag` of the primary.
    pub fn monitor(&self, max_lag: Duration) {
        if self.replicas.is_empty() {
            return;
        }
        let reads = self.clone();
        tokio::spawn(async move {
            let history = Arc::new(Mutex::new(PrimaryHistory::default()));
            let mut ticks = tokio::time::interval(CHECK_EVERY);
            loop {
                ticks.tick().await;
                if let Ok(position) = reads.primary.read(current_position).await {
                    history
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(Instant::now(), position, max_lag);
                }
                for replica in reads.replicas.iter() {
                    let replayed = replica.database.read(replay_position).await;
                    let lag = match replayed {
                        Ok(Some(position)) => history
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .lag(Instant::now(), position),
                        Ok(None) | Err(_) => None,
                    };
                    let usable = lag.is_some_and(|lag| lag <= max_lag);
                    let was = replica.usable.swap(usable, Ordering::Relaxed);
                    if was != usable {
                        log::warn!(
                            "a replica is {} (lag {:?})",
                            if usable { "usable again" } else { "left out" },
                            lag
                        );
                    }
                }
            }
        });
    }
}

/// The primary's WAL positions of late, with when they were read: how long ago the
/// primary passed a replica's replay position is that replica's lag, for the read routing
/// here and for the importer's pace alike.
#[derive(Default)]
pub(crate) struct PrimaryHistory {
    samples: VecDeque<(Instant, i64)>,
}

impl PrimaryHistory {
    /// Records the primary's `position`, read at `now`, keeping a little more than
    /// `max_lag` of them, and the newest older one: a replica behind it is at least that
    /// far behind, however seldom the primary is read (the importer reads it once a
    /// batch, and a batch may take longer than the window).
    pub(crate) fn record(&mut self, now: Instant, position: i64, max_lag: Duration) {
        self.samples.push_back((now, position));
        let keep = max_lag.saturating_mul(2).saturating_add(CHECK_EVERY * 2);
        while self
            .samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) > keep)
        {
            self.samples.pop_front();
        }
    }

    /// How long before `now` the primary first passed `replayed`: zero when it has not,
    /// `None` when nothing of the primary is known.
    pub(crate) fn lag(&self, now: Instant, replayed: i64) -> Option<Duration> {
        let (_, latest) = self.samples.back()?;
        if replayed >= *latest {
            return Some(Duration::ZERO);
        }
        // The oldest sample past the replica's position: the primary was there by then.
        let (passed_at, _) = self
            .samples
            .iter()
            .find(|(_, position)| *position > replayed)?;
        Some(now.saturating_duration_since(*passed_at))
    }
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    position: Option<i64>,
}

/// The primary's current WAL position, in bytes.
fn current_position(conn: &mut PgConnection) -> Result<i64, DbError> {
    let row: Position = diesel::sql_query(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS position",
    )
    .get_result(conn)?;
    row.position
        .ok_or_else(|| DbError::Unreachable("the primary reports no WAL position".to_owned()))
}

/// A replica's replayed WAL position, in bytes; `None` when it is not a replica.
fn replay_position(conn: &mut PgConnection) -> Result<Option<i64>, DbError> {
    let row: Position = diesel::sql_query(
        "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS position",
    )
    .get_result(conn)?;
    Ok(row.position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_lags_by_how_long_ago_the_primary_passed_its_position() {
        let mut history = PrimaryHistory::default();
        let max_lag = Duration::from_secs(60);
        let first = Instant::now();
        let second = first + Duration::from_millis(30);
        let now = second + Duration::from_millis(5);
        history.record(first, 100, max_lag);
        history.record(second, 200, max_lag);
        assert_eq!(history.lag(now, 200), Some(Duration::ZERO), "caught up");
        assert_eq!(
            history.lag(now, 250),
            Some(Duration::ZERO),
            "ahead of the last sample"
        );
        assert_eq!(
            history.lag(now, 150),
            Some(Duration::from_millis(5)),
            "passed 150 at the second sample"
        );
        assert_eq!(
            history.lag(now, 50),
            Some(Duration::from_millis(35)),
            "passed 50 by the first"
        );
        assert_eq!(PrimaryHistory::default().lag(now, 1), None);
    }

    #[test]
    fn samples_older_than_twice_the_allowed_lag_are_forgotten_but_the_newest_of_them() {
        let mut history = PrimaryHistory::default();
        let max_lag = Duration::from_secs(1);
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        history.record(start, 100, max_lag);
        history.record(at(10), 200, max_lag);
        assert_eq!(history.samples.len(), 2);
        assert_eq!(
            history.lag(at(10), 50),
            Some(Duration::from_secs(10)),
            "behind where the primary was 10 s ago, read seldom: 10 s behind at least"
        );
        history.record(at(20), 300, max_lag);
        assert_eq!(history.samples.len(), 2, "the sample of 0 s is forgotten");
        assert_eq!(history.lag(at(20), 50), Some(Duration::from_secs(10)));
        assert_eq!(history.lag(at(20), 250), Some(Duration::ZERO));
    }
}
