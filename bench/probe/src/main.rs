//! `billing-bench`: what `make bench` asks of the server's own code, without HTTP, through
//! `billing-impl` as a library. Each command prints one answer on standard output.

mod pages;

use std::{process::ExitCode, time::Duration};

use billing_impl::{
    config::ServeConfig,
    db::invoices::{self, InvoiceFilter},
};
use clap::{Parser, Subcommand};

/// The allocator of the `billing` binary, so that pages read here cost what they cost there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(
    name = "billing-bench",
    about = "The server's own code, measured without HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the statements the server sends for the main shapes of a page of bills, one
    /// per line: the shape, a tab, the statement and the values of its parameters.
    Statements {
        /// The key of the customer whose pages they read; its newest position is taken to
        /// be 10,000.
        #[arg(long)]
        customer_key: i64,
    },
    /// Print, as JSON, the pool size and HTTP workers `billing serve` would use with this
    /// environment, on the cores this process may run on.
    Settings,
    /// Read first pages of bills through one layer of the server for a while; print, as
    /// JSON, how many were read in how many seconds. The pool is sized as `billing serve`
    /// sizes it with this environment (DATABASE_URL and the BILLING_ variables).
    Pages {
        /// The layer that reads them.
        #[arg(long, value_enum)]
        layer: pages::Layer,
        /// For how many seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Pages asked for at once (with `--layer database`), as many connections would.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(answer) => {
            println!("{answer}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("billing-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<String, Error> {
    match command {
        Command::Statements { customer_key } => Ok(statements(customer_key)),
        Command::Settings => {
            let config = ServeConfig::from_args(std::iter::empty::<String>())?;
            let settings = serde_json::json!({
                "pool_size": config.database.pool_size(),
                "workers": config.server.worker_count(),
            });
            Ok(settings.to_string())
        }
        Command::Pages {
            layer,
            seconds,
            concurrency,
        } => {
            let config = ServeConfig::from_args(std::iter::empty::<String>())?;
            let read = pages::first_pages(
                &config.database,
                layer,
                Duration::from_secs(seconds),
                concurrency,
                config.server.worker_count(),
            )?;
            Ok(serde_json::to_string(&read)?)
        }
    }
}

/// The statements of a first page, a group's first page, and deep pages of both, for the
/// customer whose key is `customer_key`.
fn statements(customer_key: i64) -> String {
    let first_page = InvoiceFilter {
        limit: 20,
        ..InvoiceFilter::default()
    };
    let of_group = InvoiceFilter {
        billing_group: Some("G1".to_owned()),
        ..first_page.clone()
    };
    let shape = |filter: &InvoiceFilter| invoices::page_statement(customer_key, filter);
    let shapes = [
        ("first page", shape(&first_page)),
        ("first page of a group", shape(&of_group)),
        (
            "page at offset 5,000",
            invoices::by_position(customer_key, 10_000 - 5_000, 20),
        ),
        // Group G1 holds a quarter of them.
        (
            "page of a group at offset 2,000",
            shape(&InvoiceFilter {
                offset: 2_000,
                ..of_group
            }),
        ),
    ];
    shapes
        .iter()
        .map(|(shape, statement)| format!("{shape}\t{}", statement.debug()))
        .collect::<Vec<_>>()
        .join("\n")
}
