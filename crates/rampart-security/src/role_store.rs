//! Where roles come from, in Elasticsearch's precedence: built-in roles (which cannot be
//! replaced), then `config/roles.yml` (re-read when it changes), then native roles stored by
//! the node in `data/_security/roles.json`. Roles are compiled once, when they are loaded or
//! changed, never per request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;

use crate::RealmError;
use crate::json_store::JsonStore;
use crate::roles::{CompiledRole, Permissions, RoleDescriptor, builtin_roles};

const ROLES_FILE: &str = "roles.yml";
const NATIVE_FILE: &str = "roles.json";

/// Where a role is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSource {
    Builtin,
    File,
    Native,
}

type Compiled = BTreeMap<String, (RoleDescriptor, Arc<CompiledRole>)>;

pub struct RoleStore {
    builtin: Compiled,
    config_dir: Option<PathBuf>,
    file: RwLock<Compiled>,
    file_digest: Mutex<Option<[u8; 32]>>,
    native: JsonStore<BTreeMap<String, Value>>,
    native_compiled: RwLock<Compiled>,
}

impl std::fmt::Debug for RoleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleStore")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

/// Role names as Elasticsearch accepts them.
pub fn validate_role_name(name: &str) -> Result<(), String> {
    let printable = name.chars().all(|c| (' '..='~').contains(&c));
    if name.is_empty() || name.len() > 507 || !printable || name.trim() != name {
        return Err(format!(
            "invalid role name [{name}]: use 1 to 507 printable ASCII characters, without leading \
             or trailing spaces"
        ));
    }
    Ok(())
}

fn compile_all(roles: impl IntoIterator<Item = (String, Value)>, source: &str) -> Compiled {
    let mut out = BTreeMap::new();
    for (name, body) in roles {
        match RoleDescriptor::parse(&name, &body)
            .and_then(|d| CompiledRole::compile(&name, &d).map(|c| (d, Arc::new(c))))
        {
            Ok(compiled) => {
                out.insert(name, compiled);
            }
            Err(e) => tracing::error!("{source}: role [{name}] is ignored: {e}"),
        }
    }
    out
}

/// Parses `roles.yml`: a mapping of role names to role descriptors.
pub fn parse_roles_yml(text: &str) -> Result<Vec<(String, Value)>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    match value {
        Value::Object(map) => Ok(map.into_iter().collect()),
        Value::Null => Ok(Vec::new()),
        _ => Err("the file must map role names to roles".to_string()),
    }
}

impl RoleStore {
    /// `config_dir` holds `roles.yml` (optional); `security_dir` the native roles.
    pub fn open(config_dir: Option<&Path>, security_dir: &Path) -> Result<RoleStore, String> {
        let builtin = builtin_roles()
            .into_iter()
            .filter_map(|(name, descriptor)| {
                CompiledRole::compile(&name, &descriptor)
                    .ok()
                    .map(|c| (name, (descriptor, Arc::new(c))))
            })
            .collect();
        let native: JsonStore<BTreeMap<String, Value>> =
            JsonStore::open(security_dir.join(NATIVE_FILE))?;
        let native_compiled = compile_all(
            native.read().iter().map(|(k, v)| (k.clone(), v.clone())),
            "native roles",
        );
        let store = RoleStore {
            builtin,
            config_dir: config_dir.map(Path::to_path_buf),
            file: RwLock::new(BTreeMap::new()),
            file_digest: Mutex::new(None),
            native,
            native_compiled: RwLock::new(native_compiled),
        };
        store.reload_if_changed();
        Ok(store)
    }

    /// Re-reads `roles.yml` when its content changed; true when it did.
    pub fn reload_if_changed(&self) -> bool {
        let Some(dir) = &self.config_dir else {
            return false;
        };
        let path = dir.join(ROLES_FILE);
        let now = crate::file_realm::digest(&path);
        let mut seen = self.file_digest.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == now {
            return false;
        }
        *seen = now;
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let roles = match parse_roles_yml(&text) {
            Ok(roles) => roles,
            Err(e) => {
                tracing::error!("{}: {e}; keeping the roles read before", path.display());
                return false;
            }
        };
        let compiled = compile_all(roles, &path.display().to_string());
        for name in compiled.keys().filter(|n| self.builtin.contains_key(*n)) {
            tracing::warn!(
                "{}: role [{name}] is built in and cannot be redefined; the file's is ignored",
                path.display()
            );
        }
        *self.file.write().unwrap_or_else(|e| e.into_inner()) = compiled;
        tracing::info!("file roles: reloaded {}", path.display());
        true
    }

