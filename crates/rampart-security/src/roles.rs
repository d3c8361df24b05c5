//! Roles: Elasticsearch's role descriptors (cluster privileges, index privileges, run_as),
//! the built-in roles, their expansion into action-name patterns, and their compilation into
//! automata once, so a decision costs the same however many indices and patterns exist.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::RegexSet;
use serde_json::{Map, Value, json};

/// Cluster privileges, each as the action-name patterns it grants.
const CLUSTER_PRIVILEGES: &[(&str, &[&str])] = &[
    ("none", &[]),
    (
        "all",
        &[
            "cluster:*",
            "indices:admin/template/*",
            "indices:admin/index_template/*",
        ],
    ),
    ("monitor", &["cluster:monitor/*"]),
    // Cluster administration without security, as in Elasticsearch: managing users, roles
    // and keys needs manage_security.
    (
        "manage",
        &[
            "cluster:monitor/*",
            "cluster:admin/settings/*",
            "cluster:admin/reroute*",
            "cluster:admin/snapshot/*",
            "cluster:admin/repository/*",
            "cluster:admin/script/*",
            "cluster:admin/ingest/*",
            "cluster:admin/tasks/*",
            "cluster:admin/nodes/*",
            "cluster:admin/component_template/*",
            "indices:admin/template/*",
            "indices:admin/index_template/*",
        ],
    ),
    ("manage_security", &["cluster:admin/xpack/security/*"]),
    (
        "manage_api_key",
        &["cluster:admin/xpack/security/api_key/*"],
    ),
    (
        "manage_own_api_key",
        &[
            "cluster:admin/xpack/security/api_key/create",
            "cluster:admin/xpack/security/api_key/get",
            "cluster:admin/xpack/security/api_key/invalidate",
        ],
    ),
    (
        "grant_api_key",
        &["cluster:admin/xpack/security/api_key/grant"],
    ),
    ("manage_token", &["cluster:admin/xpack/security/token/*"]),
    (
        "read_security",
        &[
            "cluster:admin/xpack/security/user/get",
            "cluster:admin/xpack/security/role/get",
            "cluster:admin/xpack/security/api_key/get",
            "cluster:admin/xpack/security/privilege/get",
        ],
    ),
    (
        "manage_index_templates",
        &["indices:admin/template/*", "indices:admin/index_template/*"],
    ),
    (
        "transport_client",
        &["cluster:monitor/nodes/liveness", "cluster:monitor/state"],
    ),
];

/// Cluster privileges Elasticsearch has for features Rampart does not have yet: accepted, so
/// existing roles load, granting nothing (and logged once at load).
const CLUSTER_NO_OPS: &[&str] = &[
    "manage_ilm",
    "read_ilm",
    "manage_slm",
    "read_slm",
    "manage_pipeline",
    "manage_ingest_pipelines",
    "manage_ml",
    "monitor_ml",
    "manage_transform",
    "monitor_transform",
    "manage_watcher",
    "monitor_watcher",
    "manage_ccr",
    "read_ccr",
    "manage_rollup",
    "monitor_rollup",
    "manage_enrich",
    "monitor_enrich",
    "create_snapshot",
    "monitor_snapshot",
    "manage_logstash_pipelines",
    "manage_saml",
    "manage_oidc",
    "manage_service_account",
    "manage_user_profile",
    "manage_autoscaling",
    "monitor_text_structure",
    "cancel_task",
    "manage_data_frame_transforms",
    "monitor_data_frame_transforms",
    "manage_search_application",
    "manage_behavioral_analytics",
    "monitor_inference",
    "manage_inference",
];

