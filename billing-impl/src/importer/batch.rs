//! The load of one file, batch by batch, whatever its kind: records parsed into rows,
//! copied into the kind's staging table, references resolved, repeated keys left to their
//! last line, and the rest written by the kind's upsert (the rows the database refuses
//! left out, `refused`), each batch committed with the run's counts. With `--atomic` the
//! whole file is one transaction, committed only when nothing was rejected.

use std::{cell::RefCell, rc::Rc, time::Instant};

use diesel::{Connection, PgConnection, connection::SimpleConnection};

use super::{
    ImportError, Kind, Options, Rejection, Summary,
    inputs::Inputs,
    loader::Loader,
    pace::Pacer,
    progress::Progress,
    records::{Record, Records},
    refused,
    rejects::Rejects,
    source::Tally,
    stop::Stop,
};
use crate::db::{self, import_runs::Counts};

/// The file an import loads: its name, size, what was read of it, and where its rejects go;
/// and the signals that stop it.
pub(super) struct File<'a> {
    pub name: &'a str,
    pub size: Option<u64>,
    pub tally: &'a Rc<RefCell<Tally>>,
    pub rejects: Rejects,
}

/// Loads the `records` of `file`, of `kind` (whose part `L` is), as `options` say.
pub(super) fn load<L: Loader>(
    conn: &mut PgConnection,
    kind: Kind,
    file: File<'_>,
    mut records: Records,
    options: &Options,
    stop: &Stop,
) -> Result<Summary, ImportError> {
    let stopped = |what: &str, error: &dyn std::fmt::Display| {
        ImportError::Stopped(format!("{}: {what}: {error}", file.name))
    };
    let mut rejects = file.rejects;
    let inputs = Inputs::new().map_err(|error| stopped("a temporary file", &error))?;
    let run_id = db::import_runs::start(conn, kind.as_str(), file.name, options.atomic)
        .map_err(|error| stopped("recording the run", &error))?;
    let mut progress = Progress::new(file.name, file.size, file.tally.clone());
    let mut pacer = Pacer::new(
        conn,
        options.pace,
        options.max_replica_lag,
        options.max_replica_wait,
        stop.clone(),
    );
    let mut counts = Counts::default();
    let mut batches = Batches {
        records: &mut records,
        rejects: &mut rejects,
        inputs,
        options,
        run_id,
        stop,
    };
    let loaded = if options.atomic {
        // All or nothing: a reject rolls back what the batches wrote.
        conn.transaction(|conn| {
            db::import_runs::load_alone(conn)?;
            batches.all::<L>(conn, &mut counts, &mut progress, &mut pacer)?;
            match counts.rejected {
                0 => Ok(()),
                _ => Err(LoadError::Rejected),
            }
        })
    } else {
        batches.all::<L>(conn, &mut counts, &mut progress, &mut pacer)
    };
    progress.finish(&counts);
    // What a stop leaves: with `--atomic`, nothing; else every batch before it.
    let left = match options.atomic {
        true => "rolled back: nothing of it was committed".to_owned(),
        false => match counts.committed_line {
            0 => "nothing of it was committed".to_owned(),
            line => format!("committed to line {line}"),
        },
    };
    let why = match loaded {
        Ok(()) => None,
        Err(LoadError::Rejected) => None,
        Err(LoadError::Database(error)) => Some(stopped(&format!("stopped ({left})"), &error)),
        Err(LoadError::Asked(signal)) => Some(ImportError::Stopped(format!(
            "{}: stopped by {signal} ({left})",
            file.name
        ))),
        Err(LoadError::Input(error)) => {
            Some(stopped(&format!("stopped reading it ({left})"), &error))
        }
    };
    if options.atomic && (why.is_some() || counts.rejected > 0) {
        counts.nothing_written();
    }
    if let Some(why) = why {
        let _ = db::import_runs::finish(conn, run_id, &counts, None, "stopped");
        // The rejects found before the stop are the file's: kept, or the last run's left.
        if let Err(error) = rejects.finish_stopped() {
            log::error!("{}: the rejects file: {error}", file.name);
        }
        return Err(why);
    }
    let outcome = match counts.rejected {
        0 => "loaded",
        _ if options.atomic => "rolled back",
        _ => "loaded with rejects",
    };
    let sha256 = file.tally.borrow().sha256();
    db::import_runs::finish(conn, run_id, &counts, Some(&sha256), outcome)
        .map_err(|error| stopped("recording the run", &error))?;
    rejects
        .finish()
        .map_err(|error| stopped("the rejects file", &error))?;
    Ok(Summary {
        kind: kind.as_str(),
        file: file.name.to_owned(),
        read: counts.read,
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        rejected: counts.rejected,
        outcome,
        seconds: 0.0,
        throttled_seconds: pacer.throttled().as_secs_f64(),
    })
}

