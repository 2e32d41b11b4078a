//! Queries on `oauth_clients`.

use chrono::{DateTime, Utc};
use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};
use serde::Serialize;

use super::schema::oauth_clients;
use crate::limits::{Quota, Rate, Setting, Unit};

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
    /// Its own rate and quota, or `default`, or `none`.
    #[diesel(embed)]
    #[serde(skip)]
    pub limits: StoredLimits,
}

/// A client's own limits as stored: each kind `default`, `none` or `own` with its values.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = oauth_clients, check_for_backend(diesel::pg::Pg))]
pub struct StoredLimits {
    pub rate_mode: String,
    pub rate_per_second: Option<i32>,
    pub rate_burst: Option<i32>,
    pub quota_mode: String,
    pub quota_limit: Option<i64>,
    pub quota_window: Option<String>,
}

impl StoredLimits {
    /// The settings these columns store; an `own` whose values cannot be read (which the
    /// table's checks rule out) counts as `default`.
    pub fn settings(&self) -> (Setting<Rate>, Setting<Quota>) {
        let rate = match (
            self.rate_mode.as_str(),
            self.rate_per_second,
            self.rate_burst,
        ) {
            ("none", _, _) => Setting::None,
            ("own", Some(per_second), Some(burst)) => {
                match (u32::try_from(per_second), u32::try_from(burst)) {
                    (Ok(per_second), Ok(burst)) => Setting::Own(Rate { per_second, burst }),
                    _ => Setting::Default,
                }
            }
            _ => Setting::Default,
        };
        let quota = match (
            self.quota_mode.as_str(),
            self.quota_limit,
            self.quota_window.as_deref().map(str::parse::<Unit>),
        ) {
            ("none", _, _) => Setting::None,
            ("own", Some(limit), Some(Ok(unit))) => Setting::Own(Quota { limit, unit }),
            _ => Setting::Default,
        };
        (rate, quota)
    }
}

/// Sets a client's own limits, each kind only when given; `false` when there is no such
/// client.
pub fn set_limits(
    conn: &mut PgConnection,
    client_id: &str,
    rate: Option<Setting<Rate>>,
    quota: Option<Setting<Quota>>,
) -> QueryResult<bool> {
    let mut updated = 0;
    if let Some(rate) = rate {
        let (per_second, burst) = match rate {
            Setting::Own(rate) => (
                i32::try_from(rate.per_second).ok(),
                i32::try_from(rate.burst).ok(),
            ),
            _ => (None, None),
        };
        updated = diesel::update(oauth_clients::table.find(client_id))
            .set((
                oauth_clients::rate_mode.eq(rate.mode()),
                oauth_clients::rate_per_second.eq(per_second),
                oauth_clients::rate_burst.eq(burst),
            ))
            .execute(conn)?;
    }
    if let Some(quota) = quota {
        let (limit, window) = match quota {
            Setting::Own(quota) => (Some(quota.limit), Some(quota.unit.as_str())),
            _ => (None, None),
        };
        updated = diesel::update(oauth_clients::table.find(client_id))
            .set((
                oauth_clients::quota_mode.eq(quota.mode()),
                oauth_clients::quota_limit.eq(limit),
                oauth_clients::quota_window.eq(window),
            ))
            .execute(conn)?;
    }
    if rate.is_none() && quota.is_none() {
        return find(conn, client_id).map(|client| client.is_some());
    }
    Ok(updated == 1)
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
