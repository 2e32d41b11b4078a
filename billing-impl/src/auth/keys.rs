//! The keys that sign access tokens. A token is `KEY_ID.RANDOM.MAC`: 256 random bits and
//! their HMAC-SHA-256 under a key of the deployment, all base64url. A token whose MAC does
//! not verify under a live key was not issued here and is refused without a database
//! query or a cache entry, so that made-up tokens cost a hash, not a lookup. Tokens at rest
//! stay SHA-256 digests of the whole token (`oauth_tokens`).
//!
//! The keys live in the database (`token_keys`), shared by every instance; each instance
//! holds them in memory and reads them again every token-cache lifetime, so that a key
//! added by `billing keys rotate` is known everywhere, and a retired one refused
//! everywhere, within that time.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::{self, Database, DbError, token_keys::TokenKey};

type HmacSha256 = Hmac<Sha256>;

/// The live signing keys, newest first (`None` until first read).
#[derive(Clone, Default)]
pub struct KeyRing {
    keys: Arc<RwLock<Option<Vec<TokenKey>>>>,
}

impl KeyRing {
    /// A ring that reads its keys from the database on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the keys were read at least once.
    fn loaded(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Reads the live keys again.
    pub async fn refresh(&self, database: &Database) -> Result<(), DbError> {
        let keys = database
            .read(|conn| Ok::<_, DbError>(db::token_keys::live(conn)?))
            .await?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(keys);
        Ok(())
    }

    /// Reads the keys again every `every`, for as long as the server runs.
    pub fn keep_fresh(&self, database: Database, every: Duration) {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
            loop {
                ticks.tick().await;
                if let Err(error) = ring.refresh(&database).await {
                    log::warn!("token keys not read again: {error}");
                }
            }
        });
    }

    /// Reads the keys when they were never read (the server started before the database).
    pub async fn ensure_loaded(&self, database: &Database) -> Result<(), DbError> {
        if self.loaded() {
            return Ok(());
        }
        self.refresh(database).await
    }

    /// A token signed by the newest live key around `random`; `None` without a key.
    pub fn sign(&self, random: &str) -> Option<String> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        sign_with(keys.as_ref()?.first()?, random)
    }

    /// Whether `token` carries a MAC that verifies under a live key (compared in constant
    /// time).
    pub fn recognises(&self, token: &str) -> bool {
        let Some((signed, tag)) = token.rsplit_once('.') else {
            return false;
        };
        let Some(key_id) = signed
            .split_once('.')
            .and_then(|(key_id, _)| key_id.parse::<i32>().ok())
        else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.iter()
            .flatten()
            .find(|key| key.key_id == key_id)
            .and_then(|key| mac(&key.secret, signed))
            .is_some_and(|mac| mac.verify_slice(&tag).is_ok())
    }
}

/// The token `KEY_ID.RANDOM.MAC` of `random` under `key`; `None` for a key of no use.
pub fn sign_with(key: &TokenKey, random: &str) -> Option<String> {
    let signed = format!("{}.{random}", key.key_id);
    let tag = URL_SAFE_NO_PAD.encode(mac(&key.secret, &signed)?.finalize().into_bytes());
    Some(format!("{signed}.{tag}"))
}

/// The MAC of `message` under `secret`, to finalise or verify.
fn mac(secret: &[u8], message: &str) -> Option<HmacSha256> {
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(message.as_bytes());
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[(i32, u8)]) -> KeyRing {
        let keys = keys
            .iter()
            .map(|(key_id, byte)| TokenKey {
                key_id: *key_id,
                secret: vec![*byte; 32],
            })
            .collect();
        KeyRing {
            keys: Arc::new(RwLock::new(Some(keys))),
        }
    }

    #[test]
    fn a_signed_token_is_recognised_and_a_changed_one_is_not() {
        let ring = ring(&[(2, 7), (1, 9)]);
        let token = ring.sign("abc").expect("a key signs");
        assert!(token.starts_with("2.abc."), "{token}");
        assert!(ring.recognises(&token));
        assert!(!ring.recognises(&token.replace("abc", "abd")));
        assert!(
            !ring.recognises(&token.replacen('2', "1", 1)),
            "another key's id"
        );
        assert!(!ring.recognises("2.abc"));
        assert!(!ring.recognises("not-a-token"));
    }

    #[test]
    fn a_token_of_a_key_no_longer_live_is_refused() {
        let token = ring(&[(1, 9)]).sign("abc").expect("signed");
        assert!(ring(&[(1, 9)]).recognises(&token));
        assert!(!ring(&[(2, 7)]).recognises(&token), "key 1 retired");
    }
}