/// Index privileges, each as the action-name patterns it grants.
const INDEX_PRIVILEGES: &[(&str, &[&str])] = &[
    ("none", &[]),
    ("all", &["indices:*"]),
    ("read", &["indices:data/read/*"]),
    ("read_cross_cluster", &["indices:data/read/*"]),
    (
        "write",
        &["indices:data/write/*", "indices:admin/mapping/auto_put"],
    ),
    (
        "index",
        &[
            "indices:data/write/index*",
            "indices:data/write/update*",
            "indices:data/write/bulk*",
            "indices:admin/mapping/auto_put",
        ],
    ),
    (
        "create",
        &[
            "indices:data/write/index*",
            "indices:data/write/bulk*",
            "indices:admin/mapping/auto_put",
        ],
    ),
    (
        "create_doc",
        &[
            "indices:data/write/index:op_type/create",
            "indices:data/write/bulk*",
            "indices:admin/mapping/auto_put",
        ],
    ),
    (
        "delete",
        &["indices:data/write/delete*", "indices:data/write/bulk*"],
    ),
    (
        "create_index",
        &["indices:admin/create", "indices:admin/auto_create"],
    ),
    ("delete_index", &["indices:admin/delete"]),
    ("manage", &["indices:monitor/*", "indices:admin/*"]),
    ("monitor", &["indices:monitor/*"]),
    (
        "view_index_metadata",
        &[
            "indices:admin/get",
            "indices:admin/aliases/get",
            "indices:admin/mappings/get",
            "indices:admin/mappings/fields/get",
            "indices:monitor/settings/get",
            "indices:admin/resolve/index",
        ],
    ),
    (
        "maintenance",
        &[
            "indices:admin/refresh*",
            "indices:admin/flush*",
            "indices:admin/forcemerge*",
        ],
    ),
    (
        "auto_configure",
        &[
            "indices:admin/auto_create",
            "indices:admin/mapping/auto_put",
        ],
    ),
];

const INDEX_NO_OPS: &[&str] = &[
    "manage_ilm",
    "manage_follow_index",
    "manage_leader_index",
    "manage_data_stream_lifecycle",
    "cross_cluster_replication",
    "cross_cluster_replication_internal",
];

/// Indices no role pattern reaches unless it sets `allow_restricted_indices`.
pub fn is_restricted(index: &str) -> bool {
    index.starts_with(".security") || index.starts_with(".rampart")
}

fn glob_to_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    for part in pattern.split('*') {
        out.push_str(&regex::escape(part));
        out.push_str(".*");
    }
    out.truncate(out.len() - 2);
    out.push('$');
    out
}

/// Elasticsearch's index-name patterns: `/regex/` (Lucene syntax, approximated by Rust's
/// regex syntax) or a wildcard pattern.
fn name_pattern_regex(pattern: &str) -> String {
    match pattern.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        Some(re) if !re.is_empty() => format!("^(?:{re})$"),
        _ => glob_to_regex(pattern),
    }
}

/// Expands privilege names (or raw action patterns such as `indices:data/read/*`) into the
/// action patterns they grant.
fn expand(
    names: &[String],
    table: &[(&str, &[&str])],
    no_ops: &[&str],
    kind: &str,
    prefix: &str,
) -> Result<Vec<String>, String> {
    let mut actions = Vec::new();
    for name in names {
        if let Some((_, patterns)) = table.iter().find(|(n, _)| n == name) {
            actions.extend(patterns.iter().map(|p| p.to_string()));
        } else if no_ops.contains(&name.as_str()) {
            tracing::debug!("{kind} privilege [{name}] names a feature Rampart does not have");
        } else if name.starts_with(prefix) {
            actions.push(name.clone());
        } else {
            let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown {kind} privilege [{name}]. a privilege must be either one of the \
                 predefined {kind} privilege names [{}] or a pattern over one of the available \
                 {kind} actions",
                known.join(",")
            ));
        }
    }
    Ok(actions)
}

fn glob_matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(&glob_to_regex(pattern)).is_ok_and(|re| re.is_match(text))
}

/// The privileges that would grant `action` (index privileges when `index`, else cluster), in
/// Elasticsearch's order, for denial messages.
pub fn granting_privileges(action: &str, index: bool) -> Vec<&'static str> {
    let table = if index {
        INDEX_PRIVILEGES
    } else {
        CLUSTER_PRIVILEGES
    };
    let mut names: Vec<&'static str> = table
        .iter()
        .filter(|(_, patterns)| patterns.iter().any(|p| glob_matches(p, action)))
        .map(|(name, _)| *name)
        .filter(|name| *name != "read_cross_cluster")
        .collect();
    // Elasticsearch lists `all` first.
    names.sort_by_key(|n| *n != "all");
    names
}

/// A concrete action a privilege's pattern stands for, to test whether permissions hold it.
fn sample(pattern: &str) -> String {
    pattern.replace('*', "__any__")
}

