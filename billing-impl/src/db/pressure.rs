//! Queries on PostgreSQL's statistics views that tell whether other work suffers from a
//! writer: backends of others waiting on WAL and data-file I/O (`pg_stat_activity`), and
//! the replicas' replay positions (`pg_stat_replication`). Others' wait events and the
//! replay positions are visible only to a role with the privileges of `pg_read_all_stats`
//! (granted by `pg_monitor`); without them both read as nothing.

use diesel::{
    PgConnection, QueryResult, QueryableByName, RunQueryDsl,
    sql_types::{BigInt, Bool, Nullable},
};

/// Whether this session sees other roles' wait events and the replicas' positions.
pub fn sees_statistics(conn: &mut PgConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Bool)]
        allowed: bool,
    }
    let row: Row = diesel::sql_query("SELECT pg_has_role('pg_read_all_stats', 'USAGE') AS allowed")
        .get_result(conn)?;
    Ok(row.allowed)
}

/// Client backends other than this one waiting, at this instant, on writing or syncing
/// WAL (or a new WAL segment), on writing or extending data files, or on the buffer mapping: what API backends
/// wait on while an import dirties pages (`docs/import.md`).
pub fn others_waiting_on_io(conn: &mut PgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        waiting: i64,
    }
    let row: Row = diesel::sql_query(
        "SELECT count(*) AS waiting FROM pg_stat_activity \
         WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' \
           AND (wait_event_type, wait_event) IN ( \
             ('LWLock', 'WALWrite'), ('LWLock', 'WALInsert'), ('LWLock', 'BufferMapping'), \
             ('IO', 'WALSync'), ('IO', 'WALWrite'), ('IO', 'DataFileWrite'), \
             ('IO', 'WALInitSync'), ('IO', 'WALInitWrite'), ('IO', 'DataFileExtend'))",
    )
    .get_result(conn)?;
    Ok(row.waiting)
}

/// The primary's WAL position and its replicas' as `pg_stat_replication` reports them.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Replication {
    /// The primary's current WAL position, in bytes.
    #[diesel(sql_type = BigInt)]
    pub position: i64,
    /// Streaming replicas attached.
    #[diesel(sql_type = BigInt)]
    pub replicas: i64,
    /// The replay position of the replica furthest behind, in bytes; `None` without
    /// replicas, or without the privilege to see it.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub slowest_replayed: Option<i64>,
}

/// The primary's position and its replicas' replay positions, read at once.
pub fn replication(conn: &mut PgConnection) -> QueryResult<Replication> {
    diesel::sql_query(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS position, \
           count(*) AS replicas, \
           min(pg_wal_lsn_diff(replay_lsn, '0/0'))::bigint AS slowest_replayed \
         FROM pg_stat_replication WHERE state IN ('streaming', 'catchup')",
    )
    .get_result(conn)
}
