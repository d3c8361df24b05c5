//! The action vocabulary shared by every way into a node: each operation is an
//! [`ActionRequest`] with an Elasticsearch action name (`cluster:monitor/main`, ...) and the
//! index expressions it touches, answered by an [`ActionResponse`] or an [`EsError`] in
//! Elasticsearch's error shape.
//!
//! This crate owns those types and nothing else: it must never depend on HTTP, TLS or storage,
//! so the REST layer and the transport can both produce actions and security can judge them.
#![forbid(unsafe_code)]

use std::time::Duration;

pub mod data;
pub use data::DataRequest;

use serde_json::{Value, json};

/// A secret carried by an action (a password): zeroized on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(zeroize::Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `PUT /_security/user/{name}`.
#[derive(Debug, Clone)]
pub struct PutUserRequest {
    pub username: String,
    pub password: Option<Secret>,
    pub password_hash: Option<Secret>,
    pub roles: Vec<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub metadata: Option<Value>,
    pub enabled: Option<bool>,
}

/// `POST|PUT /_security/api_key`.
#[derive(Debug, Clone)]
pub struct CreateApiKeyRequest {
    pub name: String,
    pub expiration: Option<std::time::Duration>,
    pub role_descriptors: Value,
    pub metadata: Value,
}

/// The grant of `POST /_security/oauth2/token`.
#[derive(Debug, Clone)]
pub enum TokenGrant {
    /// A token for another user, proven by that user's password.
    Password { username: String, password: Secret },
    /// A token for the caller, without a refresh token.
    ClientCredentials,
    /// A new pair for a refresh token (used once).
    RefreshToken { refresh_token: Secret },
}

/// The credentials of `POST /_security/api_key/grant`.
#[derive(Debug, Clone)]
pub enum ApiKeyGrant {
    Password { username: String, password: Secret },
    AccessToken { token: Secret },
}

/// `DELETE /_security/oauth2/token`: which tokens to invalidate.
#[derive(Debug, Clone, Default)]
pub struct InvalidateTokens {
    pub token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    pub realm_name: Option<String>,
    pub username: Option<String>,
}

/// Which API keys a get or invalidate request means.
#[derive(Debug, Clone, Default)]
pub struct ApiKeySelector {
    pub ids: Vec<String>,
    pub name: Option<String>,
    /// Only the caller's own keys.
    pub owner: bool,
    pub username: Option<String>,
    pub realm_name: Option<String>,
}

/// An operation a node can execute. Authorization sees [`ActionRequest::name`] and
/// [`ActionRequest::indices`], never a URL.
#[derive(Debug, Clone)]
pub enum ActionRequest {
    /// `GET /`: who this node is.
    MainInfo,
    /// `GET /_cluster/health[/{index}]`.
    ClusterHealth(ClusterHealthRequest),
    /// `GET /_security/_authenticate`: who the caller is.
    Authenticate,
    PutUser(PutUserRequest),
    /// `GET /_security/user[/{names}]`; empty means all.
    GetUsers {
        usernames: Vec<String>,
    },
    DeleteUser {
        username: String,
    },
    SetUserEnabled {
        username: String,
        enabled: bool,
    },
    /// `POST /_security/user[/{name}]/_password`; `None` means the caller.
    ChangePassword {
        username: Option<String>,
        password: Secret,
    },
    CreateApiKey(CreateApiKeyRequest),
    /// `POST /_security/api_key/grant`: a key for the user the grant proves.
    GrantApiKey {
        grant: ApiKeyGrant,
        request: CreateApiKeyRequest,
    },
    GetApiKeys(ApiKeySelector),
    InvalidateApiKeys(ApiKeySelector),
    /// `POST /_security/realm/{realms}/_clear_cache[?usernames=...]`.
    ClearRealmCache {
        realms: Vec<String>,
        usernames: Vec<String>,
    },
    /// `POST /_security/oauth2/token`.
    CreateToken(TokenGrant),
    /// `DELETE /_security/oauth2/token`.
    InvalidateTokens(InvalidateTokens),
    /// `PUT|POST /_security/role/{name}`.
    PutRole {
        name: String,
        body: Value,
    },
    /// `GET /_security/role[/{names}]`; empty means all.
    GetRoles {
        names: Vec<String>,
    },
    DeleteRole {
        name: String,
    },
    /// `GET|POST /_security/user/_has_privileges`.
    HasPrivileges {
        cluster: Vec<String>,
        /// `(index names, privileges)` pairs.
        index: Vec<(Vec<String>, Vec<String>)>,
    },
    /// `GET /_security/user/_privileges`.
    GetUserPrivileges,
    /// Index and document operations, executed by the engine.
    Data(DataRequest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HealthStatus {
    Green,
    Yellow,
    Red,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Green => "green",
            HealthStatus::Yellow => "yellow",
            HealthStatus::Red => "red",
        }
    }
}

/// A node-count condition of `wait_for_nodes`: `N`, `>=N`, `<=N`, `>N`, `<N`, `ge(N)`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCountCondition {
    Eq(u32),
    Ge(u32),
    Le(u32),
    Gt(u32),
    Lt(u32),
}

