//! Billing groups: `{"customer": {"idType", "id"}, "groupId", "address"}`, upserted by
//! (customer, `groupId`); an address that changed is updated. Every group created or
//! changed leaves a `billing_group_audit` record naming the run, as an API change does.

use billing_api::models;
use contract_runtime::WireNames;
use diesel::{ExecuteCopyFromDsl, PgConnection, QueryResult};
use serde_json::{Map, Value};

use super::{
    Rejection, fields,
    loader::{Loader, Superseded, Unresolved, Written, staging},
    records::{Cell, Column},
};
use crate::db;

staging! {
    import_groups {
        id_type: String => Text = "TEXT NOT NULL",
        code: i64 => Int8 = "BIGINT NOT NULL",
        group_id: String => Text = "TEXT NOT NULL",
        address: String => Text = "TEXT NOT NULL",
    }
}

/// The billing groups kind.
pub struct Groups;

impl Loader for Groups {
    type Row = Row;
    const COLUMNS: &'static [Column] = &[
        Column::required("customer.idType", Cell::Text),
        Column::required("customer.id", Cell::Integer),
        Column::required("groupId", Cell::Text),
        Column::required("address", Cell::Text),
    ];
    const TABLE: &'static str = TABLE;
    const STAGING: &'static str = STAGING;

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
