//! Elasticsearch's REST routes, each translated into an [`ActionRequest`].

use std::time::Duration;

use hyper::Method;
use rampart_action::{
    ActionRequest, ApiKeyGrant, ApiKeySelector, ClusterHealthRequest, CreateApiKeyRequest, EsError,
    HealthStatus, InvalidateTokens, NodeCountCondition, PutUserRequest, Secret, TokenGrant,
};
use serde_json::{Map, Value};

/// Query parameters every route accepts, as in Elasticsearch.
const GLOBAL_PARAMS: &[&str] = &["pretty", "human", "error_trace", "filter_path"];

pub(crate) type Build =
    fn(&matchit::Params<'_, '_>, &[(String, String)], &[u8]) -> Result<ActionRequest, EsError>;

pub(crate) struct Endpoint {
    pub(crate) method: Method,
    pub(crate) params: &'static [&'static str],
    pub(crate) accepts_body: bool,
    pub(crate) build: Build,
}

pub(crate) enum Routed {
    Action(ActionRequest),
    NoRoute,
    MethodNotAllowed(Vec<Method>),
    Invalid(EsError),
}

pub(crate) struct Routes {
    router: matchit::Router<Vec<Endpoint>>,
}

fn index_list(params: &matchit::Params<'_, '_>) -> Vec<String> {
    params
        .get("index")
        .map(|s| {
            s.split(',')
                .filter(|i| !i.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

const HEALTH_PARAMS: &[&str] = &[
    "expand_wildcards",
    "level",
    "local",
    "master_timeout",
    "timeout",
    "wait_for_active_shards",
    "wait_for_events",
    "wait_for_no_initializing_shards",
    "wait_for_no_relocating_shards",
    "wait_for_nodes",
    "wait_for_status",
];

pub(crate) fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn invalid_value(name: &str, value: &str, expected: &str) -> EsError {
    EsError::bad_request(format!(
        "invalid value [{value}] for parameter [{name}]: expected {expected}"
    ))
}

fn parse_node_condition(value: &str) -> Option<NodeCountCondition> {
    let value = value.trim();
    let number = |s: &str| s.trim().parse::<u32>().ok();
    let function = |name: &str| {
        value
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(number)
    };
    if let Some(n) = value
        .strip_prefix(">=")
        .and_then(number)
        .or_else(|| function("ge"))
    {
        Some(NodeCountCondition::Ge(n))
    } else if let Some(n) = value
        .strip_prefix("<=")
        .and_then(number)
        .or_else(|| function("le"))
    {
        Some(NodeCountCondition::Le(n))
    } else if let Some(n) = value
        .strip_prefix('>')
        .and_then(number)
        .or_else(|| function("gt"))
    {
        Some(NodeCountCondition::Gt(n))
    } else if let Some(n) = value
        .strip_prefix('<')
        .and_then(number)
        .or_else(|| function("lt"))
    {
        Some(NodeCountCondition::Lt(n))
    } else {
        number(value).map(NodeCountCondition::Eq)
    }
}

fn cluster_health(
    params: &matchit::Params<'_, '_>,
    query: &[(String, String)],
    _body: &[u8],
) -> Result<ActionRequest, EsError> {
    let index_level = match param(query, "level") {
        None | Some("cluster") => false,
        Some("indices" | "shards") => true,
        Some(other) => return Err(invalid_value("level", other, "cluster, indices or shards")),
    };
    let wait_for_status = match param(query, "wait_for_status") {
        None => None,
        Some("green") => Some(HealthStatus::Green),
        Some("yellow") => Some(HealthStatus::Yellow),
        Some("red") => Some(HealthStatus::Red),
        Some(other) => {
            return Err(invalid_value(
                "wait_for_status",
                other,
                "green, yellow or red",
            ));
        }
    };
    let wait_for_nodes =
        match param(query, "wait_for_nodes") {
            None | Some("") => None,
            Some(v) => Some(parse_node_condition(v).ok_or_else(|| {
                invalid_value("wait_for_nodes", v, "N, >=N, <=N, >N, <N or ge(N)")
            })?),
        };
    let timeout = match param(query, "timeout") {
        None => Duration::from_secs(30),
        Some(v) => rampart_config::parse_time_value(v)
            .map_err(|e| invalid_value("timeout", v, &format!("a time value ({e})")))?,
    };
    Ok(ActionRequest::ClusterHealth(ClusterHealthRequest {
        indices: index_list(params),
        index_level,
        wait_for_status,
        wait_for_nodes,
        timeout,
    }))
}

fn parse_error(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parse_exception", reason)
}

/// A JSON object body, required.
fn json_object(body: &[u8], what: &str) -> Result<Map<String, Value>, EsError> {
    if body.is_empty() {
        return Err(parse_error(format!("request body is required for {what}")));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(parse_error(format!(
            "the body of {what} must be a JSON object"
        ))),
        Err(e) => Err(parse_error(format!(
            "failed to parse the body of {what}: {e}"
        ))),
    }
}

fn string_field(map: &mut Map<String, Value>, field: &str) -> Result<Option<String>, EsError> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(parse_error(format!("[{field}] must be a string"))),
    }
}

fn username(params: &matchit::Params<'_, '_>) -> String {
    params.get("name").unwrap_or_default().to_string()
}

fn put_user(
    params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "a put user request")?;
    let password = string_field(&mut map, "password")?.map(Secret::new);
    let password_hash = string_field(&mut map, "password_hash")?.map(Secret::new);
    let roles = match map.remove("roles") {
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(parse_error("[roles] must be an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            return Err(parse_error(
                "[roles] is required: give a list, possibly empty",
            ));
        }
        Some(_) => return Err(parse_error("[roles] must be an array of strings")),
    };
    let full_name = string_field(&mut map, "full_name")?;
    let email = string_field(&mut map, "email")?;
    let metadata = match map.remove("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => return Err(parse_error("[metadata] must be an object")),
    };
    let enabled = match map.remove("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        Some(_) => return Err(parse_error("[enabled] must be true or false")),
    };
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse add user request: unexpected field [{field}]"
        )));
    }
    Ok(ActionRequest::PutUser(PutUserRequest {
        username: username(params),
        password,
        password_hash,
        roles,
        full_name,
        email,
        metadata,
        enabled,
    }))
}

