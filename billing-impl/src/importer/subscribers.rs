//! Subscribers: `{"customer": {"idType", "id"}, "msisdn", "contract"}` and the four
//! properties of the profile's `ContractProfileType`, upserted by MSISDN. A number that
//! moves to another customer moves in the batch's transaction, so that a profile never has
//! two owners; the invoices of its old owner keep no reference to it.

use billing_api::models;
use contract_runtime::WireNames;
use diesel::{
    ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult, RunQueryDsl,
    connection::SimpleConnection, sql_types::BigInt,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Rejection,
    batch::{Loader, Superseded, Unresolved, Written},
    fields,
    records::{Cell, Column},
};

diesel::table! {
    import_subscribers (line) {
        line -> Int8,
        id_type -> Text,
        code -> Int8,
        msisdn -> Int8,
        contract_number -> Int8,
        billing_address -> Nullable<Text>,
        billing_cycle -> Nullable<Text>,
        city -> Nullable<Text>,
        department -> Nullable<Text>,
    }
}

/// A subscriber, staged.
#[derive(Insertable)]
#[diesel(table_name = import_subscribers, treat_none_as_default_value = false)]
pub struct Row {
    line: i64,
    id_type: String,
    code: i64,
    msisdn: i64,
    contract_number: i64,
    billing_address: Option<String>,
    billing_cycle: Option<String>,
    city: Option<String>,
    department: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscriber {
    msisdn: i64,
    contract: String,
}

/// The longest text of a profile's property.
const PROFILE_CHARACTERS: usize = 200;

/// The subscribers kind.
pub struct Subscribers;

impl Loader for Subscribers {
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
            name: "msisdn",
            cell: Cell::Integer,
            required: true,
        },
        Column {
            name: "contract",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "billingAddress",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "billingCycle",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "city",
            cell: Cell::Text,
            required: false,
        },
        Column {
            name: "department",
            cell: Cell::Text,
            required: false,
        },
    ];
    const TABLE: &'static str = "import_subscribers";
    const STAGING: &'static str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_subscribers (
        line BIGINT NOT NULL, id_type TEXT NOT NULL, code BIGINT NOT NULL, msisdn BIGINT NOT NULL,
        contract_number BIGINT NOT NULL, billing_address TEXT, billing_cycle TEXT, city TEXT,
        department TEXT)";

    fn row(line: i64, mut object: Map<String, Value>) -> Result<Row, Rejection> {
        let (id_type, code) = fields::owner(&mut object)?;
        let subscriber = fields::take(&mut object, &["msisdn", "contract"]);
        let Subscriber { msisdn, contract } = fields::read("", subscriber)?;
        let msisdn = fields::msisdn("msisdn", msisdn)?;
        let contract_number = fields::digits("contract", &contract)?;
        // The rest is the profile, as the API answers it.
        let models::ContractProfileType {
            billing_address,
            billing_cycle,
            city,
            department,
        } = fields::valid(
            fields::read::<models::ContractProfileType>("", object)?,
            |field| models::ContractProfileType::wire_name(field).to_owned(),
        )?;
        for (field, value) in [
            ("billingAddress", &billing_address),
            ("billingCycle", &billing_cycle),
            ("city", &city),
            ("department", &department),
        ] {
            fields::optional_text(field, value.as_deref(), PROFILE_CHARACTERS)?;
        }
        Ok(Row {
            line,
            id_type,
            code,
            msisdn,
            contract_number,
            billing_address,
            billing_cycle,
            city,
            department,
        })
    }

    fn stage(conn: &mut PgConnection, rows: &[Row]) -> QueryResult<usize> {
        diesel::copy_from(import_subscribers::table)
            .from_insertable(rows)
            .execute(conn)
    }

    fn unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>> {
        diesel::sql_query(
            "DELETE FROM import_subscribers AS s
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
            "DELETE FROM import_subscribers AS s
             USING (SELECT DISTINCT ON (msisdn) *
                    FROM import_subscribers ORDER BY msisdn, line DESC) AS w
             WHERE w.msisdn = s.msisdn AND w.line > s.line
             RETURNING (s.id_type, s.code, s.contract_number, s.billing_address,
                        s.billing_cycle, s.city, s.department)
                       IS NOT DISTINCT FROM
                       (w.id_type, w.code, w.contract_number, w.billing_address,
                        w.billing_cycle, w.city, w.department) AS same",
        )
        .load(conn)
    }

    fn write(conn: &mut PgConnection, _run_id: i64) -> QueryResult<Written> {
        // Moves take turns, so that two runs moving one number at once cannot leave it
        // with two owners ('imps': the subscribers' own lock).
        conn.batch_execute("SELECT pg_advisory_xact_lock(1768779891, 0)")?;
        diesel::sql_query(
            "WITH staged AS (
                 SELECT c.customer_id, s.msisdn, s.contract_number, s.billing_address,
                        s.billing_cycle, s.city, s.department
                 FROM import_subscribers AS s
                 JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
             ), moved AS (
                 DELETE FROM subscribers AS t
                 USING staged AS s
                 WHERE t.msisdn = s.msisdn AND t.customer_id <> s.customer_id
                 RETURNING t.msisdn
             ), written AS (
                 INSERT INTO subscribers (customer_id, msisdn, contract_number, billing_address,
                                          billing_cycle, city, department)
                 SELECT s.customer_id, s.msisdn, s.contract_number, s.billing_address,
                        s.billing_cycle, s.city, s.department
                 FROM staged AS s
                 LEFT JOIN subscribers AS t ON t.customer_id = s.customer_id AND t.msisdn = s.msisdn
                 WHERE t.msisdn IS NULL
                    OR (t.contract_number, t.billing_address, t.billing_cycle, t.city, t.department)
                       IS DISTINCT FROM
                       (s.contract_number, s.billing_address, s.billing_cycle, s.city, s.department)
                 ORDER BY s.customer_id, s.msisdn
                 ON CONFLICT (customer_id, msisdn) DO UPDATE
                     SET contract_number = EXCLUDED.contract_number,
                         billing_address = EXCLUDED.billing_address,
                         billing_cycle = EXCLUDED.billing_cycle,
                         city = EXCLUDED.city, department = EXCLUDED.department
                     WHERE (subscribers.contract_number, subscribers.billing_address,
                            subscribers.billing_cycle, subscribers.city, subscribers.department)
                           IS DISTINCT FROM
                           (EXCLUDED.contract_number, EXCLUDED.billing_address,
                            EXCLUDED.billing_cycle, EXCLUDED.city, EXCLUDED.department)
                 RETURNING msisdn, xmax = 0 AS inserted
             )
             -- A number that moved is a subscriber updated, though its row is new.
             SELECT count(*) FILTER (WHERE inserted AND msisdn NOT IN (SELECT msisdn FROM moved))
                        AS inserted,
                    count(*) FILTER (WHERE NOT inserted OR msisdn IN (SELECT msisdn FROM moved))
                        AS updated
             FROM written",
        )
        .get_result(conn)
    }
}
