//! The `billing` command line: one module per subcommand, each with its options and a
//! `run` that does it. `main.rs` only parses, sets up logging and calls `run`.

mod audit;
mod clients;
mod import;
mod imports;
mod keys;
mod seed;
mod serve;

use std::{ffi::OsString, process::ExitCode};

use clap::{CommandFactory, Parser, Subcommand};
use diesel::{Connection, PgConnection};

use crate::{
    config::{DatabaseUrl, LogFormat, ServeConfig},
    db::{self, SetupError},
};

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "billing", version, about = "The Selfcare API Billing server")]
#[command(after_help = "Without a command, `billing` serves: `billing [serve options]`.")]
pub struct Cli {
    /// How log lines are written: text, or one JSON object a line.
    #[arg(long, global = true, env = "BILLING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's command line, reading one that names no command as `serve`.
    pub fn parse_with_default() -> Self {
        let mut args: Vec<OsString> = std::env::args_os().collect();
        let names_command = args.get(1).and_then(|arg| arg.to_str()).is_some_and(|arg| {
            ["-h", "--help", "-V", "--version", "help"].contains(&arg)
                || Cli::command()
                    .get_subcommands()
                    .any(|command| command.get_name() == arg)
        });
        if !names_command {
            args.insert(1.min(args.len()), OsString::from("serve"));
        }
        Cli::parse_from(args)
    }
}

/// What `billing` can do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, applying pending migrations as soon as the database answers (the default).
    Serve(Box<ServeConfig>),
    /// Apply pending migrations and exit (over `BILLING_MIGRATION_DATABASE_URL` if set).
    Migrate(DatabaseUrl),
    /// Load the demo data set, or a bulk synthetic one.
    Seed(seed::Seed),
    /// Manage the keys that sign access tokens.
    Keys(keys::Keys),
    /// Print the audit trail of a customer's billing groups as JSON lines, oldest first.
    Audit(audit::Audit),
    /// Manage the OAuth clients that may obtain tokens.
    Clients(clients::Clients),
    /// Load customers, subscribers, billing groups or invoices from files (docs/import.md).
    Import(import::Import),
    /// The record of the import runs.
    Imports(imports::Imports),
}

/// Runs `command`; its exit status. A failure is logged.
pub fn run(command: Command) -> ExitCode {
    let done = match command {
        Command::Serve(config) => serve::run(*config),
        Command::Migrate(database) => db::migrate(database.direct()).map(|applied| {
            log::info!("{applied} migration(s) applied");
        }),
        Command::Seed(seed) => seed.run(),
        Command::Keys(keys) => keys.run(),
        Command::Audit(audit) => audit.run(),
        Command::Clients(clients) => clients.run(),
        Command::Import(import) => return import.run(),
        Command::Imports(imports) => imports.run(),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// A connection of its own, for the commands other than `serve`: to the migration URL
/// when there is one.
fn connect(database: &DatabaseUrl) -> Result<PgConnection, SetupError> {
    Ok(PgConnection::establish(database.direct())?)
}
