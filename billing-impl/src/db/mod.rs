//! PostgreSQL: `Database`, the door every request goes through to it, tied from the pool
//! (`pool`), the queue of work and its threads (`queue`), and the retry of work whose
//! connection was lost (`retry`); the embedded `migrations`; the layer's error type. One
//! module per table holds its queries.

pub mod amount;
pub mod audit;
pub mod billing_groups;
pub mod client_customers;
pub mod clients;
pub mod customers;
mod error;
pub mod idempotency_keys;
pub mod import_runs;
pub mod invoices;
pub mod migrations;
pub mod pool;
pub mod pressure;
mod queue;
pub mod quota_counts;
pub mod replicas;
mod retry;
pub mod schema;
pub mod staged;
pub mod subscribers;
pub mod token_keys;
pub mod tokens;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::PgConnection;

pub use self::{
    error::DbError,
    migrations::{is_migrated, migrate, migrate_in_background},
    retry::WorkError,
};
use self::{
    pool::{ConnectionSettings, Pool},
    queue::{QueueError, WorkQueue},
    retry::Access,
};
use crate::{config::DatabaseConfig, metrics::Metrics};

/// Error of building a pool or migrating.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// PostgreSQL as the requests use it: work waits its turn in the queue (`queue`), runs on a
/// connection of the pool (`pool`) on one of the queue's threads, as many as the pool has
/// connections, so that its checkout finds a connection at once, and runs again on another
/// connection when its own was lost (`retry`). A request whose work has not started within
/// the pool timeout is answered 503 at that deadline, however many wait with it.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    queue: Arc<WorkQueue>,
    pool_timeout: Duration,
    statement_timeout: Duration,
    metrics: Metrics,
}

impl Database {
    /// The pool of `config` on the primary. It does not wait for the database: a
    /// connection is opened when the first request needs one, so that the server starts
    /// while the database is down.
    pub fn new(config: &DatabaseConfig) -> Result<Self, SetupError> {
        Self::at(config.database_url.expose(), config, config.pool_timeout())
    }

    /// A pool on the replica at `url`, sized as `config` says. A read waits for it a
    /// quarter of the pool timeout, so that one that gets no connection there (the replica
    /// is down or busy) still has the rest to be served by the primary.
    pub fn replica(url: &str, config: &DatabaseConfig) -> Result<Self, SetupError> {
        Self::at(url, config, config.pool_timeout() / 4)
    }

    /// A pool on the database at `url`, sized as `config` says, waiting `pool_timeout` at
    /// most for a connection.
    fn at(url: &str, config: &DatabaseConfig, pool_timeout: Duration) -> Result<Self, SetupError> {
        let statement_timeout = Duration::from_millis(config.db_statement_timeout_ms);
        let pool = Pool::new(
            url,
            config.pool_size(),
            ConnectionSettings {
                statement_timeout,
                pooler: config.db_pooler,
            },
        );
        Ok(Self {
            queue: Arc::new(WorkQueue::new(
                pool.size() as usize,
                config.db_thread_niceness,
            )?),
            pool,
            pool_timeout,
            statement_timeout,
            metrics: Metrics::off(),
        })
    }

    /// The same database, its waits and failures counted in `metrics`.
    pub fn observed_by(self, metrics: Metrics) -> Self {
        Self { metrics, ..self }
    }

    /// Pooled connections now: in use, and idle.
    pub fn connections(&self) -> (u32, u32) {
        self.pool.connections()
    }

    /// Connections in the pool at most.
    pub fn pool_size(&self) -> u32 {
        self.pool.size()
    }

    /// Runs `work`, which only reads, on a pooled connection (see the type's comment).
    pub async fn read<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError,
    {
        self.run(Access::Read, work).await
    }

    /// Runs `work` in a transaction on a pooled connection (see the type's comment).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError,
    {
        self.run(Access::Write, work).await
    }

    async fn run<T, E, F>(&self, access: Access, mut work: F) -> Result<T, E>
    where
        F: FnMut(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: WorkError,
    {
        let asked = Instant::now();
        let deadline = asked + self.pool_timeout;
        let database = self.clone();
        let answer = self
            .queue
            .run(deadline, move || {
                database.metrics.pool_wait(asked.elapsed(), true);
                let Database {
                    pool,
                    statement_timeout,
                    metrics,
                    ..
                } = &database;
                retry::with_retries(
                    pool.size() as usize,
                    || {
                        retry::attempt(
                            pool,
                            access,
                            &mut work,
                            deadline,
                            *statement_timeout,
                            metrics,
                        )
                    },
                    || log::warn!("a lost database connection was retired; running the work again"),
                )
            })
            .await;
        match answer {
            Ok(result) => result,
            Err(QueueError::Expired) => {
                self.metrics.pool_wait(asked.elapsed(), false);
                Err(DbError::Unreachable(format!(
                    "no connection free within {} ms",
                    self.pool_timeout.as_millis()
                ))
                .into())
            }
            Err(QueueError::Panicked(detail)) => Err(DbError::Work(detail).into()),
        }
    }
}
