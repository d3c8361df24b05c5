//! The request pipeline every action goes through: authenticate, authorize, execute.

use std::sync::Arc;

use rampart_action::{
    ActionRequest, ActionResponse, ApiKeyGrant, ClusterHealthRequest, EsError, HealthStatus,
    TokenGrant,
};
use rampart_rest::{ActionHandler, RequestContext};
use rampart_security::{
    AuthcError, Authentication, Authenticator, Authorizer, Credentials, MANAGE_ANY_API_KEY,
    Throttle, UserScope,
};

use crate::{api_keys, tokens, users};
use serde_json::json;

/// The Elasticsearch REST API version Rampart answers as.
pub const ES_COMPATIBLE_VERSION: &str = "8.17.0";

#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub node_id: String,
    pub node_name: String,
    pub cluster_name: String,
    pub cluster_uuid: String,
}

#[derive(Debug)]
pub struct Pipeline {
    /// `None` when `xpack.security.enabled` is false: every request runs unauthenticated.
    authenticator: Option<Arc<Authenticator>>,
    /// `None` when failed-login throttling is off.
    throttle: Option<Throttle>,
    identity: NodeIdentity,
    engine: Arc<rampart_engine::Engine>,
    /// `None` unless `xpack.security.authc.anonymous.roles` is set.
    anonymous: Option<rampart_security::AnonymousAccess>,
    /// `None` when security is disabled.
    authorizer: Option<Arc<Authorizer>>,
}

