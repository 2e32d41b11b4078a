//! Queries on `subscribers`.

use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};

use super::schema::{customers, subscribers};

/// The contract profile of a subscriber.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = subscribers, check_for_backend(diesel::pg::Pg))]
pub struct ContractProfile {
    pub billing_address: Option<String>,
    pub billing_cycle: Option<String>,
    pub city: Option<String>,
    pub department: Option<String>,
}

/// The profile of the subscriber with `msisdn`, with the contract's name (`idType`, `id`)
/// of the customer it belongs to. Should two customers list the same MSISDN, the
/// subscriber registered last is the one answered.
pub fn profile(
    conn: &mut PgConnection,
    msisdn: i64,
) -> QueryResult<Option<(String, i64, ContractProfile)>> {
    subscribers::table
        .inner_join(customers::table)
        .filter(subscribers::msisdn.eq(msisdn))
        .order(subscribers::created_at.desc())
        .select((
            customers::id_type,
            customers::code,
            ContractProfile::as_select(),
        ))
        .first(conn)
        .optional()
}
