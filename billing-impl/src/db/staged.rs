//! What the statements of `billing import` answer about the rows it staged in a temporary
//! table of the session: those whose references do not resolve, those a later line with the
//! same key replaces, and what an upsert wrote. The statements themselves are at the end of
//! each table's module (`customers`, `subscribers`, `billing_groups`, `invoices`).

use diesel::{
    PgConnection, QueryResult, QueryableByName, RunQueryDsl,
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

/// Runs `statement`, an upsert of staged rows answering what it wrote (`$1` the run's id,
/// when it names it), through `import_write` (migration 000013): an integrity violation of
/// any code in SQLSTATE class 23 comes back as a check violation naming the rule, so that
/// the row is told refused whatever the code, and any other failure as it is.
pub fn write(conn: &mut PgConnection, statement: &str, run_id: i64) -> QueryResult<Written> {
    diesel::sql_query("SELECT inserted, updated FROM import_write($1, $2)")
        .bind::<Text, _>(statement)
        .bind::<BigInt, _>(run_id)
        .get_result(conn)
}

/// What an upsert wrote.
#[derive(Debug, Default, QueryableByName)]
pub struct Written {
    #[diesel(sql_type = BigInt)]
    pub inserted: i64,
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
}

/// Removes from the staging table `staged` (a constant of the table's module, never input)
/// the rows from `from_line` on whose customer does not exist, saying so: the one reference
/// of staged groups and subscribers.
pub fn without_customer(
    conn: &mut PgConnection,
    staged: &'static str,
    from_line: i64,
) -> QueryResult<Vec<Unresolved>> {
    diesel::sql_query(format!(
        "DELETE FROM {staged} AS s
         WHERE s.line >= $1
           AND NOT EXISTS (SELECT 1 FROM customers AS c
                           WHERE c.id_type = s.id_type AND c.code = s.code)
         RETURNING s.line, format('no customer %s:%s', s.id_type, s.code) AS reason,
                   'customer' AS field"
    ))
    .bind::<BigInt, _>(from_line)
    .load(conn)
}

/// Declares a kind's staging table from one list of its columns, in one order: the diesel
/// table its rows are copied into (`line` first), the row copied (`Row`), the statement
/// that creates the temporary table (`STAGING`, named `TABLE`), and the names of its
/// columns after `line` (`STAGED_COLUMNS`), from which a table's statements may build
/// theirs.
macro_rules! staging {
    ($table:ident { $($column:ident: $rust:ty => $diesel:ty = $sql:literal),+ $(,)? }) => {
        diesel::table! {
            $table (line) {
                line -> Int8,
                $($column -> $diesel,)+
            }
        }

        /// A record as staged: the line it was read on, then its columns.
        #[derive(diesel::Insertable)]
        #[diesel(table_name = $table, treat_none_as_default_value = false)]
        pub struct Row {
            pub line: i64,
            $(pub $column: $rust,)+
        }

        /// The staging table, a temporary table of the session.
        pub const TABLE: &str = stringify!($table);

        /// Its columns after `line`, in order.
        #[allow(dead_code)]
        pub const STAGED_COLUMNS: &[&str] = &[$(stringify!($column)),+];

        /// Creates the staging table, if it is not there.
        pub const STAGING: &str = concat!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS ",
            stringify!($table),
            " (line BIGINT NOT NULL",
            $(", ", stringify!($column), " ", $sql,)+
            ")"
        );
    };
}
pub(crate) use staging;
