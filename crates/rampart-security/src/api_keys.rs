//! API keys: created by an authenticated user, presented as `Authorization: ApiKey
//! base64(id:key)`, stored by the node under `data/_security/api-keys.json`.
//!
//! A key's secret is 128 random bits, so a salted SHA-256 (compared in constant time) protects
//! it at rest without bcrypt's cost on every request. A key acts for its owner as the owner is
//! at use time: a deleted or disabled owner invalidates it in effect.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::json_store::JsonStore;
use crate::{RealmError, SecretString};

const FILE_NAME: &str = "api-keys.json";

#[derive(Clone, Serialize, Deserialize)]
pub struct StoredApiKey {
    pub name: String,
    /// base64(salt) `$` base64(sha256(salt ‖ key)).
    hash: String,
    /// Milliseconds since the epoch, as Elasticsearch reports them.
    pub creation: u64,
    pub expiration: Option<u64>,
    pub invalidated: bool,
    pub username: String,
    /// The realm that authenticated the owner when the key was made.
    pub realm: String,
    pub role_descriptors: Value,
    pub metadata: Value,
}

impl std::fmt::Debug for StoredApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApiKey")
            .field("name", &self.name)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What `create` returns: shown to the caller once, never stored in the clear.
pub struct CreatedApiKey {
    pub id: String,
    pub key: SecretString,
    pub expiration: Option<u64>,
}

impl std::fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Which keys a get or invalidate request means; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyFilter {
    pub ids: Vec<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub realm: Option<String>,
}

impl ApiKeyFilter {
    fn matches(&self, id: &str, key: &StoredApiKey) -> bool {
        (self.ids.is_empty() || self.ids.iter().any(|i| i == id))
            && self.name.as_ref().is_none_or(|n| wildcard(n, &key.name))
            && self.username.as_ref().is_none_or(|u| *u == key.username)
            && self.realm.as_ref().is_none_or(|r| *r == key.realm)
    }
}

/// `*` wildcards, as Elasticsearch accepts in API key names. Linear backtracking over the
/// last `*`: no pattern can make it exponential.
fn wildcard(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((star_pi, star_ni)) = star {
            pi = star_pi + 1;
            ni = star_ni + 1;
            star = Some((star_pi, star_ni + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `bytes` random bytes as URL-safe base64; the raw bytes are zeroized.
pub(crate) fn random_token(bytes: usize) -> Result<String, RealmError> {
    let mut buf = zeroize::Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut buf)
        .map_err(|e| RealmError::Storage(format!("no system randomness: {e}")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf.as_slice()))
}

fn digest(salt: &[u8], key: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(salt);
    ctx.update(key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

fn hash_key(key: &str) -> Result<String, RealmError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| RealmError::Storage(format!("no system randomness: {e}")))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(format!(
        "{}${}",
        b64.encode(salt),
        b64.encode(digest(&salt, key))
    ))
}

fn verify_key(key: &str, stored: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, expected)) = stored.split_once('$') else {
        return false;
    };
    let (Ok(salt), Ok(expected)) = (b64.decode(salt), b64.decode(expected)) else {
        return false;
    };
    bool::from(digest(&salt, key).as_slice().ct_eq(&expected))
}

pub struct ApiKeyStore {
    store: JsonStore<BTreeMap<String, StoredApiKey>>,
}

impl std::fmt::Debug for ApiKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyStore")
            .field("store", &self.store)
            .finish()
    }
}

impl ApiKeyStore {
    pub fn open(security_dir: &Path) -> Result<ApiKeyStore, String> {
        Ok(ApiKeyStore {
            store: JsonStore::open(security_dir.join(FILE_NAME))?,
        })
    }

