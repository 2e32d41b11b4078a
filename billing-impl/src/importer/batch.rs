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
    /// Removes from the staging table the rows whose references do not resolve, saying
    /// why, and gives the others their customer's key.
    fn unresolved(conn: &mut PgConnection) -> QueryResult<Vec<Unresolved>>;
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

/// One batch of records: the rows of those that parsed, the text of every one by its line,
/// and how many were rejected (and written to the rejects) already.
struct Batch<R> {
    rows: Vec<R>,
    inputs: Vec<(u64, String)>,
    rejected: u64,
}

impl<R> Batch<R> {
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
        loop {
            let batch = self.read::<L>(counts)?;
            if batch.inputs.is_empty() {
                return Ok(());
            }
            conn.transaction(|conn| self.write::<L>(conn, &batch, counts))?;
            progress.update(counts);
        }
    }

    /// The next batch; an empty one at the end of the file.
    fn read<L: Loader>(&mut self, counts: &mut Counts) -> Result<Batch<L::Row>, LoadError> {
        let mut batch = Batch {
            rows: Vec::with_capacity(self.options.batch_rows),
            inputs: Vec::with_capacity(self.options.batch_rows),
            rejected: 0,
        };
        while batch.inputs.len() < self.options.batch_rows {
            let Some(record) = self.records.next_record() else {
                break;
            };
            let Record {
                line,
                input,
                object,
            } = record.map_err(LoadError::Input)?;
            counts.read += 1;
            let line_number = i64::try_from(line).unwrap_or(i64::MAX);
            match object.and_then(|object| L::row(line_number, object)) {
                Ok(row) => batch.rows.push(row),
                Err(rejection) => {
                    self.rejects
                        .write(line, &rejection, &input)
                        .map_err(LoadError::Input)?;
                    batch.rejected += 1;
                }
            }
            batch.inputs.push((line, input));
        }
        Ok(batch)
    }

    /// Stages and writes one batch, in the caller's transaction, with the run's counts.
    fn write<L: Loader>(
        &mut self,
        conn: &mut PgConnection,
        batch: &Batch<L::Row>,
        counts: &mut Counts,
    ) -> Result<(), LoadError> {
        let mut written_counts = Counts::default();
        conn.batch_execute(&format!("TRUNCATE {}", L::TABLE))?;
        L::stage(conn, &batch.rows)?;
        for unresolved in L::unresolved(conn)? {
            let line = u64::try_from(unresolved.line).unwrap_or_default();
            let rejection = Rejection {
                reason: unresolved.reason,
                field: unresolved.field,
            };
            self.rejects
                .write(line, &rejection, batch.input(line))
                .map_err(LoadError::Input)?;
            written_counts.rejected += 1;
        }
        let superseded = L::superseded(conn)?;
        let written = L::write(conn, self.run_id)?;
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        // Every staged row ends as a reference that did not resolve, a line a later one
        // replaces (an update when it differs from it), or a written or unchanged row.
        let replaced = superseded.len() as u64;
        let replaced_by_other = superseded.iter().filter(|s| !s.same).count() as u64;
        let winners = batch.rows.len() as u64 - written_counts.rejected - replaced;
        written_counts.inserted = count(written.inserted);
        written_counts.updated = count(written.updated) + replaced_by_other;
        written_counts.unchanged = winners - count(written.inserted) - count(written.updated)
            + (replaced - replaced_by_other);
        written_counts.rejected += batch.rejected;
        let mut after = counts.clone();
        after.add(&written_counts);
        after.committed_line = batch
            .inputs
            .last()
            .map_or(after.committed_line, |(line, _)| *line);
        db::import_runs::record_progress(conn, self.run_id, &after)?;
        *counts = after;
        Ok(())
    }
}
