//! Queries on `import_runs`: the record of every file `billing import` loads.

use chrono::{DateTime, Utc};
use diesel::{
    PgConnection, QueryResult, QueryableByName, RunQueryDsl,
    prelude::*,
    sql_types::{BigInt, Integer},
};
use serde::Serialize;

use super::schema::import_runs;

/// The advisory lock a process holds on a run while it loads it (`import_runs.run_id` is
/// the lock's second key), so that a run whose process is gone is told from one under way.
const RUN_LOCK: i32 = 0x696d_7072; // 'impr'

/// The advisory lock loads take turns by ('impt'): an `--atomic` run holds it alone to its
/// commit, and every other batch shares it for its own transaction. An atomic run holds
/// the rows of all its batches; without it, two such runs of the same records in opposite
/// orders each held the rows the other wanted next (a deadlock, measured: the second to
/// see it was rolled back). A batch's own rows are written in key order, so batches that
/// commit on their own only wait for each other.
const LOAD_LOCK: i32 = 0x696d_7074;

/// Waits until no other load is writing, then keeps every other load waiting to the end of
/// the transaction: an `--atomic` run.
pub fn load_alone(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock($1, 0)")
        .bind::<Integer, _>(LOAD_LOCK)
        .execute(conn)
        .map(drop)
}

/// Waits until no `--atomic` run is writing, then keeps any from starting to the end of the
/// transaction: a batch that commits on its own.
pub fn load_beside_others(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock_shared($1, 0)")
        .bind::<Integer, _>(LOAD_LOCK)
        .execute(conn)
        .map(drop)
}

/// A run's counts so far, and the last line its committed batches hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub committed_line: u64,
}

impl Counts {
    /// Adds a batch's counts.
    pub fn add(&mut self, batch: &Counts) {
        self.read += batch.read;
        self.inserted += batch.inserted;
        self.updated += batch.updated;
        self.unchanged += batch.unchanged;
        self.rejected += batch.rejected;
    }

    /// Counts nothing inserted, updated or unchanged: what a rolled-back run wrote.
    pub fn nothing_written(&mut self) {
        self.inserted = 0;
        self.updated = 0;
        self.unchanged = 0;
    }
}

fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// Records a new run of `kind` from `file_name` and holds its lock for the session; returns
/// its id.
pub fn start(
    conn: &mut PgConnection,
    kind: &str,
    file_name: &str,
    atomic: bool,
) -> QueryResult<i64> {
    let run_id: i64 = diesel::insert_into(import_runs::table)
        .values((
            import_runs::kind.eq(kind),
            import_runs::file_name.eq(file_name),
            import_runs::atomic.eq(atomic),
        ))
        .returning(import_runs::run_id)
        .get_result(conn)?;
    diesel::sql_query("SELECT pg_advisory_lock($1, $2)")
        .bind::<Integer, _>(RUN_LOCK)
        .bind::<Integer, _>(i32::try_from(run_id).unwrap_or(i32::MAX))
        .execute(conn)?;
    Ok(run_id)
}

/// Records how far the run has got, in the transaction of the batch that got it there.
pub fn record_progress(conn: &mut PgConnection, run_id: i64, counts: &Counts) -> QueryResult<()> {
    diesel::update(import_runs::table.find(run_id))
        .set((
            import_runs::lines_read.eq(signed(counts.read)),
            import_runs::inserted.eq(signed(counts.inserted)),
            import_runs::updated.eq(signed(counts.updated)),
            import_runs::unchanged.eq(signed(counts.unchanged)),
            import_runs::rejected.eq(signed(counts.rejected)),
        ))
        .execute(conn)
        .map(drop)
}

/// Records how the run ended, and lets its lock go.
pub fn finish(
    conn: &mut PgConnection,
    run_id: i64,
    counts: &Counts,
    sha256: Option<&[u8; 32]>,
    outcome: &str,
) -> QueryResult<()> {
    diesel::update(import_runs::table.find(run_id))
        .set((
            import_runs::finished_at.eq(diesel::dsl::now),
            import_runs::file_sha256.eq(sha256.map(|digest| digest.to_vec())),
            import_runs::outcome.eq(outcome),
            import_runs::lines_read.eq(signed(counts.read)),
            import_runs::inserted.eq(signed(counts.inserted)),
            import_runs::updated.eq(signed(counts.updated)),
            import_runs::unchanged.eq(signed(counts.unchanged)),
            import_runs::rejected.eq(signed(counts.rejected)),
        ))
        .execute(conn)?;
    diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
        .bind::<Integer, _>(RUN_LOCK)
        .bind::<Integer, _>(i32::try_from(run_id).unwrap_or(i32::MAX))
        .execute(conn)
        .map(drop)
}

/// A run as `billing imports list` prints it.
#[derive(Debug, Serialize, QueryableByName)]
pub struct Run {
    #[diesel(sql_type = BigInt)]
    pub run_id: i64,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub started_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub finished_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub file: String,
    /// The SHA-256 of the file, in hex; none until it was read whole.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub sha256: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub atomic: bool,
    #[diesel(sql_type = BigInt)]
    pub read: i64,
    #[diesel(sql_type = BigInt)]
    pub inserted: i64,
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
    #[diesel(sql_type = BigInt)]
    pub unchanged: i64,
    #[diesel(sql_type = BigInt)]
    pub rejected: i64,
    /// `loaded`, `loaded with rejects`, `stopped`, `running`, or `interrupted`: recorded as
    /// running, but no process holds its lock any more (it was killed).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub outcome: String,
}

/// Every run, oldest first.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Run>> {
    diesel::sql_query(
        "SELECT r.run_id, r.started_at, r.finished_at, r.kind, r.file_name AS file,
                encode(r.file_sha256, 'hex') AS sha256, r.atomic, r.lines_read AS read,
                r.inserted, r.updated, r.unchanged, r.rejected,
                CASE WHEN r.outcome = 'running' AND NOT EXISTS (
                         SELECT 1 FROM pg_locks AS l
                         WHERE l.locktype = 'advisory' AND l.granted
                           AND l.database = (SELECT oid FROM pg_database
                                             WHERE datname = current_database())
                           AND l.classid = $1::oid AND l.objid = r.run_id::oid
                           AND l.objsubid = 2)
                     THEN 'interrupted' ELSE r.outcome END AS outcome
         FROM import_runs AS r
         ORDER BY r.run_id",
    )
    .bind::<Integer, _>(RUN_LOCK)
    .load(conn)
}