fn privilege_patterns(
    name: &str,
    table: &'static [(&'static str, &'static [&'static str])],
    no_ops: &[&str],
    prefix: &str,
) -> Result<Option<Vec<String>>, String> {
    if let Some((_, patterns)) = table.iter().find(|(n, _)| *n == name) {
        return Ok(Some(patterns.iter().map(|p| p.to_string()).collect()));
    }
    if no_ops.contains(&name) {
        return Ok(None);
    }
    if name.starts_with(prefix) {
        return Ok(Some(vec![name.to_string()]));
    }
    Err(format!("unknown privilege [{name}]"))
}

impl Permissions {
    /// Whether these permissions hold a cluster privilege (or action pattern) in full.
    /// Privileges of features Rampart lacks are never held.
    pub fn holds_cluster_privilege(&self, name: &str) -> Result<bool, String> {
        Ok(
            match privilege_patterns(name, CLUSTER_PRIVILEGES, CLUSTER_NO_OPS, "cluster:")? {
                None => false,
                Some(patterns) => patterns.iter().all(|p| self.allows_cluster(&sample(p))),
            },
        )
    }

    /// Whether these permissions hold an index privilege on `index` in full.
    pub fn holds_index_privilege(&self, index: &str, name: &str) -> Result<bool, String> {
        Ok(
            match privilege_patterns(name, INDEX_PRIVILEGES, INDEX_NO_OPS, "indices:")? {
                None => false,
                Some(patterns) => patterns
                    .iter()
                    .all(|p| self.allows_index(&sample(p), index)),
            },
        )
    }
}

/// One `indices` entry of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicesPrivileges {
    pub names: Vec<String>,
    pub privileges: Vec<String>,
    pub allow_restricted_indices: bool,
}

/// A role as Elasticsearch's APIs and `roles.yml` describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleDescriptor {
    pub cluster: Vec<String>,
    pub indices: Vec<IndicesPrivileges>,
    pub run_as: Vec<String>,
    pub metadata: Value,
}

fn string_list(value: &Value, field: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("[{field}] must hold strings"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(format!("[{field}] must be a string or an array of strings")),
    }
}

impl RoleDescriptor {
    /// Parses and validates a role body (`PUT /_security/role/{name}` or a `roles.yml` entry).
    pub fn parse(name: &str, body: &Value) -> Result<RoleDescriptor, String> {
        let Value::Object(map) = body else {
            return Err(format!("role [{name}] must be an object"));
        };
        let mut role = RoleDescriptor {
            cluster: Vec::new(),
            indices: Vec::new(),
            run_as: Vec::new(),
            metadata: json!({}),
        };
        for (key, value) in map {
            match key.as_str() {
                "cluster" => role.cluster = string_list(value, "cluster")?,
                "run_as" => role.run_as = string_list(value, "run_as")?,
                "metadata" => {
                    if !value.is_object() {
                        return Err(format!("[metadata] of role [{name}] must be an object"));
                    }
                    role.metadata = value.clone();
                }
                "indices" => {
                    let Value::Array(entries) = value else {
                        return Err(format!("[indices] of role [{name}] must be an array"));
                    };
                    for entry in entries {
                        role.indices.push(parse_indices(name, entry)?);
                    }
                }
                "applications" | "remote_indices" | "remote_cluster" | "global"
                    if value.as_array().is_some_and(Vec::is_empty)
                        || value.as_object().is_some_and(Map::is_empty) => {}
                "transient_metadata" | "description" => {}
                other => {
                    return Err(format!(
                        "failed to parse role [{name}]: [{other}] is not supported by Rampart"
                    ));
                }
            }
        }
        // Validate now, so a role that would fail at use is refused at creation.
        CompiledRole::compile(name, &role)?;
        Ok(role)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "cluster": self.cluster,
            "indices": self.indices.iter().map(|i| json!({
                "names": i.names,
                "privileges": i.privileges,
                "allow_restricted_indices": i.allow_restricted_indices,
            })).collect::<Vec<_>>(),
            "applications": [],
            "run_as": self.run_as,
            "metadata": self.metadata,
            "transient_metadata": {"enabled": true},
        })
    }
}

