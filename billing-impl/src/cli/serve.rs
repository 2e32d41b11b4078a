//! `billing serve`: migrate in the background and serve until SIGTERM.

use std::time::Duration;

use crate::{
    config::{Pooler, ServeConfig},
    db::{self, SetupError},
    server,
};

/// Serves the API with `config`, applying pending migrations as soon as the database
/// answers (unless only a transaction pooler reaches it), and the metrics on the admin
/// listener.
#[actix_web::main]
pub async fn run(config: ServeConfig) -> Result<(), SetupError> {
    let database = &config.database;
    match (
        database.db_pooler,
        &database.database_url.migration_database_url,
    ) {
        (Pooler::Transaction, None) => log::warn!(
            "not migrating: BILLING_DB_POOLER=transaction and no \
             BILLING_MIGRATION_DATABASE_URL; run `billing migrate` against PostgreSQL itself"
        ),
        _ => {
            db::migrate_in_background(
                database.database_url.direct().to_owned(),
                Duration::from_secs(5),
            );
        }
    }
    if database.db_pooler == Pooler::Transaction {
        log::info!(
            "BILLING_DB_POOLER=transaction: statements are timed by the role's \
             statement_timeout, not BILLING_DB_STATEMENT_TIMEOUT_MS (docs/scaling.md)"
        );
    }
    let running = server::start(&config, db::Database::new(&config.database)?)?;
    log::info!("serving on http://{}", running.address);
    if let Some((_, address)) = &running.admin {
        log::info!("metrics on http://{address}/metrics");
    }
    let admin = running.admin.map(|(admin, _)| {
        let handle = admin.handle();
        actix_web::rt::spawn(admin);
        handle
    });
    running.server.await?;
    if let Some(admin) = admin {
        admin.stop(true).await;
    }
    Ok(())
}
