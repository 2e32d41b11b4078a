//! Rows the database refuses. The checks of a record are the contract's and the few
//! rules of the database the importer knows; a row they let through may still break a
//! constraint (one added later, a group deleted meanwhile). Then the batch's write is
//! rolled back to before it and the staged rows are written again in halves, halves of
//! those that fail, and so on, as pgloader isolates a bad row of a COPY: every row that
//! fails alone is rejected, in words of the product, and the rest is written.

use diesel::{
    Connection, PgConnection, QueryResult, QueryableByName, RunQueryDsl,
    connection::SimpleConnection,
    result::{DatabaseErrorKind, Error},
    sql_types::BigInt,
};

use super::{
    Rejection,
    loader::{Loader, Written},
};

/// A staged row the database refused, and why.
pub(super) struct Refused {
    pub line: i64,
    pub rejection: Rejection,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = BigInt)]
    line: i64,
}

/// Writes what is staged, as `L::write` does; the rows the database refuses are left out
/// and returned. A failure that is not a row's (the connection, a lock) is returned as it
/// is.
pub(super) fn write<L: Loader>(
    conn: &mut PgConnection,
    run_id: i64,
) -> QueryResult<(Written, Vec<Refused>)> {
    match conn.transaction(|conn| L::write(conn, run_id)) {
        Ok(written) => return Ok((written, Vec::new())),
        Err(error) if refusal(&error).is_none() => return Err(error),
        Err(_) => {}
    }
    let (table, held) = (L::TABLE, format!("{}_held", L::TABLE));
    conn.batch_execute(&format!(
        "CREATE TEMPORARY TABLE IF NOT EXISTS {held} (LIKE {table});
         TRUNCATE {held};
         INSERT INTO {held} SELECT * FROM {table};
         TRUNCATE {table}"
    ))?;
    let lines: Vec<i64> = diesel::sql_query(format!("SELECT line FROM {held} ORDER BY line"))
        .load::<Line>(conn)?
        .into_iter()
        .map(|row| row.line)
        .collect();
    let mut written = Written::default();
    let mut refused = Vec::new();
    // Ranges of `lines` still to write, the first on top; the whole failed already.
    let middle = lines.len() / 2;
    let mut pending = vec![(middle, lines.len()), (0, middle)];
    while let Some((from, to)) = pending.pop() {
        if from == to {
            continue;
        }
        diesel::sql_query(format!(
            "INSERT INTO {table} SELECT * FROM {held} WHERE line BETWEEN $1 AND $2"
        ))
        .bind::<BigInt, _>(lines[from])
        .bind::<BigInt, _>(lines[to - 1])
        .execute(conn)?;
        let tried = conn.transaction(|conn| L::write(conn, run_id));
        conn.batch_execute(&format!("TRUNCATE {table}"))?;
        match tried {
            Ok(part) => {
                written.inserted += part.inserted;
                written.updated += part.updated;
            }
            Err(error) => match refusal(&error) {
                None => return Err(error),
                Some(rejection) if to - from == 1 => refused.push(Refused {
                    line: lines[from],
                    rejection,
                }),
                Some(_) => {
                    let middle = from + (to - from) / 2;
                    pending.push((middle, to));
                    pending.push((from, middle));
                }
            },
        }
    }
    Ok((written, refused))
}

/// Why the database refused a row, when `error` is a refusal of a row: a constraint it
/// breaks (SQLSTATE class 23). Anything else is the database's failure, not the row's.
fn refusal(error: &Error) -> Option<Rejection> {
    let Error::DatabaseError(kind, info) = error else {
        return None;
    };
    let why = match kind {
        DatabaseErrorKind::UniqueViolation => "another record already holds its key".to_owned(),
        DatabaseErrorKind::ForeignKeyViolation => {
            "it names a customer, group or subscriber the database does not hold (removed \
             while it loaded?)"
                .to_owned()
        }
        DatabaseErrorKind::NotNullViolation => "a value it needs is missing".to_owned(),
        // Any other code of class 23 comes as this one too (`db::staged::write`).
        DatabaseErrorKind::CheckViolation => {
            match info.constraint_name().filter(|rule| !rule.is_empty()) {
                Some(rule) => format!("it breaks the rule `{rule}`"),
                None => "it breaks one of its rules".to_owned(),
            }
        }
        DatabaseErrorKind::RestrictViolation | DatabaseErrorKind::ExclusionViolation => {
            "it conflicts with what the database holds".to_owned()
        }
        _ => return None,
    };
    Some(Rejection::new(format!("the database refused it: {why}")))
}
