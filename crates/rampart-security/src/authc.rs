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
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRef {
    pub id: String,
    pub name: String,
    /// The key's own role descriptors, when it has any: its privileges are then the
    /// intersection of these and its owner's.
    pub role_descriptors: Option<Value>,
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
    reserved_cache: CredentialCache,
    /// The file and native realms in `order`, each with its own credential cache.
    chain: Vec<ChainLink>,
}

/// A realm type Rampart implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmKind {
    File,
    Native,
}

impl RealmKind {
    pub fn type_name(self) -> &'static str {
        match self {
            RealmKind::File => "file",
            RealmKind::Native => "native",
        }
    }
}

/// `xpack.security.authc.realms.{type}.{name}.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct RealmConfig {
    pub kind: RealmKind,
    pub name: String,
    pub order: i64,
    pub enabled: bool,
    /// `cache.ttl`; zero turns the cache off.
    pub cache_ttl: std::time::Duration,
    /// `cache.max_users`.
    pub cache_max_users: usize,
}

impl RealmConfig {
    /// Elasticsearch 8's implicit realms: file then native, ahead of any configured realm, for
    /// each type that is not configured explicitly.
    pub fn implicit(kind: RealmKind) -> RealmConfig {
        let (name, order) = match kind {
            RealmKind::File => (FILE_REALM.name, i64::from(i32::MIN)),
            RealmKind::Native => (NATIVE_REALM.name, i64::from(i32::MIN) + 1),
        };
        RealmConfig {
            kind,
            name: name.to_string(),
            order,
            enabled: true,
            cache_ttl: std::time::Duration::from_secs(20 * 60),
            cache_max_users: 100_000,
        }
    }
}

