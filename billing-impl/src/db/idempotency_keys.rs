//! Queries on `idempotency_keys`: the answers of writes sent with an `Idempotency-Key`.

use diesel::{
    OptionalExtension, PgConnection, QueryResult,
    prelude::*,
    sql_types::{Bool, Text},
};

use super::schema::idempotency_keys;

/// How long a key stands for its request.
pub const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a key stands for when a request comes with it.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Nothing yet: the request is served, and its answer stored with the key.
    New,
    /// A request with the key is being served now.
    Busy,
    /// The key was used for another request.
    Other,
    /// The stored answer of the same request.
    Answered(String),
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// What `key` of `client` stands for, for a request whose digest is `digest`; while the
/// transaction lasts, the key is this request's.
///
/// The transaction serving a request with a key holds an advisory lock (64-bit form) made
/// of the client's own number (`oauth_clients.lock_id`) in its high half and the key's hash
/// in its low half, so that another request with the key meanwhile is told so at once, not
/// made to wait. Two keys of one client whose hashes collide share a lock (the second is
/// told to retry while the first is served); two clients' keys never do. A client deleted
/// while its request was on the way takes no lock, and is told to retry.
pub fn claim(
    conn: &mut PgConnection,
    client: &str,
    key: &str,
    digest: &[u8],
) -> QueryResult<Claim> {
    let locked = diesel::sql_query(
        "SELECT pg_try_advisory_xact_lock(\
            (lock_id::bigint << 32) | (hashtext($2)::bigint & 4294967295)) AS locked \
         FROM oauth_clients WHERE client_id = $1",
    )
    .bind::<Text, _>(client)
    .bind::<Text, _>(key)
    .get_result::<Locked>(conn)
    .optional()?
    .is_some_and(|Locked { locked }| locked);
    if !locked {
        return Ok(Claim::Busy);
    }
    let stored: Option<(Vec<u8>, String)> = idempotency_keys::table
        .filter(idempotency_keys::client_id.eq(client))
        .filter(idempotency_keys::idempotency_key.eq(key))
        .filter(idempotency_keys::created_at.gt(oldest_kept()))
        .select((idempotency_keys::request_digest, idempotency_keys::answer))
        .first(conn)
        .optional()?;
    Ok(match stored {
        None => Claim::New,
        Some((stored, answer)) if stored == digest => Claim::Answered(answer),
        Some(_) => Claim::Other,
    })
}

/// Stores `answer`, a successful one, as what `key` of `client` stands for, replacing what
/// an expired use of the key left.
pub fn store(
    conn: &mut PgConnection,
    client: &str,
    key: &str,
    digest: &[u8],
    answer: &str,
) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::client_id.eq(client),
            idempotency_keys::idempotency_key.eq(key),
            idempotency_keys::request_digest.eq(digest),
            idempotency_keys::answer.eq(answer),
        ))
        .on_conflict((
            idempotency_keys::client_id,
            idempotency_keys::idempotency_key,
        ))
        .do_update()
        .set((
            idempotency_keys::request_digest.eq(digest),
            idempotency_keys::answer.eq(answer),
            idempotency_keys::created_at.eq(chrono::Utc::now()),
        ))
        .execute(conn)
        .map(drop)
}

/// Deletes the keys older than `KEPT_FOR`; how many.
pub fn forget_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.le(oldest_kept())))
        .execute(conn)
}

/// When the oldest key still kept was stored.
fn oldest_kept() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::from_std(KEPT_FOR).unwrap_or(chrono::Duration::MAX)
}
