//! `billing import`: a billing system's customers, subscribers, billing groups and
//! invoices, loaded in the contract's own shapes (`docs/import.md`).
//!
//! A file is read record by record (`records`: `json_lines`, `csv_rows`), each parsed and
//! checked with the contract's generated models and their validation (one module per kind,
//! each a `loader`), in batches: a batch is copied into a staging table of the session, its
//! references to customers, groups and subscribers resolved, and upserted by its natural
//! key in one statement that writes only what changed (`batch`; the statements are at the
//! end of each table's module in `db`), leaving out a row the database refuses
//! (`refused`). What cannot be loaded is written beside the input (`rejects`) and the load
//! goes on. Each batch commits with the run's counts (`db::import_runs`), so that a run
//! stopped at any point and started again ends as one clean run does. After each batch
//! the import waits as its pace says (`pace`): a cap, or backing off while live traffic or
//! the replicas suffer.
//!
//! Nothing outside the database is harmed: every path is checked before anything is
//! opened for writing, and the rejects file replaces the last one only at the end.
//! Memory is bounded by the tool, not the input: no record is held past
//! `--max-record-bytes` (nor a CSV record of many more cells than its columns), and a chunk
//! of records in memory is bounded in bytes. SIGTERM and SIGINT stop a load as any stop
//! does (`stop`).

mod batch;
mod csv_rows;
mod customers;
mod fields;
mod groups;
mod inputs;
mod invoices;
mod json_lines;
mod loader;
mod pace;
mod progress;
mod records;
mod refused;
mod rejects;
mod source;
mod stop;
mod subscribers;
mod unique;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use diesel::{Connection, PgConnection};
use serde::Serialize;

use self::{
    customers::Customers,
    groups::Groups,
    invoices::Invoices,
    loader::Loader,
    records::{Column, Records},
    rejects::{Identity, Rejects},
    source::Source,
    subscribers::Subscribers,
};
pub use self::{pace::Pace, source::Format};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Customers,
    Subscribers,
    Groups,
    Invoices,
}

impl Kind {
    /// The kind as `import_runs` and the summaries name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Subscribers => "subscribers",
            Kind::Groups => "groups",
            Kind::Invoices => "invoices",
        }
    }
}

/// How an import runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The format of every file, whatever its name says.
    pub format: Option<Format>,
    /// Where the rejects go, instead of beside the input.
    pub rejects: Option<PathBuf>,
    /// Records a batch holds at most; each batch commits.
    pub batch_rows: usize,
    /// One transaction for a whole file, committed only when nothing was rejected.
    pub atomic: bool,
    /// The longest record read: a longer line (or CSV record) is rejected, and only its
    /// first bytes are held.
    pub max_record_bytes: usize,
    /// How fast it writes (`pace`).
    pub pace: Pace,
    /// How far behind the primary the replicas may replay under `Pace::Auto`.
    pub max_replica_lag: std::time::Duration,
    /// The longest `Pace::Auto` waits for the replicas in one go before it goes on at its
    /// slowest.
    pub max_replica_wait: std::time::Duration,
}

/// What loading one file came to, as `billing import` prints it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub kind: &'static str,
    pub file: String,
    /// Every data line, rejected ones included.
    pub read: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// `loaded`, `loaded with rejects`, or `rolled back` (`--atomic` with rejects: nothing
    /// stays), as the run's record says.
    pub outcome: &'static str,
    pub seconds: f64,
    /// The seconds the load waited for its pace.
    pub throttled_seconds: f64,
}

/// Why a record was not loaded: a sentence, and the property it is about when it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub field: Option<String>,
}

impl Rejection {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            field: None,
        }
    }

    /// A rejection of the property `field`: the reason names it.
    fn at(field: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self {
            reason: format!("`{field}` {problem}"),
            field: Some(field),
        }
    }
}

/// Why an import ended before its end.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file cannot be read at all, or the command is wrong: nothing was written.
    #[error("{0}")]
    Refused(String),
    /// The load stopped (the database failed, a file could not be read on); every batch
    /// before was committed, and running it again finishes it.
    #[error("{0}")]
    Stopped(String),
}

