//! What the statements of `billing import` answer about the rows it staged in a temporary
//! table of the session: those whose references do not resolve, those a later line with the
//! same key replaces, and what an upsert wrote. The statements themselves are at the end of
//! each table's module (`customers`, `subscribers`, `billing_groups`, `invoices`).

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Bool, Nullable, Text},
};

/// A staged row whose references do not resolve.
#[derive(Debug, QueryableByName)]
pub struct Unresolved {
    #[diesel(sql_type = BigInt)]
    pub line: i64,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub field: Option<String>,
}

/// A staged row that a later line with its key replaces.
#[derive(Debug, QueryableByName)]
pub struct Superseded {
    /// Whether it equals that later line.
    #[diesel(sql_type = Bool)]
    pub same: bool,
}

/// What an upsert wrote.
#[derive(Debug, Default, QueryableByName)]
pub struct Written {
    #[diesel(sql_type = BigInt)]
    pub inserted: i64,
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
}
