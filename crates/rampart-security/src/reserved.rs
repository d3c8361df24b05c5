//! The reserved realm's users (`elastic` and the built-in service users) and their password
//! hashes, stored by the node under `data/_security/`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::json_store::JsonStore;
use crate::{SecretString, hash_password};

/// Reserved users and their roles, as in Elasticsearch.
pub const RESERVED_USERS: &[(&str, &str)] = &[
    ("elastic", "superuser"),
    ("kibana_system", "kibana_system"),
    // Deprecated in Elasticsearch, still reserved so nobody else can take the name.
    ("kibana", "kibana_system"),
    ("logstash_system", "logstash_system"),
    ("beats_system", "beats_system"),
    ("apm_system", "apm_system"),
    ("remote_monitoring_user", "remote_monitoring_collector"),
];

const FILE_NAME: &str = "reserved-users.json";

#[derive(Clone, Serialize, Deserialize)]
struct StoredUser {
    password_hash: String,
}

pub struct ReservedUserStore {
    store: JsonStore<BTreeMap<String, StoredUser>>,
}

impl std::fmt::Debug for ReservedUserStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path only: password hashes never reach a log line.
        f.debug_struct("ReservedUserStore")
            .field("store", &self.store)
            .finish()
    }
}

impl ReservedUserStore {
    /// Opens the store in `security_dir` (created owner-only when first written).
    pub fn open(security_dir: &Path) -> Result<Self, String> {
        let store = JsonStore::open(security_dir.join(FILE_NAME)).map_err(|e| {
            format!("{e}; or remove it and set the elastic password again with ELASTIC_PASSWORD")
        })?;
        Ok(ReservedUserStore { store })
    }

    pub fn is_reserved(username: &str) -> bool {
        RESERVED_USERS.iter().any(|(name, _)| *name == username)
    }

    pub fn password_hash(&self, username: &str) -> Option<String> {
        self.store
            .read()
            .get(username)
            .map(|u| u.password_hash.clone())
    }

    /// Hashes and durably stores a reserved user's password.
    pub fn set_password(&self, username: &str, password: &SecretString) -> Result<(), String> {
        if !Self::is_reserved(username) {
            return Err(format!("[{username}] is not a reserved user"));
        }
        let hash = hash_password(password)?;
        self.store
            .update(|users| {
                users.insert(
                    username.to_string(),
                    StoredUser {
                        password_hash: hash,
                    },
                );
                Ok(())
            })
            .map_err(|e| format!("{e} ({})", self.store.path().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_password;

    #[test]
    fn passwords_persist_across_opens() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ReservedUserStore::open(dir.path()).expect("open");
        assert!(store.password_hash("elastic").is_none());
        store
            .set_password("elastic", &SecretString::from("changeme1"))
            .expect("set");
        assert!(
            store
                .set_password("mallory", &SecretString::from("x"))
                .is_err()
        );
        let reopened = ReservedUserStore::open(dir.path()).expect("reopen");
        let hash = reopened.password_hash("elastic").expect("hash");
        assert!(verify_password(&SecretString::from("changeme1"), &hash));
    }
}
