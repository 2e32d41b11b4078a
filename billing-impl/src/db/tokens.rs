//! Queries on `oauth_tokens`. Tokens are stored only as their SHA-256 digest.

use chrono::{DateTime, Utc};
use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};

use super::schema::{oauth_clients, oauth_tokens};

/// What a valid token grants.
#[derive(Debug, Clone, Queryable)]
pub struct Grant {
    pub client_id: String,
    /// Space-separated.
    pub scopes: String,
    pub expires_at: DateTime<Utc>,
    /// The client serves every customer; else only those granted to it.
    pub all_customers: bool,
    /// The client's own limits.
    pub limits: super::clients::StoredLimits,
}

/// Records an issued token.
pub fn insert(
    conn: &mut PgConnection,
    token_hash: &[u8],
    client_id: &str,
    scopes: &str,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(oauth_tokens::table)
        .values((
            oauth_tokens::token_hash.eq(token_hash),
            oauth_tokens::client_id.eq(client_id),
            oauth_tokens::scopes.eq(scopes),
            oauth_tokens::issued_at.eq(issued_at),
            oauth_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// The grant of an unexpired token whose client is still approved.
pub fn live_grant(conn: &mut PgConnection, token_hash: &[u8]) -> QueryResult<Option<Grant>> {
    oauth_tokens::table
        .inner_join(oauth_clients::table)
        .filter(oauth_tokens::token_hash.eq(token_hash))
        .filter(oauth_tokens::expires_at.gt(diesel::dsl::now))
        .filter(oauth_clients::status.eq(super::clients::APPROVED))
        .select((
            oauth_tokens::client_id,
            oauth_tokens::scopes,
            oauth_tokens::expires_at,
            oauth_clients::all_customers,
            super::clients::StoredLimits::as_select(),
        ))
        .first(conn)
        .optional()
}

/// Deletes the client's tokens that expired before `before`; returns how many.
pub fn delete_expired(
    conn: &mut PgConnection,
    client_id: &str,
    before: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::delete(
        oauth_tokens::table
            .filter(oauth_tokens::client_id.eq(client_id))
            .filter(oauth_tokens::expires_at.lt(before)),
    )
    .execute(conn)
}
