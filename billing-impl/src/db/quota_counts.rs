//! Queries on `quota_counts`: the requests counted against each client's quota, per
//! calendar window, leased by the instances in blocks.

use chrono::{DateTime, Utc};
use diesel::{
    PgConnection, QueryResult, QueryableByName, RunQueryDsl,
    sql_types::{BigInt, Text, Timestamptz},
};

/// What one lease got.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Grant {
    /// The window's count after the lease, this lease included.
    #[diesel(sql_type = BigInt)]
    pub used: i64,
    /// Counts granted: `block`, or less when the quota is nearly spent, 0 when spent.
    #[diesel(sql_type = BigInt)]
    pub granted: i64,
}

/// Charges `owed` (counted while the primary could not be reached) to the client's
/// window starting `window_start`, then leases up to `block` counts, never past `quota`.
/// One statement, so that concurrent leases from every instance queue on the row.
pub fn lease(
    conn: &mut PgConnection,
    client_id: &str,
    window_start: DateTime<Utc>,
    owed: i64,
    block: i64,
    quota: i64,
) -> QueryResult<Grant> {
    diesel::sql_query(
        "INSERT INTO quota_counts AS q (client_id, window_start, used, last_grant) \
         VALUES ($1, $2, $3 + LEAST($4, GREATEST($5 - $3, 0)), LEAST($4, GREATEST($5 - $3, 0))) \
         ON CONFLICT (client_id, window_start) DO UPDATE SET \
           last_grant = LEAST($4, GREATEST($5 - (q.used + $3), 0)), \
           used = q.used + $3 + LEAST($4, GREATEST($5 - (q.used + $3), 0)) \
         RETURNING used, last_grant AS granted",
    )
    .bind::<Text, _>(client_id)
    .bind::<Timestamptz, _>(window_start)
    .bind::<BigInt, _>(owed)
    .bind::<BigInt, _>(block)
    .bind::<BigInt, _>(quota)
    .get_result(conn)
}
