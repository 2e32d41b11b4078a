//! Billing groups: `{"customer": {"idType", "id"}, "groupId", "address"}`, upserted by
//! (customer, `groupId`); an address that changed is updated. Every group created or
//! changed leaves a `billing_group_audit` record naming the run, as an API change does.

use billing_api::models;
use contract_runtime::WireNames;
use diesel::{ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult};
use serde_json::{Map, Value};

use super::{
    Rejection, fields,
    loader::{Loader, Superseded, Unresolved, Written},
    records::{Cell, Column},
};
use crate::db;

diesel::table! {
    import_groups (line) {
        line -> Int8,
        id_type -> Text,
        code -> Int8,
        group_id -> Text,
        address -> Text,
    }
}

/// A billing group, staged.
#[derive(Insertable)]
#[diesel(table_name = import_groups, treat_none_as_default_value = false)]
pub struct Row {
    line: i64,
    id_type: String,
    code: i64,
    group_id: String,
    address: String,
}

/// The billing groups kind.
pub struct Groups;

impl Loader for Groups {
    type Row = Row;
    const COLUMNS: &'static [Column] = &[
        Column {
            name: "customer.idType",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "customer.id",
            cell: Cell::Integer,
            required: true,
        },
        Column {
            name: "groupId",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "address",
            cell: Cell::Text,
            required: true,
        },
    ];
    const TABLE: &'static str = "import_groups";
    const STAGING: &'static str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_groups (
        line BIGINT NOT NULL, id_type TEXT NOT NULL, code BIGINT NOT NULL,
        group_id TEXT NOT NULL, address TEXT NOT NULL)";

    fn row(line: i64, mut object: Map<String, Value>) -> Result<Row, Rejection> {
        let (id_type, code) = fields::owner(&mut object)?;
        // The group as the API's update of a group takes it: both properties required.
        let models::BillingGroupUpdate { address, group_id } = fields::valid(
            fields::read::<models::BillingGroupUpdate>("", object)?,
            |field| models::BillingGroupUpdate::wire_name(field).to_owned(),
        )?;
        Ok(Row {
            line,
            id_type,
            code,
            group_id,
            address,
        })
    }

    fn stage(conn: &mut PgConnection, rows: &[Row]) -> QueryResult<usize> {
        diesel::copy_from(import_groups::table)
            .from_insertable(rows)
            .execute(conn)
    }

    fn unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>> {
        db::billing_groups::staged_unresolved(conn, from_line)
    }

    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
        db::billing_groups::staged_superseded(conn)
    }

    fn write(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
        db::billing_groups::upsert_staged(conn, run_id)
    }
}
