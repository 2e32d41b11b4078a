//! Queries on `subscribers`.

use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};

use super::schema::subscribers;

/// The contract profile of a subscriber.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = subscribers, check_for_backend(diesel::pg::Pg))]
pub struct ContractProfile {
    pub billing_address: Option<String>,
    pub billing_cycle: Option<String>,
    pub city: Option<String>,
    pub department: Option<String>,
}

/// A subscriber to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = subscribers)]
pub struct NewSubscriber<'a> {
    pub customer_id: i64,
    pub msisdn: i64,
    pub contract_number: i64,
    pub billing_address: Option<&'a str>,
    pub billing_cycle: Option<&'a str>,
    pub city: Option<&'a str>,
    pub department: Option<&'a str>,
}

/// The profile of the subscriber with `msisdn`. Should two customers list the same
/// MSISDN, the subscriber registered last is the one answered.
pub fn profile(conn: &mut PgConnection, msisdn: i64) -> QueryResult<Option<ContractProfile>> {
    subscribers::table
        .filter(subscribers::msisdn.eq(msisdn))
        .order(subscribers::created_at.desc())
        .select(ContractProfile::as_select())
        .first(conn)
        .optional()
}

/// Creates subscribers.
pub fn insert(conn: &mut PgConnection, rows: &[NewSubscriber<'_>]) -> QueryResult<usize> {
    diesel::insert_into(subscribers::table)
        .values(rows)
        .execute(conn)
}
