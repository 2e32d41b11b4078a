//! `billing`: serve the API, migrate the database, load data, manage OAuth clients.

use std::{
    ffi::OsString,
    process::ExitCode,
    time::{Duration, Instant},
};

use billing_impl::{
    auth::{self, clients::CustomerGrant, scope::CustomerName},
    bench,
    config::{DatabaseUrl, LogFormat, ServeConfig},
    db::{self, SetupError, invoices::InvoiceFilter},
    seed, server,
};
use clap::{CommandFactory, Parser, Subcommand};
use diesel::{Connection, PgConnection};

/// jemalloc reuses the memory of large, short-lived allocations (each Argon2id
/// verification takes 19 MiB) instead of holding a copy per thread: with glibc's allocator
/// the resident size of the server grew past 200 MB under a stream of token requests.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(name = "billing", version, about = "The Selfcare API Billing server")]
#[command(after_help = "Without a command, `billing` serves: `billing [serve options]`.")]
struct Cli {
    /// How log lines are written: text, or one JSON object a line.
    #[arg(long, global = true, env = "BILLING_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Parses the command line, reading one that names no command as `serve`.
    fn parse_with_default() -> Self {
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

/// A connection of its own, for the commands other than `serve`.
fn connect(database: &DatabaseUrl) -> Result<PgConnection, SetupError> {
    Ok(PgConnection::establish(database.expose())?)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API, applying pending migrations as soon as the database answers (the default).
    Serve(Box<ServeConfig>),
    /// Apply pending migrations and exit.
    Migrate(DatabaseUrl),
    /// Load data: the demo data set, or a bulk one for the benchmark.
    Seed {
        #[command(flatten)]
        database: DatabaseUrl,
        /// The demo data set: three customers with subscribers, groups and a year of bills.
        #[arg(long, conflicts_with = "customers")]
        demo: bool,
        /// Bulk: this many customers (idType CLIENT_CODE, ids from --first-id up).
        #[arg(long, requires = "invoices_per_customer")]
        customers: Option<u32>,
        /// Bulk: invoices per customer.
        #[arg(long, requires = "customers")]
        invoices_per_customer: Option<u32>,
        /// Bulk: the id of the first customer.
        #[arg(long, default_value_t = 1_000_001)]
        first_id: u32,
    },
    /// Manage the keys that sign access tokens.
    Keys {
        #[command(flatten)]
        database: DatabaseUrl,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Print the audit trail of a customer's billing groups as JSON lines, oldest first.
    Audit {
        #[command(flatten)]
        database: DatabaseUrl,
        /// The customer, as ID_TYPE:CODE.
        #[arg(long)]
        customer: CustomerName,
        /// Only the changes from this day on (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<chrono::NaiveDate>,
    },
    /// Tools of `make bench`.
    #[command(hide = true)]
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// Manage the OAuth clients that may obtain tokens.
    Clients {
        #[command(flatten)]
        database: DatabaseUrl,
        #[command(subcommand)]
        action: ClientsAction,
    },
}

/// For the benchmark.
#[derive(Debug, Subcommand)]
enum BenchAction {
    /// Print the statements the server sends for the main shapes of a page of bills, one
    /// per line: the shape, a tab, the statement and the values of its parameters. The
    /// benchmark prints their plans.
    Statements {
        /// The key of the customer whose pages they read; its newest position is taken to
        /// be 10,000.
        #[arg(long)]
        customer_key: i64,
    },
    /// Print, as JSON, the pool size and HTTP workers `billing serve` would use with this
    /// environment.
    Settings,
    /// Read first pages of bills through one layer of the server, without HTTP, for a
    /// while; print, as JSON, how many were read in how many seconds. The pool and the
    /// workers are sized as `billing serve` sizes them with this environment.
    Pages {
        /// The layer that reads them.
        #[arg(long, value_enum)]
        layer: bench::Layer,
        /// For how many seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Pages asked for at once (with `--layer database`), as many connections would.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsAction {
    /// Register a client; prints {"client_id", "client_secret", "scopes", "customers"}: the
    /// only time the secret is shown. Say which customers it serves: --customers for a
    /// partner, --all-customers for a first-party client.
    Create {
        /// A name for the client, shown as `application_name` in token answers.
        #[arg(long)]
        name: String,
        /// Scopes the client may hold, comma-separated: read, write.
        #[arg(long, value_delimiter = ',', default_value = "read")]
        scopes: Vec<String>,
        /// The customers a partner serves, comma-separated ID_TYPE:CODE.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "all_customers",
            conflicts_with = "all_customers"
        )]
        customers: Vec<CustomerName>,
        /// The client serves every customer (the self-care app's own back end).
        #[arg(long)]
        all_customers: bool,
    },
    /// Grant a partner client more customers (ID_TYPE:CODE); within
    /// BILLING_TOKEN_CACHE_SECONDS on every instance.
    Grant {
        client_id: String,
        #[arg(required = true)]
        customers: Vec<CustomerName>,
    },
    /// Take customers (ID_TYPE:CODE) from a partner client; within
    /// BILLING_TOKEN_CACHE_SECONDS on every instance.
    Ungrant {
        client_id: String,
        #[arg(required = true)]
        customers: Vec<CustomerName>,
    },
    /// List the clients, with their scopes and customers, as JSON.
    List,
    /// Revoke a client: its tokens are refused within BILLING_TOKEN_CACHE_SECONDS.
    Revoke { client_id: String },
}

#[derive(Debug, Subcommand)]
enum KeysAction {
    /// Add a signing key: it signs new tokens on every instance within
    /// BILLING_TOKEN_CACHE_SECONDS; tokens under the older keys stay valid until they expire.
    Rotate,
    /// Retire a key: tokens it signed are refused on every instance within
    /// BILLING_TOKEN_CACHE_SECONDS (retire it once they have expired, BILLING_TOKEN_TTL_SECONDS
    /// after a rotation).
    Retire { key_id: i32 },
    /// List the keys (never their secrets) as JSON.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse_with_default();
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if cli.log_format == LogFormat::Json {
        logger.format(billing_impl::logging::json_line);
    }
    logger.init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), SetupError> {
    match command {
        Command::Serve(config) => serve(*config),
        Command::Migrate(database) => {
            let applied = db::migrate(database.expose())?;
            log::info!("{applied} migration(s) applied");
            Ok(())
        }
        Command::Seed {
            database,
            demo,
            customers,
            invoices_per_customer,
            first_id,
        } => {
            let mut conn = connect(&database)?;
            let started = Instant::now();
            match (demo, customers, invoices_per_customer) {
                (true, _, _) => seed::demo(&mut conn)?,
                (false, Some(customers), Some(invoices_per_customer)) => seed::bulk(
                    &mut conn,
                    seed::BulkSize {
                        customers,
                        invoices_per_customer,
                        first_id,
                    },
                )?,
                _ => return Err("say --demo, or --customers N --invoices-per-customer M".into()),
            }
            log::info!("seeded in {:.1} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Bench {
            action: BenchAction::Statements { customer_key },
        } => {
            let first_page = InvoiceFilter {
                limit: 20,
                ..InvoiceFilter::default()
            };
            let shape = |filter: InvoiceFilter| db::invoices::page_statement(customer_key, &filter);
            let shapes = [
                ("first page", shape(first_page.clone())),
                (
                    "first page of a group",
                    shape(InvoiceFilter {
                        billing_group: Some("G1".to_owned()),
                        ..first_page.clone()
                    }),
                ),
                (
                    "page at offset 5,000",
                    db::invoices::by_position(customer_key, 10_000 - 5_000, 20),
                ),
                // Group G1 holds a quarter of them.
                (
                    "page of a group at offset 2,000",
                    shape(InvoiceFilter {
                        billing_group: Some("G1".to_owned()),
                        offset: 2_000,
                        ..first_page
                    }),
                ),
            ];
            for (shape, statement) in shapes {
                println!("{shape}\t{}", statement.debug());
            }
            Ok(())
        }
        Command::Bench {
            action: BenchAction::Settings,
        } => {
            let config = ServeConfig::from_args(std::iter::empty::<String>())?;
            let settings = serde_json::json!({
                "pool_size": config.database.pool_size(),
                "workers": config.server.worker_count(),
            });
            println!("{settings}");
            Ok(())
        }
        Command::Bench {
            action:
                BenchAction::Pages {
                    layer,
                    seconds,
                    concurrency,
                },
        } => {
            let config = ServeConfig::from_args(std::iter::empty::<String>())?;
            let read = bench::first_pages(
                &config.database,
                layer,
                Duration::from_secs(seconds),
                concurrency,
                config.server.worker_count(),
            )?;
            println!("{}", serde_json::to_string(&read)?);
            Ok(())
        }
        Command::Clients { database, action } => {
            let mut conn = connect(&database)?;
            let output = match action {
                ClientsAction::Create {
                    name,
                    scopes,
                    customers,
                    all_customers,
                } => {
                    let customers = if all_customers {
                        CustomerGrant::All
                    } else {
                        CustomerGrant::Only(customers)
                    };
                    let client = auth::clients::create(&mut conn, &name, &scopes, &customers)?;
                    serde_json::to_string(&client)?
                }
                ClientsAction::Grant {
                    client_id,
                    customers,
                } => serde_json::to_string(&auth::clients::grant(
                    &mut conn, &client_id, &customers,
                )?)?,
                ClientsAction::Ungrant {
                    client_id,
                    customers,
                } => serde_json::to_string(&auth::clients::ungrant(
                    &mut conn, &client_id, &customers,
                )?)?,
                ClientsAction::List => {
                    serde_json::to_string_pretty(&auth::clients::list(&mut conn)?)?
                }
                ClientsAction::Revoke { client_id } => {
                    auth::clients::revoke(&mut conn, &client_id)?;
                    format!("revoked {client_id}")
                }
            };
            println!("{output}");
            Ok(())
        }
        Command::Keys { database, action } => {
            let mut conn = connect(&database)?;
            let output = match action {
                KeysAction::Rotate => {
                    let key_id = db::token_keys::insert(&mut conn, &auth::secrets::new_key()?)?;
                    format!("key {key_id} signs from now on")
                }
                KeysAction::Retire { key_id } => {
                    let live = db::token_keys::live(&mut conn)?;
                    if live.iter().all(|key| key.key_id == key_id) {
                        return Err("that is the last live key: rotate first".into());
                    }
                    if !db::token_keys::retire(&mut conn, key_id)? {
                        return Err(format!("no live key {key_id}").into());
                    }
                    format!("key {key_id} retired")
                }
                KeysAction::List => {
                    serde_json::to_string_pretty(&db::token_keys::list(&mut conn)?)?
                }
            };
            println!("{output}");
            Ok(())
        }
        Command::Audit {
            database,
            customer,
            since,
        } => {
            let mut conn = connect(&database)?;
            let key = db::customers::find_key(&mut conn, &customer.id_type, customer.code)?
                .ok_or_else(|| format!("no customer {customer}"))?;
            let since = since
                .and_then(|day| day.and_hms_opt(0, 0, 0))
                .map_or(chrono::DateTime::<chrono::Utc>::MIN_UTC, |start| {
                    start.and_utc()
                });
            for record in db::audit::since(&mut conn, key, since)? {
                println!("{}", serde_json::to_string(&record)?);
            }
            Ok(())
        }
    }
}

#[actix_web::main]
async fn serve(config: ServeConfig) -> Result<(), SetupError> {
    db::migrate_in_background(
        config.database.database_url.expose().to_owned(),
        Duration::from_secs(5),
    );
    let running = server::start(&config, db::Database::new(&config.database)?)?;
    log::info!("serving on http://{}", running.address);
    if let Some((_, address)) = &running.admin {
        log::info!("metrics on http://{address}/metrics");
    }
    let admin = running.admin.map(|(admin, _)| {
        let handle = admin.handle();
        actix_web::rt::spawn(admin);
        handle
    });
    running.server.await?;
    if let Some(admin) = admin {
        admin.stop(true).await;
    }
    Ok(())
}
