//! The registry of OAuth clients, as the `billing clients` commands use it: who they are,
//! what they may do (scopes) and which customers they serve.

use diesel::{Connection, PgConnection};
use serde::Serialize;

use super::{SCOPES, scope::CustomerName, secrets};
use crate::{
    db::{self, SetupError, clients::Client},
    limits::{Quota, Rate, Setting},
};

/// A client just registered: the only time its secret is shown.
#[derive(Debug, Serialize)]
pub struct NewClient {
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    /// `"all"`, or the customers it serves.
    pub customers: Served,
    /// Its rate: `N/s burst B`, `none` or `default`.
    pub rate: String,
    /// Its quota: `N/unit`, `none` or `default`.
    pub quota: String,
}

/// A client's own limits, as `billing clients` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownLimits {
    pub client_id: String,
    /// `N/s burst B`, `none` or `default`.
    pub rate: String,
    /// `N/unit`, `none` or `default`.
    pub quota: String,
}

fn shown<T: std::fmt::Display + Copy>(setting: Setting<T>) -> String {
    match setting {
        Setting::Own(limit) => limit.to_string(),
        other => other.mode().to_owned(),
    }
}

/// The customers a client serves, as `billing clients` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Served {
    /// `"all"`: a first-party client.
    All(&'static str),
    /// A partner's customers, as `ID_TYPE:CODE`.
    Only(Vec<String>),
}

/// Which customers a new client serves: said explicitly, so that no client gets every
/// customer by omission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerGrant {
    /// Every customer: a first-party client.
    All,
    /// These customers: a partner.
    Only(Vec<CustomerName>),
}

/// A registered client, with the customers it serves.
#[derive(Debug, Serialize)]
pub struct ListedClient {
    #[serde(flatten)]
    pub client: Client,
    pub customers: Served,
    /// Its rate: `N/s burst B`, `none` or `default`.
    pub rate: String,
    /// Its quota: `N/unit`, `none` or `default`.
    pub quota: String,
}

/// Registers a client named `name` that may hold `scopes`, serves `customers` and is held
/// to `rate` and `quota`.
pub fn create(
    conn: &mut PgConnection,
    name: &str,
    scopes: &[String],
    customers: &CustomerGrant,
    rate: Setting<Rate>,
    quota: Setting<Quota>,
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
    let hash = secrets::hash_secret(&client_secret);
    let all = matches!(customers, CustomerGrant::All);
    let client = conn.transaction(|conn| {
        let client = db::clients::insert(conn, &client_id, name, &hash, &scopes.join(" "), all)?;
        if let CustomerGrant::Only(names) = customers {
            grant_in(conn, &client_id, names)?;
        }
        db::clients::set_limits(conn, &client_id, Some(rate), Some(quota))?;
        Ok::<_, SetupError>(client)
    })?;
    let scopes = client.scopes.split(' ').map(str::to_owned).collect();
    Ok(NewClient {
        client_id: client.client_id,
        client_secret,
        scopes,
        customers: served(conn, &client_id, all)?,
        rate: shown(rate),
        quota: shown(quota),
    })
}

/// Sets a client's own limits (each kind only when given): in force on every instance
/// within `BILLING_TOKEN_CACHE_SECONDS`.
pub fn set_limits(
    conn: &mut PgConnection,
    client_id: &str,
    rate: Option<Setting<Rate>>,
    quota: Option<Setting<Quota>>,
) -> Result<ShownLimits, SetupError> {
    conn.transaction(|conn| {
        if !db::clients::set_limits(conn, client_id, rate, quota)? {
            return Err(format!("no client `{client_id}`").into());
        }
        let client = db::clients::find(conn, client_id)?
            .ok_or_else(|| format!("no client `{client_id}`"))?;
        let (rate, quota) = client.limits.settings();
        Ok(ShownLimits {
            client_id: client.client_id,
            rate: shown(rate),
            quota: shown(quota),
        })
    })
}

/// Grants a partner client the customers `names`, within the token cache's lifetime on
/// every instance.
pub fn grant(
    conn: &mut PgConnection,
    client_id: &str,
    names: &[CustomerName],
) -> Result<Served, SetupError> {
    conn.transaction(|conn| {
        let client = partner(conn, client_id)?;
        grant_in(conn, &client.client_id, names)?;
        served(conn, client_id, false)
    })
}

/// Takes the customers `names` from a partner client, within the token cache's lifetime
/// on every instance.
pub fn ungrant(
    conn: &mut PgConnection,
    client_id: &str,
    names: &[CustomerName],
) -> Result<Served, SetupError> {
    conn.transaction(|conn| {
        let client = partner(conn, client_id)?;
        let keys = customer_keys(conn, names)?;
        db::client_customers::ungrant(conn, &client.client_id, &keys)?;
        served(conn, client_id, false)
    })
}

/// Every registered client, with the customers it serves.
pub fn list(conn: &mut PgConnection) -> Result<Vec<ListedClient>, SetupError> {
    db::clients::list(conn)?
        .into_iter()
        .map(|client| {
            let customers = served(conn, &client.client_id, client.all_customers)?;
            let (rate, quota) = client.limits.settings();
            Ok(ListedClient {
                client,
                customers,
                rate: shown(rate),
                quota: shown(quota),
            })
        })
        .collect()
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

/// The client, which must serve a set of customers (a first-party one serves them all).
fn partner(conn: &mut PgConnection, client_id: &str) -> Result<Client, SetupError> {
    let client =
        db::clients::find(conn, client_id)?.ok_or_else(|| format!("no client `{client_id}`"))?;
    if client.all_customers {
        return Err(format!("client `{client_id}` serves every customer already").into());
    }
    Ok(client)
}

fn grant_in(
    conn: &mut PgConnection,
    client_id: &str,
    names: &[CustomerName],
) -> Result<(), SetupError> {
    let keys = customer_keys(conn, names)?;
    db::client_customers::grant(conn, client_id, &keys)?;
    Ok(())
}

/// The keys of the customers `names`; an error naming the first that does not exist.
fn customer_keys(conn: &mut PgConnection, names: &[CustomerName]) -> Result<Vec<i64>, SetupError> {
    names
        .iter()
        .map(|name| {
            db::customers::find_key(conn, &name.id_type, name.code)?
                .ok_or_else(|| format!("no customer {name}").into())
        })
        .collect()
}

fn served(conn: &mut PgConnection, client_id: &str, all: bool) -> Result<Served, SetupError> {
    if all {
        return Ok(Served::All("all"));
    }
    let names = db::client_customers::served_by(conn, client_id)?;
    Ok(Served::Only(
        names
            .into_iter()
            .map(|(id_type, code)| CustomerName { id_type, code }.to_string())
            .collect(),
    ))
}
