//! OAuth 2.0 client credentials: the registry of clients, the token endpoint, and the
//! check of bearer tokens on every operation.

pub mod clients;
pub mod keys;
pub mod scope;
pub mod secrets;
pub mod throttle;
pub mod token_endpoint;

use std::{sync::Arc, time::Duration};

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use moka::future::Cache;

use self::{
    keys::KeyRing,
    scope::{CustomerName, CustomerScope},
};
use crate::{
    db::{self, DbError, replicas::Reads},
    error::{ApiError, TokenProblem},
    limits::{Defaults, Limits},
    metrics::Metrics,
};

/// The scopes a client may hold.
pub const SCOPES: [&str; 2] = ["read", "write"];

/// Tokens the cache holds at most.
const TOKEN_CACHE_CAPACITY: u64 = 100_000;

/// An authenticated client, what its token grants, and the customers it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub customers: CustomerScope,
    /// The rate and quota it is held to, its own or the server's defaults; loaded with
    /// the token, so that a change reaches every instance within the cache's lifetime.
    pub limits: Limits,
}

impl Caller {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }
}

/// Checks bearer tokens: their MAC under the deployment's keys first (a token not signed
/// here costs no lookup), then their SHA-256 digest in the database, then from a bounded
/// cache for `token_cache_seconds`, so that a warm token costs no database round trip.
/// A revoked client's tokens therefore stop working within that many seconds.
///
/// Unknown tokens are remembered too, so that a stream of made-up tokens costs one lookup
/// each per cache lifetime, not one per request; and the requests that miss the cache for
/// the same token together share one lookup.
#[derive(Clone)]
pub struct TokenVerifier {
    reads: Reads,
    keys: KeyRing,
    metrics: Metrics,
    /// The caller of each digest looked up, or `None` for a token the database does not
    /// know (or knows as expired).
    cache: Cache<[u8; 32], Option<Arc<Caller>>>,
    realm: String,
    /// The limits of clients with none of their own.
    defaults: Defaults,
}

impl TokenVerifier {
    /// A verifier whose cached answers live `cache_ttl`.
    pub fn new(
        reads: Reads,
        keys: KeyRing,
        cache_ttl: Duration,
        realm: String,
        defaults: Defaults,
        metrics: Metrics,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(TOKEN_CACHE_CAPACITY)
            .time_to_live(cache_ttl)
            .build();
        Self {
            reads,
            keys,
            metrics,
            cache,
            realm,
            defaults,
        }
    }

    fn refused(&self, problem: TokenProblem) -> ApiError {
        ApiError::Token {
            problem,
            realm: self.realm.clone(),
        }
    }

    /// The refusal of a token, counted by `reason`.
    fn refuse(&self, problem: TokenProblem, reason: &str) -> ApiError {
        self.metrics.token_refused(reason);
        self.refused(problem)
    }

    /// The refusal of a caller without `scope`.
    pub fn insufficient_scope(&self, scope: &'static str) -> ApiError {
        ApiError::InsufficientScope {
            scope,
            realm: self.realm.clone(),
        }
    }

    /// The caller that the request's `Authorization` header authenticates, shared with the
    /// cache so that a warm check copies nothing. More than one such header is malformed:
    /// which one counts would be a guess.
    pub async fn verify(&self, headers: &HeaderMap) -> Result<Arc<Caller>, ApiError> {
        let mut authorizations = headers.get_all(header::AUTHORIZATION);
        let header = authorizations
            .next()
            .ok_or_else(|| self.refuse(TokenProblem::Missing, "missing"))?;
        if authorizations.next().is_some() {
            return Err(self.refuse(TokenProblem::Malformed, "malformed"));
        }
        let token = bearer_token(header)
            .ok_or_else(|| self.refuse(TokenProblem::Malformed, "malformed"))?;
        // A token this deployment did not sign is refused before any lookup or cache entry.
        self.keys.ensure_loaded(self.reads.primary()).await?;
        if !self.keys.recognises(token) {
            return Err(self.refuse(TokenProblem::Invalid, "not_signed_here"));
        }
        let digest = secrets::token_digest(token);
        let reads = self.reads.clone();
        let defaults = self.defaults;
        let lookup = async move {
            // On a replica first; a token it does not know yet (issued a moment ago, not
            // yet replayed there) is looked up on the primary before it is refused.
            let grant = reads
                .read("", move |conn| caller_of(conn, &digest, defaults))
                .await?;
            match grant {
                None if reads.has_replicas() => {
                    reads
                        .primary()
                        .read(move |conn| caller_of(conn, &digest, defaults))
                        .await
                }
                grant => Ok(grant),
            }
        };
        let cached = self.cache.get(&digest).await;
        self.metrics.token_check(cached.is_some());
        let caller = match cached {
            Some(caller) => caller,
            // A failed lookup is not cached: the next request tries again.
            None => self
                .cache
                .try_get_with(digest, lookup)
                .await
                .map_err(|shared| ApiError::Database(DbError::clone(&shared)))?,
        };
        match caller {
            Some(caller) if caller.expires_at > Utc::now() => Ok(caller),
            // Expired since it was cached: it will not come back to life.
            Some(_) => {
                self.cache.insert(digest, None).await;
                Err(self.refuse(TokenProblem::Invalid, "unknown"))
            }
            None => Err(self.refuse(TokenProblem::Invalid, "unknown")),
        }
    }
}

/// The caller of the live token whose digest is `digest`, with the customers it serves;
/// `None` for a token the database does not know (or knows as expired).
fn caller_of(
    conn: &mut diesel::PgConnection,
    digest: &[u8; 32],
    defaults: Defaults,
) -> Result<Option<Arc<Caller>>, DbError> {
    let Some(grant) = db::tokens::live_grant(conn, digest)? else {
        return Ok(None);
    };
    // A partner's customers come with its token, and are cached with it: a grant or an
    // ungrant takes effect within the cache's lifetime.
    let customers = if grant.all_customers {
        CustomerScope::Every
    } else {
        let served = db::client_customers::served_by(conn, &grant.client_id)?;
        CustomerScope::only(
            served
                .into_iter()
                .map(|(id_type, code)| CustomerName { id_type, code })
                .collect(),
        )
    };
    let (rate, quota) = grant.limits.settings();
    let limits = Limits {
        rate: rate.resolve(defaults.rate),
        quota: quota.resolve(defaults.quota),
    };
    Ok(Some(Arc::new(Caller {
        limits,
        client_id: grant.client_id,
        scopes: grant.scopes.split(' ').map(str::to_owned).collect(),
        expires_at: grant.expires_at,
        customers,
    })))
}

/// The token of a `Bearer` credential (RFC 6750 §2.1: the scheme is matched without
/// regard to case, RFC 7235 §2.1); `None` for any other scheme or a malformed token.
fn bearer_token(header: &HeaderValue) -> Option<&str> {
    let (scheme, token) = header.to_str().ok()?.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let well_formed = scheme.eq_ignore_ascii_case("Bearer")
        && !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    well_formed.then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in ["Bearer abc-1", "bearer abc-1", "BEARER  abc-1"] {
            assert_eq!(
                bearer_token(&HeaderValue::from_static(value)),
                Some("abc-1"),
                "{value}"
            );
        }
        for value in ["Basic abc", "Bearer", "Bearer a b", "Bearerabc"] {
            assert_eq!(
                bearer_token(&HeaderValue::from_static(value)),
                None,
                "{value}"
            );
        }
    }
}
