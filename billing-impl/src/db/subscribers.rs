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

/// A subscriber's profile, with the customer it belongs to.
#[derive(Debug, Queryable)]
pub struct OwnedProfile {
    /// The customer's `idType` and `id`, as the contract names it.
    pub id_type: String,
    pub code: i64,
    /// The customer's key, and the version of what the API answers of it.
    pub customer_id: i64,
    pub version: i64,
    pub profile: ContractProfile,
}

/// The profile of the subscriber with `msisdn`, with the customer it belongs to. Should
/// two customers list the same MSISDN, the subscriber registered last is the one answered.
pub fn profile(conn: &mut PgConnection, msisdn: i64) -> QueryResult<Option<OwnedProfile>> {
    subscribers::table
        .inner_join(customers::table)
        .filter(subscribers::msisdn.eq(msisdn))
        .order(subscribers::created_at.desc())
        .select((
            customers::id_type,
            customers::code,
            customers::customer_id,
            customers::data_version,
            ContractProfile::as_select(),
        ))
        .first(conn)
        .optional()
}
