//! `billing clients`: the OAuth clients that may obtain tokens.

use crate::{
    auth::{self, clients::CustomerGrant, scope::CustomerName},
    config::DatabaseUrl,
    db::SetupError,
};

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

impl Clients {
    pub fn run(self) -> Result<(), SetupError> {
        let mut conn = super::connect(&self.database)?;
        let output = match self.action {
            Action::Create {
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
