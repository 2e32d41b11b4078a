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

// `billing import`: its staged rows of this table, checked and written (`db::staged`).

use super::staged::{Superseded, Unresolved, Written};

/// Removes from the staged billing groups (`import_groups`) the rows from `from_line` on whose
/// references do not resolve, saying why.
pub fn staged_unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>> {
    super::staged::without_customer(conn, "import_groups", from_line)
}

/// Removes from the staged billing groups (`import_groups`) the rows whose key a later line of
/// the batch repeats, saying of each whether it equals that later line.
pub fn staged_superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
    diesel::sql_query(
        "DELETE FROM import_groups AS s
         USING (SELECT DISTINCT ON (id_type, code, group_id) line, id_type, code, group_id,
                       address
                FROM import_groups ORDER BY id_type, code, group_id, line DESC) AS w
         WHERE w.id_type = s.id_type AND w.code = s.code AND w.group_id = s.group_id
           AND w.line > s.line
         RETURNING s.address = w.address AS same",
    )
    .load(conn)
}

/// Writes the staged billing groups (`import_groups`), changing only what differs from what is
/// stored; the audit of each change names the run `run_id`.
pub fn upsert_staged(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
    // Every statement of the query sees the groups as they were before it: `before`
    // holds what the audit records as the group before the change.
    super::staged::write(
        conn,
        "WITH staged AS (
             SELECT c.customer_id, s.group_id, s.address
             FROM import_groups AS s
             JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
         ), before AS (
             SELECT g.customer_id, g.group_id, g.address
             FROM billing_groups AS g
             JOIN staged AS s ON s.customer_id = g.customer_id AND s.group_id = g.group_id
         ), written AS (
             INSERT INTO billing_groups (customer_id, group_id, address)
             SELECT s.customer_id, s.group_id, s.address
             FROM staged AS s
             LEFT JOIN before AS b ON b.customer_id = s.customer_id AND b.group_id = s.group_id
             WHERE b.group_id IS NULL OR b.address <> s.address
             ORDER BY s.customer_id, s.group_id
             ON CONFLICT (customer_id, group_id) DO UPDATE
                 SET address = EXCLUDED.address, updated_at = now()
                 WHERE billing_groups.address <> EXCLUDED.address
             RETURNING customer_id, group_id, address, xmax = 0 AS inserted
         ), audited AS (
             INSERT INTO billing_group_audit (customer_id, client_id, request_id, group_id,
                                              action, before, after, import_run_id)
             SELECT w.customer_id, 'billing import', 'import-' || $1, w.group_id,
                    CASE WHEN w.inserted THEN 'create' ELSE 'update' END,
                    CASE WHEN b.group_id IS NOT NULL
                         THEN jsonb_build_object('groupId', b.group_id, 'address', b.address)
                    END,
                    jsonb_build_object('groupId', w.group_id, 'address', w.address), $1
             FROM written AS w
             LEFT JOIN before AS b ON b.customer_id = w.customer_id AND b.group_id = w.group_id
         )
         SELECT count(*) FILTER (WHERE inserted) AS inserted,
                count(*) FILTER (WHERE NOT inserted) AS updated
         FROM written",
        run_id,
    )
}
