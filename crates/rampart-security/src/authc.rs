//! Authentication: turning presented credentials into an [`Authentication`] through the realm
//! chain. Today the chain is the reserved realm; file, native, API-key and token realms join it
//! with the authentication issue.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use crate::{
    ApiKeyStore, CredentialCache, FileRealm, NativeRealm, RESERVED_USERS, ReservedUserStore,
    SecretString, TokenStore, verify_password,
};

/// What the caller presented, already separated from the transport it came over.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    Basic {
        username: String,
        password: SecretString,
    },
    /// `Authorization: ApiKey base64(id:key)`.
    ApiKey {
        id: String,
        key: SecretString,
    },
    /// `Authorization: Bearer <token>`, a token from `/_security/oauth2/token`.
    Bearer {
        token: SecretString,
    },
    /// A scheme this node does not support.
    Unsupported {
        scheme: String,
    },
    /// An `Authorization` header that could not be decoded.
    Malformed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub username: String,
    pub roles: Vec<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub metadata: Value,
    pub enabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealmRef {
    pub name: &'static str,
    pub realm_type: &'static str,
}

pub const RESERVED_REALM: RealmRef = RealmRef {
    name: "reserved",
    realm_type: "reserved",
};

/// Elasticsearch's default name for the native realm.
pub const NATIVE_REALM: RealmRef = RealmRef {
    name: "default_native",
    realm_type: "native",
};

/// Elasticsearch's default name for the file realm.
pub const FILE_REALM: RealmRef = RealmRef {
    name: "default_file",
    realm_type: "file",
};

/// The API key a request authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Authentication {
    pub user: User,
    pub authentication_realm: RealmRef,
    pub lookup_realm: RealmRef,
    pub authentication_type: &'static str,
    pub api_key: Option<ApiKeyRef>,
    /// With `es-security-runas-user`: the user who authenticated; `user` is the one run as.
    pub authenticating_user: Option<User>,
}

/// Elasticsearch's name and type for anonymous access.
pub const ANONYMOUS_REALM: RealmRef = RealmRef {
    name: "__anonymous",
    realm_type: "anonymous",
};

/// `xpack.security.authc.anonymous.*`: who a request without credentials is, when anyone.
#[derive(Debug, Clone, PartialEq)]
pub struct AnonymousAccess {
    pub username: String,
    pub roles: Vec<String>,
    /// A denied anonymous request answers 403 (true, the default) or 401 with a challenge.
    pub authz_exception: bool,
}

impl AnonymousAccess {
    pub fn authentication(&self) -> Authentication {
        Authentication {
            user: User {
                username: self.username.clone(),
                roles: self.roles.clone(),
                full_name: None,
                email: None,
                metadata: json!({}),
                enabled: true,
            },
            authentication_realm: ANONYMOUS_REALM,
            lookup_realm: ANONYMOUS_REALM,
            authentication_type: "anonymous",
            api_key: None,
            authenticating_user: None,
        }
    }
}

/// Elasticsearch's name and type for authentication by API key.
pub const API_KEY_REALM: RealmRef = RealmRef {
    name: "_es_api_key",
    realm_type: "_es_api_key",
};

/// Why authentication failed. The messages name only what the caller sent, never whether a
/// user exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthcError {
    MissingCredentials,
    Failed {
        username: String,
    },
    /// An API key that does not verify, is expired or invalidated, or whose owner is gone.
    ApiKeyFailed,
    /// A bearer token that is unknown, expired or invalidated, or whose user is gone.
    TokenFailed,
    UnsupportedScheme {
        scheme: String,
    },
    Malformed,
}

impl AuthcError {
    /// The reason Elasticsearch gives, for a request described as `what` (e.g. `REST request [/]`).
    pub fn reason(&self, what: &str) -> String {
        match self {
            AuthcError::MissingCredentials => {
                format!("missing authentication credentials for {what}")
            }
            AuthcError::Failed { username } => {
                format!("unable to authenticate user [{username}] for {what}")
            }
            AuthcError::UnsupportedScheme { scheme } => format!(
                "authentication scheme [{scheme}] is not supported yet for {what}: use Basic authentication"
            ),
            AuthcError::Malformed => {
                format!("the Authorization header of {what} cannot be decoded")
            }
            AuthcError::TokenFailed => format!(
                "unable to authenticate with the provided token (it is unknown, expired or \
                 invalidated) for {what}"
            ),
            AuthcError::ApiKeyFailed => format!(
                "unable to authenticate with provided credentials and anonymous access is not \
                 allowed for {what}"
            ),
        }
    }
}

