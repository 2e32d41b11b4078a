//! `billing import`: a billing system's customers, subscribers, billing groups and
//! invoices, loaded in the contract's own shapes (`docs/import.md`).
//!
//! A file is read record by record (`records`), each parsed and checked with the
//! contract's generated models and their validation (one module per kind), in batches:
//! a batch is copied into a staging table of the session, its references to customers,
//! groups and subscribers resolved, and upserted by its natural key in one statement that
//! writes only what changed (`batch`). What cannot be loaded is written beside the input
//! (`rejects`) and the load goes on. Each batch commits with the run's counts
//! (`db::import_runs`), so that a run stopped at any point and started again ends as one
//! clean run does.

mod batch;
mod customers;
mod fields;
mod groups;
mod invoices;
mod progress;
mod records;
mod rejects;
mod source;
mod subscribers;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use diesel::{Connection, PgConnection};
use serde::Serialize;

pub use self::source::Format;
use self::{records::Records, rejects::Rejects, source::Source};

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
    /// One transaction for a whole file.
    pub atomic: bool,
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
    pub seconds: f64,
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
    if options.rejects.is_some() && files.len() > 1 {
        return Err(ImportError::Refused(
            "--rejects names the rejects of one file; load the files one by one".to_owned(),
        ));
    }
    let mut opened = Vec::new();
    for path in files {
        let rejects = rejects_path(path, options)?;
        let source = Source::open(path, options.format).map_err(ImportError::Refused)?;
        let (size, tally, name) = (source.size, source.tally.clone(), source.name.clone());
        let records = Records::of(source, batch::columns(kind)).map_err(ImportError::Refused)?;
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
        let mut summary = batch::load(&mut conn, kind, file, records, options)?;
        summary.seconds = started.elapsed().as_secs_f64();
        finished(&summary);
    }
    Ok(())
}

/// Where the rejects of `path` go: `--rejects`, or the input's path with
/// `.rejects.jsonl` appended; standard input has no path, so it needs `--rejects`.
fn rejects_path(path: &Path, options: &Options) -> Result<PathBuf, ImportError> {
    if let Some(rejects) = &options.rejects {
        return Ok(rejects.clone());
    }
    if path == Path::new("-") {
        return Err(ImportError::Refused(
            "standard input has no path to write rejects beside: say --rejects PATH".to_owned(),
        ));
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".rejects.jsonl");
    Ok(PathBuf::from(name))
}
