//! The HTTP server: the contract's routes (generated), the token endpoint, health
//! checks, request ids, metrics and request logging; and the admin listener, which serves
//! the metrics.

use std::{io, net::SocketAddr, time::Duration};

use actix_web::{
    App, HttpResponse, HttpServer,
    dev::Server,
    middleware::{Condition, from_fn},
    web,
};

use contract_runtime::ContractError;

use crate::{
    api::BillingService,
    auth::{
        TokenVerifier,
        keys::KeyRing,
        secrets::SecretVerifier,
        throttle::{FailureThrottle, GrantLimit},
        token_endpoint::{self, TOKEN_PATH, TokenIssuer},
    },
    config::{AdminListen, ServeConfig, Switch},
    db::{self, Database, customers::CustomerKeys, replicas::Reads},
    docs::{self, Contract},
    error::ApiError,
    http::{
        compression,
        middleware::{self, Observer, RequestLimits},
    },
    limits::enforce::Enforcer,
    metrics::Metrics,
};

/// How often the idempotency keys older than `idempotency_keys::KEPT_FOR` are deleted.
const FORGET_KEYS_EVERY: Duration = Duration::from_secs(3600);

/// Threads that verify client secrets stored as Argon2id hashes before they were stored as
/// digests (19 MiB of memory each while they work).
const ARGON2_THREADS: usize = 2;

/// A started server: the future that runs it, and the address it listens on; and the
/// admin listener's, unless it is off.
pub struct Running {
    pub server: Server,
    pub address: SocketAddr,
    pub admin: Option<(Server, SocketAddr)>,
}

/// Binds the listener and builds the server over `database`; awaiting `server` runs it
/// until SIGINT or SIGTERM, after which requests in flight get the configured time to
/// finish.
pub fn start(config: &ServeConfig, database: Database) -> io::Result<Running> {
    let metrics = match config.server.admin_listen {
        AdminListen::Off => Metrics::off(),
        AdminListen::On(_) => Metrics::new().map_err(io::Error::other)?,
    };
    let database = database.observed_by(metrics.clone());
    let replicas = config
        .database
        .replica_urls
        .iter()
        .map(|url| {
            Database::replica(url.expose(), &config.database)
                .map(|replica| replica.observed_by(metrics.clone()))
                .map_err(io::Error::other)
        })
        .collect::<io::Result<_>>()?;
    let reads = Reads::new(
        database.clone(),
        replicas,
        Duration::from_millis(config.database.read_after_write_ms),
    );
    reads.monitor(Duration::from_millis(config.database.replica_max_lag_ms));
    forget_expired_keys(database.clone());
    let keys = KeyRing::new();
    keys.keep_fresh(
        database.clone(),
        Duration::from_secs(config.auth.token_cache_seconds),
    );
    let tokens = TokenVerifier::new(
        reads.clone(),
        keys.clone(),
        Duration::from_secs(config.auth.token_cache_seconds),
        config.server.realm.clone(),
        config.limits.defaults(),
        metrics.clone(),
    );
    let enforcer = Enforcer::new(database.clone(), metrics.clone());
    let service = web::Data::new(BillingService::new(
        reads,
        tokens,
        enforcer,
        CustomerKeys::new(config.database.customer_key_cache_size),
        config.server.base_path.clone(),
    ));
    let issuer = web::Data::new(TokenIssuer {
        database: database.clone(),
        secrets: SecretVerifier::new(ARGON2_THREADS).map_err(io::Error::other)?,
        keys,
        throttle: FailureThrottle::new(
            config.auth.auth_max_failures,
            Duration::from_secs(config.auth.auth_lockout_seconds),
        ),
        grants: GrantLimit::per_minute(config.auth.token_grants_per_minute),
        token_ttl: Duration::from_secs(config.auth.token_ttl_seconds),
        metrics: metrics.clone(),
    });
    let admin = match config.server.admin_listen {
        AdminListen::Off => None,
        AdminListen::On(address) => Some(admin_server(address, metrics.clone(), database.clone())?),
    };
    let contract = web::Data::new(
        Contract::new(&config.server.base_path, config.server.public_url.clone())
            .map_err(io::Error::other)?,
    );
    let observer = web::Data::new(Observer {
        metrics,
        base_path: config.server.base_path.clone(),
    });
    let base_path = config.server.base_path.clone();
    let database = web::Data::new(database);
    let limits = web::Data::new(RequestLimits {
        max_query_bytes: config.server.max_query_bytes,
        max_header_bytes: config.server.max_header_bytes,
        timeout: Duration::from_secs(config.server.request_timeout_seconds),
    });

    let compress = config.server.compression == Switch::On;
    let server = HttpServer::new(move || {
        App::new()
            // The last one wrapped runs first: count and log, then id, then limits, then
            // JSON errors, then compression.
            .wrap(Condition::new(compress, from_fn(compression::compress)))
            .wrap(middleware::json_errors())
            .wrap(from_fn(middleware::request_limits))
            .wrap(from_fn(middleware::rate_limit_fields))
            .wrap(from_fn(middleware::request_id))
            .wrap(from_fn(middleware::observe))
            .app_data(observer.clone())
            .app_data(limits.clone())
            .app_data(issuer.clone())
            .app_data(database.clone())
            .service(
                web::resource(TOKEN_PATH)
                    .route(web::post().to(token_endpoint::issue_token))
                    .default_service(web::to(|| {
                        contract_runtime::refuse::<ApiError>(ContractError::MethodNotAllowed {
                            allow: "POST",
                        })
                    })),
            )
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .configure(|cfg| docs::configure(cfg, contract.clone()))
            .configure(|cfg| billing_api::server::configure(cfg, service.clone(), &base_path))
    })
    .shutdown_timeout(config.server.shutdown_timeout_seconds)
    // A request head must arrive within the request timeout too (408 from the HTTP parser).
    .client_request_timeout(Duration::from_secs(config.server.request_timeout_seconds))
    .workers(config.server.worker_count())
    .bind(config.server.listen)?;
    let address = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("the server is bound to no address"))?;
    Ok(Running {
        server: server.run(),
        address,
        admin,
    })
}

