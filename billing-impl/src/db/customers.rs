//! Queries on `customers`.

use diesel::{OptionalExtension, PgConnection, QueryResult, prelude::*};

use super::schema::customers;

/// The internal key of the customer the contract names by `id_type` and `code`.
pub fn find_key(conn: &mut PgConnection, id_type: &str, code: i64) -> QueryResult<Option<i64>> {
    customers::table
        .filter(customers::id_type.eq(id_type))
        .filter(customers::code.eq(code))
        .select(customers::customer_id)
        .first(conn)
        .optional()
}
