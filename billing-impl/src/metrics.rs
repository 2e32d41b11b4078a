//! Prometheus metrics: what the server counts, and the registry it is read from. Served in
//! the text exposition format at `GET /metrics` on a listener of its own
//! (`BILLING_ADMIN_LISTEN`), never where the API is. With that listener off nothing is
//! recorded at all.

use std::{sync::Arc, time::Duration};

use actix_web::http::StatusCode;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The methods a request is counted under; any other is `other`, so that made-up methods
/// cannot grow the label set.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Every metric of the server.
struct Registered {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_in_use: IntGauge,
    pool_idle: IntGauge,
    pool_waits: IntCounter,
    pool_wait_timeouts: IntCounter,
    database_failures: IntCounter,
    reads: IntCounterVec,
    pool_wait: Histogram,
    token_checks: IntCounterVec,
    token_refusals: IntCounterVec,
    grants: IntCounter,
    grant_refusals: IntCounterVec,
    throttled: IntCounter,
    rate_limited: IntCounterVec,
}

/// The server's metrics; cheap to clone. `Metrics::off()` records nothing.
#[derive(Clone, Default)]
pub struct Metrics(Option<Arc<Registered>>);

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let counter = IntCounter::new(name, help)?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

fn counters(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let counters = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(counters.clone()))?;
    Ok(counters)
}

fn gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let gauge = IntGauge::new(name, help)?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

impl Metrics {
    /// Metrics that record nothing.
    pub fn off() -> Self {
        Self(None)
    }

    /// A registry of every metric, with build information and the process's own
    /// (resident memory, CPU, open file descriptors).
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("billing".to_owned()), None)?;
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "The version and commit of this build (always 1)",
            ),
            &["version", "commit"],
        )?;
        registry.register(Box::new(build.clone()))?;
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("BILLING_COMMIT")])
            .set(1);
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "Time from a request's head to its answer, by operation",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["operation"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let pool_wait = Histogram::with_opts(
            HistogramOpts::new(
                "db_pool_wait_seconds",
                "Time a request waited for a database connection",
            )
            .buckets(vec![
                0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0,
            ]),
        )?;
        registry.register(Box::new(pool_wait.clone()))?;
        let registered = Registered {
            requests: counters(
                &registry,
                "requests_total",
                "Answered requests, by operation (the spec's operationId, or token, health, ready, unmatched), method and status",
                &["operation", "method", "status"],
            )?,
            latency,
            pool_in_use: gauge(
                &registry,
                "db_pool_connections_in_use",
                "Pooled connections in use",
            )?,
            pool_idle: gauge(
                &registry,
                "db_pool_connections_idle",
                "Pooled connections idle",
            )?,
            pool_waits: counter(
                &registry,
                "db_pool_waits_total",
                "Requests that asked for a database connection",
            )?,
            pool_wait_timeouts: counter(
                &registry,
                "db_pool_wait_timeouts_total",
                "Requests that got no database connection within the pool timeout (answered 503)",
            )?,
            database_failures: counter(
                &registry,
                "db_failures_total",
                "Units of database work that failed for the database's sake (connection lost, statement cancelled)",
            )?,
            pool_wait,
            reads: counters(
                &registry,
                "db_reads_total",
                "Units of read-only work, by where they were served (primary or replica)",
                &["served_by"],
            )?,
            token_checks: counters(
                &registry,
                "token_checks_total",
                "Bearer-token checks, by whether the token cache answered (hit) or the database (miss)",
                &["cache"],
            )?,
            token_refusals: counters(
                &registry,
                "token_refusals_total",
                "Bearer tokens refused, by reason (missing, malformed, not_signed_here, unknown)",
                &["reason"],
            )?,
            grants: counter(&registry, "token_grants_total", "Access tokens issued")?,
            grant_refusals: counters(
                &registry,
                "token_grant_refusals_total",
                "Token requests refused, by OAuth error code",
                &["error"],
            )?,
            throttled: counter(
                &registry,
                "token_throttled_total",
                "Token requests refused 429 for failed client authentications",
            )?,
            rate_limited: counters(
                &registry,
                "rate_limited_total",
                "Requests refused 429, by client and by the limit that refused them (rate or quota)",
                &["client", "limit"],
            )?,
            registry,
        };
        Ok(Self(Some(Arc::new(registered))))
    }

    /// Counts an answered request of `operation`.
    pub fn request(&self, operation: &str, method: &str, status: StatusCode, took: Duration) {
        let Some(m) = &self.0 else { return };
        let method = METHODS
            .iter()
            .find(|known| **known == method)
            .unwrap_or(&"other");
        m.requests
            .with_label_values(&[operation, method, status.as_str()])
            .inc();
        m.latency
            .with_label_values(&[operation])
            .observe(took.as_secs_f64());
    }

    /// Counts a request that waited `waited` for a database connection, and whether it got one.
    pub fn pool_wait(&self, waited: Duration, got_one: bool) {
        let Some(m) = &self.0 else { return };
        m.pool_waits.inc();
        m.pool_wait.observe(waited.as_secs_f64());
        if !got_one {
            m.pool_wait_timeouts.inc();
        }
    }

    /// Counts a unit of database work that failed for the database's sake.
    pub fn database_failure(&self) {
        if let Some(m) = &self.0 {
            m.database_failures.inc();
        }
    }

    /// Counts a unit of read-only work served by the `primary` or a `replica`.
    pub fn read_served_by(&self, target: &str) {
        if let Some(m) = &self.0 {
            m.reads.with_label_values(&[target]).inc();
        }
    }

    /// Counts a token check answered from the cache (`hit`) or by the database.
    pub fn token_check(&self, hit: bool) {
        if let Some(m) = &self.0 {
            m.token_checks
                .with_label_values(&[if hit { "hit" } else { "miss" }])
                .inc();
        }
    }

    /// Counts a refused bearer token.
    pub fn token_refused(&self, reason: &str) {
        if let Some(m) = &self.0 {
            m.token_refusals.with_label_values(&[reason]).inc();
        }
    }

    /// Counts an issued access token.
    pub fn granted(&self) {
        if let Some(m) = &self.0 {
            m.grants.inc();
        }
    }

    /// Counts a refused token request, by its OAuth error code; a 429 counts as throttled too.
    pub fn grant_refused(&self, error: &str, throttled: bool) {
        let Some(m) = &self.0 else { return };
        m.grant_refusals.with_label_values(&[error]).inc();
        if throttled {
            m.throttled.inc();
        }
    }

    /// Counts a request refused 429 by `client`'s `limit` (`rate` or `quota`).
    pub fn rate_limited(&self, client: &str, limit: &str) {
        if let Some(m) = &self.0 {
            m.rate_limited.with_label_values(&[client, limit]).inc();
        }
    }

    /// The text exposition of every metric, with the pool's connections as `in_use` and
    /// `idle` now.
    pub fn render(&self, pool_in_use: u32, pool_idle: u32) -> Option<String> {
        let m = self.0.as_ref()?;
        m.pool_in_use.set(i64::from(pool_in_use));
        m.pool_idle.set(i64::from(pool_idle));
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&m.registry.gather(), &mut text)
            .ok()?;
        String::from_utf8(text).ok()
    }
}
