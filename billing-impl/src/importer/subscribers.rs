//! Subscribers: `{"customer": {"idType", "id"}, "msisdn", "contract"}` and the four
//! properties of the profile's `ContractProfileType`, upserted by MSISDN. A number that
//! moves to another customer moves in the batch's transaction, so that a profile never has
//! two owners; the invoices of its old owner keep no reference to it.

use billing_api::models;
use contract_runtime::WireNames;
use diesel::{ExecuteCopyFromDsl, PgConnection, QueryResult};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Rejection, fields,
    loader::{Loader, Superseded, Unresolved, Written, staging},
    records::{Cell, Column},
};
use crate::db;

staging! {
    import_subscribers {
        id_type: String => Text = "TEXT NOT NULL",
        code: i64 => Int8 = "BIGINT NOT NULL",
        msisdn: i64 => Int8 = "BIGINT NOT NULL",
        contract_number: i64 => Int8 = "BIGINT NOT NULL",
        billing_address: Option<String> => Nullable<Text> = "TEXT",
        billing_cycle: Option<String> => Nullable<Text> = "TEXT",
        city: Option<String> => Nullable<Text> = "TEXT",
        department: Option<String> => Nullable<Text> = "TEXT",
    }
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
        Column::required("customer.idType", Cell::Text),
        Column::required("customer.id", Cell::Integer),
        Column::required("msisdn", Cell::Integer),
        Column::required("contract", Cell::Text),
        Column::optional("billingAddress", Cell::Text),
        Column::optional("billingCycle", Cell::Text),
        Column::optional("city", Cell::Text),
        Column::optional("department", Cell::Text),
    ];
    const TABLE: &'static str = TABLE;
    const STAGING: &'static str = STAGING;

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

    fn write(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
        db::subscribers::upsert_staged(conn, run_id)
    }
}
