//! The registry of OAuth clients, as the `billing clients` commands use it.

use diesel::PgConnection;
use serde::Serialize;

use super::{SCOPES, secrets};
use crate::db::{self, SetupError, clients::Client};

/// A client just registered: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
}

/// Registers a client named `name` that may hold `scopes`.
pub fn create(
    conn: &mut PgConnection,
    name: &str,
    scopes: &[String],
) -> Result<NewClient, SetupError> {
    if scopes.is_empty() {
        return Err("a client needs at least one scope".into());
    }
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(format!(
            "unknown scope `{unknown}`; the scopes are {}",
            SCOPES.join(", ")
        )
        .into());
    }
    let client_id = secrets::new_client_id()?;
    let client_secret = secrets::new_secret()?;
    let hash = secrets::hash_secret(&client_secret).map_err(|e| e.to_string())?;
    let client = db::clients::insert(conn, &client_id, name, &hash, &scopes.join(" "))?;
    let scopes = client.scopes.split(' ').map(str::to_owned).collect();
    Ok(NewClient {
        client_id: client.client_id,
        client_secret,
        scopes,
    })
}

/// Every registered client.
pub fn list(conn: &mut PgConnection) -> Result<Vec<Client>, SetupError> {
    Ok(db::clients::list(conn)?)
}

/// Revokes a client: its tokens are refused from the next database check on, that is
/// within `BILLING_TOKEN_CACHE_SECONDS` on every instance.
pub fn revoke(conn: &mut PgConnection, client_id: &str) -> Result<(), SetupError> {
    if db::clients::revoke(conn, client_id)? {
        Ok(())
    } else {
        Err(format!("no client `{client_id}`").into())
    }
}