fn change_password(
    params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "a change password request")?;
    let password =
        string_field(&mut map, "password")?.ok_or_else(|| parse_error("[password] is required"))?;
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse change password request: unexpected field [{field}]"
        )));
    }
    Ok(ActionRequest::ChangePassword {
        username: params.get("name").map(str::to_string),
        password: Secret::new(password),
    })
}

fn create_api_key(
    _params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "a create API key request")?;
    let name = string_field(&mut map, "name")?.ok_or_else(|| parse_error("[name] is required"))?;
    let expiration = match string_field(&mut map, "expiration")? {
        None => None,
        Some(v) => Some(rampart_config::parse_time_value(&v).map_err(|e| {
            parse_error(format!("[expiration] must be a time value such as 7d: {e}"))
        })?),
    };
    let object = |map: &mut Map<String, Value>, field: &str| match map.remove(field) {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(parse_error(format!("[{field}] must be an object"))),
    };
    let role_descriptors = object(&mut map, "role_descriptors")?;
    let metadata = object(&mut map, "metadata")?;
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse create API key request: unexpected field [{field}]"
        )));
    }
    Ok(ActionRequest::CreateApiKey(CreateApiKeyRequest {
        name,
        expiration,
        role_descriptors,
        metadata,
    }))
}

fn grant_api_key(
    params: &matchit::Params<'_, '_>,
    query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "a grant API key request")?;
    let grant_type = string_field(&mut map, "grant_type")?
        .ok_or_else(|| parse_error("[grant_type] is required"))?;
    let grant = match grant_type.as_str() {
        "password" => ApiKeyGrant::Password {
            username: string_field(&mut map, "username")?
                .ok_or_else(|| parse_error("[username] is required for the password grant"))?,
            password: string_field(&mut map, "password")?
                .map(Secret::new)
                .ok_or_else(|| parse_error("[password] is required for the password grant"))?,
        },
        "access_token" => ApiKeyGrant::AccessToken {
            token: string_field(&mut map, "access_token")?
                .map(Secret::new)
                .ok_or_else(|| {
                    parse_error("[access_token] is required for the access_token grant")
                })?,
        },
        other => {
            return Err(EsError::bad_request(format!(
                "grant_type [{other}] is not supported: use password or access_token"
            )));
        }
    };
    let api_key = match map.remove("api_key") {
        Some(v @ Value::Object(_)) => v,
        _ => return Err(parse_error("[api_key] is required and must be an object")),
    };
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse grant API key request: unexpected field [{field}]"
        )));
    }
    let body = serde_json::to_vec(&api_key).map_err(|e| parse_error(e.to_string()))?;
    match create_api_key(params, query, &body)? {
        ActionRequest::CreateApiKey(request) => Ok(ActionRequest::GrantApiKey { grant, request }),
        _ => Err(parse_error(
            "the [api_key] of a grant is not an API key request",
        )),
    }
}

