//! `billing serve`: migrate in the background and serve until SIGTERM.

use std::time::Duration;

use crate::{
    config::ServeConfig,
    db::{self, SetupError},
    server,
};

/// Serves the API with `config`, applying pending migrations as soon as the database
/// answers, and the metrics on the admin listener.
#[actix_web::main]
pub async fn run(config: ServeConfig) -> Result<(), SetupError> {
    db::migrate_in_background(
        config.database.database_url.expose().to_owned(),
        Duration::from_secs(5),
    );
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