#[derive(Debug)]
pub struct Authenticator {
    reserved: Arc<ReservedUserStore>,
    file: Option<Arc<FileRealm>>,
    native: Option<Arc<NativeRealm>>,
    api_keys: Option<Arc<ApiKeyStore>>,
    tokens: Option<Arc<TokenStore>>,
    cache: CredentialCache,
}

/// Verifying against this keeps unknown users as slow as known ones.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        crate::hash_password(&SecretString::from("rampart-timing-decoy")).unwrap_or_default()
    })
}

impl Authenticator {
    /// The realm chain, in Elasticsearch's order: reserved users, the file realm, the native
    /// realm.
    pub fn new(
        reserved: Arc<ReservedUserStore>,
        file: Option<Arc<FileRealm>>,
        native: Option<Arc<NativeRealm>>,
    ) -> Result<Self, String> {
        Ok(Authenticator {
            reserved,
            file,
            native,
            api_keys: None,
            tokens: None,
            cache: CredentialCache::new()?,
        })
    }

    /// Accepts `Authorization: ApiKey` against this store.
    pub fn with_api_keys(mut self, store: Arc<ApiKeyStore>) -> Self {
        self.api_keys = Some(store);
        self
    }

    pub fn api_keys(&self) -> Option<&ApiKeyStore> {
        self.api_keys.as_deref()
    }

    /// Accepts `Authorization: Bearer` against this store.
    pub fn with_tokens(mut self, store: Arc<TokenStore>) -> Self {
        self.tokens = Some(store);
        self
    }

    pub fn tokens(&self) -> Option<&TokenStore> {
        self.tokens.as_deref()
    }

    /// The identity for `es-security-runas-user: target`: the target user as the realm chain
    /// has it now, authenticated by `authenticated`. `None` when no realm has the target (or
    /// it is disabled); whether `authenticated` may run as it is authorization's question.
    pub fn run_as(&self, authenticated: &Authentication, target: &str) -> Option<Authentication> {
        let (found, _) = self.lookup(target)?;
        Some(Authentication {
            user: found.user,
            authentication_realm: authenticated.authentication_realm,
            lookup_realm: found.lookup_realm,
            authentication_type: authenticated.authentication_type,
            api_key: None,
            authenticating_user: Some(authenticated.user.clone()),
        })
    }

    /// The user a token or refresh token was issued to, as that user is now: `None` when the
    /// user is gone, disabled, or now belongs to another realm.
    pub fn token_owner(&self, username: &str, realm: &str) -> Option<Authentication> {
        let (owner, _) = self.lookup(username)?;
        (owner.authentication_realm.name == realm).then_some(owner)
    }

    fn authenticate_token(&self, token: &SecretString) -> Result<Authentication, AuthcError> {
        let stored = self
            .tokens
            .as_ref()
            .and_then(|store| store.verify(token))
            .ok_or(AuthcError::TokenFailed)?;
        let mut owner = self
            .token_owner(&stored.username, &stored.realm)
            .ok_or(AuthcError::TokenFailed)?;
        owner.authentication_type = "token";
        Ok(owner)
    }

    /// An API key's identity: its owner as the owner is now. A key with role descriptors gets
    /// no roles until the role model can intersect them with the owner's (fail closed).
    fn authenticate_api_key(
        &self,
        id: &str,
        key: &SecretString,
    ) -> Result<Authentication, AuthcError> {
        let stored = self
            .api_keys
            .as_ref()
            .and_then(|store| store.verify(id, key))
            .ok_or(AuthcError::ApiKeyFailed)?;
        let (owner, _) = self
            .lookup(&stored.username)
            .ok_or(AuthcError::ApiKeyFailed)?;
        // The owner is a user of a realm, not a name: a namesake elsewhere does not inherit keys.
        if owner.authentication_realm.name != stored.realm {
            return Err(AuthcError::ApiKeyFailed);
        }
        let limited = stored
            .role_descriptors
            .as_object()
            .is_none_or(|d| !d.is_empty());
        let mut user = owner.user;
        if limited {
            user.roles = Vec::new();
        }
        Ok(Authentication {
            user,
            authentication_realm: API_KEY_REALM,
            lookup_realm: API_KEY_REALM,
            authentication_type: "api_key",
            api_key: Some(ApiKeyRef {
                id: id.to_string(),
                name: stored.name,
            }),
            authenticating_user: None,
        })
    }