fn flag(value: Option<&str>, name: &str) -> Result<bool, EsError> {
    match value {
        None | Some("false") => Ok(false),
        Some("" | "true") => Ok(true),
        Some(other) => Err(invalid_value(name, other, "true or false")),
    }
}

fn get_api_keys(
    _params: &matchit::Params<'_, '_>,
    query: &[(String, String)],
    _body: &[u8],
) -> Result<ActionRequest, EsError> {
    let selector = ApiKeySelector {
        ids: param(query, "id")
            .map(|i| vec![i.to_string()])
            .unwrap_or_default(),
        name: param(query, "name").map(str::to_string),
        owner: flag(param(query, "owner"), "owner")?,
        username: param(query, "username").map(str::to_string),
        realm_name: param(query, "realm_name").map(str::to_string),
    };
    owner_alone(&selector)?;
    Ok(ActionRequest::GetApiKeys(selector))
}

/// `owner` means the caller: naming another user or realm alongside it is a contradiction.
fn owner_alone(selector: &ApiKeySelector) -> Result<(), EsError> {
    if selector.owner && (selector.username.is_some() || selector.realm_name.is_some()) {
        return Err(EsError::bad_request(
            "[owner] cannot be combined with [username] or [realm_name]",
        ));
    }
    Ok(())
}

fn invalidate_api_keys(
    _params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "an invalidate API key request")?;
    let mut ids = match map.remove("ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(parse_error("[ids] must be an array of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(parse_error("[ids] must be an array of strings")),
    };
    if let Some(id) = string_field(&mut map, "id")? {
        ids.push(id);
    }
    let owner = match map.remove("owner") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(parse_error("[owner] must be true or false")),
    };
    let selector = ApiKeySelector {
        ids,
        name: string_field(&mut map, "name")?,
        owner,
        username: string_field(&mut map, "username")?,
        realm_name: string_field(&mut map, "realm_name")?,
    };
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse invalidate API key request: unexpected field [{field}]"
        )));
    }
    owner_alone(&selector)?;
    if selector.ids.is_empty()
        && selector.name.is_none()
        && !selector.owner
        && selector.username.is_none()
        && selector.realm_name.is_none()
    {
        return Err(EsError::bad_request(
            "one of [ids], [name], [owner], [username] or [realm_name] must be given",
        ));
    }
    Ok(ActionRequest::InvalidateApiKeys(selector))
}

fn create_token(
    _params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "a create token request")?;
    let grant_type = string_field(&mut map, "grant_type")?
        .ok_or_else(|| parse_error("[grant_type] is required"))?;
    let grant = match grant_type.as_str() {
        "password" => TokenGrant::Password {
            username: string_field(&mut map, "username")?
                .ok_or_else(|| parse_error("[username] is required for the password grant"))?,
            password: string_field(&mut map, "password")?
                .map(Secret::new)
                .ok_or_else(|| parse_error("[password] is required for the password grant"))?,
        },
        "client_credentials" => TokenGrant::ClientCredentials,
        "refresh_token" => TokenGrant::RefreshToken {
            refresh_token: string_field(&mut map, "refresh_token")?
                .map(Secret::new)
                .ok_or_else(|| {
                    parse_error("[refresh_token] is required for the refresh_token grant")
                })?,
        },
        other => {
            return Err(EsError::bad_request(format!(
                "grant_type [{other}] is not supported: use password, client_credentials or \
                 refresh_token"
            )));
        }
    };
    // `scope` is accepted as Elasticsearch does ("full" is the only scope).
    let _ = string_field(&mut map, "scope")?;
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse create token request: unexpected field [{field}]"
        )));
    }
    Ok(ActionRequest::CreateToken(grant))
}

