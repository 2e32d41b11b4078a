//! PostgreSQL: the connection pool and the door every request goes through to it
//! (`Database`), the embedded migrations, and the error type of the layer. One module per
//! table holds its queries.

pub mod amount;
pub mod audit;
pub mod billing_groups;
pub mod client_customers;
pub mod clients;
pub mod customers;
mod error;
pub mod invoices;
pub mod replicas;
pub mod schema;
pub mod subscribers;
pub mod token_keys;
pub mod tokens;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use backon::{BlockingRetryable, ConstantBuilder, ExponentialBuilder};
use diesel::{
    Connection, PgConnection, RunQueryDsl,
    connection::SimpleConnection,
    r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, Pool},
    sql_types::BigInt,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use self::error::DbError;
use crate::{config::DatabaseConfig, metrics::Metrics};

/// The migrations of `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Key of the advisory lock under which migrations run, so that instances starting
/// together apply them once.
const MIGRATION_LOCK_KEY: i64 = 0x6269_6c6c_696e_6721;

/// The pool every request draws its connection from.
type DbPool = Pool<Manager>;

/// Error of building a pool or migrating.
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// A pooled connection, whether it must not be handed out again, and when it was opened
/// (a connection that died while it sat idle in the pool is found on its next use).
pub struct PooledPg {
    conn: PgConnection,
    broken: bool,
    opened: Instant,
}

/// diesel's connection manager, which cannot tell that PostgreSQL closed a connection,
/// taught to retire a connection once work on it lost it (see `Database`): after a restart
/// of the database, or a killed backend, the pool reconnects instead of handing out dead
/// connections.
#[derive(Debug)]
pub struct Manager(ConnectionManager<PgConnection>);

