//! The native realm: users managed through the `_security/user` APIs and stored durably by the
//! node under `data/_security/native-users.json` (replicated with the cluster state later).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::file_realm::{check_password, validate_role_name, validate_username};
use crate::json_store::JsonStore;
use crate::{SecretString, hash_password};

const FILE_NAME: &str = "native-users.json";

/// Why a native realm change failed: the request (the caller's to fix) or the disk (ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealmError {
    Invalid(String),
    Storage(String),
}

impl std::fmt::Display for RealmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RealmError::Invalid(m) | RealmError::Storage(m) => f.write_str(m),
        }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct NativeUser {
    pub password_hash: String,
    pub roles: Vec<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub metadata: Value,
    pub enabled: bool,
}

impl std::fmt::Debug for NativeUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeUser")
            .field("roles", &self.roles)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// The body of `PUT /_security/user/{name}`.
#[derive(Debug, Clone, Default)]
pub struct PutUser {
    pub password: Option<SecretString>,
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub metadata: Option<Value>,
    pub enabled: Option<bool>,
}

pub struct NativeRealm {
    store: JsonStore<BTreeMap<String, NativeUser>>,
}

impl std::fmt::Debug for NativeRealm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRealm")
            .field("store", &self.store)
            .finish()
    }
}

impl NativeRealm {
    pub fn open(security_dir: &Path) -> Result<NativeRealm, String> {
        Ok(NativeRealm {
            store: JsonStore::open(security_dir.join(FILE_NAME))?,
        })
    }