impl NodeCountCondition {
    pub fn holds(self, nodes: u32) -> bool {
        match self {
            NodeCountCondition::Eq(n) => nodes == n,
            NodeCountCondition::Ge(n) => nodes >= n,
            NodeCountCondition::Le(n) => nodes <= n,
            NodeCountCondition::Gt(n) => nodes > n,
            NodeCountCondition::Lt(n) => nodes < n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealthRequest {
    pub indices: Vec<String>,
    /// `level=indices|shards` adds an `indices` object to the response.
    pub index_level: bool,
    pub wait_for_status: Option<HealthStatus>,
    pub wait_for_nodes: Option<NodeCountCondition>,
    /// How long to wait for the conditions before answering 408 with `timed_out: true`.
    pub timeout: Duration,
}

impl ActionRequest {
    /// Elasticsearch's action name, as roles and audit logs spell it.
    pub fn name(&self) -> &'static str {
        match self {
            ActionRequest::MainInfo => "cluster:monitor/main",
            ActionRequest::ClusterHealth(_) => "cluster:monitor/health",
            ActionRequest::Authenticate => "cluster:admin/xpack/security/user/authenticate",
            ActionRequest::PutUser(_) => "cluster:admin/xpack/security/user/put",
            ActionRequest::GetUsers { .. } => "cluster:admin/xpack/security/user/get",
            ActionRequest::DeleteUser { .. } => "cluster:admin/xpack/security/user/delete",
            ActionRequest::SetUserEnabled { .. } => "cluster:admin/xpack/security/user/set_enabled",
            ActionRequest::ChangePassword { .. } => {
                "cluster:admin/xpack/security/user/change_password"
            }
            ActionRequest::CreateApiKey(_) => "cluster:admin/xpack/security/api_key/create",
            ActionRequest::GrantApiKey { .. } => "cluster:admin/xpack/security/api_key/grant",
            ActionRequest::GetApiKeys(_) => "cluster:admin/xpack/security/api_key/get",
            ActionRequest::InvalidateApiKeys(_) => {
                "cluster:admin/xpack/security/api_key/invalidate"
            }
            ActionRequest::ClearRealmCache { .. } => {
                "cluster:admin/xpack/security/realm/cache/clear"
            }
            ActionRequest::CreateToken(_) => "cluster:admin/xpack/security/token/create",
            ActionRequest::InvalidateTokens(_) => "cluster:admin/xpack/security/token/invalidate",
            ActionRequest::PutRole { .. } => "cluster:admin/xpack/security/role/put",
            ActionRequest::GetRoles { .. } => "cluster:admin/xpack/security/role/get",
            ActionRequest::DeleteRole { .. } => "cluster:admin/xpack/security/role/delete",
            ActionRequest::HasPrivileges { .. } => {
                "cluster:admin/xpack/security/user/has_privileges"
            }
            ActionRequest::GetUserPrivileges => "cluster:admin/xpack/security/user/list_privileges",
            ActionRequest::Data(request) => request.name(),
        }
    }

    /// The index expressions the action touches (empty for cluster actions).
    pub fn indices(&self) -> &[String] {
        // Exhaustive on purpose: a new action must say which indices it touches, or
        // authorization would judge it as touching none.
        match self {
            ActionRequest::ClusterHealth(request) => &request.indices,
            ActionRequest::Data(request) => request.indices(),
            ActionRequest::MainInfo
            | ActionRequest::Authenticate
            | ActionRequest::PutUser(_)
            | ActionRequest::GetUsers { .. }
            | ActionRequest::DeleteUser { .. }
            | ActionRequest::SetUserEnabled { .. }
            | ActionRequest::ChangePassword { .. }
            | ActionRequest::CreateApiKey(_)
            | ActionRequest::GrantApiKey { .. }
            | ActionRequest::GetApiKeys(_)
            | ActionRequest::InvalidateApiKeys(_)
            | ActionRequest::ClearRealmCache { .. }
            | ActionRequest::CreateToken(_)
            | ActionRequest::InvalidateTokens(_)
            | ActionRequest::PutRole { .. }
            | ActionRequest::GetRoles { .. }
            | ActionRequest::DeleteRole { .. }
            | ActionRequest::HasPrivileges { .. }
            | ActionRequest::GetUserPrivileges => &[],
        }
    }
}

/// Which indices a request may touch, decided by security and applied by whoever resolves
/// index names (the engine): explicitly named indices that are not allowed fail the request,
/// those reached through wildcards or `_all` are left out, as Elasticsearch narrows them.
pub trait IndexScope: Send + Sync {
    /// May `action` touch `name` (an index or an alias)?
    fn allows(&self, action: &str, name: &str) -> bool;
    /// May `action` touch any index at all? When not, even a wildcard request is refused
    /// rather than answered empty, as Elasticsearch does.
    fn allows_action(&self, _action: &str) -> bool {
        true
    }
    /// What a read of an index may see (document- and field-level security). `names` are the
    /// index and its aliases: role entries naming any of them apply.
    fn restrictions(&self, _action: &str, _names: &[&str]) -> IndexRestrictions {
        IndexRestrictions::default()
    }
    /// The error for an explicit name that is not allowed.
    fn denied(&self, action: &str, names: &[String]) -> EsError;
    /// `Ok` when `action` may touch `name`, else the denial.
    fn require(&self, action: &str, name: &str) -> Result<(), EsError> {
        if self.allows(action, name) {
            Ok(())
        } else {
            Err(self.denied(action, &[name.to_string()]))
        }
    }
}

/// Whether a field (a full path such as `user.name`) may be seen.
pub type FieldPredicate = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Document- and field-level security for one index: documents must match `query`, and only
/// fields `fields` allows are shown or searchable. Both `None` means everything.
#[derive(Clone, Default)]
pub struct IndexRestrictions {
    pub query: Option<Value>,
    pub fields: Option<FieldPredicate>,
}

impl std::fmt::Debug for IndexRestrictions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexRestrictions")
            .field("query", &self.query)
            .field("fields", &self.fields.is_some())
            .finish()
    }
}