fn unauthenticated(error: &AuthcError, context: &RequestContext) -> EsError {
    EsError::new(
        401,
        "security_exception",
        error.reason(&context.description),
    )
    .with_header(
        "www-authenticate",
        r#"Basic realm="security", charset="UTF-8""#,
    )
    .with_header("www-authenticate", "ApiKey")
    .with_header("www-authenticate", r#"Bearer realm="security""#)
}

/// `GET /_security/_authenticate`'s body for an authentication.
pub fn authentication_json(a: &Authentication) -> serde_json::Value {
    let realm = |r: &rampart_security::RealmRef| json!({"name": r.name, "type": r.realm_type});
    // An API key acts with its own (limited) privileges, not as a holder of roles.
    let roles = if a.api_key.is_some() {
        Vec::new()
    } else {
        a.user.roles.clone()
    };
    let mut body = json!({
        "username": a.user.username,
        "roles": roles,
        "full_name": a.user.full_name,
        "email": a.user.email,
        "metadata": a.user.metadata,
        "enabled": a.user.enabled,
        "authentication_realm": realm(&a.authentication_realm),
        "lookup_realm": realm(&a.lookup_realm),
        "authentication_type": a.authentication_type,
    });
    if let Some(key) = &a.api_key {
        body["api_key"] = json!({"id": key.id, "name": key.name});
    }
    body
}

impl Pipeline {
    pub fn new(
        authenticator: Option<Arc<Authenticator>>,
        throttle: Option<Throttle>,
        identity: NodeIdentity,
        engine: Arc<rampart_engine::Engine>,
    ) -> Self {
        Pipeline {
            authenticator,
            throttle,
            identity,
            engine,
            anonymous: None,
            authorizer: None,
        }
    }

    /// Judges every authenticated request by the roles of its identity.
    pub fn with_authorizer(mut self, authorizer: Arc<Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    /// Requests without credentials act as this user instead of failing with 401.
    pub fn with_anonymous(mut self, anonymous: Option<rampart_security::AnonymousAccess>) -> Self {
        self.anonymous = anonymous;
        self
    }

    async fn authenticate_request(
        &self,
        credentials: Credentials,
        context: &RequestContext,
    ) -> Result<Option<Authentication>, EsError> {
        let Some(authenticator) = &self.authenticator else {
            return Ok(None);
        };
        if let (Credentials::None, Some(anonymous)) = (&credentials, &self.anonymous) {
            return Ok(Some(anonymous.authentication()));
        }
        let username = match &credentials {
            Credentials::Basic { username, .. } => Some(username.clone()),
            _ => None,
        };
        let address = context.remote_addr.ip();
        // Refused before any password is hashed: a locked-out guesser costs no bcrypt. Credentials
        // that verified recently (a cache hit, no hashing) still pass, so a shared address (a
        // proxy, Kibana) full of failures does not lock out the users who know their password.
        let cached = authenticator.authenticate_cached(&credentials);
        if let Some(throttle) = &self.throttle
            && let Err(wait) = throttle.check(username.as_deref(), address)
            && !matches!(cached, Some(Ok(_)))
        {
            let seconds = wait.as_secs().max(1);
            return Err(EsError::new(
                429,
                "security_exception",
                format!(
                    "too many failed authentication attempts for {}: retry after {seconds} seconds",
                    context.description
                ),
            )
            .with_header("retry-after", seconds.to_string()));
        }
        let presented = !matches!(credentials, Credentials::None);
        let result = match cached {
            Some(result) => result,
            None => {
                // Password hashing is deliberately slow: keep it off the async workers.
                let authenticator = Arc::clone(authenticator);
                tokio::task::spawn_blocking(move || authenticator.authenticate(&credentials))
                    .await
                    .map_err(|e| {
                        EsError::new(500, "exception", format!("authentication task failed: {e}"))
                    })?
            }
        };
        if let Some(throttle) = &self.throttle {
            match &result {
                Ok(authentication) => {
                    throttle.record_success(&authentication.user.username, address)
                }
                Err(_) if presented => throttle.record_failure(username.as_deref(), address),
                Err(_) => {}
            }
        }
        match result {
            Ok(authentication) => match &context.run_as {
                None => Ok(Some(authentication)),
                Some(target) => self.run_as(authenticator, authentication, target).map(Some),
            },
            Err(error) => {
                tracing::debug!(
                    "authentication failed for {} from {}",
                    context.description,
                    context.remote_addr
                );
                Err(unauthenticated(&error, context))
            }
        }
    }

    /// Role management and privilege questions; `None` for other actions.
    async fn role_action(
        &self,
        request: &ActionRequest,
        identity: &Identity,
    ) -> Option<Result<ActionResponse, EsError>> {
        let authorizer = match (&self.authorizer, request) {
            (
                Some(a),
                ActionRequest::PutRole { .. }
                | ActionRequest::GetRoles { .. }
                | ActionRequest::DeleteRole { .. }
                | ActionRequest::HasPrivileges { .. }
                | ActionRequest::GetUserPrivileges,
            ) => Arc::clone(a),
            (None, ActionRequest::PutRole { .. } | ActionRequest::GetRoles { .. }) => {
                return Some(Err(EsError::bad_request(
                    "security is disabled ([xpack.security.enabled: false]), so there are no roles",
                )));
            }
            _ => return None,
        };
        let caller = match identity {
            Identity(Some(a)) => Some(a.clone()),
            Identity(None) => None,
        };
        let request = request.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                crate::roles::execute(&authorizer, caller.as_ref(), request)
            })
            .await
            .unwrap_or_else(|e| {
                Err(EsError::new(
                    500,
                    "exception",
                    format!("the action failed: {e}"),
                ))
            }),
        )
    }

    /// A denial as the caller sees it: an anonymous caller gets a 401 challenge instead of a
    /// 403 when `xpack.security.authc.anonymous.authz_exception` is false.
    fn denial(&self, a: &Authentication, error: EsError, context: &RequestContext) -> EsError {
        let anonymous = a.authentication_type == "anonymous";
        if anonymous && self.anonymous.as_ref().is_some_and(|x| !x.authz_exception) {
            unauthenticated(&AuthcError::MissingCredentials, context)
        } else {
            error
        }
    }

    /// `es-security-runas-user`: the authenticated user acts as `target`, whom the realm chain
    /// looks up (no password); authorization then judges the target's roles.
    fn run_as(
        &self,
        authenticator: &Authenticator,
        authenticated: Authentication,
        target: &str,
    ) -> Result<Authentication, EsError> {
        let forbidden = |reason: String| EsError::new(403, "security_exception", reason);
        if target.trim().is_empty() {
            return Err(forbidden(
                "the [es-security-runas-user] header is empty: name the user to run as".into(),
            ));
        }
        let authorizer = self
            .authorizer
            .as_ref()
            .ok_or_else(|| forbidden("run_as needs security to be enabled".into()))?;
        authorizer
            .authorize_run_as(&authenticated, target)
            .map_err(|denied| forbidden(denied.reason))?;
        // A missing or disabled target is denied in the very words of an unauthorized one:
        // holding run_as on a pattern must not turn into a way to list the users it covers.
        authenticator
            .run_as(&authenticated, target)
            .ok_or_else(|| forbidden(Authorizer::run_as_denied(&authenticated, target).reason))
    }

    fn authenticator(&self) -> Result<&Arc<Authenticator>, EsError> {
        self.authenticator.as_ref().ok_or_else(|| {
            EsError::bad_request(
                "security is disabled ([xpack.security.enabled: false]), so there are no users to manage",
            )
        })
    }

    /// Runs a user action where password hashing and file writes cannot stall the async workers.
    async fn on_blocking_thread(
        &self,
        action: impl FnOnce(&Authenticator) -> Result<ActionResponse, EsError> + Send + 'static,
    ) -> Result<ActionResponse, EsError> {
        let authenticator = Arc::clone(self.authenticator()?);
        tokio::task::spawn_blocking(move || action(&authenticator))
            .await
            .map_err(|e| EsError::new(500, "exception", format!("the action failed: {e}")))?
    }

    async fn execute(&self, request: ActionRequest) -> Result<ActionResponse, EsError> {
        match request {
            ActionRequest::MainInfo => Ok(ActionResponse::ok(json!({
                "name": self.identity.node_name,
                "cluster_name": self.identity.cluster_name,
                "cluster_uuid": self.identity.cluster_uuid,
                "version": {
                    "number": ES_COMPATIBLE_VERSION,
                    "build_flavor": "default",
                    "build_type": "rampart",
                    // Official clients require these fields; a release build may set them.
                    "build_hash": option_env!("RAMPART_BUILD_HASH").unwrap_or("unknown"),
                    "build_date": option_env!("RAMPART_BUILD_DATE").unwrap_or("1970-01-01T00:00:00.000Z"),
                    "build_snapshot": false,
                    "lucene_version": "n/a",
                    "minimum_wire_compatibility_version": "7.17.0",
                    "minimum_index_compatibility_version": "7.0.0",
                },
                "tagline": "You Know, for Search",
                "rampart": { "version": env!("CARGO_PKG_VERSION") },
            }))),
            ActionRequest::ClusterHealth(request) => Ok(self.cluster_health(request).await),
            ActionRequest::Data(_) => Err(EsError::new(
                500,
                "exception",
                "an index action reached execute without its scope",
            )),
            // Answered in `handle`, which holds the identity.
            ActionRequest::Authenticate
            | ActionRequest::ChangePassword { .. }
            | ActionRequest::CreateApiKey(_)
            | ActionRequest::GetApiKeys(_)
            | ActionRequest::InvalidateApiKeys(_)
            | ActionRequest::CreateToken(_)
            | ActionRequest::InvalidateTokens(_)
            | ActionRequest::GrantApiKey { .. }
            | ActionRequest::PutRole { .. }
            | ActionRequest::GetRoles { .. }
            | ActionRequest::DeleteRole { .. }
            | ActionRequest::HasPrivileges { .. }
            | ActionRequest::GetUserPrivileges => Err(EsError::new(
                500,
                "exception",
                "an identity-bound action reached execute",
            )),
            ActionRequest::PutUser(request) => {
                self.on_blocking_thread(move |a| users::put(a, request))
                    .await
            }
            ActionRequest::GetUsers { usernames } => users::get(self.authenticator()?, &usernames),
            ActionRequest::ClearRealmCache { realms, usernames } => {
                self.authenticator()?.clear_cache(&realms, &usernames);
                Ok(ActionResponse::ok(json!({
                    "_nodes": {"total": 1, "successful": 1, "failed": 0},
                    "cluster_name": self.identity.cluster_name,
                    "nodes": {self.identity.node_id.clone(): {"name": self.identity.node_name}},
                })))
            }
            ActionRequest::DeleteUser { username } => {
                self.on_blocking_thread(move |a| users::delete(a, &username))
                    .await
            }
            ActionRequest::SetUserEnabled { username, enabled } => {
                self.on_blocking_thread(move |a| users::set_enabled(a, &username, enabled))
                    .await
            }
        }
    }

    /// Token grants and invalidation. A password grant checks a password, so it is throttled
    /// like a login: otherwise it would be a way around the throttle.
    async fn token_action(
        &self,
        request: ActionRequest,
        caller: Authentication,
        context: &RequestContext,
    ) -> Result<ActionResponse, EsError> {
        let address = context.remote_addr.ip();
        let grant_user = match &request {
            ActionRequest::CreateToken(TokenGrant::Password { username, .. })
            | ActionRequest::GrantApiKey {
                grant: ApiKeyGrant::Password { username, .. },
                ..
            } => Some(username.clone()),
            _ => None,
        };
        if let (Some(throttle), Some(username)) = (&self.throttle, &grant_user)
            && let Err(wait) = throttle.check(Some(username), address)
        {
            let seconds = wait.as_secs().max(1);
            return Err(EsError::new(
                429,
                "security_exception",
                format!("too many failed authentication attempts for [{username}]: retry after {seconds} seconds"),
            )
            .with_header("retry-after", seconds.to_string()));
        }
        let result = self
            .on_blocking_thread(move |authenticator| match request {
                ActionRequest::CreateToken(grant) => tokens::create(authenticator, &caller, grant),
                ActionRequest::InvalidateTokens(r) => tokens::invalidate(authenticator, r),
                ActionRequest::GrantApiKey { grant, request } => {
                    let store = authenticator.api_keys().ok_or_else(|| {
                        EsError::bad_request("API keys are not enabled on this node")
                    })?;
                    let owner = tokens::authenticate_grant(authenticator, grant)?;
                    api_keys::create(store, &owner, request)
                }
                _ => Err(EsError::new(500, "exception", "not a token action")),
            })
            .await;
        if let (Some(throttle), Some(username)) = (&self.throttle, &grant_user) {
            match &result {
                Ok(_) => throttle.record_success(username, address),
                Err(e) if e.status == 401 => throttle.record_failure(Some(username), address),
                Err(_) => {}
            }
        }
        result
    }

    /// `GET /_security/_authenticate`, with Elasticsearch's fields.
    fn authenticate_response(identity: &Identity) -> Result<ActionResponse, EsError> {
        let Identity(Some(a)) = identity else {
            return Err(EsError::bad_request(
                "security is disabled ([xpack.security.enabled: false]), so there is no \
                 authenticated user",
            ));
        };
        let body = authentication_json(a);
        Ok(ActionResponse::ok(body))
    }

    /// Elasticsearch's semantics: a concrete index that does not exist makes the status red and
    /// the request wait for it; any condition not met is waited for until `timeout`, then the
    /// answer is 408 with `timed_out: true`. One node holds every primary, so an index with
    /// replicas is yellow, as on a one-node Elasticsearch cluster.
    async fn cluster_health(&self, request: ClusterHealthRequest) -> ActionResponse {
        const NODES: u32 = 1;
        let deadline = tokio::time::Instant::now() + request.timeout;
        loop {
            let indices = self.engine.health(&request.indices);
            let status = match &indices {
                None => HealthStatus::Red,
                Some(list) if list.iter().any(|(_, h, _, _)| *h == "yellow") => {
                    HealthStatus::Yellow
                }
                Some(_) => HealthStatus::Green,
            };
            let met = indices.is_some()
                && request
                    .wait_for_status
                    .is_none_or(|wanted| status <= wanted)
                && request.wait_for_nodes.is_none_or(|c| c.holds(NODES));
            if !met && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            let list = indices.unwrap_or_default();
            let primaries: u64 = list.iter().map(|(_, _, p, _)| p).sum();
            let unassigned: u64 = list.iter().map(|(_, _, p, r)| p * r).sum();
            let percent = if primaries + unassigned == 0 {
                100.0
            } else {
                primaries as f64 * 100.0 / (primaries + unassigned) as f64
            };
            let mut body = json!({
                "cluster_name": self.identity.cluster_name,
                "status": status.as_str(),
                "timed_out": !met,
                "number_of_nodes": NODES,
                "number_of_data_nodes": NODES,
                "active_primary_shards": primaries,
                "active_shards": primaries,
                "relocating_shards": 0,
                "initializing_shards": 0,
                "unassigned_shards": unassigned,
                "unassigned_primary_shards": 0,
                "delayed_unassigned_shards": 0,
                "number_of_pending_tasks": 0,
                "number_of_in_flight_fetch": 0,
                "task_max_waiting_in_queue_millis": 0,
                "active_shards_percent_as_number": percent,
            });
            if request.index_level {
                let mut per_index = serde_json::Map::new();
                for (name, health, shards, replicas) in &list {
                    per_index.insert(
                        name.clone(),
                        json!({
                            "status": health,
                            "number_of_shards": shards,
                            "number_of_replicas": replicas,
                            "active_primary_shards": shards,
                            "active_shards": shards,
                            "relocating_shards": 0,
                            "initializing_shards": 0,
                            "unassigned_shards": shards * replicas,
                            "unassigned_primary_shards": 0,
                        }),
                    );
                }
                body["indices"] = serde_json::Value::Object(per_index);
            }
            return ActionResponse::with_status(if met { 200 } else { 408 }, body);
        }
    }
}