    fn update<T>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, NativeUser>) -> Result<T, String>,
    ) -> Result<T, RealmError> {
        self.store.update(change)
    }

    /// Creates or updates a user; true when created.
    pub fn put_user(&self, name: &str, request: PutUser) -> Result<bool, RealmError> {
        let invalid = RealmError::Invalid;
        validate_username(name).map_err(invalid)?;
        for role in &request.roles {
            validate_role_name(role).map_err(invalid)?;
        }
        if let Some(Value::Object(map)) = &request.metadata
            && let Some(key) = map.keys().find(|k| k.starts_with('_'))
        {
            return Err(invalid(format!(
                "metadata keys may not start with [_]: [{key}] is reserved for the system"
            )));
        }
        if request.metadata.as_ref().is_some_and(|m| !m.is_object()) {
            return Err(invalid("[metadata] must be an object".to_string()));
        }
        let new_hash = match (&request.password, &request.password_hash) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "give either [password] or [password_hash], not both".to_string(),
                ));
            }
            (Some(password), None) => {
                check_password(password).map_err(invalid)?;
                Some(hash_password(password).map_err(RealmError::Storage)?)
            }
            (None, Some(hash)) => {
                let algorithm = crate::hash_algorithm();
                if !algorithm.produced(hash) {
                    return Err(invalid(format!(
                        "[password_hash] must be made by the configured hashing algorithm \
                         ([xpack.security.password_hashing.algorithm: {}])",
                        match algorithm {
                            crate::HashAlgorithm::Bcrypt { .. } => "bcrypt: $2a$, $2b$ or $2y$",
                            crate::HashAlgorithm::Pbkdf2 { stretch: true, .. } => {
                                "pbkdf2_stretch: {PBKDF2_STRETCH}"
                            }
                            crate::HashAlgorithm::Pbkdf2 { .. } => "pbkdf2: {PBKDF2}",
                        }
                    )));
                }
                Some(hash.clone())
            }
            (None, None) => None,
        };
        self.update(|users| match users.get_mut(name) {
            Some(existing) => {
                if let Some(hash) = new_hash {
                    existing.password_hash = hash;
                }
                existing.roles = request.roles;
                existing.full_name = request.full_name;
                existing.email = request.email;
                existing.metadata = request.metadata.unwrap_or_else(|| serde_json::json!({}));
                if let Some(enabled) = request.enabled {
                    existing.enabled = enabled;
                }
                Ok(false)
            }
            None => {
                let password_hash = new_hash.ok_or_else(|| {
                    format!("a new user needs a [password] (or [password_hash]): [{name}] has none")
                })?;
                users.insert(
                    name.to_string(),
                    NativeUser {
                        password_hash,
                        roles: request.roles,
                        full_name: request.full_name,
                        email: request.email,
                        metadata: request.metadata.unwrap_or_else(|| serde_json::json!({})),
                        enabled: request.enabled.unwrap_or(true),
                    },
                );
                Ok(true)
            }
        })
    }

    pub fn delete_user(&self, name: &str) -> Result<bool, RealmError> {
        self.update(|users| Ok(users.remove(name).is_some()))
    }

    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<bool, RealmError> {
        self.update(|users| match users.get_mut(name) {
            Some(user) => {
                user.enabled = enabled;
                Ok(true)
            }
            None => Ok(false),
        })
    }

    pub fn change_password(&self, name: &str, password: &SecretString) -> Result<bool, RealmError> {
        check_password(password).map_err(RealmError::Invalid)?;
        let hash = hash_password(password).map_err(RealmError::Storage)?;
        self.update(|users| match users.get_mut(name) {
            Some(user) => {
                user.password_hash = hash;
                Ok(true)
            }
            None => Ok(false),
        })
    }

    pub fn get(&self, name: &str) -> Option<NativeUser> {
        self.store.read().get(name).cloned()
    }

    pub fn all(&self) -> Vec<(String, NativeUser)> {
        self.store
            .read()
            .iter()
            .map(|(n, u)| (n.clone(), u.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_password;

    fn put(password: &str, roles: &[&str]) -> PutUser {
        PutUser {
            password: Some(SecretString::from(password)),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..PutUser::default()
        }
    }

    #[test]
    fn users_persist_and_updates_keep_the_password_unless_given() {
        let dir = tempfile::tempdir().expect("tmp");
        let realm = NativeRealm::open(dir.path()).expect("open");
        assert_eq!(
            realm.put_user("jdoe", put("jdoe-pw-1", &["viewer"])),
            Ok(true)
        );
        let update = PutUser {
            roles: vec!["editor".to_string()],
            full_name: Some("Jane Doe".to_string()),
            ..PutUser::default()
        };
        assert_eq!(realm.put_user("jdoe", update), Ok(false));
        let reopened = NativeRealm::open(dir.path()).expect("reopen");
        let user = reopened.get("jdoe").expect("user");
        assert_eq!(user.roles, ["editor"]);
        assert_eq!(user.full_name.as_deref(), Some("Jane Doe"));
        assert!(verify_password(
            &SecretString::from("jdoe-pw-1"),
            &user.password_hash
        ));
        assert_eq!(reopened.set_enabled("jdoe", false), Ok(true));
        assert_eq!(reopened.delete_user("jdoe"), Ok(true));
        assert_eq!(reopened.delete_user("jdoe"), Ok(false));
    }

    #[test]
    fn invalid_requests_change_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let realm = NativeRealm::open(dir.path()).expect("open");
        assert!(realm.put_user("elastic", put("whatever-pw", &[])).is_err());
        assert!(realm.put_user("u", put("12345", &[])).is_err());
        assert!(
            realm.put_user("u", PutUser::default()).is_err(),
            "no password"
        );
        let bad_meta = PutUser {
            metadata: Some(serde_json::json!({"_reserved": true})),
            ..put("long-enough", &[])
        };
        assert!(realm.put_user("u", bad_meta).is_err());
        let bad_hash = PutUser {
            password: None,
            password_hash: Some("{PLAIN}x".to_string()),
            ..PutUser::default()
        };
        assert!(realm.put_user("u", bad_hash).is_err());
        assert!(realm.all().is_empty());
        assert!(!dir.path().join(FILE_NAME).exists());
    }
}