    /// True when the file realm defines `username` (its password is managed in files).
    pub fn is_file_user(&self, username: &str) -> bool {
        self.file
            .as_ref()
            .is_some_and(|f| f.lookup(username).is_some())
    }

    pub fn native_realm(&self) -> Option<&NativeRealm> {
        self.native.as_deref()
    }

    /// Clears cached credentials for `realms` (names or `*`; the cache is shared, so any realm of
    /// this node clears it), only for `usernames` when given. True when a named realm matched.
    pub fn clear_cache(&self, realms: &[String], usernames: &[String]) -> bool {
        const REALMS: [&str; 3] = [RESERVED_REALM.name, FILE_REALM.name, NATIVE_REALM.name];
        let matched = realms
            .iter()
            .any(|r| r == "*" || r == "_all" || REALMS.contains(&r.as_str()));
        if matched {
            if usernames.is_empty() {
                self.cache.clear();
            } else {
                for user in usernames {
                    self.cache.invalidate(user);
                }
            }
        }
        matched
    }

    /// Forgets a user's cached credentials: after its password changed, or it was disabled or
    /// deleted.
    pub fn invalidate(&self, username: &str) {
        self.cache.invalidate(username);
    }

    pub fn reserved_users(&self) -> &ReservedUserStore {
        &self.reserved
    }

    /// Re-reads the file realm if its files changed; forgets cached credentials if so, since a
    /// password may have changed or a user gone.
    pub fn reload_file_realm(&self) {
        if self.file.as_ref().is_some_and(|f| f.reload_if_changed()) {
            self.cache.clear();
        }
    }

    fn reserved_authentication(username: &str) -> Option<Authentication> {
        let (name, role) = RESERVED_USERS.iter().find(|(n, _)| *n == username)?;
        Some(Authentication {
            user: User {
                username: name.to_string(),
                roles: vec![role.to_string()],
                full_name: None,
                email: None,
                metadata: json!({"_reserved": true}),
                enabled: true,
            },
            authentication_realm: RESERVED_REALM,
            lookup_realm: RESERVED_REALM,
            authentication_type: "realm",
            api_key: None,
            authenticating_user: None,
        })
    }

    /// Who `username` is along the realm chain, with the hash to check a password against.
    fn lookup(&self, username: &str) -> Option<(Authentication, String)> {
        if let Some(authentication) = Self::reserved_authentication(username) {
            // A reserved name never falls through to another realm.
            return self
                .reserved
                .password_hash(username)
                .map(|hash| (authentication, hash));
        }
        if let Some((hash, roles)) = self.file.as_ref().and_then(|f| f.lookup(username)) {
            return Some(Self::file_authentication(username, roles, hash));
        }
        let user = self.native.as_ref()?.get(username)?;
        if !user.enabled {
            // A disabled user fails exactly like a wrong password.
            return None;
        }
        Some((
            Authentication {
                user: User {
                    username: username.to_string(),
                    roles: user.roles,
                    full_name: user.full_name,
                    email: user.email,
                    metadata: user.metadata,
                    enabled: true,
                },
                authentication_realm: NATIVE_REALM,
                lookup_realm: NATIVE_REALM,
                authentication_type: "realm",
                api_key: None,
                authenticating_user: None,
            },
            user.password_hash,
        ))
    }

    fn file_authentication(
        username: &str,
        roles: Vec<String>,
        hash: String,
    ) -> (Authentication, String) {
        (
            Authentication {
                user: User {
                    username: username.to_string(),
                    roles,
                    full_name: None,
                    email: None,
                    metadata: json!({}),
                    enabled: true,
                },
                authentication_realm: FILE_REALM,
                lookup_realm: FILE_REALM,
                authentication_type: "realm",
                api_key: None,
                authenticating_user: None,
            },
            hash,
        )
    }

