//! Subscribers: `{"customer": {"idType", "id"}, "msisdn", "contract"}` and the four
//! properties of the profile's `ContractProfileType`, upserted by MSISDN. A number that
//! moves to another customer moves in the batch's transaction, so that a profile never has
//! two owners; the invoices of its old owner keep no reference to it.

use billing_api::models;
use contract_runtime::WireNames;
use diesel::{ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Rejection, fields,
    loader::{Loader, Superseded, Unresolved, Written},
    records::{Cell, Column},
};
use crate::db;

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
        db::subscribers::staged_unresolved(conn, from_line)
    }

    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
        db::subscribers::staged_superseded(conn)
    }

    fn write(conn: &mut PgConnection, _run_id: i64) -> QueryResult<Written> {
        db::subscribers::upsert_staged(conn)
    }
}