#[derive(Debug)]
struct ChainLink {
    kind: RealmKind,
    realm: RealmRef,
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
        Authenticator {
            reserved,
            file,
            native,
            api_keys: None,
            tokens: None,
            reserved_cache: CredentialCache::new()?,
            chain: Vec::new(),
        }
        .with_realms(Vec::new())
    }

    /// Configures the realm chain (after the reserved realm, which is always first). Each type
    /// not configured keeps its implicit realm, as in Elasticsearch 8; disabled realms are left
    /// out. Orders and names must be unique, and there may be one realm of each type.
    pub fn with_realms(mut self, configured: Vec<RealmConfig>) -> Result<Self, String> {
        let mut realms = configured;
        for kind in [RealmKind::File, RealmKind::Native] {
            match realms.iter().filter(|r| r.kind == kind).count() {
                0 => realms.push(RealmConfig::implicit(kind)),
                1 => {}
                _ => {
                    return Err(format!(
                        "more than one [{}] realm is configured under \
                         [xpack.security.authc.realms.{}]: keep one",
                        kind.type_name(),
                        kind.type_name()
                    ));
                }
            }
        }
        realms.retain(|r| r.enabled);
        realms.sort_by_key(|r| r.order);
        for pair in realms.windows(2) {
            if pair[0].order == pair[1].order {
                return Err(format!(
                    "realms [{}] and [{}] have the same order [{}]: give each realm its own order",
                    pair[0].name, pair[1].name, pair[0].order
                ));
            }
        }
        let mut chain = Vec::new();
        for realm in realms {
            if realm.name == RESERVED_REALM.name || realm.name.starts_with('_') {
                return Err(format!(
                    "realm name [{}] is reserved: choose another name",
                    realm.name
                ));
            }
            let name: &'static str = match realm.name.as_str() {
                n if n == FILE_REALM.name => FILE_REALM.name,
                n if n == NATIVE_REALM.name => NATIVE_REALM.name,
                // Realm names live as long as the node; a few bytes per configured realm.
                _ => Box::leak(realm.name.into_boxed_str()),
            };
            chain.push(ChainLink {
                kind: realm.kind,
                realm: RealmRef {
                    name,
                    realm_type: realm.kind.type_name(),
                },
                cache: CredentialCache::with_limits(realm.cache_ttl, realm.cache_max_users)?,
            });
        }
        self.chain = chain;
        Ok(self)
    }

    /// The type of a realm of this node by name (`reserved`, `file`, `native`).
    pub fn realm_type(&self, name: &str) -> Option<&'static str> {
        if name == RESERVED_REALM.name {
            return Some(RESERVED_REALM.realm_type);
        }
        self.chain
            .iter()
            .find(|l| l.realm.name == name)
            .map(|l| l.realm.realm_type)
    }

    /// The realms after the reserved one, in order.
    pub fn realm_chain(&self) -> Vec<RealmRef> {
        self.chain.iter().map(|l| l.realm).collect()
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
    /// the intersection of its role descriptors and its owner's roles (see `Authorizer`).
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
        // Anything but an empty object limits the key (a malformed value fails closed when
        // authorization compiles it).
        let limited = stored
            .role_descriptors
            .as_object()
            .is_none_or(|d| !d.is_empty());
        Ok(Authentication {
            user: owner.user,
            authentication_realm: API_KEY_REALM,
            lookup_realm: API_KEY_REALM,
            authentication_type: "api_key",
            api_key: Some(ApiKeyRef {
                id: id.to_string(),
                name: stored.name,
                role_descriptors: limited.then_some(stored.role_descriptors),
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

    fn caches(&self) -> impl Iterator<Item = (&'static str, &CredentialCache)> {
        std::iter::once((RESERVED_REALM.name, &self.reserved_cache))
            .chain(self.chain.iter().map(|l| (l.realm.name, &l.cache)))
    }

    /// Clears cached credentials of `realms` (names, or `*`/`_all`), only for `usernames` when
    /// given. True when a named realm matched.
    pub fn clear_cache(&self, realms: &[String], usernames: &[String]) -> bool {
        let mut matched = false;
        for (name, cache) in self.caches() {
            if !realms.iter().any(|r| r == "*" || r == "_all" || r == name) {
                continue;
            }
            matched = true;
            if usernames.is_empty() {
                cache.clear();
            } else {
                for user in usernames {
                    cache.invalidate(user);
                }
            }
        }
        matched
    }

    /// Forgets a user's cached credentials in every realm: after its password changed, or it
    /// was disabled or deleted.
    pub fn invalidate(&self, username: &str) {
        for (_, cache) in self.caches() {
            cache.invalidate(username);
        }
    }

    pub fn reserved_users(&self) -> &ReservedUserStore {
        &self.reserved
    }

    /// Re-reads the file realm if its files changed; forgets cached credentials if so, since a
    /// password may have changed or a user gone.
    pub fn reload_file_realm(&self) {
        if self.file.as_ref().is_some_and(|f| f.reload_if_changed()) {
            for link in self.chain.iter().filter(|l| l.kind == RealmKind::File) {
                link.cache.clear();
            }
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
        self.lookup_cached(username).map(|(a, h, _)| (a, h))
    }

    /// [`Self::lookup`], with the credential cache of the realm that has the user.
    fn lookup_cached(&self, username: &str) -> Option<(Authentication, String, &CredentialCache)> {
        if let Some(authentication) = Self::reserved_authentication(username) {
            // A reserved name never falls through to another realm.
            return self
                .reserved
                .password_hash(username)
                .map(|hash| (authentication, hash, &self.reserved_cache));
        }
        for link in &self.chain {
            match link.kind {
                RealmKind::File => {
                    if let Some((hash, roles)) = self.file.as_ref().and_then(|f| f.lookup(username))
                    {
                        let (authentication, hash) =
                            Self::file_authentication(username, roles, hash, link.realm);
                        return Some((authentication, hash, &link.cache));
                    }
                }
                RealmKind::Native => {
                    let Some(user) = self.native.as_ref().and_then(|n| n.get(username)) else {
                        continue;
                    };
                    if !user.enabled {
                        // A disabled user fails exactly like a wrong password.
                        return None;
                    }
                    return Some((
                        Authentication {
                            user: User {
                                username: username.to_string(),
                                roles: user.roles,
                                full_name: user.full_name,
                                email: user.email,
                                metadata: user.metadata,
                                enabled: true,
                            },
                            authentication_realm: link.realm,
                            lookup_realm: link.realm,
                            authentication_type: "realm",
                            api_key: None,
                            authenticating_user: None,
                        },
                        user.password_hash,
                        &link.cache,
                    ));
                }
            }
        }
        None
    }

    fn file_authentication(
        username: &str,
        roles: Vec<String>,
        hash: String,
        realm: RealmRef,
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
                authentication_realm: realm,
                lookup_realm: realm,
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
                let (authentication, hash, cache) = self.lookup_cached(username)?;
                cache
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
                match self.lookup_cached(username) {
                    Some((authentication, hash, cache)) => {
                        if verify_password(password, &hash) {
                            cache.remember(username, password, &hash);
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

    /// The same name in the file and the native realm, with different passwords.
    fn two_realms() -> (tempfile::TempDir, Authenticator) {
        let dir = tempfile::tempdir().expect("tmp");
        let reserved = ReservedUserStore::open(dir.path()).expect("store");
        let mut users = crate::file_realm::FileUsers::load(dir.path())
            .expect("load")
            .0;
        users
            .add_user("dup", &SecretString::from("file-password"), &[])
            .expect("add");
        users.save(dir.path()).expect("save");
        let file = FileRealm::open(dir.path()).expect("file realm");
        let native = NativeRealm::open(dir.path()).expect("native realm");
        native
            .put_user(
                "dup",
                crate::PutUser {
                    password: Some(SecretString::from("native-password")),
                    password_hash: None,
                    roles: Vec::new(),
                    full_name: None,
                    email: None,
                    metadata: None,
                    enabled: None,
                },
            )
            .expect("put");
        let authn = Authenticator::new(
            Arc::new(reserved),
            Some(Arc::new(file)),
            Some(Arc::new(native)),
        )
        .expect("authn");
        (dir, authn)
    }

    fn realm_of(authn: &Authenticator, password: &str) -> Option<&'static str> {
        authn
            .authenticate(&Credentials::Basic {
                username: "dup".into(),
                password: SecretString::from(password),
            })
            .ok()
            .map(|a| a.authentication_realm.name)
    }

    fn realm(kind: RealmKind, name: &str, order: i64, enabled: bool) -> RealmConfig {
        RealmConfig {
            kind,
            name: name.into(),
            order,
            enabled,
            ..RealmConfig::implicit(kind)
        }
    }

    #[test]
    fn the_realm_chain_follows_order_and_enabled() {
        let (_dir, authn) = two_realms();
        // Implicit chain: file first, so it shadows the native user.
        assert_eq!(realm_of(&authn, "file-password"), Some("default_file"));
        assert_eq!(realm_of(&authn, "native-password"), None);

        let (_dir, authn) = two_realms();
        let authn = authn
            .with_realms(vec![
                realm(RealmKind::Native, "people", 0, true),
                realm(RealmKind::File, "ops", 1, true),
            ])
            .expect("chain");
        assert_eq!(realm_of(&authn, "native-password"), Some("people"));
        assert_eq!(realm_of(&authn, "file-password"), None);
        assert_eq!(authn.realm_type("people"), Some("native"));
        assert!(authn.clear_cache(&["ops".into()], &[]));
        assert!(!authn.clear_cache(&["default_file".into()], &[]));

        let (_dir, authn) = two_realms();
        let authn = authn
            .with_realms(vec![realm(RealmKind::File, "ops", 0, false)])
            .expect("chain");
        assert_eq!(realm_of(&authn, "native-password"), Some("default_native"));

        for (chain, needle) in [
            (
                vec![
                    realm(RealmKind::File, "a", 1, true),
                    realm(RealmKind::Native, "b", 1, true),
                ],
                "same order",
            ),
            (
                vec![
                    realm(RealmKind::File, "a", 1, true),
                    realm(RealmKind::File, "b", 2, true),
                ],
                "more than one",
            ),
            (
                vec![realm(RealmKind::File, "reserved", 1, true)],
                "reserved",
            ),
        ] {
            let (_dir, authn) = two_realms();
            let e = authn.with_realms(chain).expect_err(needle);
            assert!(e.contains(needle), "{e}");
        }
    }
}
