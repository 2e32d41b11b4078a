//! The HTTP server: the contract's routes (generated), the token endpoint, health
//! checks, request ids and request logging.

use std::{io, net::SocketAddr, time::Duration};

use actix_web::{
    App, HttpResponse, HttpServer, ResponseError,
    dev::Server,
    middleware::{Logger, from_fn},
    web,
};
use billing_api::server::Rejection;

use crate::{
    api::BillingService,
    auth::{
        TokenVerifier,
        secrets::SecretVerifier,
        throttle::FailureThrottle,
        token_endpoint::{self, TOKEN_PATH, TokenIssuer},
    },
    config::ServeConfig,
    db::{self, DbPool},
    error::ApiError,
    middleware::{self, RequestLimits},
};

/// One access-log line: client, request line, status, bytes, milliseconds, request id.
/// Tokens travel in headers and secrets in bodies, so neither reaches this line.
const ACCESS_LOG: &str = r#"%a "%r" %s %b %Dms request_id=%{x-request-id}o"#;

/// Threads that verify client secrets (19 MiB of memory each while they work).
const ARGON2_THREADS: usize = 2;

/// A started server: the future that runs it, and the address it listens on.
pub struct Running {
    pub server: Server,
    pub address: SocketAddr,
}

/// Binds the listener and builds the server over `pool`; awaiting `server` runs it until
/// SIGINT or SIGTERM, after which requests in flight get the configured time to finish.
pub fn start(config: &ServeConfig, pool: DbPool) -> io::Result<Running> {
    let tokens = TokenVerifier::new(
        pool.clone(),
        Duration::from_secs(config.auth.token_cache_seconds),
        config.server.realm.clone(),
    );
    let service = web::Data::new(BillingService::new(pool.clone(), tokens));
    let issuer = web::Data::new(TokenIssuer {
        pool: pool.clone(),
        hasher: SecretVerifier::new(ARGON2_THREADS).map_err(io::Error::other)?,
        throttle: FailureThrottle::new(
            config.auth.auth_max_failures,
            Duration::from_secs(config.auth.auth_lockout_seconds),
        ),
        token_ttl: Duration::from_secs(config.auth.token_ttl_seconds),
    });
    let pool = web::Data::new(pool);
    let limits = web::Data::new(RequestLimits {
        max_query_bytes: config.server.max_query_bytes,
        max_header_bytes: config.server.max_header_bytes,
        timeout: Duration::from_secs(config.server.request_timeout_seconds),
    });

    let server = HttpServer::new(move || {
        App::new()
            // The last one wrapped runs first: log, then id, then limits, then JSON errors.
            .wrap(billing_api::server::json_errors())
            .wrap(from_fn(middleware::request_limits))
            .wrap(from_fn(middleware::request_id))
            .wrap(Logger::new(ACCESS_LOG))
            .app_data(limits.clone())
            .app_data(issuer.clone())
            .app_data(pool.clone())
            .service(
                web::resource(TOKEN_PATH)
                    .route(web::post().to(token_endpoint::issue_token))
                    .default_service(web::to(|| async {
                        Rejection::method_not_allowed("POST").error_response()
                    })),
            )
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .configure(|cfg| billing_api::server::configure(cfg, service.clone()))
    })
    .shutdown_timeout(config.server.shutdown_timeout_seconds)
    // A request head must arrive within the request timeout too (408 from the HTTP parser).
    .client_request_timeout(Duration::from_secs(config.server.request_timeout_seconds))
    // Diesel work runs on each worker's blocking threads, which wait for a pooled
    // connection at most the pool timeout, then answer 503. As many threads per worker as
    // the pool has connections let any worker use every connection; more would only wait
    // for one, and contend for the blocking pool's lock (measured: a higher p99).
    .worker_max_blocking_threads(config.database.db_pool_size as usize)
    .workers(workers(config))
    .bind(config.server.listen)?;
    let address = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("the server is bound to no address"))?;
    Ok(Running {
        server: server.run(),
        address,
    })
}

/// HTTP worker threads: as configured, or one per core.
fn workers(config: &ServeConfig) -> usize {
    config
        .server
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `GET /health`: the process is up. It asks nothing of the database.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "up" }))
}

/// `GET /ready`: the database answers and every migration is applied.
async fn ready(pool: web::Data<DbPool>) -> Result<HttpResponse, ApiError> {
    let migrated = db::run(&pool, db::is_migrated).await?;
    if migrated {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(ApiError::Unavailable("migrations are pending".to_owned()))
    }
}
