//! Billing groups: `{"customer": {"idType", "id"}, "groupId", "address"}`, upserted by
//! (customer, `groupId`); an address that changed is updated. Every group created or
//! changed leaves a `billing_group_audit` record naming the run, as an API change does.

use billing_api::models;
use contract_runtime::WireNames;
use diesel::{
    ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult, RunQueryDsl, sql_types::BigInt,
};
use serde_json::{Map, Value};

use super::{
    Rejection,
    batch::{Loader, Superseded, Unresolved, Written},
    fields,
    records::{Cell, Column},
};

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
        diesel::sql_query(
            "DELETE FROM import_groups AS s
             WHERE s.line >= $1
               AND NOT EXISTS (SELECT 1 FROM customers AS c
                               WHERE c.id_type = s.id_type AND c.code = s.code)
             RETURNING s.line, format('no customer %s:%s', s.id_type, s.code) AS reason,
                       'customer' AS field",
        )
        .bind::<BigInt, _>(from_line)
        .load(conn)
    }

    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
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

    fn write(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
        // Every statement of the query sees the groups as they were before it: `before`
        // holds what the audit records as the group before the change.
        diesel::sql_query(
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
        )
        .bind::<BigInt, _>(run_id)
        .get_result(conn)
    }
}
