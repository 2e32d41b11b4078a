//! Client ids, client secrets and access tokens: drawn from the operating system's secure
//! generator; secrets kept only as SHA-256 digests, tokens only as SHA-256 digests.
//!
//! Client secrets are made by the server (`billing clients create`), 256 random bits each,
//! never chosen by a person. A slow password hash (Argon2id) exists to slow down the
//! guessing of low-entropy secrets; against 2^256 possible values guessing is out of reach
//! at any speed, so it would only hand CPU to whoever sends wrong secrets and make a burst
//! of real clients wait. A SHA-256 digest compared in constant time is what stores of API
//! keys use. Secrets stored as Argon2id hashes before keep working, and are stored again
//! as digests the first time they are presented correctly.

use std::sync::Arc;

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordVerifier},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in a client id (128 bits).
const CLIENT_ID_BYTES: usize = 16;
/// Bytes of randomness in a client secret and in an access token (256 bits).
const SECRET_BYTES: usize = 32;
/// How a stored secret digest starts.
const DIGEST_PREFIX: &str = "$sha256$";

fn random_text(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// A new client id.
pub fn new_client_id() -> Result<String, getrandom::Error> {
    random_text(CLIENT_ID_BYTES)
}

/// A new client secret, or the random part of an access token.
pub fn new_secret() -> Result<String, getrandom::Error> {
    random_text(SECRET_BYTES)
}

/// 32 random bytes: a new token-signing key.
pub fn new_key() -> Result<Vec<u8>, getrandom::Error> {
    let mut key = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut key)?;
    Ok(key)
}

/// The stored form of a client secret: `$sha256$` and its digest, base64url.
pub fn hash_secret(secret: &str) -> String {
    format!(
        "{DIGEST_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
    )
}

/// The SHA-256 digest under which a token is stored and cached.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// What checking a presented secret came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The secret is right; `upgrade` is the digest to store in place of an Argon2id hash.
    Accepted { upgrade: Option<String> },
    /// Wrong, or no such client.
    Refused,
}

/// Checks client secrets: digests at once, Argon2id hashes of before on a few threads of
/// their own (19 MiB and tens of milliseconds each), so that the old ones bound the memory
/// and CPU they take from the request workers, however many arrive.
#[derive(Clone)]
pub struct SecretVerifier {
    argon2_threads: Arc<rayon::ThreadPool>,
}

impl SecretVerifier {
    /// A verifier with `threads` threads for Argon2id hashes.
    pub fn new(threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("argon2-{index}"))
            .build()?;
        Ok(Self {
            argon2_threads: Arc::new(threads),
        })
    }

    /// Whether `secret` matches the `stored` form (`None`: an unknown client, which costs
    /// the same digest, so that timing does not tell which ids exist).
    pub async fn verify(&self, secret: String, stored: Option<String>) -> Verdict {
        let presented = hash_secret(&secret);
        let Some(stored) = stored else {
            return Verdict::Refused;
        };
        if stored.starts_with(DIGEST_PREFIX) {
            return if bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
                Verdict::Accepted { upgrade: None }
            } else {
                Verdict::Refused
            };
        }
        let (answer, verdict) = tokio::sync::oneshot::channel();
        self.argon2_threads.spawn(move || {
            let _ = answer.send(argon2_matches(&secret, &stored));
        });
        if verdict.await.unwrap_or(false) {
            Verdict::Accepted {
                upgrade: Some(presented),
            }
        } else {
            Verdict::Refused
        }
    }
}

/// Whether `secret` matches the Argon2id `hash` (a PHC string).
fn argon2_matches(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};

    use super::*;

    fn verifier() -> SecretVerifier {
        SecretVerifier::new(1).expect("threads")
    }

    #[tokio::test]
    async fn a_digest_accepts_its_secret_alone() {
        let stored = hash_secret("s3cret");
        assert!(stored.starts_with("$sha256$"));
        let verifier = verifier();
        assert_eq!(
            verifier.verify("s3cret".into(), Some(stored.clone())).await,
            Verdict::Accepted { upgrade: None }
        );
        assert_eq!(
            verifier.verify("s3creT".into(), Some(stored)).await,
            Verdict::Refused
        );
        assert_eq!(
            verifier.verify("s3cret".into(), None).await,
            Verdict::Refused
        );
    }

    #[tokio::test]
    async fn an_argon2id_hash_still_works_and_asks_for_its_digest() {
        let salt = SaltString::generate(&mut OsRng);
        let old = Argon2::default()
            .hash_password(b"s3cret", &salt)
            .expect("hash")
            .to_string();
        let verifier = verifier();
        assert_eq!(
            verifier.verify("s3cret".into(), Some(old.clone())).await,
            Verdict::Accepted {
                upgrade: Some(hash_secret("s3cret"))
            }
        );
        assert_eq!(
            verifier.verify("wrong".into(), Some(old)).await,
            Verdict::Refused
        );
    }
}
