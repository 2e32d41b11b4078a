//! `billing seed`: the demo data set, or a bulk synthetic one.

use std::time::Instant;

use crate::{
    config::DatabaseUrl,
    db::SetupError,
    seed::{self, BulkSize},
};

/// Load the demo data set, or a bulk synthetic one.
#[derive(Debug, clap::Args)]
pub struct Seed {
    #[command(flatten)]
    database: DatabaseUrl,
    /// The demo data set: three customers with subscribers, groups and a year of bills.
    #[arg(long, conflicts_with = "customers")]
    demo: bool,
    /// Bulk: this many customers (idType CLIENT_CODE, ids from --first-id up).
    #[arg(long, requires = "invoices_per_customer")]
    customers: Option<u32>,
    /// Bulk: invoices per customer.
    #[arg(long, requires = "customers")]
    invoices_per_customer: Option<u32>,
    /// Bulk: the id of the first customer.
    #[arg(long, default_value_t = 1_000_001)]
    first_id: u32,
}

impl Seed {
    pub fn run(self) -> Result<(), SetupError> {
        let Seed {
            database,
            demo,
            customers,
            invoices_per_customer,
            first_id,
        } = self;
        let mut conn = super::connect(&database)?;
        let started = Instant::now();
        match (demo, customers, invoices_per_customer) {
            (true, _, _) => seed::demo(&mut conn)?,
            (false, Some(customers), Some(invoices_per_customer)) => seed::bulk(
                &mut conn,
                BulkSize {
                    customers,
                    invoices_per_customer,
                    first_id,
                },
            )?,
            _ => return Err("say --demo, or --customers N --invoices-per-customer M".into()),
        }
        log::info!("seeded in {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }
}
