//! `billing seed`: the demo data set, and bulk data sets for the benchmark, generated
//! inside PostgreSQL so that a million invoices load in seconds.

use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};

use crate::db::SetupError;

/// Loads the demo data set unless it is there already.
pub fn demo(conn: &mut PgConnection) -> Result<(), SetupError> {
    diesel::sql_query(include_str!("demo.sql")).execute(conn)?;
    Ok(())
}

/// The size of a bulk data set.
#[derive(Debug, Clone, Copy)]
pub struct BulkSize {
    pub customers: u32,
    pub invoices_per_customer: u32,
    /// The `id` of the first customer; the others follow.
    pub first_id: u32,
}

/// Loads a bulk data set in one transaction, then vacuums and analyses the tables so that
/// the planner knows them and index-only scans need no heap visit.
pub fn bulk(conn: &mut PgConnection, size: BulkSize) -> Result<(), SetupError> {
    // Every value is an integer, so writing them into the script cannot inject anything.
    let script = include_str!("bulk.sql")
        .replace("{customers}", &size.customers.to_string())
        .replace(
            "{invoices_per_customer}",
            &size.invoices_per_customer.to_string(),
        )
        .replace("{first_id}", &size.first_id.to_string());
    conn.transaction(|conn| conn.batch_execute(&script))?;
    conn.batch_execute("VACUUM ANALYZE customers, subscribers, billing_groups, invoices")?;
    Ok(())
}