fn invalidate_tokens(
    _params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "an invalidate token request")?;
    let request = InvalidateTokens {
        token: string_field(&mut map, "token")?.map(Secret::new),
        refresh_token: string_field(&mut map, "refresh_token")?.map(Secret::new),
        realm_name: string_field(&mut map, "realm_name")?,
        username: string_field(&mut map, "username")?,
    };
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse invalidate token request: unexpected field [{field}]"
        )));
    }
    let given = [
        request.token.is_some(),
        request.refresh_token.is_some(),
        request.realm_name.is_some() || request.username.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(EsError::bad_request(
            "give exactly one of [token], [refresh_token], or [realm_name] and/or [username]",
        ));
    }
    Ok(ActionRequest::InvalidateTokens(request))
}

fn has_privileges(
    _params: &matchit::Params<'_, '_>,
    _query: &[(String, String)],
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut map = json_object(body, "a has privileges request")?;
    let strings = |value: Value, field: &str| -> Result<Vec<String>, EsError> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(parse_error(format!("[{field}] must hold strings"))),
                })
                .collect(),
            Value::String(s) => Ok(vec![s]),
            _ => Err(parse_error(format!(
                "[{field}] must be an array of strings"
            ))),
        }
    };
    let cluster = match map.remove("cluster") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => strings(v, "cluster")?,
    };
    let mut index = Vec::new();
    match map.remove("index") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for entry in entries {
                let Value::Object(mut entry) = entry else {
                    return Err(parse_error("each [index] entry must be an object"));
                };
                let names = strings(entry.remove("names").unwrap_or(Value::Null), "names")?;
                let privileges = strings(
                    entry.remove("privileges").unwrap_or(Value::Null),
                    "privileges",
                )?;
                entry.remove("allow_restricted_indices");
                if let Some(field) = entry.keys().next() {
                    return Err(parse_error(format!(
                        "[index] entry: unexpected field [{field}]"
                    )));
                }
                index.push((names, privileges));
            }
        }
        Some(_) => return Err(parse_error("[index] must be an array")),
    }
    if let Some(Value::Array(apps)) = map.remove("application")
        && !apps.is_empty()
    {
        return Err(EsError::bad_request(
            "application privileges are not supported: remove [application]",
        ));
    }
    if let Some(field) = map.keys().next() {
        return Err(parse_error(format!(
            "failed to parse has privileges request: unexpected field [{field}]"
        )));
    }
    Ok(ActionRequest::HasPrivileges { cluster, index })
}

/// Query parameters of the security write APIs.
const SECURITY_WRITE_PARAMS: &[&str] = &["refresh"];

