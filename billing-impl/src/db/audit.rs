//! Queries on `billing_group_audit`: the append-only trail of changes to billing groups.

use chrono::{DateTime, Utc};
use diesel::{PgConnection, QueryResult, prelude::*};
use serde::Serialize;
use serde_json::Value;

use super::schema::billing_group_audit;

/// What was done to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// One change, as the writer records it, in the transaction of the change.
#[derive(Debug)]
pub struct Change<'a> {
    pub customer_id: i64,
    pub client_id: &'a str,
    pub request_id: &'a str,
    pub group_id: &'a str,
    pub action: Action,
    /// The group before the change; `None` for a create.
    pub before: Option<Value>,
    /// The group after the change; `None` for a delete.
    pub after: Option<Value>,
}

/// One record, as `billing audit` prints it.
#[derive(Debug, Serialize, Queryable, Selectable)]
#[diesel(table_name = billing_group_audit, check_for_backend(diesel::pg::Pg))]
pub struct Record {
    pub audit_id: i64,
    pub at: DateTime<Utc>,
    pub client_id: String,
    pub request_id: String,
    pub group_id: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The import run that made the change; none for a change through the API.
    pub import_run_id: Option<i64>,
}

/// Appends the record of `change`.
pub fn record(conn: &mut PgConnection, change: &Change<'_>) -> QueryResult<()> {
    diesel::insert_into(billing_group_audit::table)
        .values((
            billing_group_audit::customer_id.eq(change.customer_id),
            billing_group_audit::client_id.eq(change.client_id),
            billing_group_audit::request_id.eq(change.request_id),
            billing_group_audit::group_id.eq(change.group_id),
            billing_group_audit::action.eq(change.action.as_str()),
            billing_group_audit::before.eq(&change.before),
            billing_group_audit::after.eq(&change.after),
        ))
        .execute(conn)
        .map(drop)
}

/// The customer's records, from `since` on when given, oldest first.
pub fn of_customer(
    conn: &mut PgConnection,
    customer_id: i64,
    since: Option<DateTime<Utc>>,
) -> QueryResult<Vec<Record>> {
    let mut records = billing_group_audit::table
        .filter(billing_group_audit::customer_id.eq(customer_id))
        .into_boxed();
    if let Some(since) = since {
        records = records.filter(billing_group_audit::at.ge(since));
    }
    records
        .order(billing_group_audit::audit_id)
        .select(Record::as_select())
        .load(conn)
}
