//! The load of one file, batch by batch, whatever its kind: records parsed into rows,
//! copied into the kind's staging table, references resolved, repeated keys left to their
//! last line, and the rest written by the kind's upsert, each batch committed with the
//! run's counts (or the whole file in one transaction, with `--atomic`).

use std::{cell::RefCell, rc::Rc};

use diesel::{
    Connection, PgConnection, QueryResult, QueryableByName,
    connection::SimpleConnection,
    sql_types::{BigInt, Bool, Nullable, Text},
};
use serde_json::{Map, Value};

use super::{
    ImportError, Kind, Options, Rejection, Summary,
    customers::Customers,
    groups::Groups,
    invoices::Invoices,
    progress::Progress,
    records::{Column, Record, Records},
    rejects::Rejects,
    source::Tally,
    subscribers::Subscribers,
};
use crate::db::{self, import_runs::Counts};

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

/// A staged row whose references do not resolve.
#[derive(Debug, QueryableByName)]
pub(super) struct Unresolved {
    #[diesel(sql_type = BigInt)]
    pub line: i64,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub field: Option<String>,
}

/// A staged row that a later line with its key replaces.
#[derive(Debug, QueryableByName)]
pub(super) struct Superseded {
    /// Whether it equals that later line.
    #[diesel(sql_type = Bool)]
    pub same: bool,
}

/// What an upsert wrote.
#[derive(Debug, Default, QueryableByName)]
pub(super) struct Written {
    #[diesel(sql_type = BigInt)]
    pub inserted: i64,
    #[diesel(sql_type = BigInt)]
    pub updated: i64,
}

/// The columns a CSV file of `kind` may name.
pub(super) fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Customers => Customers::COLUMNS,
        Kind::Subscribers => Subscribers::COLUMNS,
        Kind::Groups => Groups::COLUMNS,
        Kind::Invoices => Invoices::COLUMNS,
    }
}

/// The file an import loads: its name, size, what was read of it, and where its rejects go.
pub(super) struct File<'a> {
    pub name: &'a str,
    pub size: Option<u64>,
    pub tally: &'a Rc<RefCell<Tally>>,
    pub rejects: Rejects,
}

/// Loads the `records` of `file`, of `kind`, as `options` say.
pub(super) fn load(
    conn: &mut PgConnection,
    kind: Kind,
    file: File<'_>,
    records: Records,
    options: &Options,
) -> Result<Summary, ImportError> {
    match kind {
        Kind::Customers => load_kind::<Customers>(conn, kind, file, records, options),
        Kind::Subscribers => load_kind::<Subscribers>(conn, kind, file, records, options),
        Kind::Groups => load_kind::<Groups>(conn, kind, file, records, options),
        Kind::Invoices => load_kind::<Invoices>(conn, kind, file, records, options),
    }
}

fn load_kind<L: Loader>(
    conn: &mut PgConnection,
    kind: Kind,
    file: File<'_>,
    mut records: Records,
    options: &Options,
) -> Result<Summary, ImportError> {
    let stopped = |what: &str, error: &dyn std::fmt::Display| {
        ImportError::Stopped(format!("{}: {what}: {error}", file.name))
    };
    let mut rejects = file.rejects;
    let run_id = db::import_runs::start(conn, kind.as_str(), file.name, options.atomic)
        .map_err(|error| stopped("recording the run", &error))?;
    let mut progress = Progress::new(file.name, file.size, file.tally.clone());
    let mut counts = Counts::default();
    let mut batches = Batches {
        records: &mut records,
        rejects: &mut rejects,
        options,
        run_id,
    };
    let loaded = if options.atomic {
        conn.transaction(|conn| batches.all::<L>(conn, &mut counts, &mut progress))
    } else {
        batches.all::<L>(conn, &mut counts, &mut progress)
    };
    progress.finish(&counts);
    if let Err(error) = loaded {
        let _ = db::import_runs::finish(conn, run_id, &counts, None, "stopped");
        return Err(match error {
            LoadError::Database(error) => stopped(
                &format!("stopped after line {} (committed)", counts.committed_line),
                &error,
            ),
            LoadError::Input(error) => stopped("reading it", &error),
        });
    }
    let sha256 = file.tally.borrow().sha256();
    let outcome = if counts.rejected > 0 {
        "loaded with rejects"
    } else {
        "loaded"
    };
    db::import_runs::finish(conn, run_id, &counts, Some(&sha256), outcome)
        .map_err(|error| stopped("recording the run", &error))?;
    rejects
        .close()
        .map_err(|error| stopped("the rejects file", &error))?;
    Ok(Summary {
        kind: kind.as_str(),
        file: file.name.to_owned(),
        read: counts.read,
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        rejected: counts.rejected,
        seconds: 0.0,
    })
}

/// Why a load stopped.
enum LoadError {
    Database(diesel::result::Error),
    Input(std::io::Error),
}

impl From<diesel::result::Error> for LoadError {
    fn from(error: diesel::result::Error) -> Self {
        LoadError::Database(error)
    }
}