/// Why a load stopped, or (`--atomic`) wrote nothing.
enum LoadError {
    Database(diesel::result::Error),
    Input(std::io::Error),
    /// An atomic load had rejects: its transaction is rolled back.
    Rejected,
    /// A signal, named, asked the load to stop.
    Asked(&'static str),
}

impl From<diesel::result::Error> for LoadError {
    fn from(error: diesel::result::Error) -> Self {
        LoadError::Database(error)
    }
}

impl From<std::io::Error> for LoadError {
    fn from(error: std::io::Error) -> Self {
        LoadError::Input(error)
    }
}

/// Records read into memory at a time, at most. A batch is staged a chunk at a time,
/// however many rows it commits, so that the memory a load takes is flat: batches of
/// 10,000 rows read whole took 31 MB at most, of 50,000 131 MB (`billing import` of `make
/// bench`'s bill run, /usr/bin/time's maximum resident size).
const CHUNK_ROWS: usize = 5_000;
/// The bytes of records (as read) a chunk holds at most, whatever their number: records
/// near the maximum size do not make a chunk large.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// The bytes of records a batch holds at most, whatever its lines: the size of the
/// staging table and of the transaction that writes it.
pub(super) const BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// The records of a chunk: the rows of those that parsed, how many there were, the lines
/// of the first and last, their size, and how many were rejected (and written to the
/// rejects) already.
struct Chunk<R> {
    rows: Vec<R>,
    read: u64,
    lines: Option<(u64, u64)>,
    bytes: u64,
    rejected: u64,
}

/// The batches of a file, loaded one after the other.
struct Batches<'a> {
    records: &'a mut Records,
    rejects: &'a mut Rejects,
    inputs: Inputs,
    options: &'a Options,
    run_id: i64,
    stop: &'a Stop,
}