/// Deletes the expired idempotency keys every `FORGET_KEYS_EVERY`, for as long as the server
/// runs (every instance does; each deletion finds what is left).
fn forget_expired_keys(database: Database) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(FORGET_KEYS_EVERY);
        loop {
            ticks.tick().await;
            let forgotten = database
                .write(|conn| db::idempotency_keys::forget_expired(conn).map_err(db::DbError::from))
                .await;
            match forgotten {
                Ok(0) => {}
                Ok(count) => log::info!("{count} expired idempotency key(s) deleted"),
                Err(error) => log::warn!("expired idempotency keys not deleted: {error}"),
            }
        }
    });
}

/// The admin listener: `GET /metrics` in Prometheus's text exposition format, on one
/// worker of its own.
fn admin_server(
    address: SocketAddr,
    metrics: Metrics,
    database: Database,
) -> io::Result<(Server, SocketAddr)> {
    let state = web::Data::new((metrics, database));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .bind(address)?;
    let address = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("the admin listener is bound to no address"))?;
    Ok((server.run(), address))
}

/// `GET /metrics`.
async fn scrape(state: web::Data<(Metrics, Database)>) -> HttpResponse {
    let (metrics, database) = state.get_ref();
    let (in_use, idle) = database.connections();
    match metrics.render(in_use, idle) {
        Some(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /health`: the process is up. It asks nothing of the database.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "up" }))
}

/// `GET /ready`: the database answers and every migration is applied.
async fn ready(database: web::Data<Database>) -> Result<HttpResponse, ApiError> {
    let migrated = database.read(db::is_migrated).await?;
    if migrated {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(ApiError::Database(db::DbError::Migrations(
            "migrations are pending".to_owned(),
        )))
    }
}
