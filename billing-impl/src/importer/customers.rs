//! Customers: `{"idType", "id", "name"}`, upserted by (`idType`, `id`); a name that
//! changed is updated.

use diesel::{ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Rejection,
    fields::{self, CustomerName},
    loader::{Loader, Superseded, Unresolved, Written},
    records::{Cell, Column},
};
use crate::db;

diesel::table! {
    import_customers (line) {
        line -> Int8,
        id_type -> Text,
        code -> Int8,
        name -> Text,
    }
}

/// A customer, staged.
#[derive(Insertable)]
#[diesel(table_name = import_customers, treat_none_as_default_value = false)]
pub struct Row {
    line: i64,
    id_type: String,
    code: i64,
    name: String,
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
        Column {
            name: "idType",
            cell: Cell::Text,
            required: true,
        },
        Column {
            name: "id",
            cell: Cell::Integer,
            required: true,
        },
        Column {
            name: "name",
            cell: Cell::Text,
            required: true,
        },
    ];
    const TABLE: &'static str = "import_customers";
    const STAGING: &'static str = "CREATE TEMPORARY TABLE IF NOT EXISTS import_customers (
        line BIGINT NOT NULL, id_type TEXT NOT NULL, code BIGINT NOT NULL, name TEXT NOT NULL)";

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

    fn write(conn: &mut PgConnection, _run_id: i64) -> QueryResult<Written> {
        db::customers::upsert_staged(conn)
    }
}