impl Batches<'_> {
    /// Every batch; each commits on its own unless an outer transaction holds them.
    fn all<L: Loader>(
        &mut self,
        conn: &mut PgConnection,
        counts: &mut Counts,
        progress: &mut Progress,
        pacer: &mut Pacer,
    ) -> Result<(), LoadError> {
        conn.batch_execute(L::STAGING)?;
        let mut started = Instant::now();
        loop {
            if let Some(signal) = self.stop.asked() {
                return Err(LoadError::Asked(signal));
            }
            let Some(after) = conn.transaction(|conn| self.batch::<L>(conn, counts))? else {
                return Ok(());
            };
            let rows = after.read - counts.read;
            *counts = after;
            pacer.after_batch(conn, rows, started.elapsed());
            progress.update(counts, pacer.reason());
            started = Instant::now();
        }
    }

    /// Stages, checks and writes the next batch, in the caller's transaction, with the
    /// run's counts; the counts after it, or `None` at the end of the file.
    fn batch<L: Loader>(
        &mut self,
        conn: &mut PgConnection,
        counts: &Counts,
    ) -> Result<Option<Counts>, LoadError> {
        if !self.options.atomic {
            db::import_runs::load_beside_others(conn)?;
        }
        conn.batch_execute(&format!("TRUNCATE {}", L::TABLE))?;
        self.inputs.clear()?;
        let mut batch = Counts::default();
        let (mut staged, mut unresolved, mut bytes) = (0, 0, 0);
        while batch.read < self.options.batch_rows as u64 && bytes < BATCH_BYTES {
            let room = self.options.batch_rows - batch.read as usize;
            let chunk = self.chunk::<L>(room.min(CHUNK_ROWS))?;
            let Some((first_line, last_line)) = chunk.lines else {
                break;
            };
            batch.read += chunk.read;
            batch.rejected += chunk.rejected;
            batch.committed_line = last_line;
            bytes += chunk.bytes;
            staged += chunk.rows.len() as u64;
            L::stage(conn, &chunk.rows)?;
            for found in L::unresolved(conn, i64::try_from(first_line).unwrap_or(i64::MAX))? {
                let line = u64::try_from(found.line).unwrap_or_default();
                let rejection = Rejection {
                    reason: found.reason,
                    field: found.field,
                };
                self.reject(line, &rejection)?;
                unresolved += 1;
            }
        }
        if batch.read == 0 {
            return Ok(None);
        }
        let superseded = L::superseded(conn)?;
        let (written, refused) = refused::write::<L>(conn, self.run_id)?;
        for refused in &refused {
            self.reject(
                u64::try_from(refused.line).unwrap_or_default(),
                &refused.rejection,
            )?;
        }
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        // Every staged row ends as a reference that did not resolve, a line a later one
        // replaces (an update when it differs from it), a row the database refused, or a
        // written or unchanged row.
        let replaced = superseded.len() as u64;
        let replaced_by_other = superseded.iter().filter(|s| !s.same).count() as u64;
        let refused = refused.len() as u64;
        let winners = staged - unresolved - replaced - refused;
        batch.rejected += unresolved + refused;
        batch.inserted = count(written.inserted);
        batch.updated = count(written.updated) + replaced_by_other;
        batch.unchanged = winners - count(written.inserted) - count(written.updated)
            + (replaced - replaced_by_other);
        let mut after = counts.clone();
        after.add(&batch);
        after.committed_line = batch.committed_line;
        db::import_runs::record_progress(conn, self.run_id, &after)?;
        Ok(Some(after))
    }

    /// Writes the staged record on `line` to the rejects, as `rejection` says.
    fn reject(&mut self, line: u64, rejection: &Rejection) -> Result<(), LoadError> {
        let input = self.inputs.get(line)?;
        self.rejects.write(line, rejection, &input, false)?;
        Ok(())
    }

    /// The next chunk of at most `rows` records; an empty one at the end of the file.
    fn chunk<L: Loader>(&mut self, rows: usize) -> Result<Chunk<L::Row>, LoadError> {
        let mut chunk = Chunk {
            rows: Vec::with_capacity(rows),
            read: 0,
            lines: None,
            bytes: 0,
            rejected: 0,
        };
        while chunk.read < rows as u64 && chunk.bytes < CHUNK_BYTES as u64 {
            if let Some(signal) = self.stop.asked() {
                return Err(LoadError::Asked(signal));
            }
            let Some(record) = self.records.next_record() else {
                break;
            };
            let Record {
                line,
                input,
                truncated,
                object,
            } = record?;
            let line_number = i64::try_from(line).unwrap_or(i64::MAX);
            match object.and_then(|object| L::row(line_number, object)) {
                Ok(row) => {
                    chunk.rows.push(row);
                    self.inputs.push(line, &input)?;
                }
                Err(rejection) => {
                    self.rejects.write(line, &rejection, &input, truncated)?;
                    chunk.rejected += 1;
                }
            }
            chunk.read += 1;
            chunk.bytes += input.len() as u64;
            chunk.lines = Some((chunk.lines.map_or(line, |(first, _)| first), line));
        }
        Ok(chunk)
    }
}