/// Proof that the pipeline authenticated a request; `None` inside when security is disabled.
#[derive(Debug)]
pub struct Identity(Option<Authentication>);

impl ActionHandler for Pipeline {
    type Identity = Identity;

    async fn authenticate(
        &self,
        credentials: Credentials,
        context: &RequestContext,
    ) -> Result<Identity, EsError> {
        self.authenticate_request(credentials, context)
            .await
            .map(Identity)
    }

    async fn handle(
        &self,
        request: ActionRequest,
        identity: Identity,
        context: &RequestContext,
    ) -> Result<ActionResponse, EsError> {
        // Users may change their own password, as in Elasticsearch: only when they logged in
        // with it (never through an API key, which must not take over its owner) and their
        // realm's passwords are managed by the API.
        let own_password = match (&request, &identity) {
            (ActionRequest::ChangePassword { username, .. }, Identity(Some(a))) => {
                // Only a password login: an API key, a bearer token or run_as must not take
                // over the account for good.
                a.authentication_type == "realm"
                    && a.api_key.is_none()
                    && a.authenticating_user.is_none()
                    && matches!(a.authentication_realm.realm_type, "native" | "reserved")
                    && username.as_deref().is_none_or(|u| u == a.user.username)
            }
            _ => false,
        };
        let mut request = request;
        let mut scope: Option<UserScope> = None;
        if let (Identity(Some(authentication)), Some(authorizer)) = (&identity, &self.authorizer)
            && !own_password
        {
            let permissions = authorizer.permissions(authentication);
            match &mut request {
                // Index actions are judged per index as the engine resolves names.
                ActionRequest::Data(data) if !data.is_cluster_level() => {
                    scope = Some(authorizer.scope(authentication, permissions));
                }
                other => {
                    authorizer
                        .authorize_cluster(authentication, &permissions, other.name())
                        .map_err(|denied| {
                            self.denial(
                                authentication,
                                EsError::new(403, "security_exception", denied.reason),
                                context,
                            )
                        })?;
                    // manage_own_api_key: only the caller's own keys.
                    if let ActionRequest::GetApiKeys(selector)
                    | ActionRequest::InvalidateApiKeys(selector) = other
                        && !permissions.allows_cluster(MANAGE_ANY_API_KEY)
                    {
                        selector.owner = true;
                        selector.username = None;
                        selector.realm_name = None;
                    }
                }
            }
        }
        if let ActionRequest::Data(mut data) = request {
            if let Identity(Some(a)) = &identity {
                data.set_owner(&context_owner(a));
            }
            // Writes fsync and searches read segments: keep them off the async workers.
            let engine = Arc::clone(&self.engine);
            let result = tokio::task::spawn_blocking(move || match &scope {
                Some(scope) => engine.execute(data, scope),
                None => engine.execute_unscoped(data),
            })
            .await
            .map_err(|e| EsError::new(500, "exception", format!("the action failed: {e}")))?;
            return result.map_err(|e| match &identity {
                Identity(Some(a)) if e.status == 403 => self.denial(a, e, context),
                _ => e,
            });
        }
        if let Some(response) = self.role_action(&request, &identity).await {
            return response;
        }
        if let ActionRequest::ChangePassword { username, password } = request {
            let Identity(Some(caller)) = identity else {
                return Err(EsError::bad_request(
                    "security is disabled ([xpack.security.enabled: false]), so there are no users",
                ));
            };
            return self
                .on_blocking_thread(move |authenticator| {
                    users::change_password(
                        authenticator,
                        authenticator.reserved_users(),
                        &caller,
                        username.as_deref(),
                        &password,
                    )
                })
                .await;
        }
        if let ActionRequest::CreateApiKey(_)
        | ActionRequest::GetApiKeys(_)
        | ActionRequest::InvalidateApiKeys(_) = &request
        {
            let Identity(Some(caller)) = identity else {
                return Err(EsError::bad_request(
                    "security is disabled ([xpack.security.enabled: false]), so there are no API keys",
                ));
            };
            return self
                .on_blocking_thread(move |authenticator| {
                    let store = authenticator.api_keys().ok_or_else(|| {
                        EsError::bad_request("API keys are not enabled on this node")
                    })?;
                    match request {
                        ActionRequest::CreateApiKey(r) => api_keys::create(store, &caller, r),
                        ActionRequest::GetApiKeys(s) => {
                            api_keys::get(store, |r| authenticator.realm_type(r), &caller, s)
                        }
                        ActionRequest::InvalidateApiKeys(s) => {
                            api_keys::invalidate(store, &caller, s)
                        }
                        _ => Err(EsError::new(500, "exception", "not an API key action")),
                    }
                })
                .await;
        }
        if let ActionRequest::CreateToken(_)
        | ActionRequest::InvalidateTokens(_)
        | ActionRequest::GrantApiKey { .. } = &request
        {
            let Identity(Some(caller)) = identity else {
                return Err(EsError::bad_request(
                    "security is disabled ([xpack.security.enabled: false]), so there are no tokens",
                ));
            };
            return self.token_action(request, caller, context).await;
        }
        if matches!(request, ActionRequest::Authenticate) {
            return Self::authenticate_response(&identity);
        }
        self.execute(request).await
    }
}

/// Who owns the scrolls and points in time a request opens: the effective user in the realm
/// that looked them up, and the API key when one authenticated (two keys of one user do not
/// share contexts, as in Elasticsearch).
fn context_owner(authentication: &Authentication) -> String {
    // Each part length-prefixed: names may hold any separator, and two identities must never
    // spell the same owner.
    let part = |s: &str| format!("{}:{s};", s.len());
    let mut owner = part(authentication.lookup_realm.name);
    owner.push_str(&part(&authentication.user.username));
    if let Some(key) = &authentication.api_key {
        owner.push_str(&part(&key.id));
    }
    owner
}
