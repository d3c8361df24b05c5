//! Authorization: may this authenticated identity run this action on these indices? Cluster
//! actions are judged by cluster privileges; index actions by index privileges on each index or
//! alias, through an [`IndexScope`] the engine applies while it resolves names, so wildcard
//! requests are narrowed to what is allowed and explicit names that are not allowed fail.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_action::{EsError, FieldPredicate, IndexRestrictions, IndexScope};

use crate::roles::{Permissions, UserContext, granting_privileges};
use crate::{Authentication, RoleStore};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzError {
    pub reason: String,
}

/// `GET /_security/_authenticate`: every authenticated identity may ask who it is.
pub const AUTHENTICATE_ACTION: &str = "cluster:admin/xpack/security/user/authenticate";

/// An action only `manage_api_key` (not `manage_own_api_key`) grants: whether a caller may see
/// and invalidate other users' keys.
pub const MANAGE_ANY_API_KEY: &str = "cluster:admin/xpack/security/api_key/manage_any";

/// Actions every authenticated user may run about themselves, as in Elasticsearch.
const SELF_ACTIONS: &[&str] = &[
    AUTHENTICATE_ACTION,
    "cluster:admin/xpack/security/user/has_privileges",
    "cluster:admin/xpack/security/user/list_privileges",
];

/// Who is being judged, as Elasticsearch names them in denials.
fn subject(a: &Authentication) -> String {
    let mut who = match (&a.api_key, &a.authenticating_user) {
        (Some(key), _) => format!("API key id [{}] of user [{}]", key.id, a.user.username),
        (None, Some(original)) => {
            format!("user [{}] run as [{}]", original.username, a.user.username)
        }
        (None, None) => format!("user [{}]", a.user.username),
    };
    who.push_str(&format!(
        " with effective roles [{}]",
        a.user.roles.join(",")
    ));
    who
}

#[derive(Debug)]
pub struct Authorizer {
    roles: Arc<RoleStore>,
    /// API keys' own role descriptors, compiled once per key: a key's descriptors never change
    /// after creation, and compiling their patterns on every request would cost more than the
    /// request. Keyed by id and the descriptors' text, so a different key body never reuses it.
    key_roles: std::sync::Mutex<HashMap<(String, String), Permissions>>,
}

/// Compiled API key descriptors kept at most (then the cache starts over).
const KEY_ROLES_CACHE: usize = 10_000;

impl Authorizer {
    pub fn new(roles: Arc<RoleStore>) -> Self {
        Authorizer {
            roles,
            key_roles: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn key_permissions(
        &self,
        id: &str,
        descriptors: &serde_json::Value,
    ) -> Result<Permissions, String> {
        let cache_key = (id.to_string(), descriptors.to_string());
        if let Some(hit) = self
            .key_roles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&cache_key)
        {
            return Ok(hit.clone());
        }
        let compiled = RoleStore::compile_inline(descriptors)?;
        let mut cache = self.key_roles.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= KEY_ROLES_CACHE {
            cache.clear();
        }
        cache.insert(cache_key, compiled.clone());
        Ok(compiled)
    }

    pub fn roles(&self) -> &RoleStore {
        &self.roles
    }

    /// The permissions an identity acts with: its roles', limited by an API key's own role
    /// descriptors. A key whose descriptors no longer compile gets nothing (fail closed).
    pub fn permissions(&self, a: &Authentication) -> Permissions {
        let owner = self.roles.permissions(&a.user.roles);
        let Some(key) = a.api_key.as_ref() else {
            return owner;
        };
        match key.role_descriptors.as_ref() {
            None => owner,
            Some(descriptors) => match self.key_permissions(&key.id, descriptors) {
                Ok(key) => Permissions::Limited {
                    owner: Box::new(owner),
                    key: Box::new(key),
                },
                Err(e) => {
                    tracing::warn!(
                        "an API key's role descriptors do not compile ({e}); it may do nothing"
                    );
                    Permissions::Roles(Vec::new())
                }
            },
        }
    }

    pub fn authorize_cluster(
        &self,
        a: &Authentication,
        permissions: &Permissions,
        action: &str,
    ) -> Result<(), AuthzError> {
        if SELF_ACTIONS.contains(&action) || permissions.allows_cluster(action) {
            return Ok(());
        }
        let granted_by = granting_privileges(action, false);
        let mut reason = format!("action [{action}] is unauthorized for {}", subject(a));
        if !granted_by.is_empty() {
            reason.push_str(&format!(
                ", this action is granted by the cluster privileges [{}]",
                granted_by.join(",")
            ));
        }
        Err(AuthzError { reason })
    }

    /// May `authenticated` act as `target` (`es-security-runas-user`)? API keys never may.
    pub fn authorize_run_as(
        &self,
        authenticated: &Authentication,
        target: &str,
    ) -> Result<(), AuthzError> {
        if authenticated.api_key.is_none() && self.permissions(authenticated).allows_run_as(target)
        {
            return Ok(());
        }
        Err(Self::run_as_denied(authenticated, target))
    }

    /// The denial of a run_as, in one wording whether the target is out of the caller's
    /// run_as patterns or does not exist: the answer must not tell which.
    pub fn run_as_denied(authenticated: &Authentication, target: &str) -> AuthzError {
        AuthzError {
            reason: format!(
                "action [run_as] is unauthorized for {}, because user [{}] is unauthorized to run \
                 as [{target}]",
                subject(authenticated),
                authenticated.user.username
            ),
        }
    }

    /// The index scope of an identity, for the engine.
    pub fn scope(&self, a: &Authentication, permissions: Permissions) -> UserScope {
        UserScope {
            permissions,
            subject: subject(a),
            user: UserContext {
                username: a.user.username.clone(),
                email: a.user.email.clone(),
                full_name: a.user.full_name.clone(),
                metadata: a.user.metadata.clone(),
            },
        }
    }
}

/// An identity's index permissions, applied by the engine as it resolves names.
#[derive(Debug)]
pub struct UserScope {
    permissions: Permissions,
    subject: String,
    user: UserContext,
}

impl IndexScope for UserScope {
    fn allows(&self, action: &str, name: &str) -> bool {
        self.permissions.allows_index(action, name)
    }

