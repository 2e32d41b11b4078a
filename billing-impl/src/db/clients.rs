//! Queries on `oauth_clients`.

use chrono::{DateTime, Utc};
use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};
use serde::Serialize;

use super::schema::oauth_clients;

/// Status of a client that may obtain tokens.
pub const APPROVED: &str = "approved";
/// Status of a client whose tokens are all refused.
pub const REVOKED: &str = "revoked";

/// A registered client, without its secret hash.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = oauth_clients, check_for_backend(diesel::pg::Pg))]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// Space-separated.
    pub scopes: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Serves every customer (first-party), or only those granted to it.
    pub all_customers: bool,
}

/// What the token endpoint needs to authenticate a client.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_clients, check_for_backend(diesel::pg::Pg))]
pub struct StoredClient {
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    /// Space-separated.
    pub scopes: String,
    pub status: String,
}

/// Registers a client.
pub fn insert(
    conn: &mut PgConnection,
    client_id: &str,
    name: &str,
    secret_hash: &str,
    scopes: &str,
    all_customers: bool,
) -> QueryResult<Client> {
    diesel::insert_into(oauth_clients::table)
        .values((
            oauth_clients::client_id.eq(client_id),
            oauth_clients::name.eq(name),
            oauth_clients::secret_hash.eq(secret_hash),
            oauth_clients::scopes.eq(scopes),
            oauth_clients::all_customers.eq(all_customers),
        ))
        .returning(Client::as_returning())
        .get_result(conn)
}

/// The stored record of a client, approved or not.
pub fn credentials(conn: &mut PgConnection, client_id: &str) -> QueryResult<Option<StoredClient>> {
    oauth_clients::table
        .find(client_id)
        .select(StoredClient::as_select())
        .first(conn)
        .optional()
}

/// The client, approved or not, without its secret hash.
pub fn find(conn: &mut PgConnection, client_id: &str) -> QueryResult<Option<Client>> {
    oauth_clients::table
        .find(client_id)
        .select(Client::as_select())
        .first(conn)
        .optional()
}

/// Every client, oldest first.
pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Client>> {
    oauth_clients::table
        .order(oauth_clients::created_at)
        .select(Client::as_select())
        .load(conn)
}

/// Stores the client's secret in a new form (its digest, in place of an Argon2id hash).
pub fn set_secret_hash(
    conn: &mut PgConnection,
    client_id: &str,
    secret_hash: &str,
) -> QueryResult<()> {
    diesel::update(oauth_clients::table.find(client_id))
        .set(oauth_clients::secret_hash.eq(secret_hash))
        .execute(conn)
        .map(drop)
}

/// Revokes a client; `false` when there is no such client.
pub fn revoke(conn: &mut PgConnection, client_id: &str) -> QueryResult<bool> {
    diesel::update(oauth_clients::table.find(client_id))
        .set((
            oauth_clients::status.eq(REVOKED),
            oauth_clients::revoked_at.eq(Some(Utc::now())),
        ))
        .execute(conn)
        .map(|updated| updated == 1)
}