    /// The cheap path: answers from the credential cache, or `None` when the slow path
    /// ([`Authenticator::authenticate`], which hashes) is needed.
    pub fn authenticate_cached(
        &self,
        credentials: &Credentials,
    ) -> Option<Result<Authentication, AuthcError>> {
        match credentials {
            Credentials::Basic { username, password } => {
                // The user as stored now: its current hash decides whether the cache may answer,
                // and its roles are read afresh.
                let (authentication, hash) = self.lookup(username)?;
                self.cache
                    .matches(username, password, &hash)
                    .then_some(Ok(authentication))
            }
            _ => Some(self.authenticate(credentials)),
        }
    }

    /// The full path; may run a password hash, so call it off the async executor.
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Authentication, AuthcError> {
        match credentials {
            Credentials::None => Err(AuthcError::MissingCredentials),
            Credentials::Malformed => Err(AuthcError::Malformed),
            Credentials::ApiKey { id, key } => self.authenticate_api_key(id, key),
            Credentials::Bearer { token } => self.authenticate_token(token),
            Credentials::Unsupported { scheme } => Err(AuthcError::UnsupportedScheme {
                scheme: scheme.clone(),
            }),
            Credentials::Basic { username, password } => {
                let failed = || AuthcError::Failed {
                    username: username.clone(),
                };
                match self.lookup(username) {
                    Some((authentication, hash)) => {
                        if verify_password(password, &hash) {
                            self.cache.remember(username, password, &hash);
                            Ok(authentication)
                        } else {
                            Err(failed())
                        }
                    }
                    None => {
                        let _ = verify_password(password, decoy_hash());
                        Err(failed())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> (tempfile::TempDir, Authenticator) {
        let dir = tempfile::tempdir().expect("tmp");
        let store = ReservedUserStore::open(dir.path()).expect("store");
        store
            .set_password("elastic", &SecretString::from("s3cret-pw"))
            .expect("set");
        let authn = Authenticator::new(Arc::new(store), None, None).expect("authn");
        (dir, authn)
    }

    fn basic(user: &str, pw: &str) -> Credentials {
        Credentials::Basic {
            username: user.to_string(),
            password: SecretString::from(pw),
        }
    }

    #[test]
    fn elastic_authenticates_as_superuser_and_is_then_cached() {
        let (_dir, authn) = authenticator();
        let creds = basic("elastic", "s3cret-pw");
        assert!(authn.authenticate_cached(&creds).is_none(), "cold cache");
        let auth = authn.authenticate(&creds).expect("ok");
        assert_eq!(auth.user.roles, vec!["superuser"]);
        assert_eq!(auth.user.metadata, json!({"_reserved": true}));
        assert!(matches!(authn.authenticate_cached(&creds), Some(Ok(_))));
    }

    #[test]
    fn clearing_the_cache_of_a_realm_forces_the_slow_path() {
        let (_dir, authn) = authenticator();
        let creds = basic("elastic", "s3cret-pw");
        authn.authenticate(&creds).expect("ok");
        assert!(authn.authenticate_cached(&creds).is_some(), "cached");
        assert!(!authn.clear_cache(&["no_such_realm".to_string()], &[]));
        assert!(
            authn.authenticate_cached(&creds).is_some(),
            "an unknown realm clears nothing"
        );
        assert!(authn.clear_cache(&["reserved".to_string()], &["elastic".to_string()]));
        assert!(authn.authenticate_cached(&creds).is_none(), "cleared");
    }

    #[test]
    fn failures_do_not_reveal_whether_the_user_exists() {
        let (_dir, authn) = authenticator();
        let wrong_pw = authn
            .authenticate(&basic("elastic", "nope"))
            .expect_err("bad pw");
        let no_user = authn
            .authenticate(&basic("ghost", "nope"))
            .expect_err("no user");
        let no_pw_set = authn
            .authenticate(&basic("kibana_system", "nope"))
            .expect_err("no password set");
        for (err, user) in [
            (wrong_pw, "elastic"),
            (no_user, "ghost"),
            (no_pw_set, "kibana_system"),
        ] {
            assert_eq!(
                err.reason("REST request [/]"),
                format!("unable to authenticate user [{user}] for REST request [/]")
            );
        }
        assert_eq!(
            authn.authenticate(&Credentials::None),
            Err(AuthcError::MissingCredentials)
        );
    }
}
