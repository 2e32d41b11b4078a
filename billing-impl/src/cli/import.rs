//! `billing import`: load a billing system's records (`docs/import.md`).

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use crate::{
    config::DatabaseUrl,
    importer::{self, Format, ImportError, Kind, Options, Pace},
};

/// Exit status when some lines were rejected and the rest loaded (with `--atomic`: none
/// loaded).
const SOME_REJECTED: u8 = 1;
/// Exit status when the command or a file was refused: nothing was written.
const REFUSED: u8 = 2;
/// Exit status when the load stopped (the database failed): what it committed stays, and
/// running it again finishes it.
const STOPPED: u8 = 3;

/// Load customers, subscribers, billing groups or invoices, in the contract's own shapes;
/// prints one JSON line per file.
#[derive(Debug, clap::Args)]
pub struct Import {
    #[command(flatten)]
    database: DatabaseUrl,
    /// What the files hold.
    #[arg(value_enum)]
    kind: Kind,
    /// The files, loaded in order: paths, or `-` for standard input; `.gz` is decompressed.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The files' format, whatever their names say (by default `.jsonl`/`.ndjson` or `.csv`).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where the rejected lines go (by default beside the file, `.rejects.jsonl` appended).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Lines a batch holds at most (100,000 the most: each costs memory of its own, however
    /// small); each batch commits.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BATCH_ROWS)))]
    batch_rows: u32,
    /// Load each file in one transaction: all of it or nothing (a reject commits nothing).
    #[arg(long)]
    atomic: bool,
    /// The longest line (or CSV record) read, in bytes: a longer one is rejected with its
    /// first bytes, and the load goes on. The largest record the contract allows takes about
    /// 150 KB; at 1 MiB, the most, a load stays under 64 MB of memory whatever its input.
    #[arg(long, default_value_t = MAX_RECORD_BYTES, value_parser = clap::value_parser!(u32).range(1024..=i64::from(MAX_RECORD_BYTES)))]
    max_record_bytes: u32,
    /// How fast to write: `auto` backs off while live traffic suffers (other sessions
    /// waiting on WAL or I/O, its own batches slowing, replicas falling behind) and speeds
    /// up again; `off` writes as fast as it can (a maintenance window); a number is a cap in
    /// rows per second. docs/import.md says what `auto` watches.
    #[arg(long, default_value_t = Pace::Auto, allow_hyphen_values = true)]
    pace: Pace,
    /// Milliseconds the replicas may replay behind the primary under `--pace auto` before
    /// the import waits for them: by default the server's own limit for routing reads to
    /// them.
    #[arg(long, env = "BILLING_REPLICA_MAX_LAG_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    max_replica_lag: u64,
    /// Seconds `--pace auto` waits at most, in one go, for replicas behind by more than
    /// `--max-replica-lag`; past that it goes on at its slowest pace, and waits again only
    /// once they have caught up (a replica paused or delayed by design never holds a bill
    /// run for ever).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    max_replica_wait: u64,
}

/// The largest `--batch-rows`: a batch keeps a few dozen bytes for each of its rows (where
/// its text is, the lines a later one replaces), so that its rows, not only its bytes, are
/// bounded for a load to stay under 64 MB.
const MAX_BATCH_ROWS: u32 = 100_000;

/// The default and largest `--max-record-bytes`: 1 MiB.
const MAX_RECORD_BYTES: u32 = 1024 * 1024;

impl Import {
    pub fn run(self) -> ExitCode {
        let Import {
            database,
            kind,
            files,
            format,
            rejects,
            batch_rows,
            atomic,
            max_record_bytes,
            pace,
            max_replica_lag,
            max_replica_wait,
        } = self;
        let options = Options {
            format,
            rejects,
            batch_rows: pace.batch_rows(batch_rows as usize),
            atomic,
            max_record_bytes: max_record_bytes as usize,
            pace,
            max_replica_lag: Duration::from_millis(max_replica_lag),
            max_replica_wait: Duration::from_secs(max_replica_wait),
        };
        let mut rejected = false;
        // A summary that cannot be written (a full disk behind standard output) is no
        // panic: the load goes on, and the run ends as stopped, so that cron tells.
        let mut unwritten = false;
        let loaded = importer::import(database.direct(), kind, &files, &options, |summary| {
            rejected |= summary.rejected > 0;
            let written = serde_json::to_string(summary)
                .map_err(|error| error.to_string())
                .and_then(|line| {
                    writeln!(std::io::stdout().lock(), "{line}").map_err(|error| error.to_string())
                });
            if let Err(error) = written {
                log::error!("the summary could not be written to standard output: {error}");
                unwritten = true;
            }
        });
        match loaded {
            Ok(()) if unwritten => ExitCode::from(STOPPED),
            Ok(()) if rejected => ExitCode::from(SOME_REJECTED),
            Ok(()) => ExitCode::SUCCESS,
            Err(ImportError::Refused(why)) => {
                log::error!("refused, nothing was written: {why}");
                ExitCode::from(REFUSED)
            }
            Err(ImportError::Stopped(why)) => {
                log::error!("{why}");
                ExitCode::from(STOPPED)
            }
        }
    }
}
