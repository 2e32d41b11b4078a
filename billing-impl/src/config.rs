//! Configuration: one typed struct per concern, read from flags and the environment by
//! clap. Every setting is documented where it is declared; `billing --help` lists them.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

/// A value that must never reach a log line: it has no `Display`, and its `Debug` prints
/// `***`.
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

/// Where PostgreSQL is: all that the commands other than `serve` need.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseUrl {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,

    /// A URL that reaches PostgreSQL itself, not through a pooler in transaction mode, for
    /// the work that needs a session of its own: migrations, imports and the other commands
    /// than `serve`. `DATABASE_URL` by default.
    #[arg(long, env = "BILLING_MIGRATION_DATABASE_URL", hide_env_values = true)]
    pub migration_database_url: Option<Secret>,
}

impl DatabaseUrl {
    /// The URL the server's pools connect to.
    pub fn expose(&self) -> &str {
        self.database_url.expose()
    }

    /// The URL of a session of its own: the migration URL if there is one, else the
    /// server's.
    pub fn direct(&self) -> &str {
        self.migration_database_url
            .as_ref()
            .unwrap_or(&self.database_url)
            .expose()
    }
}

/// What stands between the server and PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pooler {
    /// Nothing, or a pooler that gives each client a server connection of its own.
    Session,
    /// A pooler that lends a server connection for one transaction (PgBouncer's
    /// `pool_mode = transaction`): no named prepared statements, no session settings.
    Transaction,
}

/// How to reach PostgreSQL, and how many connections to hold.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseConfig {
    #[command(flatten)]
    pub database_url: DatabaseUrl,

    /// What the server connects through: `session` (PostgreSQL itself, or a pooler in
    /// session mode) or `transaction` (a pooler in transaction mode; docs/scaling.md says
    /// what then moves to role settings and `billing migrate`).
    #[arg(long, env = "BILLING_DB_POOLER", value_enum, default_value_t = Pooler::Session)]
    pub db_pooler: Pooler,

    /// Connections in the pool, and database threads; three per core by default, from 4
    /// to 32 (docs/operations.md says why).
    #[arg(long, env = "BILLING_DB_POOL_SIZE")]
    pub db_pool_size: Option<u32>,

    /// How far above the HTTP workers' nice value the database threads run (0 to 19), so
    /// that requests are read and queued in order while the cores are busy.
    #[arg(
        long,
        env = "BILLING_DB_THREAD_NICENESS",
        default_value_t = 5,
        value_parser = clap::value_parser!(i32).range(0..=19)
    )]
    pub db_thread_niceness: i32,

    /// Milliseconds a request waits for a free connection before it is answered 503.
    #[arg(long, env = "BILLING_DB_POOL_TIMEOUT_MS", default_value_t = 2000)]
    pub db_pool_timeout_ms: u64,

    /// Milliseconds one SQL statement may run before PostgreSQL cancels it (under
    /// `BILLING_DB_POOLER=transaction`, the role's `statement_timeout` instead).
    #[arg(long, env = "BILLING_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,

    /// PostgreSQL streaming replicas that serve the reads (the GET operations),
    /// comma-separated connection URLs, each with a pool of its own as large as the
    /// primary's; none by default, when everything goes to `DATABASE_URL`.
    #[arg(
        long,
        env = "BILLING_REPLICA_URLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub replica_urls: Vec<Secret>,

    /// Milliseconds a replica may replay behind the primary (by WAL position) before its
    /// reads go elsewhere.
    #[arg(long, env = "BILLING_REPLICA_MAX_LAG_MS", default_value_t = 1000)]
    pub replica_max_lag_ms: u64,

    /// Milliseconds after a write during which the writing client's reads go to the
    /// primary, on the instance that took the write, so that it reads its own writes.
    #[arg(long, env = "BILLING_READ_AFTER_WRITE_MS", default_value_t = 2000)]
    pub read_after_write_ms: u64,

    /// Customers' keys the bill listings remember, at most, sparing PostgreSQL the
    /// customer's lookup (`CustomerKeys` says why that is safe).
    #[arg(
        long,
        env = "BILLING_CUSTOMER_KEY_CACHE_SIZE",
        default_value_t = 100_000
    )]
    pub customer_key_cache_size: u64,
}

impl DatabaseConfig {
    /// How long a request waits for a pooled connection.
    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.db_pool_timeout_ms)
    }

    /// Connections in the pool: as configured, else three per core, from 4 to 32.
    pub fn pool_size(&self) -> u32 {
        self.db_pool_size.unwrap_or_else(|| {
            let cores = u32::try_from(cores()).unwrap_or(u32::MAX);
            cores.saturating_mul(3).clamp(4, 32)
        })
    }
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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

    /// Tokens granted a minute per client id and address on each instance, all at once if
    /// need be; further requests are answered 429 until one is earned back.
    #[arg(long, env = "BILLING_TOKEN_GRANTS_PER_MINUTE", default_value = "60")]
    pub token_grants_per_minute: std::num::NonZeroU32,
}

