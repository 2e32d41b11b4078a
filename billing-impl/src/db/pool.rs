//! The connection pool: r2d2 over diesel, taught to retire a connection that work lost,
//! with the settings every new connection gets.

use std::{
    ops::{Deref, DerefMut},
    time::{Duration, Instant},
};

use diesel::{
    PgConnection,
    connection::{CacheSize, Connection, SimpleConnection},
    r2d2::{self, ConnectionManager, CustomizeConnection, ManageConnection},
};

use super::DbError;
use crate::config::Pooler;

/// A pooled connection, whether it must not be handed out again, and when it was opened
/// (a connection that died while it sat idle in the pool is found on its next use).
pub struct PooledPg {
    conn: PgConnection,
    broken: bool,
    opened: Instant,
}

impl PooledPg {
    /// Marks the connection lost: the pool closes it instead of handing it out again.
    pub fn retire(&mut self) {
        self.broken = true;
    }

    /// Whether the connection was opened before `instant`, and so sat in the pool.
    pub fn opened_before(&self, instant: Instant) -> bool {
        self.opened < instant
    }
}

impl Deref for PooledPg {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for PooledPg {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

/// diesel's connection manager, which cannot tell that PostgreSQL closed a connection,
/// taught to retire one that work marked lost: after a restart of the database, or a
/// killed backend, the pool reconnects instead of handing out dead connections.
#[derive(Debug)]
pub struct Manager(ConnectionManager<PgConnection>);

impl ManageConnection for Manager {
    type Connection = PooledPg;
    type Error = r2d2::Error;

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

/// What every new connection of the pool is set up with.
///
/// `random_page_cost` 1.1 (PostgreSQL's default is 4, for spinning disks) says that the
/// invoices are read from memory or SSD. The plans of a page of bills are generic: they
/// assume a customer has the average number of invoices (about 100 in `make bench`). With
/// the default, a page whose end nears that number is planned as a bitmap scan of all the
/// customer's invoices and a sort, instead of the ordered index scan that stops after the
/// page: for the 10,000-bill customer, pages of 20 at offset 80 fell from 7,540 to 216 tps
/// (pgbench, prepared), and a first page of 100 from 5,250 (of 80) to 207. With 1.1 the
/// ordered index scan is kept for every page.
///
/// Behind a pooler in transaction mode a session setting would reach whichever client
/// gets the server connection next, and a named prepared statement would be missing on
/// the next server connection or already there: the connection then prepares nothing
/// (every statement goes out with its parameters in one message) and sets nothing; the
/// role's settings (docs/scaling.md) take the place of the `SET`s.
#[derive(Debug)]
pub struct ConnectionSettings {
    /// How long one statement may run before PostgreSQL cancels it.
    pub statement_timeout: Duration,
    /// What stands between the pool and PostgreSQL.
    pub pooler: Pooler,
}

impl CustomizeConnection<PooledPg, r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, pooled: &mut PooledPg) -> Result<(), r2d2::Error> {
        match self.pooler {
            Pooler::Session => pooled.conn.batch_execute(&format!(
                "SET statement_timeout = {}; SET application_name = 'billing'; \
                 SET random_page_cost = 1.1",
                self.statement_timeout.as_millis()
            )),
            Pooler::Transaction => {
                pooled
                    .conn
                    .set_prepared_statement_cache_size(CacheSize::Disabled);
                Ok(())
            }
        }
        .map_err(r2d2::Error::QueryError)
    }
}

/// A checked-out connection; back in the pool when dropped, unless retired.
pub type Checkout = r2d2::PooledConnection<Manager>;

/// Connections to one database, opened on demand, `size` at most.
#[derive(Clone)]
pub struct Pool(r2d2::Pool<Manager>);

impl Pool {
    /// A pool of at most `size` connections to `url`, each set up as `settings` say. It
    /// opens none yet, so that a server starts while the database is down.
    pub fn new(url: &str, size: u32, settings: ConnectionSettings) -> Self {
        let manager = Manager(ConnectionManager::<PgConnection>::new(url));
        Self(
            r2d2::Pool::builder()
                .max_size(size)
                .min_idle(Some(0))
                .test_on_check_out(false)
                .connection_customizer(Box::new(settings))
                .build_unchecked(manager),
        )
    }

    /// A connection, waiting `wait` at most for one to be free or opened.
    pub fn checkout(&self, wait: Duration) -> Result<Checkout, DbError> {
        self.0
            .get_timeout(wait)
            .map_err(|error| DbError::Unreachable(error.to_string()))
    }

    /// Connections in the pool at most.
    pub fn size(&self) -> u32 {
        self.0.max_size()
    }

    /// Connections now: in use, and idle.
    pub fn connections(&self) -> (u32, u32) {
        let state = self.0.state();
        (
            state.connections - state.idle_connections,
            state.idle_connections,
        )
    }
}
