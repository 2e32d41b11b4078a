//! `billing clients`: the OAuth clients that may obtain tokens.

use crate::{
    auth::{self, clients::CustomerGrant, scope::CustomerName},
    config::DatabaseUrl,
    db::SetupError,
    limits::{Quota, Rate, Setting},
};

/// `rate` with its burst set apart; a burst without an N/s rate is refused.
fn with_burst(rate: Setting<Rate>, burst: Option<u32>) -> Result<Setting<Rate>, SetupError> {
    match (rate, burst) {
        (Setting::Own(rate), Some(burst)) => Ok(Setting::Own(Rate { burst, ..rate })),
        (_, Some(_)) => Err("--burst needs a rate of N/s".into()),
        (rate, None) => Ok(rate),
    }
}

/// Manage the OAuth clients that may obtain tokens.
#[derive(Debug, clap::Args)]
pub struct Clients {
    #[command(flatten)]
    database: DatabaseUrl,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Register a client; prints {"client_id", "client_secret", "scopes", "customers",
    /// "rate", "quota"}: the only time the secret is shown. Say which customers it serves:
    /// --customers for a partner, --all-customers for a first-party client.
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
        /// Its rate on each instance: N/s, `none`, or `default` (BILLING_DEFAULT_RATE).
        #[arg(long, default_value = "default")]
        rate: Setting<Rate>,
        /// The burst of its rate (requests at once); one second's worth by default.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::limits::MAX_RATE)))]
        burst: Option<u32>,
        /// Its quota across instances: N/minute, N/hour, N/day or N/month (UTC calendar
        /// windows), `none`, or `default` (BILLING_DEFAULT_QUOTA).
        #[arg(long, default_value = "default")]
        quota: Setting<Quota>,
    },
    /// Change a client's limits (each one given); within BILLING_TOKEN_CACHE_SECONDS on
    /// every instance. Prints {"client_id", "rate", "quota"}.
    Limits {
        /// The client's id (one may start with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// N/s, `none` or `default`.
        #[arg(long, required_unless_present = "quota")]
        rate: Option<Setting<Rate>>,
        /// The burst of an N/s rate; one second's worth by default.
        #[arg(long, requires = "rate", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::limits::MAX_RATE)))]
        burst: Option<u32>,
        /// N/minute, N/hour, N/day or N/month, `none` or `default`.
        #[arg(long)]
        quota: Option<Setting<Quota>>,
    },
    /// Grant a partner client more customers (ID_TYPE:CODE); within
    /// BILLING_TOKEN_CACHE_SECONDS on every instance.
    Grant {
        /// The client's id (one may start with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        #[arg(required = true)]
        customers: Vec<CustomerName>,
    },
    /// Take customers (ID_TYPE:CODE) from a partner client; within
    /// BILLING_TOKEN_CACHE_SECONDS on every instance.
    Ungrant {
        /// The client's id (one may start with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        #[arg(required = true)]
        customers: Vec<CustomerName>,
    },
    /// List the clients, with their scopes and customers, as JSON.
    List,
    /// Revoke a client: its tokens are refused within BILLING_TOKEN_CACHE_SECONDS.
    Revoke {
        /// The client's id (one may start with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

impl Clients {
    pub fn run(self) -> Result<(), SetupError> {
        let mut conn = super::connect(&self.database)?;
        let output = match self.action {
            Action::Create {
                name,
                scopes,
                customers,
                all_customers,
                rate,
                burst,
                quota,
            } => {
                let rate = with_burst(rate, burst)?;
                let customers = if all_customers {
                    CustomerGrant::All
                } else {
                    CustomerGrant::Only(customers)
                };
                let client =
                    auth::clients::create(&mut conn, &name, &scopes, &customers, rate, quota)?;
                serde_json::to_string(&client)?
            }
            Action::Grant {
                client_id,
                customers,
            } => serde_json::to_string(&auth::clients::grant(&mut conn, &client_id, &customers)?)?,
            Action::Ungrant {
                client_id,
                customers,
            } => {
                serde_json::to_string(&auth::clients::ungrant(&mut conn, &client_id, &customers)?)?
            }
            Action::Limits {
                client_id,
                rate,
                burst,
                quota,
            } => {
                let rate = rate.map(|rate| with_burst(rate, burst)).transpose()?;
                serde_json::to_string(&auth::clients::set_limits(
                    &mut conn, &client_id, rate, quota,
                )?)?
            }
            Action::List => serde_json::to_string_pretty(&auth::clients::list(&mut conn)?)?,
            Action::Revoke { client_id } => {
                auth::clients::revoke(&mut conn, &client_id)?;
                format!("revoked {client_id}")
            }
        };
        println!("{output}");
        Ok(())
    }
}