/// Records read into memory at a time. A batch is staged a chunk at a time, however many
/// rows it commits, so that the memory a load takes is flat: batches of 10,000 rows read
/// whole took 31 MB at most, of 50,000 131 MB (`billing import` of `make bench`'s bill run,
/// /usr/bin/time's maximum resident size).
const CHUNK_ROWS: usize = 5_000;

/// The records of a chunk: the rows of those that parsed, the text of every one by its
/// line, and how many were rejected (and written to the rejects) already.
struct Chunk<R> {
    rows: Vec<R>,
    inputs: Vec<(u64, String)>,
    rejected: u64,
}

impl<R> Chunk<R> {
    /// The text of the record on `line`.
    fn input(&self, line: u64) -> &str {
        self.inputs
            .binary_search_by_key(&line, |(line, _)| *line)
            .map(|at| self.inputs[at].1.as_str())
            .unwrap_or_default()
    }
}

/// The batches of a file, loaded one after the other.
struct Batches<'a> {
    records: &'a mut Records,
    rejects: &'a mut Rejects,
    options: &'a Options,
    run_id: i64,
}

impl Batches<'_> {
    /// Every batch; each commits on its own unless an outer transaction holds them.
    fn all<L: Loader>(
        &mut self,
        conn: &mut PgConnection,
        counts: &mut Counts,
        progress: &mut Progress,
    ) -> Result<(), LoadError> {
        conn.batch_execute(L::STAGING)?;
        while conn.transaction(|conn| self.batch::<L>(conn, counts))? {
            progress.update(counts);
        }
        Ok(())
    }

    /// Stages, checks and writes the next batch, in the caller's transaction, with the
    /// run's counts; false at the end of the file.
    fn batch<L: Loader>(
        &mut self,
        conn: &mut PgConnection,
        counts: &mut Counts,
    ) -> Result<bool, LoadError> {
        conn.batch_execute(&format!("TRUNCATE {}", L::TABLE))?;
        let mut batch = Counts::default();
        let (mut staged, mut unresolved) = (0, 0);
        while batch.read < self.options.batch_rows as u64 {
            let room = self.options.batch_rows - batch.read as usize;
            let chunk = self.chunk::<L>(room.min(CHUNK_ROWS))?;
            let Some(&(first_line, _)) = chunk.inputs.first() else {
                break;
            };
            batch.read += chunk.inputs.len() as u64;
            batch.rejected += chunk.rejected;
            batch.committed_line = chunk.inputs.last().map_or(0, |(line, _)| *line);
            staged += chunk.rows.len() as u64;
            L::stage(conn, &chunk.rows)?;
            for found in L::unresolved(conn, i64::try_from(first_line).unwrap_or(i64::MAX))? {
                let line = u64::try_from(found.line).unwrap_or_default();
                let rejection = Rejection {
                    reason: found.reason,
                    field: found.field,
                };
                self.rejects
                    .write(line, &rejection, chunk.input(line))
                    .map_err(LoadError::Input)?;
                unresolved += 1;
            }
        }
        if batch.read == 0 {
            return Ok(false);
        }
        let superseded = L::superseded(conn)?;
        let written = L::write(conn, self.run_id)?;
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        // Every staged row ends as a reference that did not resolve, a line a later one
        // replaces (an update when it differs from it), or a written or unchanged row.
        let replaced = superseded.len() as u64;
        let replaced_by_other = superseded.iter().filter(|s| !s.same).count() as u64;
        let winners = staged - unresolved - replaced;
        batch.rejected += unresolved;
        batch.inserted = count(written.inserted);
        batch.updated = count(written.updated) + replaced_by_other;
        batch.unchanged = winners - count(written.inserted) - count(written.updated)
            + (replaced - replaced_by_other);
        let mut after = counts.clone();
        after.add(&batch);
        after.committed_line = batch.committed_line;
        db::import_runs::record_progress(conn, self.run_id, &after)?;
        *counts = after;
        Ok(true)
    }

    /// The next chunk of at most `rows` records; an empty one at the end of the file.
    fn chunk<L: Loader>(&mut self, rows: usize) -> Result<Chunk<L::Row>, LoadError> {
        let mut chunk = Chunk {
            rows: Vec::with_capacity(rows),
            inputs: Vec::with_capacity(rows),
            rejected: 0,
        };
        while chunk.inputs.len() < rows {
            let Some(record) = self.records.next_record() else {
                break;
            };
            let Record {
                line,
                input,
                object,
            } = record.map_err(LoadError::Input)?;
            let line_number = i64::try_from(line).unwrap_or(i64::MAX);
            match object.and_then(|object| L::row(line_number, object)) {
                Ok(row) => chunk.rows.push(row),
                Err(rejection) => {
                    self.rejects
                        .write(line, &rejection, &input)
                        .map_err(LoadError::Input)?;
                    chunk.rejected += 1;
                }
            }
            chunk.inputs.push((line, input));
        }
        Ok(chunk)
    }
}
