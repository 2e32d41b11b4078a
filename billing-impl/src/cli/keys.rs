//! `billing keys`: the keys that sign access tokens.

use crate::{auth, config::DatabaseUrl, db, db::SetupError};

/// Manage the keys that sign access tokens.
#[derive(Debug, clap::Args)]
pub struct Keys {
    #[command(flatten)]
    database: DatabaseUrl,
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
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

impl Keys {
    pub fn run(self) -> Result<(), SetupError> {
        let mut conn = super::connect(&self.database)?;
        let output = match self.action {
            Action::Rotate => {
                let key_id = db::token_keys::insert(&mut conn, &auth::secrets::new_key()?)?;
                format!("key {key_id} signs from now on")
            }
            Action::Retire { key_id } => {
                let live = db::token_keys::live(&mut conn)?;
                if live.iter().all(|key| key.key_id == key_id) {
                    return Err("that is the last live key: rotate first".into());
                }
                if !db::token_keys::retire(&mut conn, key_id)? {
                    return Err(format!("no live key {key_id}").into());
                }
                format!("key {key_id} retired")
            }
            Action::List => serde_json::to_string_pretty(&db::token_keys::list(&mut conn)?)?,
        };
        println!("{output}");
        Ok(())
    }
}
