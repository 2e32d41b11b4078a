//! Customers: `{"idType", "id", "name"}`, upserted by (`idType`, `id`); a name that
//! changed is updated.

use diesel::{ExecuteCopyFromDsl, Insertable, PgConnection, QueryResult, RunQueryDsl};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Rejection,
    batch::{Loader, Superseded, Unresolved, Written},
    fields::{self, CustomerName},
    records::{Cell, Column},
};

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
        diesel::sql_query(
            "DELETE FROM import_customers AS s
             USING (SELECT DISTINCT ON (id_type, code) line, id_type, code, name
                    FROM import_customers ORDER BY id_type, code, line DESC) AS w
             WHERE w.id_type = s.id_type AND w.code = s.code AND w.line > s.line
             RETURNING s.name = w.name AS same",
        )
        .load(conn)
    }

    fn write(conn: &mut PgConnection, _run_id: i64) -> QueryResult<Written> {
        diesel::sql_query(
            "WITH written AS (
                 INSERT INTO customers (id_type, code, name)
                 SELECT s.id_type, s.code, s.name
                 FROM import_customers AS s
                 LEFT JOIN customers AS c ON c.id_type = s.id_type AND c.code = s.code
                 WHERE c.customer_id IS NULL OR c.name <> s.name
                 ORDER BY s.id_type, s.code
                 ON CONFLICT (id_type, code) DO UPDATE SET name = EXCLUDED.name
                     WHERE customers.name <> EXCLUDED.name
                 RETURNING xmax = 0 AS inserted)
             SELECT count(*) FILTER (WHERE inserted) AS inserted,
                    count(*) FILTER (WHERE NOT inserted) AS updated
             FROM written",
        )
        .get_result(conn)
    }
}
