//! Rampart's security model: who is calling (authentication through a realm chain, with a
//! credential cache) and whether they may run an action on the indices it names
//! (authorization by roles and privileges).
//!
//! It owns credentials, users, realms, password hashing and roles. It must never depend on
//! HTTP types: it sees credentials and actions, not requests, so the REST layer and the
//! transport are judged by the same code.
#![forbid(unsafe_code)]

pub mod api_keys;
mod authc;
mod authz;
pub mod file_realm;
mod json_store;
pub mod native_realm;
mod password;
mod reserved;
pub mod role_store;
pub mod roles;
mod secret;
pub mod throttle;
pub mod tokens;

pub use api_keys::{ApiKeyFilter, ApiKeyStore, CreatedApiKey};
pub use authc::{
    ANONYMOUS_REALM, AnonymousAccess, ApiKeyRef, AuthcError, Authentication, Authenticator,
    Credentials, RealmConfig, RealmKind, RealmRef, User,
};
pub use authz::{AUTHENTICATE_ACTION, Authorizer, AuthzError, MANAGE_ANY_API_KEY, UserScope};
pub use file_realm::FileRealm;
pub use native_realm::{NativeRealm, PutUser, RealmError};
pub use password::{
    CredentialCache, HashAlgorithm, generate_password, hash_algorithm, hash_password,
    hash_password_with, set_hash_algorithm, verify_password,
};
pub use reserved::{RESERVED_USERS, ReservedUserStore};
pub use role_store::{RoleSource, RoleStore};
pub use roles::Permissions;
pub use secret::SecretString;
pub use throttle::{Throttle, ThrottlePolicy};
pub use tokens::{IssuedToken, RefreshError, TokenStore};
