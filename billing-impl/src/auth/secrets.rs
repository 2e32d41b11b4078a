//! Client ids, client secrets and access tokens: drawn from the operating system's secure
//! generator; secrets kept only as Argon2id hashes, tokens only as SHA-256 digests.

use std::sync::{Arc, LazyLock};

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Bytes of randomness in a client id (128 bits).
const CLIENT_ID_BYTES: usize = 16;
/// Bytes of randomness in a client secret and in an access token (256 bits).
const SECRET_BYTES: usize = 32;

/// A hash verified when the client id is unknown, so that an unknown id costs as much time
/// as a wrong secret and the answer's timing does not tell which ids exist.
static DECOY_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_secret("decoy").ok());

fn random_text(bytes: usize) -> Result<String, getrandom::Error> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer)?;
    Ok(URL_SAFE_NO_PAD.encode(buffer))
}

/// A new client id.
pub fn new_client_id() -> Result<String, getrandom::Error> {
    random_text(CLIENT_ID_BYTES)
}

/// A new client secret or access token.
pub fn new_secret() -> Result<String, getrandom::Error> {
    random_text(SECRET_BYTES)
}

/// The Argon2id hash (PHC string, random salt) of a client secret.
pub fn hash_secret(secret: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)?
        .to_string())
}

/// Whether `secret` matches the Argon2id `hash`. With `None` (an unknown client) it
/// spends the same time on a decoy hash and answers `false`.
pub fn verify_secret(secret: &str, hash: Option<&str>) -> bool {
    let matches = |hash: &str| {
        PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(secret.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    };
    match hash {
        Some(hash) => matches(hash),
        None => {
            if let Some(decoy) = DECOY_HASH.as_deref() {
                matches(decoy);
            }
            false
        }
    }
}

/// The SHA-256 digest under which a token is stored and cached.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Verifies client secrets on a few threads of its own. Each Argon2id verification takes
/// 19 MiB and tens of milliseconds: a small fixed pool bounds both the memory they hold and
/// the CPU they take from the request workers, whatever the number of token requests.
#[derive(Clone)]
pub struct SecretVerifier {
    threads: Arc<rayon::ThreadPool>,
}

impl SecretVerifier {
    /// A verifier with `threads` threads.
    pub fn new(threads: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("argon2-{index}"))
            .build()?;
        Ok(Self {
            threads: Arc::new(threads),
        })
    }

    /// `verify_secret` on the verifier's threads.
    pub async fn verify(&self, secret: String, hash: Option<String>) -> bool {
        let (answer, verdict) = tokio::sync::oneshot::channel();
        self.threads.spawn(move || {
            let _ = answer.send(verify_secret(&secret, hash.as_deref()));
        });
        verdict.await.unwrap_or(false)
    }
}
