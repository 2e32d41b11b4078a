//! The embedded migrations, applied under a PostgreSQL advisory lock so that instances
//! starting together apply each one once.

use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use diesel::{Connection, PgConnection, RunQueryDsl, sql_types::BigInt};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbError, SetupError};

/// The migrations of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Key of the advisory lock under which migrations run.
const MIGRATION_LOCK_KEY: i64 = 0x6269_6c6c_696e_6721;

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
pub fn is_migrated(conn: &mut PgConnection) -> Result<bool, DbError> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|error| DbError::Migrations(error.to_string()))
}