impl IndexRestrictions {
    pub fn is_restricted(&self) -> bool {
        self.query.is_some() || self.fields.is_some()
    }

    pub fn field_allowed(&self, field: &str) -> bool {
        self.fields.as_ref().is_none_or(|f| f(field))
    }
}

/// The scope of a node without security: everything.
#[derive(Debug, Clone, Copy)]
pub struct Unrestricted;

impl IndexScope for Unrestricted {
    fn allows(&self, _action: &str, _name: &str) -> bool {
        true
    }

    fn denied(&self, action: &str, names: &[String]) -> EsError {
        EsError::new(
            403,
            "security_exception",
            format!(
                "action [{action}] is unauthorized on indices [{}]",
                names.join(",")
            ),
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionResponse {
    pub status: u16,
    pub body: Value,
    /// A plain-text answer (`_cat` APIs without `format=json`); when set it is sent instead of
    /// `body`.
    pub text: Option<String>,
}

impl ActionResponse {
    pub fn with_status(status: u16, body: Value) -> Self {
        ActionResponse {
            status,
            body,
            text: None,
        }
    }

    pub fn ok(body: Value) -> Self {
        ActionResponse {
            status: 200,
            body,
            text: None,
        }
    }
}

/// An error in Elasticsearch's shape:
/// `{"error":{"root_cause":[{"type","reason"}],"type","reason"},"status":N}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EsError {
    pub status: u16,
    /// Elasticsearch answers a few errors (no handler for a URI, a wrong method) with a bare
    /// string: `{"error":"...","status":N}`.
    pub flat: bool,
    pub error_type: &'static str,
    pub reason: String,
    /// Response headers the error requires, such as `WWW-Authenticate` on a 401.
    pub headers: Vec<(&'static str, String)>,
}

impl EsError {
    pub fn new(status: u16, error_type: &'static str, reason: impl Into<String>) -> Self {
        EsError {
            status,
            flat: false,
            error_type,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        EsError::new(400, "illegal_argument_exception", reason)
    }

    /// An error Elasticsearch renders as a bare string.
    pub fn flat(status: u16, reason: impl Into<String>) -> Self {
        EsError {
            flat: true,
            ..EsError::new(status, "", reason)
        }
    }

    pub fn to_json(&self) -> Value {
        if self.flat {
            return json!({"error": self.reason, "status": self.status});
        }
        json!({
            "error": {
                "root_cause": [{"type": self.error_type, "reason": self.reason}],
                "type": self.error_type,
                "reason": self.reason,
            },
            "status": self.status,
        })
    }
}

impl std::fmt::Display for EsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}: {}", self.status, self.error_type, self.reason)
    }
}

impl std::error::Error for EsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_elasticsearch_shape() {
        let e = EsError::new(403, "security_exception", "nope");
        assert_eq!(
            e.to_json(),
            json!({"error":{"root_cause":[{"type":"security_exception","reason":"nope"}],
                   "type":"security_exception","reason":"nope"},"status":403})
        );
    }

    #[test]
    fn flat_errors_are_bare_strings() {
        assert_eq!(
            EsError::flat(400, "no handler found for uri [/x] and method [GET]").to_json(),
            json!({"error": "no handler found for uri [/x] and method [GET]", "status": 400})
        );
    }

    #[test]
    fn actions_carry_elasticsearch_names() {
        assert_eq!(ActionRequest::MainInfo.name(), "cluster:monitor/main");
        let health = ActionRequest::ClusterHealth(ClusterHealthRequest {
            indices: vec!["logs-*".into()],
            index_level: false,
            wait_for_status: None,
            wait_for_nodes: None,
            timeout: Duration::from_secs(30),
        });
        assert_eq!(health.name(), "cluster:monitor/health");
        assert_eq!(health.indices(), ["logs-*".to_string()]);
    }
}
