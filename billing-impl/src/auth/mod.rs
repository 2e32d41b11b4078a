//! OAuth 2.0 client credentials: the registry of clients, the token endpoint, and the
//! check of bearer tokens on every operation.

pub mod clients;
pub mod secrets;
pub mod throttle;
pub mod token_endpoint;

use std::{sync::Arc, time::Duration};

use actix_web::http::header::HeaderValue;
use actix_web_httpauth::headers::authorization::{Bearer, Scheme};
use chrono::{DateTime, Utc};
use moka::future::Cache;

use crate::{
    db::{self, DbPool},
    error::{ApiError, TokenProblem},
};

/// The scopes a client may hold.
pub const SCOPES: [&str; 2] = ["read", "write"];

/// Tokens the cache holds at most.
const TOKEN_CACHE_CAPACITY: u64 = 100_000;

/// An authenticated client and what its token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

impl Caller {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }
}

/// Checks bearer tokens: by their SHA-256 digest in the database, then from a bounded
/// cache for `token_cache_seconds`, so that a warm token costs no database round trip.
/// A revoked client's tokens therefore stop working within that many seconds.
///
/// Unknown tokens are remembered too, so that a stream of made-up tokens costs one lookup
/// each per cache lifetime, not one per request; and the requests that miss the cache for
/// the same token together share one lookup.
#[derive(Clone)]
pub struct TokenVerifier {
    pool: DbPool,
    /// The caller of each digest looked up, or `None` for a token the database does not
    /// know (or knows as expired).
    cache: Cache<[u8; 32], Option<Arc<Caller>>>,
    realm: String,
}

impl TokenVerifier {
    /// A verifier whose cached answers live `cache_ttl`.
    pub fn new(pool: DbPool, cache_ttl: Duration, realm: String) -> Self {
        let cache = Cache::builder()
            .max_capacity(TOKEN_CACHE_CAPACITY)
            .time_to_live(cache_ttl)
            .build();
        Self { pool, cache, realm }
    }

    fn refused(&self, problem: TokenProblem) -> ApiError {
        ApiError::Token {
            problem,
            realm: self.realm.clone(),
        }
    }

    /// The refusal of a caller without `scope`.
    pub fn insufficient_scope(&self, scope: &'static str) -> ApiError {
        ApiError::InsufficientScope {
            scope,
            realm: self.realm.clone(),
        }
    }

    /// The caller that `authorization` (the request's `Authorization` header) authenticates,
    /// shared with the cache so that a warm check copies nothing.
    pub async fn verify(
        &self,
        authorization: Option<&HeaderValue>,
    ) -> Result<Arc<Caller>, ApiError> {
        let header = authorization.ok_or_else(|| self.refused(TokenProblem::Missing))?;
        let token = parse_bearer(header).ok_or_else(|| self.refused(TokenProblem::Malformed))?;
        let digest = secrets::token_digest(&token);
        let pool = self.pool.clone();
        let lookup = async move {
            let grant = db::run(&pool, move |conn| {
                Ok(db::tokens::live_grant(conn, &digest)?)
            })
            .await?;
            Ok::<_, ApiError>(grant.map(|grant| {
                Arc::new(Caller {
                    client_id: grant.client_id,
                    scopes: grant.scopes.split(' ').map(str::to_owned).collect(),
                    expires_at: grant.expires_at,
                })
            }))
        };
        // A failed lookup is not cached: the next request tries again.
        let caller = self
            .cache
            .try_get_with(digest, lookup)
            .await
            .map_err(|shared| ApiError::clone(&shared))?;
        match caller {
            Some(caller) if caller.expires_at > Utc::now() => Ok(caller),
            // Expired since it was cached: it will not come back to life.
            Some(_) => {
                self.cache.insert(digest, None).await;
                Err(self.refused(TokenProblem::Invalid))
            }
            None => Err(self.refused(TokenProblem::Invalid)),
        }
    }
}

/// The token of a `Bearer` credential; `None` for any other scheme or a malformed one.
fn parse_bearer(header: &HeaderValue) -> Option<String> {
    let bearer = Bearer::parse(header).ok()?;
    let token = bearer.token();
    let well_formed = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    well_formed.then(|| token.to_string())
}