/// Loads `files` of `kind` into the database at `database_url`, in order, calling
/// `finished` with each file's summary. Every file is opened, and refused if it cannot be
/// read, before anything is written.
pub fn import(
    database_url: &str,
    kind: Kind,
    files: &[PathBuf],
    options: &Options,
    mut finished: impl FnMut(&Summary),
) -> Result<(), ImportError> {
    // From the start: a signal before the load begins stops it at its first record.
    let stop = stop::Stop::on_signals()
        .map_err(|error| ImportError::Refused(format!("catching SIGTERM and SIGINT: {error}")))?;
    if options.rejects.is_some() && files.len() > 1 {
        return Err(ImportError::Refused(
            "--rejects names the rejects of one file; load the files one by one".to_owned(),
        ));
    }
    // Every path is checked, then every input opened for reading, then every rejects file
    // started: a refusal at any step leaves every file as it was.
    let inputs = files
        .iter()
        .map(|path| Input::of(path))
        .collect::<Result<Vec<_>, _>>()?;
    let identities: Vec<(&Path, Identity)> = inputs
        .iter()
        .filter_map(|input| Some((input.path, input.identity?)))
        .collect();
    let rejects_paths = inputs
        .iter()
        .map(|input| {
            let rejects = rejects_path(input, options)?;
            rejects::check(&rejects, &identities).map_err(ImportError::Refused)?;
            Ok(rejects)
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let mut sources = Vec::new();
    for input in &inputs {
        let source = Source::open(input.path, options.format).map_err(ImportError::Refused)?;
        let (size, tally, name) = (source.size, source.tally.clone(), source.name.clone());
        let records = Records::of(source, columns(kind), options.max_record_bytes)
            .map_err(ImportError::Refused)?;
        sources.push((name, size, tally, records));
    }
    let mut opened = Vec::new();
    for ((name, size, tally, records), rejects) in sources.into_iter().zip(rejects_paths) {
        let rejects = Rejects::create(rejects)
            .map_err(|error| ImportError::Refused(format!("the rejects file {error}")))?;
        opened.push((name, size, tally, records, rejects));
    }
    let mut conn = PgConnection::establish(database_url)
        .map_err(|error| ImportError::Stopped(format!("the database: {error}")))?;
    for (name, size, tally, records, rejects) in opened {
        let started = Instant::now();
        let file = batch::File {
            name: &name,
            size,
            tally: &tally,
            rejects,
        };
        let mut summary = match kind {
            Kind::Customers => {
                batch::load::<Customers>(&mut conn, kind, file, records, options, &stop)
            }
            Kind::Subscribers => {
                batch::load::<Subscribers>(&mut conn, kind, file, records, options, &stop)
            }
            Kind::Groups => batch::load::<Groups>(&mut conn, kind, file, records, options, &stop),
            Kind::Invoices => {
                batch::load::<Invoices>(&mut conn, kind, file, records, options, &stop)
            }
        }?;
        summary.seconds = started.elapsed().as_secs_f64();
        finished(&summary);
    }
    Ok(())
}

/// The columns a CSV file of `kind` may name.
fn columns(kind: Kind) -> &'static [Column] {
    match kind {
        Kind::Customers => Customers::COLUMNS,
        Kind::Subscribers => Subscribers::COLUMNS,
        Kind::Groups => Groups::COLUMNS,
        Kind::Invoices => Invoices::COLUMNS,
    }
}

/// An input as the command names it: its path, which file it is (standard input too, when
/// that can be told), and whether it is a stream (standard input, a pipe).
struct Input<'a> {
    path: &'a Path,
    identity: Option<Identity>,
    stream: bool,
}

impl<'a> Input<'a> {
    /// `path`, looked at but not opened; a path that names nothing is refused.
    fn of(path: &'a Path) -> Result<Self, ImportError> {
        let metadata = if path == Path::new("-") {
            std::fs::metadata("/dev/stdin").ok()
        } else {
            let metadata = std::fs::metadata(path)
                .map_err(|error| ImportError::Refused(format!("{}: {error}", path.display())))?;
            Some(metadata)
        };
        Ok(Self {
            path,
            identity: metadata.as_ref().map(Identity::of),
            stream: source::is_stream(path, metadata.as_ref()),
        })
    }
}

/// Where the rejects of `input` go: `--rejects`, or the input's path with
/// `.rejects.jsonl` appended; a stream (standard input, a pipe) has no folder of its own,
/// so it needs `--rejects`.
fn rejects_path(input: &Input<'_>, options: &Options) -> Result<PathBuf, ImportError> {
    if let Some(rejects) = &options.rejects {
        return Ok(rejects.clone());
    }
    if input.stream {
        let what = match input.path == Path::new("-") {
            true => "standard input".to_owned(),
            false => format!("{} is a pipe, which", input.path.display()),
        };
        return Err(ImportError::Refused(format!(
            "{what} has no path to write rejects beside: say --rejects PATH"
        )));
    }
    let mut name = input.path.as_os_str().to_owned();
    name.push(".rejects.jsonl");
    Ok(PathBuf::from(name))
}
