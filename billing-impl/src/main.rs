//! `billing`: serve the API, migrate the database, load data, manage OAuth clients. The
//! commands are `billing_impl::cli`'s.

use std::process::ExitCode;

use billing_impl::{
    cli::{self, Cli},
    config::LogFormat,
};

/// jemalloc reuses the memory of large, short-lived allocations (each Argon2id
/// verification takes 19 MiB) instead of holding a copy per thread: with glibc's allocator
/// the resident size of the server grew past 200 MB under a stream of token requests.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_with_default();
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if cli.log_format == LogFormat::Json {
        logger.format(billing_impl::logging::json_line);
    }
    logger.init();
    cli::run(cli.command)
}
