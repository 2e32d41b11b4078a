//! `billing audit`: a customer's audit trail of billing groups.

use chrono::NaiveDate;

use crate::{
    auth::scope::CustomerName,
    config::DatabaseUrl,
    db::{self, SetupError},
};

/// Print the audit trail of a customer's billing groups as JSON lines, oldest first.
#[derive(Debug, clap::Args)]
pub struct Audit {
    #[command(flatten)]
    database: DatabaseUrl,
    /// The customer, as ID_TYPE:CODE.
    #[arg(long)]
    customer: CustomerName,
    /// Only the changes from this day on (YYYY-MM-DD, UTC); every change without it.
    #[arg(long, value_parser = day)]
    since: Option<NaiveDate>,
}

/// A day as the contract writes a `format: date`.
fn day(text: &str) -> Result<NaiveDate, String> {
    contract_runtime::date::parse(text)
        .ok_or_else(|| format!("{text:?} is not {}", contract_runtime::date::EXPECTED))
}

impl Audit {
    pub fn run(self) -> Result<(), SetupError> {
        let Audit {
            database,
            customer,
            since,
        } = self;
        let mut conn = super::connect(&database)?;
        let key = db::customers::find_key(&mut conn, &customer.id_type, customer.code)?
            .ok_or_else(|| format!("no customer {customer}"))?;
        let since = since
            .and_then(|day| day.and_hms_opt(0, 0, 0))
            .map(|start| start.and_utc());
        for record in db::audit::of_customer(&mut conn, key, since)? {
            println!("{}", serde_json::to_string(&record)?);
        }
        Ok(())
    }
}
