//! `billing imports`: the record of the import runs.

use crate::{
    config::DatabaseUrl,
    db::{self, SetupError},
};

/// The record of every import run.
#[derive(Debug, clap::Args)]
pub struct Imports {
    #[command(flatten)]
    database: DatabaseUrl,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Print every run as JSON lines, oldest first: when, what, from which file (and its
    /// SHA-256), the counts, and how it ended.
    List,
}

impl Imports {
    pub fn run(self) -> Result<(), SetupError> {
        let mut conn = super::connect(&self.database)?;
        match self.action {
            Action::List => {
                for run in db::import_runs::list(&mut conn)? {
                    println!("{}", serde_json::to_string(&run)?);
                }
            }
        }
        Ok(())
    }
}