impl Routes {
    pub(crate) fn new() -> Self {
        let mut router = matchit::Router::new();
        let main = |method| Endpoint {
            method,
            params: &[],
            accepts_body: false,
            build: |_, _, _| Ok(ActionRequest::MainInfo),
        };
        let health = || Endpoint {
            method: Method::GET,
            params: HEALTH_PARAMS,
            accepts_body: false,
            build: cluster_health,
        };
        let write = |method, build| Endpoint {
            method,
            params: SECURITY_WRITE_PARAMS,
            accepts_body: true,
            build,
        };
        let routes: Vec<(&str, Vec<Endpoint>)> = vec![
            ("/", vec![main(Method::GET), main(Method::HEAD)]),
            ("/_cluster/health", vec![health()]),
            ("/_cluster/health/{index}", vec![health()]),
            (
                "/_security/_authenticate",
                vec![Endpoint {
                    method: Method::GET,
                    params: &[],
                    accepts_body: false,
                    build: |_, _, _| Ok(ActionRequest::Authenticate),
                }],
            ),
            (
                "/_security/user",
                vec![Endpoint {
                    method: Method::GET,
                    params: &[],
                    accepts_body: false,
                    build: |_, _, _| {
                        Ok(ActionRequest::GetUsers {
                            usernames: Vec::new(),
                        })
                    },
                }],
            ),
            (
                "/_security/user/{name}",
                vec![
                    write(Method::PUT, put_user),
                    write(Method::POST, put_user),
                    Endpoint {
                        method: Method::GET,
                        params: &[],
                        accepts_body: false,
                        build: |p, _, _| {
                            Ok(ActionRequest::GetUsers {
                                usernames: username(p).split(',').map(str::to_string).collect(),
                            })
                        },
                    },
                    Endpoint {
                        method: Method::DELETE,
                        params: SECURITY_WRITE_PARAMS,
                        accepts_body: false,
                        build: |p, _, _| {
                            Ok(ActionRequest::DeleteUser {
                                username: username(p),
                            })
                        },
                    },
                ],
            ),
            (
                "/_security/user/{name}/_enable",
                vec![
                    write(Method::PUT, |p, _, _| {
                        Ok(ActionRequest::SetUserEnabled {
                            username: username(p),
                            enabled: true,
                        })
                    }),
                    write(Method::POST, |p, _, _| {
                        Ok(ActionRequest::SetUserEnabled {
                            username: username(p),
                            enabled: true,
                        })
                    }),
                ],
            ),
            (
                "/_security/user/{name}/_disable",
                vec![
                    write(Method::PUT, |p, _, _| {
                        Ok(ActionRequest::SetUserEnabled {
                            username: username(p),
                            enabled: false,
                        })
                    }),
                    write(Method::POST, |p, _, _| {
                        Ok(ActionRequest::SetUserEnabled {
                            username: username(p),
                            enabled: false,
                        })
                    }),
                ],
            ),
            (
                "/_security/user/{name}/_password",
                vec![
                    write(Method::PUT, change_password),
                    write(Method::POST, change_password),
                ],
            ),
            (
                "/_security/realm/{realms}/_clear_cache",
                vec![Endpoint {
                    method: Method::POST,
                    params: &["usernames"],
                    accepts_body: false,
                    build: |p, q, _| {
                        let list = |s: &str| {
                            s.split(',')
                                .map(str::trim)
                                .filter(|x| !x.is_empty())
                                .map(str::to_string)
                                .collect::<Vec<_>>()
                        };
                        Ok(ActionRequest::ClearRealmCache {
                            realms: list(p.get("realms").unwrap_or_default()),
                            usernames: param(q, "usernames").map(list).unwrap_or_default(),
                        })
                    },
                }],
            ),
            (
                "/_security/api_key",
                vec![
                    write(Method::POST, create_api_key),
                    write(Method::PUT, create_api_key),
                    Endpoint {
                        method: Method::GET,
                        params: &["id", "name", "owner", "username", "realm_name"],
                        accepts_body: false,
                        build: get_api_keys,
                    },
                    write(Method::DELETE, invalidate_api_keys),
                ],
            ),
            (
                "/_security/role",
                vec![Endpoint {
                    method: Method::GET,
                    params: &[],
                    accepts_body: false,
                    build: |_, _, _| Ok(ActionRequest::GetRoles { names: Vec::new() }),
                }],
            ),
            (
                "/_security/role/{name}",
                vec![
                    write(Method::PUT, |p, _, b| {
                        Ok(ActionRequest::PutRole {
                            name: username(p),
                            body: Value::Object(json_object(b, "a put role request")?),
                        })
                    }),
                    write(Method::POST, |p, _, b| {
                        Ok(ActionRequest::PutRole {
                            name: username(p),
                            body: Value::Object(json_object(b, "a put role request")?),
                        })
                    }),
                    Endpoint {
                        method: Method::GET,
                        params: &[],
                        accepts_body: false,
                        build: |p, _, _| {
                            Ok(ActionRequest::GetRoles {
                                names: username(p).split(',').map(str::to_string).collect(),
                            })
                        },
                    },
                    Endpoint {
                        method: Method::DELETE,
                        params: SECURITY_WRITE_PARAMS,
                        accepts_body: false,
                        build: |p, _, _| Ok(ActionRequest::DeleteRole { name: username(p) }),
                    },
                ],
            ),
            (
                "/_security/user/_has_privileges",
                vec![
                    Endpoint {
                        method: Method::GET,
                        params: &[],
                        accepts_body: true,
                        build: has_privileges,
                    },
                    Endpoint {
                        method: Method::POST,
                        params: &[],
                        accepts_body: true,
                        build: has_privileges,
                    },
                ],
            ),
            (
                "/_security/user/_privileges",
                vec![Endpoint {
                    method: Method::GET,
                    params: &[],
                    accepts_body: false,
                    build: |_, _, _| Ok(ActionRequest::GetUserPrivileges),
                }],
            ),
            (
                "/_security/api_key/grant",
                vec![write(Method::POST, grant_api_key)],
            ),
            (
                "/_security/oauth2/token",
                vec![
                    write(Method::POST, create_token),
                    write(Method::DELETE, invalidate_tokens),
                ],
            ),
            (
                "/_security/user/_password",
                vec![
                    write(Method::PUT, change_password),
                    write(Method::POST, change_password),
                ],
            ),
        ];
        for (path, endpoints) in routes.into_iter().chain(crate::data_routes::routes()) {
            if let Err(e) = router.insert(path, endpoints) {
                unreachable!("route table is static and conflict-free: {path}: {e}");
            }
        }
        Routes { router }
    }