fn parse_indices(role: &str, entry: &Value) -> Result<IndicesPrivileges, String> {
    let Value::Object(map) = entry else {
        return Err(format!(
            "each [indices] entry of role [{role}] must be an object"
        ));
    };
    let mut names = Vec::new();
    let mut privileges = Vec::new();
    let mut allow_restricted_indices = false;
    for (key, value) in map {
        match key.as_str() {
            "names" => names = string_list(value, "names")?,
            "privileges" => privileges = string_list(value, "privileges")?,
            "allow_restricted_indices" => {
                allow_restricted_indices = value.as_bool().ok_or_else(|| {
                    "[allow_restricted_indices] must be true or false".to_string()
                })?;
            }
            "query" | "field_security" => {
                return Err(format!(
                    "role [{role}]: document and field level security ([{key}]) is not \
                     supported yet; without it the role would show more than intended, so it is \
                     refused"
                ));
            }
            other => {
                return Err(format!(
                    "failed to parse indices privileges for role [{role}]: unexpected field [{other}]"
                ));
            }
        }
    }
    if names.is_empty() {
        return Err(format!(
            "failed to parse indices privileges for role [{role}]: missing required [names] field"
        ));
    }
    if privileges.is_empty() {
        return Err(format!(
            "failed to parse indices privileges for role [{role}]: missing required [privileges] field"
        ));
    }
    Ok(IndicesPrivileges {
        names,
        privileges,
        allow_restricted_indices,
    })
}

/// A role compiled to automata: a decision is a few set matches.
#[derive(Debug)]
pub struct CompiledRole {
    pub name: String,
    cluster: RegexSet,
    indices: Vec<CompiledIndices>,
    run_as: RegexSet,
}

#[derive(Debug)]
struct CompiledIndices {
    names: RegexSet,
    actions: RegexSet,
    allow_restricted: bool,
}

fn set(patterns: impl IntoIterator<Item = String>, what: &str) -> Result<RegexSet, String> {
    RegexSet::new(patterns).map_err(|e| format!("invalid {what} pattern: {e}"))
}

impl CompiledRole {
    pub fn compile(name: &str, role: &RoleDescriptor) -> Result<CompiledRole, String> {
        let cluster = expand(
            &role.cluster,
            CLUSTER_PRIVILEGES,
            CLUSTER_NO_OPS,
            "cluster",
            "cluster:",
        )?;
        let mut indices = Vec::new();
        for entry in &role.indices {
            let actions = expand(
                &entry.privileges,
                INDEX_PRIVILEGES,
                INDEX_NO_OPS,
                "index",
                "indices:",
            )?;
            indices.push(CompiledIndices {
                names: set(
                    entry.names.iter().map(|n| name_pattern_regex(n)),
                    "index name",
                )?,
                actions: set(actions.iter().map(|a| glob_to_regex(a)), "action")?,
                allow_restricted: entry.allow_restricted_indices,
            });
        }
        Ok(CompiledRole {
            name: name.to_string(),
            cluster: set(cluster.iter().map(|a| glob_to_regex(a)), "action")?,
            indices,
            run_as: set(role.run_as.iter().map(|u| name_pattern_regex(u)), "run_as")?,
        })
    }

    pub fn allows_cluster(&self, action: &str) -> bool {
        self.cluster.is_match(action)
    }

    pub fn allows_index(&self, action: &str, index: &str) -> bool {
        let restricted = is_restricted(index);
        self.indices.iter().any(|entry| {
            (!restricted || entry.allow_restricted)
                && entry.actions.is_match(action)
                && entry.names.is_match(index)
        })
    }

    pub fn allows_run_as(&self, user: &str) -> bool {
        self.run_as.is_match(user)
    }
}

fn role(value: Value) -> RoleDescriptor {
    let mut role = RoleDescriptor {
        cluster: Vec::new(),
        indices: Vec::new(),
        run_as: Vec::new(),
        metadata: json!({"_reserved": true}),
    };
    role.cluster = string_list(&value["cluster"], "cluster").unwrap_or_default();
    role.run_as = string_list(&value["run_as"], "run_as").unwrap_or_default();
    if let Some(entries) = value["indices"].as_array() {
        for e in entries {
            role.indices.push(IndicesPrivileges {
                names: string_list(&e["names"], "names").unwrap_or_default(),
                privileges: string_list(&e["privileges"], "privileges").unwrap_or_default(),
                allow_restricted_indices: e["allow_restricted_indices"].as_bool().unwrap_or(false),
            });
        }
    }
    role
}

