//! PostgreSQL: the connection pool, the embedded migrations, and `run`, which moves
//! blocking diesel work off the async workers. One module per table holds its queries.

pub mod amount;
pub mod billing_groups;
pub mod clients;
pub mod customers;
pub mod invoices;
pub mod schema;
pub mod subscribers;
pub mod tokens;

use std::time::Duration;

use actix_web::web;
use backon::{BlockingRetryable, ExponentialBuilder};
use diesel::{
    Connection, PgConnection, RunQueryDsl,
    connection::SimpleConnection,
    r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, Pool},
    sql_types::BigInt,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{config::DatabaseConfig, error::ApiError};

/// The migrations of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Key of the advisory lock under which migrations run, so that instances starting
/// together apply them once.
const MIGRATION_LOCK_KEY: i64 = 0x6269_6c6c_696e_6721;

/// The pool every request draws its connection from.
pub type DbPool = Pool<Manager>;

/// Error of building a pool or migrating.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// A pooled connection, and whether it must not be handed out again.
pub struct PooledPg {
    conn: PgConnection,
    broken: bool,
}

/// diesel's connection manager, which cannot tell that PostgreSQL closed a connection,
/// taught to retire a connection once a query on it failed for a reason that is not the
/// query's (see `db::run`): after a restart of the database, or a killed backend, the pool
/// reconnects instead of handing out dead connections.
#[derive(Debug)]
pub struct Manager(ConnectionManager<PgConnection>);

impl ManageConnection for Manager {
    type Connection = PooledPg;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledPg, Self::Error> {
        self.0.connect().map(|conn| PooledPg {
            conn,
            broken: false,
        })
    }

    fn is_valid(&self, pooled: &mut PooledPg) -> Result<(), Self::Error> {
        self.0.is_valid(&mut pooled.conn)
    }

    fn has_broken(&self, pooled: &mut PooledPg) -> bool {
        pooled.broken || self.0.has_broken(&mut pooled.conn)
    }
}

/// Settings applied to every new connection of the pool.
#[derive(Debug)]
struct SessionSettings {
    statement_timeout_ms: u64,
}

impl CustomizeConnection<PooledPg, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, pooled: &mut PooledPg) -> Result<(), diesel::r2d2::Error> {
        pooled
            .conn
            .batch_execute(&format!(
                "SET statement_timeout = {}; SET application_name = 'billing'",
                self.statement_timeout_ms
            ))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds the pool. It does not wait for the database: a connection is opened when the
/// first request needs one, so that the server starts while the database is down.
pub fn build_pool(config: &DatabaseConfig) -> DbPool {
    let manager = Manager(ConnectionManager::<PgConnection>::new(
        config.database_url.expose(),
    ));
    Pool::builder()
        .max_size(config.db_pool_size)
        .min_idle(Some(0))
        .connection_timeout(config.pool_timeout())
        .test_on_check_out(false)
        .connection_customizer(Box::new(SessionSettings {
            statement_timeout_ms: config.db_statement_timeout_ms,
        }))
        .build_unchecked(manager)
}

/// Applies every pending migration under a PostgreSQL advisory lock; returns how many ran.
pub fn migrate(database_url: &str) -> Result<usize, SetupError> {
    let mut conn = PgConnection::establish(database_url)?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.len());
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)?;
    applied
}

/// Applies the migrations on a thread of its own, retrying with a growing delay (at most
/// `max_delay`) while the database cannot be reached, so that the server starts, and
/// `/ready` answers 503, until the database is there.
pub fn migrate_in_background(
    database_url: String,
    max_delay: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let applied = (|| migrate(&database_url))
            .retry(
                ExponentialBuilder::default()
                    .with_max_delay(max_delay)
                    .without_max_times(),
            )
            .sleep(std::thread::sleep)
            .notify(|error, delay| {
                log::warn!("migrations not applied yet ({error}); retrying in {delay:?}")
            })
            .call();
        match applied {
            Ok(count) => log::info!("{count} migration(s) applied"),
            Err(error) => log::error!("migrations failed: {error}"),
        }
    })
}

/// Whether every embedded migration has been applied to the database.
pub fn is_migrated(conn: &mut PgConnection) -> Result<bool, ApiError> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|error| ApiError::Unavailable(error.to_string()))
}

/// Runs `work` on a pooled connection on actix's blocking thread pool. The checkout
/// happens inside the closure too, because waiting for a connection blocks.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut pooled = pool.get()?;
        let result = work(&mut pooled.conn);
        // The database, not the query, failed: the connection may be dead; retire it.
        if matches!(result, Err(ApiError::Unavailable(_))) {
            pooled.broken = true;
        }
        result
    })
    .await?
}