    pub(crate) fn route(
        &self,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
    ) -> Routed {
        let Ok(matched) = self.router.at(path) else {
            return Routed::NoRoute;
        };
        let Some(endpoint) = matched.value.iter().find(|e| e.method == *method) else {
            return Routed::MethodNotAllowed(
                matched.value.iter().map(|e| e.method.clone()).collect(),
            );
        };
        for (name, _) in query {
            if !GLOBAL_PARAMS.contains(&name.as_str()) && !endpoint.params.contains(&name.as_str())
            {
                return Routed::Invalid(EsError::bad_request(format!(
                    "request [{path}] contains unrecognized parameter: [{name}]"
                )));
            }
        }
        if !body.is_empty() && !endpoint.accepts_body {
            return Routed::Invalid(EsError::bad_request(format!(
                "request [{method} {path}] does not support having a body"
            )));
        }
        match (endpoint.build)(&matched.params, query, body) {
            Ok(action) => Routed::Action(action),
            Err(error) => Routed::Invalid(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str, query: &[(&str, &str)]) -> Routed {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Routes::new().route(&method, path, &q, &[])
    }

    #[test]
    fn routes_become_actions() {
        assert!(matches!(
            route(Method::GET, "/", &[]),
            Routed::Action(ActionRequest::MainInfo)
        ));
        assert!(matches!(
            route(Method::HEAD, "/", &[("pretty", "")]),
            Routed::Action(ActionRequest::MainInfo)
        ));
        match route(
            Method::GET,
            "/_cluster/health/a,b",
            &[
                ("wait_for_status", "green"),
                ("timeout", "2s"),
                ("wait_for_nodes", ">=2"),
            ],
        ) {
            Routed::Action(ActionRequest::ClusterHealth(h)) => {
                assert_eq!(h.indices, ["a", "b"]);
                assert_eq!(h.wait_for_status, Some(HealthStatus::Green));
                assert_eq!(h.timeout, Duration::from_secs(2));
                assert_eq!(h.wait_for_nodes, Some(NodeCountCondition::Ge(2)));
            }
            _ => panic!("expected health"),
        }
        for (name, value) in [
            ("wait_for_status", "purple"),
            ("level", "galaxy"),
            ("timeout", "soon"),
            ("wait_for_nodes", "many"),
        ] {
            match route(Method::GET, "/_cluster/health", &[(name, value)]) {
                Routed::Invalid(e) => assert!(e.reason.contains(name), "{}", e.reason),
                _ => panic!("{name}={value} accepted"),
            }
        }
    }

    #[test]
    fn unknown_paths_methods_and_params_are_distinguished() {
        assert!(matches!(
            route(Method::GET, "/_nope/x/y", &[]),
            Routed::NoRoute
        ));
        assert!(
            matches!(route(Method::DELETE, "/", &[]), Routed::MethodNotAllowed(m) if m.len() == 2)
        );
        match route(Method::GET, "/", &[("bogus", "1")]) {
            Routed::Invalid(e) => assert_eq!(
                e.reason,
                "request [/] contains unrecognized parameter: [bogus]"
            ),
            _ => panic!("expected invalid"),
        }
        assert!(matches!(
            Routes::new().route(&Method::GET, "/", &[], b"abc"),
            Routed::Invalid(_)
        ));
    }
}