    fn update<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, StoredApiKey>) -> T,
    ) -> Result<T, RealmError> {
        self.store.update(|keys| Ok(change(keys)))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        name: &str,
        expiration: Option<Duration>,
        role_descriptors: Value,
        metadata: Value,
        username: &str,
        realm: &str,
    ) -> Result<CreatedApiKey, RealmError> {
        if name.is_empty() || name.len() > 1024 || name.starts_with('_') {
            return Err(RealmError::Invalid(format!(
                "api key name [{name}] is not valid: use 1 to 1024 characters, not starting with '_'"
            )));
        }
        if !role_descriptors.is_object() || !metadata.is_object() {
            return Err(RealmError::Invalid(
                "[role_descriptors] and [metadata] must be objects".to_string(),
            ));
        }
        let id = random_token(15)?;
        let key = SecretString::new(random_token(16)?);
        let creation = now_millis();
        let expiration = expiration
            .map(|d| creation.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)));
        let stored = StoredApiKey {
            name: name.to_string(),
            hash: hash_key(key.expose())?,
            creation,
            expiration,
            invalidated: false,
            username: username.to_string(),
            realm: realm.to_string(),
            role_descriptors,
            metadata,
        };
        let key_id = id.clone();
        self.update(|keys| {
            keys.insert(key_id, stored);
        })?;
        Ok(CreatedApiKey {
            id,
            key,
            expiration,
        })
    }

    /// The key if `secret` is its secret and it is neither invalidated nor expired.
    pub fn verify(&self, id: &str, secret: &SecretString) -> Option<StoredApiKey> {
        let keys = self.store.read();
        let key = keys.get(id)?;
        let valid = verify_key(secret.expose(), &key.hash)
            && !key.invalidated
            && key.expiration.is_none_or(|e| e > now_millis());
        valid.then(|| key.clone())
    }

    pub fn find(&self, filter: &ApiKeyFilter) -> Vec<(String, StoredApiKey)> {
        let keys = self.store.read();
        keys.iter()
            .filter(|(id, k)| filter.matches(id, k))
            .map(|(id, k)| (id.clone(), k.clone()))
            .collect()
    }

    /// Invalidates the matching keys: (newly invalidated, already invalidated).
    pub fn invalidate(
        &self,
        filter: &ApiKeyFilter,
    ) -> Result<(Vec<String>, Vec<String>), RealmError> {
        self.update(|keys| {
            let mut newly = Vec::new();
            let mut previously = Vec::new();
            for (id, key) in keys.iter_mut().filter(|(id, k)| filter.matches(id, k)) {
                if key.invalidated {
                    previously.push(id.clone());
                } else {
                    key.invalidated = true;
                    newly.push(id.clone());
                }
            }
            (newly, previously)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_until_invalidated_or_expired() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ApiKeyStore::open(dir.path()).expect("open");
        let empty = || serde_json::json!({});
        let key = store
            .create("shipper", None, empty(), empty(), "elastic", "reserved")
            .expect("create");
        assert!(store.verify(&key.id, &key.key).is_some());
        assert!(
            store
                .verify(&key.id, &SecretString::from("wrong"))
                .is_none()
        );
        let raw = std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("raw");
        assert!(!raw.contains(key.key.expose()), "never stored in the clear");

        let reopened = ApiKeyStore::open(dir.path()).expect("reopen");
        let filter = ApiKeyFilter {
            name: Some("ship*".to_string()),
            ..ApiKeyFilter::default()
        };
        assert_eq!(reopened.find(&filter).len(), 1);
        let (newly, previously) = reopened.invalidate(&filter).expect("invalidate");
        assert_eq!((newly.len(), previously.len()), (1, 0));
        assert!(reopened.verify(&key.id, &key.key).is_none());
        let (newly, previously) = reopened.invalidate(&filter).expect("again");
        assert_eq!((newly.len(), previously.len()), (0, 1));

        let short = reopened
            .create(
                "short",
                Some(Duration::from_millis(1)),
                empty(),
                empty(),
                "elastic",
                "reserved",
            )
            .expect("create");
        std::thread::sleep(Duration::from_millis(5));
        assert!(reopened.verify(&short.id, &short.key).is_none(), "expired");
        assert!(
            reopened
                .create("_hidden", None, empty(), empty(), "u", "r")
                .is_err()
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard("ship*", "shipper"));
        assert!(wildcard("*er", "shipper"));
        assert!(!wildcard("ship", "shipper"));
        assert!(wildcard("s*p*r", "shipper"));
        let hostile = format!("{}b", "*a".repeat(40));
        assert!(!wildcard(&hostile, &"a".repeat(200)), "answers at once");
    }
}
