//! Queries on `oauth_client_customers`: the customers a partner client serves.

use diesel::{PgConnection, QueryResult, prelude::*};

use super::schema::{customers, oauth_client_customers};

/// Grants the client the customers with these keys; grants it already had stay.
pub fn grant(conn: &mut PgConnection, client_id: &str, customer_ids: &[i64]) -> QueryResult<usize> {
    let rows: Vec<_> = customer_ids
        .iter()
        .map(|customer_id| {
            (
                oauth_client_customers::client_id.eq(client_id),
                oauth_client_customers::customer_id.eq(customer_id),
            )
        })
        .collect();
    diesel::insert_into(oauth_client_customers::table)
        .values(rows)
        .on_conflict_do_nothing()
        .execute(conn)
}

/// Takes the customers with these keys from the client; returns how many it had.
pub fn ungrant(
    conn: &mut PgConnection,
    client_id: &str,
    customer_ids: &[i64],
) -> QueryResult<usize> {
    diesel::delete(
        oauth_client_customers::table
            .filter(oauth_client_customers::client_id.eq(client_id))
            .filter(oauth_client_customers::customer_id.eq_any(customer_ids)),
    )
    .execute(conn)
}

/// The customers the client was granted, by the contract's names (`idType`, `id`).
pub fn served_by(conn: &mut PgConnection, client_id: &str) -> QueryResult<Vec<(String, i64)>> {
    oauth_client_customers::table
        .inner_join(customers::table)
        .filter(oauth_client_customers::client_id.eq(client_id))
        .order((customers::id_type, customers::code))
        .select((customers::id_type, customers::code))
        .load(conn)
}
