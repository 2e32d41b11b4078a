//! Configuration: one typed struct per concern, read from flags and the environment by
//! clap. Every setting is documented where it is declared; `billing --help` lists them.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

/// A value that must never reach a log line: its `Debug` and `Display` print `***`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Secret(value.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach PostgreSQL.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,

    /// Connections in the pool.
    #[arg(long, env = "BILLING_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,

    /// Milliseconds a request waits for a free connection before it is answered 503.
    #[arg(long, env = "BILLING_DB_POOL_TIMEOUT_MS", default_value_t = 2000)]
    pub db_pool_timeout_ms: u64,

    /// Milliseconds one SQL statement may run before PostgreSQL cancels it.
    #[arg(long, env = "BILLING_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
}

impl DatabaseConfig {
    /// How long a request waits for a pooled connection.
    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.db_pool_timeout_ms)
    }
}

/// The OAuth 2.0 authorization server.
#[derive(clap::Args, Debug, Clone)]
pub struct AuthConfig {
    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "BILLING_TOKEN_TTL_SECONDS", default_value_t = 3600)]
    pub token_ttl_seconds: u64,

    /// Seconds a checked token is trusted without asking the database again; it bounds how
    /// long a revoked client's tokens keep working on each instance.
    #[arg(long, env = "BILLING_TOKEN_CACHE_SECONDS", default_value_t = 5)]
    pub token_cache_seconds: u64,

    /// Failed client authentications, per client id and per address, before the token
    /// endpoint answers 429 for the rest of the lockout.
    #[arg(long, env = "BILLING_AUTH_MAX_FAILURES", default_value_t = 10)]
    pub auth_max_failures: u32,

    /// Seconds a throttled client id or address stays locked out.
    #[arg(long, env = "BILLING_AUTH_LOCKOUT_SECONDS", default_value_t = 300)]
    pub auth_lockout_seconds: u64,
}

/// The HTTP server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerConfig {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "BILLING_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Worker threads; by default one per core.
    #[arg(long, env = "BILLING_WORKERS")]
    pub workers: Option<usize>,

    /// Seconds in-flight requests get to finish on shutdown.
    #[arg(long, env = "BILLING_SHUTDOWN_TIMEOUT_SECONDS", default_value_t = 30)]
    pub shutdown_timeout_seconds: u64,

    /// Longest query string, in bytes; a longer one is answered 414.
    #[arg(long, env = "BILLING_MAX_QUERY_BYTES", default_value_t = 4096)]
    pub max_query_bytes: usize,

    /// Most bytes of all header names and values together; more is answered 431.
    #[arg(long, env = "BILLING_MAX_HEADER_BYTES", default_value_t = 16384)]
    pub max_header_bytes: usize,

    /// Seconds a request may take from its head to its answer, upload included; a client
    /// that sends its body too slowly is answered 408.
    #[arg(long, env = "BILLING_REQUEST_TIMEOUT_SECONDS", default_value_t = 15)]
    pub request_timeout_seconds: u64,

    /// The realm named in `WWW-Authenticate` challenges.
    #[arg(long, env = "BILLING_REALM", default_value = "billing")]
    pub realm: String,
}

/// Everything `billing serve` needs.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeConfig {
    #[command(flatten)]
    pub server: ServerConfig,
    #[command(flatten)]
    pub database: DatabaseConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
}
