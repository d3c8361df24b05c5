//! Bearer tokens (`POST /_security/oauth2/token`): short-lived access tokens and single-use
//! refresh tokens, stored by the node under `data/_security/tokens.json`.
//!
//! Each token is 256 random bits, so the store keeps only its SHA-256 (no salt or slow hash is
//! needed at that entropy) and finds a token by that digest: a lookup never compares secrets
//! byte by byte. A token acts for its user as the user is at use time, like an API key.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api_keys::now_millis;
use crate::json_store::JsonStore;
use crate::{RealmError, SecretString};

const FILE_NAME: &str = "tokens.json";

/// Elasticsearch's lifetime of a refresh token.
pub const REFRESH_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    /// Hex SHA-256 of the refresh token, when the grant gave one.
    refresh_digest: Option<String>,
    pub username: String,
    /// The realm that authenticated the user when the token was made.
    pub realm: String,
    pub creation: u64,
    pub expiration: u64,
    pub refresh_expiration: u64,
    pub invalidated: bool,
    pub refreshed: bool,
}

/// What a grant returns: shown to the caller once, never stored in the clear.
pub struct IssuedToken {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub expires_in: Duration,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Why a refresh was refused, in OAuth's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshError {
    /// Unknown, expired, invalidated or already used.
    InvalidGrant(&'static str),
    Storage(String),
}

fn digest(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn random_token() -> Result<SecretString, RealmError> {
    crate::api_keys::random_token(32).map(SecretString::new)
}

/// Access tokens by the digest of the access token.
pub struct TokenStore {
    store: JsonStore<BTreeMap<String, StoredToken>>,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("store", &self.store)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

impl TokenStore {
    /// `lifetime` is `xpack.security.authc.token.timeout`.
    pub fn open(security_dir: &Path, lifetime: Duration) -> Result<TokenStore, String> {
        Ok(TokenStore {
            store: JsonStore::open(security_dir.join(FILE_NAME))?,
            lifetime,
        })
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Issues a token for `username` of `realm`, with a refresh token when `refreshable`.
    pub fn issue(
        &self,
        username: &str,
        realm: &str,
        refreshable: bool,
    ) -> Result<IssuedToken, RealmError> {
        let access = random_token()?;
        let refresh = if refreshable {
            Some(random_token()?)
        } else {
            None
        };
        let now = now_millis();
        let lifetime_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        let record = StoredToken {
            refresh_digest: refresh.as_ref().map(|r| digest(r.expose())),
            username: username.to_string(),
            realm: realm.to_string(),
            creation: now,
            expiration: now.saturating_add(lifetime_ms),
            refresh_expiration: now.saturating_add(REFRESH_LIFETIME.as_millis() as u64),
            invalidated: false,
            refreshed: false,
        };
        let key = digest(access.expose());
        self.store.update(|tokens| {
            // Forget tokens that can no longer be used or refreshed.
            tokens.retain(|_, t| t.expiration > now || t.refresh_expiration > now);
            tokens.insert(key, record);
            Ok(())
        })?;
        Ok(IssuedToken {
            access_token: access,
            refresh_token: refresh,
            expires_in: self.lifetime,
        })
    }

    /// The token if it is known, unexpired and not invalidated.
    pub fn verify(&self, token: &SecretString) -> Option<StoredToken> {
        let tokens = self.store.read();
        let found = tokens.get(&digest(token.expose()))?;
        (!found.invalidated && found.expiration > now_millis()).then(|| found.clone())
    }

    /// Uses a refresh token once: the old pair stops working and the owner is returned, for
    /// the caller to issue a new pair after checking the owner still exists.
    pub fn redeem_refresh(&self, refresh: &SecretString) -> Result<StoredToken, RefreshError> {
        let wanted = digest(refresh.expose());
        let now = now_millis();
        self.store
            .update(|tokens| {
                let Some(token) = tokens
                    .values_mut()
                    .find(|t| t.refresh_digest.as_deref() == Some(wanted.as_str()))
                else {
                    return Ok(Err(RefreshError::InvalidGrant(
                        "could not refresh the requested token",
                    )));
                };
                if token.refreshed {
                    return Ok(Err(RefreshError::InvalidGrant(
                        "token has already been refreshed",
                    )));
                }
                if token.invalidated {
                    return Ok(Err(RefreshError::InvalidGrant(
                        "token has been invalidated",
                    )));
                }
                if token.refresh_expiration <= now {
                    return Ok(Err(RefreshError::InvalidGrant("refresh token is expired")));
                }
                token.refreshed = true;
                token.invalidated = true;
                Ok(Ok(token.clone()))
            })
            .map_err(|e| RefreshError::Storage(e.to_string()))?
    }

    /// Invalidates by access token, refresh token, user or realm: (newly, previously).
    pub fn invalidate(
        &self,
        access: Option<&SecretString>,
        refresh: Option<&SecretString>,
        username: Option<&str>,
        realm: Option<&str>,
    ) -> Result<(usize, usize), RealmError> {
        let access = access.map(|t| digest(t.expose()));
        let refresh = refresh.map(|t| digest(t.expose()));
        self.store.update(|tokens| {
            let (mut newly, mut previously) = (0, 0);
            for (key, token) in tokens.iter_mut() {
                let selected = access.as_ref().is_none_or(|a| a == key)
                    && refresh
                        .as_ref()
                        .is_none_or(|r| token.refresh_digest.as_ref() == Some(r))
                    && username.is_none_or(|u| u == token.username)
                    && realm.is_none_or(|r| r == token.realm);
                if !selected {
                    continue;
                }
                if token.invalidated {
                    previously += 1;
                } else {
                    token.invalidated = true;
                    newly += 1;
                }
            }
            Ok((newly, previously))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_refresh_once_and_invalidate() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = TokenStore::open(dir.path(), Duration::from_secs(60)).expect("open");
        let issued = store.issue("kim", "default_native", true).expect("issue");
        assert_eq!(
            store.verify(&issued.access_token).expect("valid").username,
            "kim"
        );
        assert!(store.verify(&SecretString::new("forged".into())).is_none());
        let on_disk = std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("file");
        assert!(!on_disk.contains(issued.access_token.expose()));
        let refresh = issued.refresh_token.expect("refreshable");
        assert!(!on_disk.contains(refresh.expose()));
        let owner = store.redeem_refresh(&refresh).expect("first use");
        assert_eq!(owner.username, "kim");
        assert!(
            store.verify(&issued.access_token).is_none(),
            "the old pair stops"
        );
        assert_eq!(
            store.redeem_refresh(&refresh).map(|t| t.username),
            Err(RefreshError::InvalidGrant(
                "token has already been refreshed"
            ))
        );
        let second = store.issue("kim", "default_native", false).expect("issue");
        assert!(second.refresh_token.is_none());
        // Durable: a reopened store knows the token.
        let reopened = TokenStore::open(dir.path(), Duration::from_secs(60)).expect("reopen");
        assert!(reopened.verify(&second.access_token).is_some());
        assert_eq!(
            reopened
                .invalidate(None, None, Some("kim"), None)
                .expect("invalidate"),
            (1, 1)
        );
        assert!(reopened.verify(&second.access_token).is_none());
    }

    #[test]
    fn tokens_expire() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = TokenStore::open(dir.path(), Duration::from_millis(1)).expect("open");
        let issued = store.issue("kim", "default_native", false).expect("issue");
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.verify(&issued.access_token).is_none());
    }
}
