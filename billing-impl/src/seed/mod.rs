//! `billing seed`: the demo data set, and bulk data sets for the benchmark, generated
//! inside PostgreSQL so that a million invoices load in seconds.

use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};

use crate::db::SetupError;

/// Loads the demo data set unless it is there already.
pub fn demo(conn: &mut PgConnection) -> Result<(), SetupError> {
    diesel::sql_query(include_str!("demo.sql")).execute(conn)?;
    Ok(())
}

/// Loads `customers` customers with `invoices_per_customer` invoices each, in one
/// transaction, then refreshes the planner's statistics.
pub fn bulk(
    conn: &mut PgConnection,
    customers: u32,
    invoices_per_customer: u32,
) -> Result<(), SetupError> {
    // Both values are integers, so writing them into the script cannot inject anything.
    let script = include_str!("bulk.sql")
        .replace("{customers}", &customers.to_string())
        .replace(
            "{invoices_per_customer}",
            &invoices_per_customer.to_string(),
        );
    conn.transaction(|conn| conn.batch_execute(&script))?;
    conn.batch_execute("ANALYZE customers, subscribers, billing_groups, invoices")?;
    Ok(())
}