    fn allows_action(&self, action: &str) -> bool {
        self.permissions.allows_index_action(action)
    }

    fn restrictions(&self, action: &str, names: &[&str]) -> IndexRestrictions {
        let r = self.permissions.restrictions(action, names, &self.user);
        IndexRestrictions {
            query: r.query,
            fields: r.fields.map(|filter| -> FieldPredicate {
                std::sync::Arc::new(move |field: &str| filter.allows(field))
            }),
        }
    }

    fn denied(&self, action: &str, names: &[String]) -> EsError {
        let granted_by = granting_privileges(action, true);
        let mut reason = format!(
            "action [{action}] is unauthorized for {} on indices [{}]",
            self.subject,
            names.join(",")
        );
        if !granted_by.is_empty() {
            reason.push_str(&format!(
                ", this action is granted by the index privileges [{}]",
                granted_by.join(",")
            ));
        }
        EsError::new(403, "security_exception", reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authc::RESERVED_REALM;
    use crate::{ApiKeyRef, User};
    use serde_json::json;

    fn with_roles(roles: &[&str]) -> Authentication {
        Authentication {
            user: User {
                username: "u".into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                full_name: None,
                email: None,
                metadata: json!({}),
                enabled: true,
            },
            authentication_realm: RESERVED_REALM,
            lookup_realm: RESERVED_REALM,
            authentication_type: "realm",
            api_key: None,
            authenticating_user: None,
        }
    }

    fn authorizer() -> (tempfile::TempDir, Authorizer) {
        let dir = tempfile::tempdir().expect("tmp");
        let roles = RoleStore::open(None, dir.path()).expect("roles");
        (dir, Authorizer::new(Arc::new(roles)))
    }

    #[test]
    fn denials_name_the_action_the_roles_and_the_granting_privileges() {
        let (_dir, authz) = authorizer();
        let superuser = with_roles(&["superuser"]);
        let perms = authz.permissions(&superuser);
        assert!(
            authz
                .authorize_cluster(&superuser, &perms, "cluster:monitor/main")
                .is_ok()
        );
        let viewer = with_roles(&["viewer", "no_such_role"]);
        let perms = authz.permissions(&viewer);
        assert!(
            authz
                .authorize_cluster(&viewer, &perms, "cluster:monitor/main")
                .is_ok()
        );
        let err = authz
            .authorize_cluster(&viewer, &perms, "cluster:admin/xpack/security/user/put")
            .expect_err("denied");
        assert_eq!(
            err.reason,
            "action [cluster:admin/xpack/security/user/put] is unauthorized for user [u] with \
             effective roles [viewer,no_such_role], this action is granted by the cluster \
             privileges [all,manage_security]"
        );
        let scope = authz.scope(&viewer, perms);
        assert!(scope.allows("indices:data/read/search", "logs"));
        assert!(!scope.allows("indices:data/write/index", "logs"));
        assert_eq!(
            scope
                .denied("indices:data/write/index", &["logs".into()])
                .reason,
            "action [indices:data/write/index] is unauthorized for user [u] with effective roles \
             [viewer,no_such_role] on indices [logs], this action is granted by the index \
             privileges [all,write,index,create]"
        );
    }

    #[test]
    fn api_keys_never_exceed_their_owner() {
        let (_dir, authz) = authorizer();
        let mut key = with_roles(&["viewer"]);
        key.api_key = Some(ApiKeyRef {
            id: "k".into(),
            name: "n".into(),
            role_descriptors: Some(
                json!({"r": {"indices": [{"names": ["*"], "privileges": ["all"]}]}}),
            ),
        });
        let scope = authz.scope(&key, authz.permissions(&key));
        assert!(
            scope.allows("indices:data/read/search", "logs"),
            "both allow"
        );
        assert!(
            !scope.allows("indices:data/write/index", "logs"),
            "the owner does not"
        );
        let mut narrow = key.clone();
        narrow.api_key = Some(ApiKeyRef {
            id: "k".into(),
            name: "n".into(),
            role_descriptors: Some(
                json!({"r": {"indices": [{"names": ["app-*"], "privileges": ["read"]}]}}),
            ),
        });
        let scope = authz.scope(&narrow, authz.permissions(&narrow));
        assert!(scope.allows("indices:data/read/search", "app-1"));
        assert!(
            !scope.allows("indices:data/read/search", "logs"),
            "the key does not"
        );
        let mut broken = key.clone();
        broken.api_key = Some(ApiKeyRef {
            id: "k".into(),
            name: "n".into(),
            role_descriptors: Some(json!({"r": {"cluster": ["nonsense"]}})),
        });
        let perms = authz.permissions(&broken);
        assert!(
            !perms.allows_index("indices:data/read/search", "logs"),
            "fails closed"
        );
        assert!(authz.authorize_run_as(&key, "anyone").is_err());
    }
}