    /// A role's compiled form, in precedence order (per request: no descriptor copies).
    fn compiled(&self, name: &str) -> Option<Arc<CompiledRole>> {
        if let Some((_, c)) = self.builtin.get(name) {
            return Some(Arc::clone(c));
        }
        if let Some((_, c)) = self
            .file
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Some(Arc::clone(c));
        }
        self.native_compiled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|(_, c)| Arc::clone(c))
    }

    /// The permissions of a set of role names; unknown names grant nothing.
    pub fn permissions(&self, roles: &[String]) -> Permissions {
        Permissions::Roles(roles.iter().filter_map(|r| self.compiled(r)).collect())
    }

    /// Compiles role descriptors given inline (an API key's), refusing invalid ones.
    pub fn compile_inline(descriptors: &Value) -> Result<Permissions, String> {
        let Value::Object(map) = descriptors else {
            return Err("[role_descriptors] must be an object".to_string());
        };
        let mut roles = Vec::new();
        for (name, body) in map {
            let descriptor = RoleDescriptor::parse(name, body)?;
            roles.push(Arc::new(CompiledRole::compile(name, &descriptor)?));
        }
        Ok(Permissions::Roles(roles))
    }

    /// Every role by name with where it comes from, for `GET /_security/role`.
    pub fn get(&self, names: &[String]) -> Vec<(String, RoleSource, RoleDescriptor)> {
        let mut all: BTreeMap<String, (RoleSource, RoleDescriptor)> = BTreeMap::new();
        for (n, (d, _)) in self
            .native_compiled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            all.insert(n.clone(), (RoleSource::Native, d.clone()));
        }
        for (n, (d, _)) in self.file.read().unwrap_or_else(|e| e.into_inner()).iter() {
            all.insert(n.clone(), (RoleSource::File, d.clone()));
        }
        for (n, (d, _)) in &self.builtin {
            all.insert(n.clone(), (RoleSource::Builtin, d.clone()));
        }
        all.into_iter()
            .filter(|(n, _)| names.is_empty() || names.contains(n))
            .map(|(n, (s, d))| (n, s, d))
            .collect()
    }

    /// Creates or replaces a native role; true when it was created.
    pub fn put_native(&self, name: &str, body: &Value) -> Result<bool, RealmError> {
        validate_role_name(name).map_err(RealmError::Invalid)?;
        if self.builtin.contains_key(name) {
            return Err(RealmError::Invalid(format!(
                "role [{name}] is reserved and cannot be modified"
            )));
        }
        let descriptor = RoleDescriptor::parse(name, body).map_err(RealmError::Invalid)?;
        let compiled = CompiledRole::compile(name, &descriptor).map_err(RealmError::Invalid)?;
        let stored = descriptor.to_json();
        let created = self
            .native
            .update(|roles| Ok(roles.insert(name.to_string(), stored).is_none()))?;
        self.native_compiled
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), (descriptor, Arc::new(compiled)));
        Ok(created)
    }

    /// Deletes a native role; true when it existed.
    pub fn delete_native(&self, name: &str) -> Result<bool, RealmError> {
        if self.builtin.contains_key(name) {
            return Err(RealmError::Invalid(format!(
                "role [{name}] is reserved and cannot be deleted"
            )));
        }
        let found = self
            .native
            .update(|roles| Ok(roles.remove(name).is_some()))?;
        self.native_compiled
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn precedence_reload_and_native_roles() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join(ROLES_FILE),
            "logs_reader:\n  indices:\n    - names: ['logs-*']\n      privileges: [read]\nbroken:\n  cluster: [nonsense]\nviewer:\n  cluster: [all]\n",
        )
        .expect("yml");
        let store = RoleStore::open(Some(dir.path()), dir.path()).expect("open");
        let perms = store.permissions(&["logs_reader".into()]);
        assert!(perms.allows_index("indices:data/read/search", "logs-1"));
        // The broken role is skipped, and a built-in cannot be redefined by the file.
        assert!(
            !store
                .permissions(&["broken".into()])
                .allows_cluster("cluster:monitor/main")
        );
        assert!(
            !store
                .permissions(&["viewer".into()])
                .allows_cluster("cluster:admin/x")
        );

        assert!(
            store
                .put_native(
                    "writer",
                    &json!({"indices": [{"names": ["w"], "privileges": ["write"]}]})
                )
                .expect("put")
        );
        assert!(
            store
                .permissions(&["writer".into()])
                .allows_index("indices:data/write/index", "w")
        );
        assert!(store.put_native("superuser", &json!({})).is_err());
        let reopened = RoleStore::open(Some(dir.path()), dir.path()).expect("reopen");
        assert!(
            reopened
                .permissions(&["writer".into()])
                .allows_index("indices:data/write/delete", "w")
        );
        assert!(reopened.delete_native("writer").expect("delete"));
        assert!(
            !reopened
                .permissions(&["writer".into()])
                .allows_index("indices:data/write/delete", "w")
        );

        // Document- and field-level security survive being stored and read back.
        store
            .put_native(
                "own",
                &json!({"indices": [{"names": ["d"], "privileges": ["read"],
                    "query": {"term": {"owner": "{{_user.username}}"}},
                    "field_security": {"grant": ["owner"]}}]}),
            )
            .expect("put");
        let reopened = RoleStore::open(Some(dir.path()), dir.path()).expect("reopen");
        let user = crate::roles::UserContext {
            username: "kim".into(),
            ..Default::default()
        };
        let r = reopened.permissions(&["own".into()]).restrictions(
            "indices:data/read/search",
            &["d"],
            &user,
        );
        assert_eq!(
            r.query.expect("query")["bool"]["should"][0]["term"]["owner"],
            json!("kim")
        );
        assert!(!r.fields.expect("fields").allows("salary"));

        std::fs::write(
            dir.path().join(ROLES_FILE),
            "logs_reader:\n  cluster: [monitor]\n",
        )
        .expect("yml");
        assert!(store.reload_if_changed());
        let perms = store.permissions(&["logs_reader".into()]);
        assert!(!perms.allows_index("indices:data/read/search", "logs-1"));
        assert!(perms.allows_cluster("cluster:monitor/health"));
    }
}