impl ManageConnection for Manager {
    type Connection = PooledPg;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PooledPg, Self::Error> {
        self.0.connect().map(|conn| PooledPg {
            conn,
            broken: false,
            opened: Instant::now(),
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
///
/// `random_page_cost` 1.1 (PostgreSQL's default is 4, for spinning disks) says that the
/// invoices are read from memory or SSD. The plans of a page of bills are generic: they
/// assume a customer has the average number of invoices (about 100 in `make bench`). With
/// the default, a page whose end nears that number is planned as a bitmap scan of all the
/// customer's invoices and a sort, instead of the ordered index scan that stops after the
/// page: for the 10,000-bill customer, pages of 20 at offset 80 fell from 7,540 to 216 tps
/// (pgbench, prepared), and a first page of 100 from 5,250 (of 80) to 207. With 1.1 the
/// ordered index scan is kept for every page.
#[derive(Debug)]
struct SessionSettings {
    statement_timeout_ms: u64,
}

impl CustomizeConnection<PooledPg, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, pooled: &mut PooledPg) -> Result<(), diesel::r2d2::Error> {
        pooled
            .conn
            .batch_execute(&format!(
                "SET statement_timeout = {}; SET application_name = 'billing'; \
                 SET random_page_cost = 1.1",
                self.statement_timeout_ms
            ))
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The error of a unit of database work: the caller's own, which may carry a `DbError`.
/// `Database` looks at that one to retire a lost connection and to retry.
pub trait WorkError: From<DbError> + Send + 'static {
    /// The database's failure this error carries, if it is one.
    fn database_failure(&mut self) -> Option<&mut DbError>;
}

impl WorkError for DbError {
    fn database_failure(&mut self) -> Option<&mut DbError> {
        Some(self)
    }
}

/// Whether a unit of work may change data: writes run in a transaction, which decides
/// whether a failed one may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// A failed attempt, and whether it may be made again on another connection.
struct Attempt<E> {
    error: E,
    retry: bool,
}

/// PostgreSQL as the requests use it: the pool, and the threads its work runs on.
///
/// diesel blocks, so the work runs on threads of its own (`WorkThreads`), as many as the
/// pool has connections: the checkout inside the work finds a connection at once. Work
/// waits in their queue, first in, first out, so that no early request starves behind
/// later ones; waiting there holds no HTTP worker and no thread, and a request whose work
/// has not started within the pool timeout is answered 503 at that deadline, however many
/// wait with it (its work is then skipped).
///
/// A connection that died while idle (PostgreSQL restarted, a backend terminated) fails
/// its next work with `ConnectionLost`: it is retired, and the work runs again on another
/// connection, up to once per pooled connection, so that a pool of dead connections is
/// replaced without failing a request. Reads are always retried so. A write runs in a
/// transaction and is retried only when COMMIT was never sent, so that it provably did not
/// take effect; when the connection is lost at COMMIT, the outcome is unknown and the
/// request answers 503. A failure on a connection opened for this very checkout is not
/// retried: the database is down, not the connection.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    threads: Arc<WorkThreads>,
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
        let size = config.pool_size();
        let manager = Manager(ConnectionManager::<PgConnection>::new(url));
        let pool = Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(pool_timeout)
            .test_on_check_out(false)
            .connection_customizer(Box::new(SessionSettings {
                statement_timeout_ms: config.db_statement_timeout_ms,
            }))
            .build_unchecked(manager);
        Ok(Self {
            pool,
            threads: Arc::new(WorkThreads::new(size as usize, config.db_thread_niceness)?),
            pool_timeout,
            statement_timeout: Duration::from_millis(config.db_statement_timeout_ms),
            metrics: Metrics::off(),
        })
    }

    /// The same database, its waits and failures counted in `metrics`.
    pub fn observed_by(self, metrics: Metrics) -> Self {
        Self { metrics, ..self }
    }

    /// Pooled connections now: in use, and idle.
    pub fn connections(&self) -> (u32, u32) {
        let state = self.pool.state();
        (
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }

    /// Connections in the pool at most.
    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// Runs `work` on a pooled connection on the calling thread, which it blocks, without
    /// the queue, its threads or retries: for tools that measure the database alone, never
    /// for requests.
    pub fn read_here<T>(
        &self,
        work: impl FnOnce(&mut PgConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut pooled = self
            .pool
            .get_timeout(self.pool_timeout)
            .map_err(|error| DbError::Unreachable(error.to_string()))?;
        work(&mut pooled.conn)
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
        let turn = Turn::queued();
        let (database, thread_turn) = (self.clone(), turn.clone());
        let mut outcome = self.threads.spawn(move || {
            if !thread_turn.start() {
                // Nobody waits any more: the request was answered 503 at its deadline.
                return None;
            }
            database.metrics.pool_wait(asked.elapsed(), true);
            let retries = database.pool_size() as usize;
            Some(
                (|| database.attempt(access, &mut work, deadline))
                    .retry(
                        ConstantBuilder::default()
                            .with_delay(Duration::ZERO)
                            .with_max_times(retries),
                    )
                    .sleep(std::thread::sleep)
                    .when(|failed| failed.retry)
                    .notify(|_, _| {
                        log::warn!("a lost database connection was retired; running the work again")
                    })
                    .call()
                    .map_err(|failed| failed.error),
            )
        });
        let finished = match tokio::time::timeout_at(deadline.into(), &mut outcome).await {
            Ok(finished) => finished,
            Err(_) if turn.abandon() => {
                self.metrics.pool_wait(asked.elapsed(), false);
                return Err(DbError::Unreachable(format!(
                    "no connection free within {} ms",
                    self.pool_timeout.as_millis()
                ))
                .into());
            }
            // Started in time: its answer is worth the wait.
            Err(_) => outcome.await,
        };
        match finished {
            Ok(Some(result)) => result,
            Ok(None) => Err(DbError::Work("the work was skipped".to_owned()).into()),
            Err(error) => Err(DbError::Work(error.to_string()).into()),
        }
    }

    /// One attempt of `work` on a pooled connection, checked out by `deadline`.
    fn attempt<T, E, F>(
        &self,
        access: Access,
        work: &mut F,
        deadline: Instant,
    ) -> Result<T, Attempt<E>>
    where
        F: FnMut(&mut PgConnection) -> Result<T, E>,
        E: WorkError,
    {
        let checkout = Instant::now();
        let wait = deadline.saturating_duration_since(checkout);
        let mut pooled = self.pool.get_timeout(wait).map_err(|error| Attempt {
            error: E::from(DbError::Unreachable(error.to_string())),
            retry: false,
        })?;
        // Opened before this checkout: it sat in the pool, where it may have died.
        let was_idle = pooled.opened < checkout;
        let started = Instant::now();
        let (result, commit_sent) = match access {
            Access::Read => (work(&mut pooled.conn), false),
            Access::Write => in_transaction(&mut pooled.conn, work),
        };
        result.map_err(|mut error| {
            let mut retry = false;
            if let Some(failure) = error.database_failure() {
                failure.note_elapsed(started.elapsed(), self.statement_timeout);
                if failure.is_unavailable() {
                    self.metrics.database_failure();
                }
                if matches!(failure, DbError::ConnectionLost(_)) {
                    pooled.broken = true;
                    retry = was_idle && !commit_sent;
                }
            }
            Attempt { error, retry }
        })
    }
}

/// Where a unit of work stands, between the request that waits for it and the thread that
/// runs it: whichever moves it out of the queue first decides whether it runs or was given
/// up at the request's deadline. Shared this way, a start wakes nobody; only the answer does.
struct Turn(AtomicU8);

impl Turn {
    const QUEUED: u8 = 0;
    const STARTED: u8 = 1;
    const ABANDONED: u8 = 2;

    fn queued() -> Arc<Self> {
        Arc::new(Self(AtomicU8::new(Self::QUEUED)))
    }

    /// The thread's side: false when the request gave the work up.
    fn start(&self) -> bool {
        self.leave_queue(Self::STARTED)
    }

    /// The request's side, at its deadline: false when the work has started.
    fn abandon(&self) -> bool {
        self.leave_queue(Self::ABANDONED)
    }

    fn leave_queue(&self, next: u8) -> bool {
        self.0
            .compare_exchange(Self::QUEUED, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The threads database work runs on: the blocking pool of a tokio runtime of their own,
/// at most one thread per pooled connection. Work beyond that waits in the pool's queue,
/// first in, first out, and a thread that finishes a unit takes the next one at once. Under
/// load no thread sleeps between two units, so that handing work over costs no wake-up.
/// List bills at 64 connections on 2 cores, every process on every core (wrk, 10 s, the
/// pool of 6, metrics off, `make bench`'s data): 6,745 req/s and 140 µs of server CPU per
/// request with a semaphore in front of each HTTP worker's own blocking threads, 8,226 req/s
/// and 123 µs with this queue. They run at a lower priority than the HTTP workers
/// (`DatabaseConfig::db_thread_niceness` says why).
struct WorkThreads {
    /// Only its blocking pool is used; it is never driven. `None` once dropped.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl WorkThreads {
    /// At most `threads` threads, each `niceness` below the process's priority.
    fn new(threads: usize, niceness: i32) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(threads)
            .thread_name("billing-db")
            .on_thread_start(move || lower_priority(niceness))
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Queues `work` for the next free thread.
    fn spawn<T, F>(&self, work: F) -> tokio::task::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_blocking(work)
    }
}

impl Drop for WorkThreads {
    /// A runtime must not be dropped where blocking is not allowed, as on an HTTP worker
    /// that drops the last handle of the database; work under way finishes on its own.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Raises the calling thread's nice value by `niceness` (on Linux, a thread's own). Work on
/// a thread that keeps its priority is still done, so a refusal is only logged.
fn lower_priority(niceness: i32) {
    if niceness > 0
        && let Err(error) = rustix::process::nice(niceness)
    {
        log::warn!("a database thread keeps its priority: {error}");
    }
}

/// Runs `work` in a transaction; also says whether COMMIT was sent (the work succeeded),
/// after which a lost connection leaves the outcome unknown.
fn in_transaction<T, E, F>(conn: &mut PgConnection, work: &mut F) -> (Result<T, E>, bool)
where
    F: FnMut(&mut PgConnection) -> Result<T, E>,
    E: WorkError,
{
    /// The work's own error, or the transaction's (BEGIN, COMMIT, ROLLBACK).
    enum Failed<E> {
        Work(E),
        Transaction(diesel::result::Error),
    }
    impl<E> From<diesel::result::Error> for Failed<E> {
        fn from(error: diesel::result::Error) -> Self {
            Failed::Transaction(error)
        }
    }
    let mut commit_sent = false;
    let result = conn
        .transaction(|conn| {
            let result = work(conn).map_err(Failed::Work);
            commit_sent = result.is_ok();
            result
        })
        .map_err(|failed| match failed {
            Failed::Work(error) => error,
            Failed::Transaction(error) => E::from(DbError::from(error)),
        });
    (result, commit_sent)
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
pub fn is_migrated(conn: &mut PgConnection) -> Result<bool, DbError> {
    conn.has_pending_migration(MIGRATIONS)
        .map(|pending| !pending)
        .map_err(|error| DbError::Migrations(error.to_string()))
}