/// The limits of clients that have none of their own (`billing clients limits`).
#[derive(clap::Args, Debug, Clone)]
pub struct LimitsConfig {
    /// The rate of a client without one of its own, `N/s` (on each instance); unset, no
    /// rate.
    #[arg(long, env = "BILLING_DEFAULT_RATE")]
    pub default_rate: Option<crate::limits::Rate>,

    /// The burst of that default rate; one second's worth by default.
    #[arg(long, env = "BILLING_DEFAULT_BURST", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::limits::MAX_RATE)))]
    pub default_burst: Option<u32>,

    /// The quota of a client without one of its own, `N/minute`, `N/hour`, `N/day` or
    /// `N/month` (UTC calendar windows, counted across instances); unset, no quota.
    #[arg(long, env = "BILLING_DEFAULT_QUOTA")]
    pub default_quota: Option<crate::limits::Quota>,
}

impl LimitsConfig {
    /// The defaults as the token verifier applies them.
    pub fn defaults(&self) -> crate::limits::Defaults {
        crate::limits::Defaults {
            rate: self.default_rate.map(|rate| crate::limits::Rate {
                burst: self.default_burst.unwrap_or(rate.burst),
                ..rate
            }),
            quota: self.default_quota,
        }
    }
}

/// The HTTP server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerConfig {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "BILLING_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// HTTP worker threads; by default one per core.
    #[arg(long, env = "BILLING_WORKERS")]
    pub workers: Option<usize>,

    /// The path every operation of the API is served under, as the spec's `basePath`
    /// (for example `/v2/tigo/b2b/hn/billing` for a deployment of the original contract's
    /// paths): `/` and one or more segments, without a trailing `/`.
    #[arg(long, env = "BILLING_BASE_PATH", default_value = billing_api::BASE_PATH, value_parser = base_path)]
    pub base_path: String,

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

    /// `scheme://host[:port]` that clients reach the server at, as the served spec names
    /// it (`{basePath}/swagger.json`); by default the request's own. Set it behind a proxy,
    /// and so that no request's `Host` header is reflected into the spec.
    #[arg(long, env = "BILLING_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Address and port of the admin listener, which serves `GET /metrics` (Prometheus),
    /// never where the API is; `off` for none, and then nothing is counted.
    #[arg(long, env = "BILLING_ADMIN_LISTEN", default_value = "127.0.0.1:9898")]
    pub admin_listen: AdminListen,

    /// The realm named in `WWW-Authenticate` challenges.
    #[arg(long, env = "BILLING_REALM", default_value = "billing")]
    pub realm: String,

    /// Whether answers are compressed (br, gzip) as the client accepts: tagged ones at any
    /// size, other JSON from 1 KiB; `off` where a proxy in front compresses.
    #[arg(long, env = "BILLING_COMPRESSION", value_enum, default_value_t = Switch::On)]
    pub compression: Switch,
}

/// A feature on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Where the admin listener listens, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    Off,
    On(SocketAddr),
}

impl FromStr for AdminListen {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.eq_ignore_ascii_case("off") {
            return Ok(AdminListen::Off);
        }
        value
            .parse()
            .map(AdminListen::On)
            .map_err(|_| format!("`{value}` is neither `off` nor an address and port"))
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// env_logger's text lines.
    Text,
    /// One JSON object a line: timestamp, level, target, message, and the fields of the
    /// line (an access line's request id, operation, status, latency and client id).
    Json,
}

impl ServerConfig {
    /// HTTP worker threads: as configured, else one per core.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(cores)
    }
}

/// A base path: `/`, then segments of unreserved characters, without a trailing `/`.
fn base_path(value: &str) -> Result<String, String> {
    let segments_ok = value.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        })
    });
    if segments_ok {
        Ok(value.to_owned())
    } else {
        Err("a base path is `/` and segments of letters, digits, `-`, `.`, `_` and `~`, with no trailing `/` (for example /v2/billing)".to_owned())
    }
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
    #[command(flatten)]
    pub limits: LimitsConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_path_is_slash_separated_segments() {
        assert!(base_path("/v2/billing").is_ok());
        assert!(base_path("/v2/tigo/b2b/hn/billing").is_ok());
        for refused in [
            "",
            "/",
            "v2/billing",
            "/v2/billing/",
            "/v2//billing",
            "/v2/{country}",
        ] {
            assert!(base_path(refused).is_err(), "{refused:?}");
        }
    }
}

/// `billing serve`'s options as a command line of their own.
#[derive(clap::Parser, Debug)]
struct ServeCommandLine {
    #[command(flatten)]
    config: ServeConfig,
}

impl ServeConfig {
    /// The configuration that `args` (options, without the program name) and the
    /// environment give, every other setting at its default.
    pub fn from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let program = std::iter::once(std::ffi::OsString::from("billing"));
        ServeCommandLine::try_parse_from(program.chain(args.into_iter().map(Into::into)))
            .map(|line| line.config)
    }
}
