//! The database side of listing bills, measured without HTTP: first pages of 20 bills of
//! customers taken in turn, read as the server reads them, as fast as the layer allows.
//! Beside the benchmark's other rows it splits a request's cost in three: PostgreSQL and
//! diesel (`Layer::Diesel`), the queue and threads of `db::Database` (`Layer::Database`),
//! and the HTTP side (the rest of a served request).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::prelude::*;
use serde::Serialize;

use billing_impl::{
    config::DatabaseConfig,
    db::{
        Database, DbError,
        invoices::{self, InvoiceFilter},
        pool::{ConnectionSettings, Pool},
        schema::customers,
    },
};

use crate::Error;

/// Which part of the server reads the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layer {
    /// diesel on pooled connections, one thread each, nothing else: the least any server
    /// built on diesel's blocking connections spends on a page.
    Diesel,
    /// `Database::read` from asynchronous tasks, as a request reads: the queue, its
    /// threads and the hand-off of each page to them and back.
    Database,
}

/// Pages read, and over how long.
#[derive(Debug, Serialize)]
pub struct PagesRead {
    pub pages: u64,
    pub seconds: f64,
}

/// Reads first pages through `layer` for `duration`: with `Layer::Diesel` on as many
/// threads as the pool has connections, with `Layer::Database` from `concurrency` tasks
/// spread over `workers` threads, each running its tasks as an HTTP worker runs its
/// requests.
pub fn first_pages(
    config: &DatabaseConfig,
    layer: Layer,
    duration: Duration,
    concurrency: usize,
    workers: usize,
) -> Result<PagesRead, Error> {
    let pool = Pool::new(
        config.database_url.expose(),
        config.pool_size(),
        ConnectionSettings {
            statement_timeout: Duration::from_millis(config.db_statement_timeout_ms),
            pooler: config.db_pooler,
        },
    );
    let database = Database::new(config)?;
    let keys = customers::table
        .select(customers::customer_id)
        .order(customers::customer_id)
        .load::<i64>(&mut **pool.checkout(config.pool_timeout())?)?;
    if keys.is_empty() {
        return Err("no customers to read bills of".into());
    }
    let keys: Arc<[i64]> = keys.into();
    let started = Instant::now();
    let deadline = started + duration;
    let (threads, tasks_per_thread) = match layer {
        Layer::Diesel => (pool.size() as usize, 1),
        Layer::Database => (workers.max(1), concurrency.div_ceil(workers.max(1)).max(1)),
    };
    let pages = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..threads)
            .map(|thread| {
                let (pool, database, keys) = (&pool, database.clone(), keys.clone());
                // Readers numbered across threads, each from a place of its own.
                let readers = (thread * tasks_per_thread..(thread + 1) * tasks_per_thread).map(
                    move |reader| Customers::new(keys.clone(), reader, threads * tasks_per_thread),
                );
                scope.spawn(move || match layer {
                    Layer::Diesel => read_on_this_thread(pool, readers, deadline),
                    Layer::Database => read_from_tasks(&database, readers, deadline),
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| {
                run.join()
                    .map_err(|_| Error::from("a reading thread panicked"))?
            })
            .sum::<Result<u64, Error>>()
    })?;
    Ok(PagesRead {
        pages,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Customers' keys taken in turn, each reader from its own place, so that readers do not
/// read the same pages at the same time.
struct Customers {
    keys: Arc<[i64]>,
    next: usize,
}

impl Customers {
    /// The keys from the place of reader `reader` of `readers`.
    fn new(keys: Arc<[i64]>, reader: usize, readers: usize) -> Self {
        let next = keys.len() * reader / readers.max(1);
        Self { keys, next }
    }

    fn next_key(&mut self) -> i64 {
        self.next = (self.next + 1) % self.keys.len();
        self.keys[self.next]
    }
}

fn first_page() -> InvoiceFilter {
    InvoiceFilter {
        limit: 20,
        ..InvoiceFilter::default()
    }
}

/// Pages read by diesel alone on one connection of `pool`, on this thread, until
/// `deadline`.
fn read_on_this_thread(
    pool: &Pool,
    mut readers: impl Iterator<Item = Customers>,
    deadline: Instant,
) -> Result<u64, Error> {
    let mut customers = readers.next().ok_or("no reader")?;
    let filter = first_page();
    let mut conn = pool.checkout(Duration::from_secs(10))?;
    let mut pages = 0;
    while Instant::now() < deadline {
        invoices::page(&mut conn, customers.next_key(), &filter)?;
        pages += 1;
    }
    Ok(pages)
}

/// Pages read through `Database::read` by a task per reader, on this thread, until
/// `deadline`.
fn read_from_tasks(
    database: &Database,
    readers: impl Iterator<Item = Customers>,
    deadline: Instant,
) -> Result<u64, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for mut customers in readers {
            let database = database.clone();
            tasks.spawn(async move {
                let mut pages = 0u64;
                while Instant::now() < deadline {
                    let key = customers.next_key();
                    database
                        .read(move |conn| {
                            invoices::page(conn, key, &first_page()).map_err(DbError::from)
                        })
                        .await?;
                    pages += 1;
                }
                Ok::<_, DbError>(pages)
            });
        }
        let mut pages = 0;
        while let Some(read) = tasks.join_next().await {
            pages += read??;
        }
        Ok(pages)
    })
}