/// Elasticsearch's built-in roles that have meaning here, marked `_reserved`.
pub fn builtin_roles() -> BTreeMap<String, RoleDescriptor> {
    let all_indices = |privileges: &[&str]| json!([{"names": ["*"], "privileges": privileges}]);
    let monitoring_indices = json!([{"names": [".monitoring-*"], "privileges": ["create_index", "write", "read", "view_index_metadata"]}]);
    let roles = [
        (
            "superuser",
            json!({"cluster": ["all"], "indices": [{"names": ["*"], "privileges": ["all"], "allow_restricted_indices": true}], "run_as": ["*"]}),
        ),
        (
            "viewer",
            json!({"cluster": ["monitor"], "indices": all_indices(&["read", "view_index_metadata"])}),
        ),
        (
            "editor",
            json!({"cluster": ["monitor"], "indices": all_indices(&["read", "write", "view_index_metadata", "maintenance"])}),
        ),
        (
            "monitoring_user",
            json!({"cluster": ["monitor"], "indices": [{"names": [".monitoring-*", "metrics-*"], "privileges": ["read", "view_index_metadata"]}]}),
        ),
        (
            "ingest_admin",
            json!({"cluster": ["manage_index_templates", "manage_pipeline"]}),
        ),
        (
            "kibana_system",
            json!({"cluster": ["monitor", "manage_index_templates", "manage_token", "manage_api_key", "grant_api_key", "read_security"],
                   "indices": [{"names": [".kibana*", ".reporting-*", ".apm-*"], "privileges": ["all"]}]}),
        ),
        (
            "logstash_system",
            json!({"cluster": ["monitor"], "indices": monitoring_indices.clone()}),
        ),
        (
            "beats_system",
            json!({"cluster": ["monitor"], "indices": monitoring_indices.clone()}),
        ),
        (
            "apm_system",
            json!({"cluster": ["monitor"], "indices": monitoring_indices.clone()}),
        ),
        (
            "remote_monitoring_agent",
            json!({"cluster": ["manage_index_templates", "monitor"],
                   "indices": [{"names": ["metrics-*", ".monitoring-*"], "privileges": ["all"]}]}),
        ),
        (
            "remote_monitoring_collector",
            json!({"cluster": ["monitor"], "indices": all_indices(&["monitor"])}),
        ),
    ];
    roles
        .into_iter()
        .map(|(name, value)| (name.to_string(), role(value)))
        .collect()
}

/// The compiled roles a request acts with; an API key's are limited by its descriptors.
#[derive(Debug, Clone)]
pub enum Permissions {
    Roles(Vec<Arc<CompiledRole>>),
    /// Allowed only where both allow: an API key can never exceed its owner.
    Limited {
        owner: Box<Permissions>,
        key: Box<Permissions>,
    },
}

impl Permissions {
    pub fn allows_cluster(&self, action: &str) -> bool {
        match self {
            Permissions::Roles(roles) => roles.iter().any(|r| r.allows_cluster(action)),
            Permissions::Limited { owner, key } => {
                owner.allows_cluster(action) && key.allows_cluster(action)
            }
        }
    }

    pub fn allows_index(&self, action: &str, index: &str) -> bool {
        match self {
            Permissions::Roles(roles) => roles.iter().any(|r| r.allows_index(action, index)),
            Permissions::Limited { owner, key } => {
                owner.allows_index(action, index) && key.allows_index(action, index)
            }
        }
    }

    /// Whether `action` is granted on some index pattern.
    pub fn allows_index_action(&self, action: &str) -> bool {
        match self {
            Permissions::Roles(roles) => roles
                .iter()
                .any(|r| r.indices.iter().any(|e| e.actions.is_match(action))),
            Permissions::Limited { owner, key } => {
                owner.allows_index_action(action) && key.allows_index_action(action)
            }
        }
    }

