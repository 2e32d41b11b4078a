//! What each kind of record brings to a load, as the batches of any kind use it: its CSV
//! columns, its staging table, and its statements (reference checks, repeated keys, the
//! upsert). One module per kind implements it; `batch` loads through it alone.

use diesel::{PgConnection, QueryResult};
use serde_json::{Map, Value};

pub(super) use crate::db::staged::{Superseded, Unresolved, Written};

use super::{Rejection, records::Column};

/// One kind's part of an import.
pub(super) trait Loader {
    /// A record as staged.
    type Row;
    /// The properties a CSV file of the kind may name.
    const COLUMNS: &'static [Column];
    /// The kind's staging table, a temporary table of the session.
    const TABLE: &'static str;
    /// Creates the staging table, if it is not there.
    const STAGING: &'static str;
    /// The row of the record on `line`, or why it cannot be loaded.
    fn row(line: i64, object: Map<String, Value>) -> Result<Self::Row, Rejection>;
    /// Copies `rows` into the staging table.
    fn stage(conn: &mut PgConnection, rows: &[Self::Row]) -> QueryResult<usize>;
    /// Removes from the staging table the rows from `from_line` on whose references do
    /// not resolve, saying why.
    fn unresolved(conn: &mut PgConnection, from_line: i64) -> QueryResult<Vec<Unresolved>>;
    /// Removes the rows whose key a later line of the batch repeats, saying of each
    /// whether it equals that later line.
    fn superseded(conn: &mut PgConnection) -> QueryResult<Vec<Superseded>>;
    /// Writes what is staged, changing only what differs from what is stored; the run
    /// `run_id` is named where a change is recorded.
    fn write(conn: &mut PgConnection, run_id: i64) -> QueryResult<Written>;
}

pub(super) use crate::db::staged::staging;
