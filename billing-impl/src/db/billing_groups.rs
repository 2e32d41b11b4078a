//! Queries on `billing_groups`.

use diesel::{
    OptionalExtension, PgConnection, QueryResult,
    prelude::*,
    result::{DatabaseErrorKind, Error},
};

use super::schema::billing_groups;

/// A billing group as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = billing_groups, check_for_backend(diesel::pg::Pg))]
pub struct BillingGroup {
    pub group_id: String,
    pub address: String,
}

/// What deleting a group came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The group existed and is gone; here is what it was.
    Group(BillingGroup),
    /// The customer has no such group.
    Missing,
    /// Invoices still belong to the group, so it stays.
    StillHoldsInvoices,
}

/// Whether the customer has the group.
pub fn exists(conn: &mut PgConnection, customer_id: i64, group_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        billing_groups::table
            .filter(billing_groups::customer_id.eq(customer_id))
            .filter(billing_groups::group_id.eq(group_id)),
    ))
    .get_result(conn)
}

/// The group, locked until the transaction ends against other writers of it; `None` when
/// the customer has no such group. `FOR NO KEY UPDATE`, not `FOR UPDATE`: the address is
/// no key, so an uncommitted invoice of the group (whose foreign key holds `FOR KEY
/// SHARE`, as an import's does) does not make the update wait.
pub fn find_for_update(
    conn: &mut PgConnection,
    customer_id: i64,
    group_id: &str,
) -> QueryResult<Option<BillingGroup>> {
    billing_groups::table
        .filter(billing_groups::customer_id.eq(customer_id))
        .filter(billing_groups::group_id.eq(group_id))
        .select(BillingGroup::as_select())
        .for_no_key_update()
        .first(conn)
        .optional()
}

/// Every group of the customer, by `group_id`.
pub fn list(conn: &mut PgConnection, customer_id: i64) -> QueryResult<Vec<BillingGroup>> {
    billing_groups::table
        .filter(billing_groups::customer_id.eq(customer_id))
        .order(billing_groups::group_id)
        .select(BillingGroup::as_select())
        .load(conn)
}

/// Creates the group; `None` when the customer already has one with that `group_id`.
pub fn create(
    conn: &mut PgConnection,
    customer_id: i64,
    group: &BillingGroup,
) -> QueryResult<Option<BillingGroup>> {
    diesel::insert_into(billing_groups::table)
        .values((
            billing_groups::customer_id.eq(customer_id),
            billing_groups::group_id.eq(&group.group_id),
            billing_groups::address.eq(&group.address),
        ))
        .on_conflict_do_nothing()
        .returning(BillingGroup::as_returning())
        .get_result(conn)
        .optional()
}

/// Sets the group's address; `None` when the customer has no such group.
pub fn update_address(
    conn: &mut PgConnection,
    customer_id: i64,
    group: &BillingGroup,
) -> QueryResult<Option<BillingGroup>> {
    diesel::update(billing_groups::table)
        .filter(billing_groups::customer_id.eq(customer_id))
        .filter(billing_groups::group_id.eq(&group.group_id))
        .set((
            billing_groups::address.eq(&group.address),
            billing_groups::updated_at.eq(diesel::dsl::now),
        ))
        .returning(BillingGroup::as_returning())
        .get_result(conn)
        .optional()
}

/// Deletes the group unless invoices still belong to it (the foreign key refuses).
pub fn delete(conn: &mut PgConnection, customer_id: i64, group_id: &str) -> QueryResult<Deleted> {
    let deleted = diesel::delete(billing_groups::table)
        .filter(billing_groups::customer_id.eq(customer_id))
        .filter(billing_groups::group_id.eq(group_id))
        .returning(BillingGroup::as_returning())
        .get_result(conn)
        .optional();
    match deleted {
        Ok(Some(group)) => Ok(Deleted::Group(group)),
        Ok(None) => Ok(Deleted::Missing),
        Err(Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Ok(Deleted::StillHoldsInvoices)
        }
        Err(error) => Err(error),
    }
}
