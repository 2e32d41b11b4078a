//! Queries on `token_keys`: the keys that sign access tokens.

use chrono::{DateTime, Utc};
use diesel::{PgConnection, QueryResult, prelude::*};
use serde::Serialize;

use super::schema::token_keys;

/// A signing key.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = token_keys, check_for_backend(diesel::pg::Pg))]
pub struct TokenKey {
    pub key_id: i32,
    pub secret: Vec<u8>,
}

/// A key as `billing keys list` shows it: never its secret.
#[derive(Debug, Serialize, Queryable, Selectable)]
#[diesel(table_name = token_keys, check_for_backend(diesel::pg::Pg))]
pub struct KeyInfo {
    pub key_id: i32,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// The keys that are not retired, newest first: the first signs.
pub fn live(conn: &mut PgConnection) -> QueryResult<Vec<TokenKey>> {
    token_keys::table
        .filter(token_keys::retired_at.is_null())
        .order(token_keys::key_id.desc())
        .select(TokenKey::as_select())
        .load(conn)
}

/// Every key, oldest first.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<KeyInfo>> {
    token_keys::table
        .order(token_keys::key_id)
        .select(KeyInfo::as_select())
        .load(conn)
}

/// Adds a key, which signs from then on; returns its id.
pub fn insert(conn: &mut PgConnection, secret: &[u8]) -> QueryResult<i32> {
    diesel::insert_into(token_keys::table)
        .values(token_keys::secret.eq(secret))
        .returning(token_keys::key_id)
        .get_result(conn)
}

/// Retires the key; `false` when there is no such live key.
pub fn retire(conn: &mut PgConnection, key_id: i32) -> QueryResult<bool> {
    diesel::update(
        token_keys::table
            .filter(token_keys::key_id.eq(key_id))
            .filter(token_keys::retired_at.is_null()),
    )
    .set(token_keys::retired_at.eq(diesel::dsl::now))
    .execute(conn)
    .map(|retired| retired == 1)
}