    pub fn allows_run_as(&self, user: &str) -> bool {
        match self {
            Permissions::Roles(roles) => roles.iter().any(|r| r.allows_run_as(user)),
            // API keys never run as anyone.
            Permissions::Limited { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(body: Value) -> CompiledRole {
        let role = RoleDescriptor::parse("r", &body).expect("valid");
        CompiledRole::compile("r", &role).expect("compiles")
    }

    #[test]
    fn privileges_expand_to_actions() {
        let r = compiled(json!({"cluster": ["monitor"], "indices": [
            {"names": ["logs-*", "/metrics-[0-9]+/"], "privileges": ["read"]},
            {"names": ["app"], "privileges": ["create_doc"]},
        ]}));
        assert!(r.allows_cluster("cluster:monitor/health"));
        assert!(!r.allows_cluster("cluster:admin/xpack/security/user/put"));
        assert!(r.allows_index("indices:data/read/search", "logs-1"));
        assert!(r.allows_index("indices:data/read/get", "metrics-42"));
        assert!(!r.allows_index("indices:data/read/get", "metrics-x"));
        assert!(!r.allows_index("indices:data/write/index", "logs-1"));
        assert!(r.allows_index("indices:data/write/index:op_type/create", "app"));
        assert!(!r.allows_index("indices:data/write/index", "app"));
        assert!(!r.allows_index("indices:data/read/search", "logs"));
    }

    #[test]
    fn manage_does_not_reach_security() {
        let r = compiled(json!({"cluster": ["manage"]}));
        assert!(r.allows_cluster("cluster:monitor/health"));
        assert!(!r.allows_cluster("cluster:admin/xpack/security/user/put"));
        assert!(!r.allows_cluster("cluster:admin/xpack/security/role/put"));
        let r = compiled(json!({"cluster": ["manage_own_api_key"]}));
        assert!(r.allows_cluster("cluster:admin/xpack/security/api_key/create"));
        assert!(!r.allows_cluster(crate::MANAGE_ANY_API_KEY));
        let r = compiled(json!({"cluster": ["manage_api_key"]}));
        assert!(r.allows_cluster(crate::MANAGE_ANY_API_KEY));
    }

    #[test]
    fn restricted_indices_need_the_flag() {
        let r = compiled(json!({"indices": [{"names": ["*"], "privileges": ["all"]}]}));
        assert!(r.allows_index("indices:data/read/search", "anything"));
        assert!(!r.allows_index("indices:data/read/search", ".security-7"));
        let superuser =
            CompiledRole::compile("superuser", &builtin_roles()["superuser"]).expect("ok");
        assert!(superuser.allows_index("indices:data/read/search", ".security-7"));
        assert!(superuser.allows_run_as("anyone"));
    }

    #[test]
    fn bad_roles_are_refused_at_creation() {
        for (body, needle) in [
            (
                json!({"cluster": ["frobnicate"]}),
                "unknown cluster privilege [frobnicate]",
            ),
            (
                json!({"indices": [{"names": ["a"], "privileges": ["reed"]}]}),
                "unknown index privilege [reed]",
            ),
            (
                json!({"indices": [{"privileges": ["read"]}]}),
                "missing required [names]",
            ),
            (
                json!({"indices": [{"names": ["a"], "privileges": ["read"], "query": "{}"}]}),
                "document and field level security",
            ),
            (
                json!({"indices": [{"names": ["/[/"], "privileges": ["read"]}]}),
                "invalid index name pattern",
            ),
            (json!({"colour": "blue"}), "[colour] is not supported"),
        ] {
            let e = RoleDescriptor::parse("r", &body).expect_err(needle);
            assert!(e.contains(needle), "{e}");
        }
        // Features Rampart lacks are accepted, granting nothing.
        let r = compiled(
            json!({"cluster": ["manage_ilm"], "indices": [{"names": ["a"], "privileges": ["manage_ilm"]}]}),
        );
        assert!(!r.allows_cluster("cluster:admin/ilm/put"));
    }

    #[test]
    fn api_keys_are_limited_by_their_owner() {
        let owner = Permissions::Roles(vec![Arc::new(compiled(
            json!({"indices": [{"names": ["a*"], "privileges": ["read"]}]}),
        ))]);
        let key = Permissions::Roles(vec![Arc::new(compiled(
            json!({"indices": [{"names": ["*"], "privileges": ["all"]}]}),
        ))]);
        let limited = Permissions::Limited {
            owner: Box::new(owner),
            key: Box::new(key),
        };
        assert!(limited.allows_index("indices:data/read/search", "abc"));
        assert!(!limited.allows_index("indices:data/write/index", "abc"));
        assert!(!limited.allows_index("indices:data/read/search", "b"));
        assert!(!limited.allows_run_as("x"));
    }
}
