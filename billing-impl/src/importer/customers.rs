//! Customers: `{"idType", "id", "name"}`, upserted by (`idType`, `id`); a name that
//! changed is updated.

use diesel::{ExecuteCopyFromDsl, PgConnection, QueryResult};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Rejection,
    fields::{self, CustomerName},
    loader::{Loader, Superseded, Unresolved, Written, staging},
    records::{Cell, Column},
};
use crate::db;

staging! {
    import_customers {
        id_type: String => Text = "TEXT NOT NULL",
        code: i64 => Int8 = "BIGINT NOT NULL",
        name: String => Text = "TEXT NOT NULL",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(rename = "idType")]
    id_type: String,
    id: i64,
    name: String,
}

/// The longest name a customer may have.
const NAME_CHARACTERS: usize = 200;

/// The customers kind.
pub struct Customers;

impl Loader for Customers {
    type Row = Row;
    const COLUMNS: &'static [Column] = &[
        Column::required("idType", Cell::Text),
        Column::required("id", Cell::Integer),
        Column::required("name", Cell::Text),
    ];
    const TABLE: &'static str = TABLE;
    const STAGING: &'static str = STAGING;

    fn row(line: i64, object: Map<String, Value>) -> Result<Row, Rejection> {
        let Line { id_type, id, name } = fields::read("", object)?;
        let (id_type, code) = fields::customer("", CustomerName { id_type, id })?;
        fields::text("name", &name, NAME_CHARACTERS)?;
        if name.is_empty() {
            return Err(Rejection::at("name", "is empty"));
        }
        Ok(Row {
            line,
            id_type,
            code,
            name,
        })
    }

    fn stage(conn: &mut PgConnection, rows: &[Row]) -> QueryResult<usize> {
        diesel::copy_from(import_customers::table)
            .from_insertable(rows)
            .execute(conn)
    }

    fn unresolved(_conn: &mut PgConnection, _from_line: i64) -> QueryResult<Vec<Unresolved>> {
        // A customer refers to nothing.
        Ok(Vec::new())
    }

    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>> {
        db::customers::staged_superseded(conn)
    }

    fn write(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written> {
        db::customers::upsert_staged(conn, run_id)
    }
}
