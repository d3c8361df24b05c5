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
    // Compiled once: any caller can provoke denials, so they must not compile regexes.
    type Table = Vec<(&'static str, RegexSet)>;
    static TABLES: std::sync::OnceLock<(Table, Table)> = std::sync::OnceLock::new();
    let (cluster, indices) = TABLES.get_or_init(|| {
        let compile = |table: &[(&'static str, &[&str])]| -> Table {
            table
                .iter()
                .map(|(name, patterns)| {
                    let set = RegexSet::new(patterns.iter().map(|p| glob_to_regex(p)))
                        .unwrap_or_else(|_| RegexSet::empty());
                    (*name, set)
                })
                .collect()
        };
        (compile(CLUSTER_PRIVILEGES), compile(INDEX_PRIVILEGES))
    });
    let table = if index { indices } else { cluster };
    let mut names: Vec<&'static str> = table
        .iter()
        .filter(|(_, set)| set.is_match(action))
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
    /// Document-level security: a query (object, or JSON text as Elasticsearch also accepts)
    /// that documents must match; may use `{{_user.username}}` and friends.
    pub query: Option<Value>,
    /// Field-level security: `grant` and `except` field patterns.
    pub field_security: Option<FieldSecurity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldSecurity {
    pub grant: Vec<String>,
    pub except: Vec<String>,
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
            "indices": self.indices.iter().map(|i| {
                let mut entry = json!({
                    "names": i.names,
                    "privileges": i.privileges,
                    "allow_restricted_indices": i.allow_restricted_indices,
                });
                // Kept in full: a role saved and read back must restrict as much as before.
                if let Some(query) = &i.query {
                    entry["query"] = json!(query.to_string());
                }
                if let Some(fs) = &i.field_security {
                    entry["field_security"] = json!({"grant": fs.grant, "except": fs.except});
                }
                entry
            }).collect::<Vec<_>>(),
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
    let mut query = None;
    let mut field_security = None;
    for (key, value) in map {
        match key.as_str() {
            "names" => names = string_list(value, "names")?,
            "privileges" => privileges = string_list(value, "privileges")?,
            "allow_restricted_indices" => {
                allow_restricted_indices = value.as_bool().ok_or_else(|| {
                    "[allow_restricted_indices] must be true or false".to_string()
                })?;
            }
            "query" => {
                let parsed = match value {
                    Value::String(text) => serde_json::from_str::<Value>(text)
                        .map_err(|e| format!("role [{role}]: [query] is not valid JSON: {e}"))?,
                    other => other.clone(),
                };
                if !parsed.is_object() {
                    return Err(format!("role [{role}]: [query] must be a query object"));
                }
                query = Some(parsed);
            }
            "field_security" => {
                let Value::Object(fs) = value else {
                    return Err(format!("role [{role}]: [field_security] must be an object"));
                };
                let mut grant = vec!["*".to_string()];
                let mut except = Vec::new();
                for (k, v) in fs {
                    match k.as_str() {
                        "grant" => grant = string_list(v, "grant")?,
                        "except" => except = string_list(v, "except")?,
                        other => {
                            return Err(format!(
                                "role [{role}]: [field_security] has an unknown field [{other}]"
                            ));
                        }
                    }
                }
                for e in &except {
                    if !grant.iter().any(|g| glob_matches(g, e)) {
                        return Err(format!(
                            "role [{role}]: exceptions for field permissions must be a subset of \
                             the granted fields but [{e}] is not granted by [{}]",
                            grant.join(",")
                        ));
                    }
                }
                field_security = Some(FieldSecurity { grant, except });
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
        query,
        field_security,
    })
}

/// A role compiled to automata: a decision is a few set matches.
#[derive(Debug)]
pub struct CompiledRole {
    pub name: String,
    cluster: RegexSet,
    indices: Vec<CompiledIndices>,
    run_as: RegexSet,
    /// Per action seen so far: one set of the name patterns of every entry granting it, so
    /// a decision is one set match per role, not one per entry.
    by_action: std::sync::RwLock<std::collections::HashMap<String, Arc<ActionNames>>>,
    /// Every entry's name patterns, in entry order, for building `by_action`.
    name_patterns: Vec<Vec<String>>,
    /// Some entry has document- or field-level security.
    restricts: bool,
}

#[derive(Debug)]
struct ActionNames {
    /// Entries granting the action.
    any: Option<RegexSet>,
    /// Entries granting the action that also reach restricted indices.
    restricted: Option<RegexSet>,
}

#[derive(Debug)]
struct CompiledIndices {
    names: RegexSet,
    actions: RegexSet,
    allow_restricted: bool,
    query: Option<Value>,
    /// (granted, excepted) field patterns.
    fields: Option<(RegexSet, RegexSet)>,
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
                query: entry.query.clone(),
                fields: match &entry.field_security {
                    None => None,
                    Some(fs) => Some((
                        set(fs.grant.iter().map(|f| glob_to_regex(f)), "field")?,
                        set(fs.except.iter().map(|f| glob_to_regex(f)), "field")?,
                    )),
                },
            });
        }
        Ok(CompiledRole {
            name: name.to_string(),
            cluster: set(cluster.iter().map(|a| glob_to_regex(a)), "action")?,
            indices,
            run_as: set(role.run_as.iter().map(|u| name_pattern_regex(u)), "run_as")?,
            by_action: std::sync::RwLock::new(std::collections::HashMap::new()),
            name_patterns: role
                .indices
                .iter()
                .map(|e| e.names.iter().map(|n| name_pattern_regex(n)).collect())
                .collect(),
            restricts: role
                .indices
                .iter()
                .any(|e| e.query.is_some() || e.field_security.is_some()),
        })
    }

    pub fn allows_cluster(&self, action: &str) -> bool {
        self.cluster.is_match(action)
    }

    pub fn allows_index(&self, action: &str, index: &str) -> bool {
        let names = self.names_for(action);
        let set = if is_restricted(index) {
            &names.restricted
        } else {
            &names.any
        };
        set.as_ref().is_some_and(|s| s.is_match(index))
    }

    /// The combined name patterns of the entries granting `action`, built on first use (a
    /// node sees a few dozen distinct actions) and kept.
    fn names_for(&self, action: &str) -> Arc<ActionNames> {
        if let Some(found) = self
            .by_action
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(action)
        {
            return Arc::clone(found);
        }
        let granting: Vec<usize> = (0..self.indices.len())
            .filter(|&i| self.indices[i].actions.is_match(action))
            .collect();
        let combine = |entries: &mut dyn Iterator<Item = &usize>| {
            let patterns: Vec<&String> = entries
                .flat_map(|&i| self.name_patterns[i].iter())
                .collect();
            // Each pattern compiled before on its own, so the union compiles too.
            (!patterns.is_empty())
                .then(|| RegexSet::new(patterns).ok())
                .flatten()
        };
        let names = Arc::new(ActionNames {
            any: combine(&mut granting.iter()),
            restricted: combine(
                &mut granting
                    .iter()
                    .filter(|&&i| self.indices[i].allow_restricted),
            ),
        });
        self.by_action
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(action.to_string(), Arc::clone(&names));
        names
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
                query: None,
                field_security: None,
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

/// Who a DLS query template speaks of: `{{_user.username}}`, `{{_user.email}}`,
/// `{{_user.full_name}}`, `{{_user.metadata.KEY}}`.
#[derive(Debug, Clone, Default)]
pub struct UserContext {
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub metadata: Value,
}

impl UserContext {
    /// Fills a query's templates. Values go in as escaped JSON string contents, so a user name
    /// cannot change the query's structure; an unknown template matches nothing.
    fn render(&self, query: &Value) -> Value {
        let text = query.to_string();
        if !text.contains("{{") {
            return query.clone();
        }
        // Templates sit inside JSON strings of the stored query: the value goes in with its
        // JSON string escapes.
        let escaped = |v: &str| {
            let quoted = serde_json::to_string(v).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_string()
        };
        let mut out = text
            .replace("{{_user.username}}", &escaped(&self.username))
            .replace(
                "{{_user.email}}",
                &escaped(self.email.as_deref().unwrap_or("")),
            )
            .replace(
                "{{_user.full_name}}",
                &escaped(self.full_name.as_deref().unwrap_or("")),
            );
        if let Value::Object(meta) = &self.metadata {
            for (k, v) in meta {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out = out.replace(&format!("{{{{_user.metadata.{k}}}}}"), &escaped(&value));
            }
        }
        if out.contains("{{_user.") {
            return json!({"match_none": {}});
        }
        serde_json::from_str(&out).unwrap_or_else(|_| json!({"match_none": {}}))
    }
}

/// Which fields a reader may see.
#[derive(Clone)]
pub enum FieldFilter {
    /// Visible when some role entry grants the field (or an object above it) and does not
    /// except it: the union of roles.
    Any(Arc<Vec<(RegexSet, RegexSet)>>),
    /// Visible when both allow it: an API key's limit on its owner.
    Both(Box<FieldFilter>, Box<FieldFilter>),
}

impl std::fmt::Debug for FieldFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldFilter")
    }
}

impl FieldFilter {
    pub fn allows(&self, field: &str) -> bool {
        match self {
            FieldFilter::Both(a, b) => a.allows(field) && b.allows(field),
            FieldFilter::Any(entries) => {
                let mut candidates = vec![field];
                let mut end = field.len();
                while let Some(dot) = field[..end].rfind('.') {
                    candidates.push(&field[..dot]);
                    end = dot;
                }
                entries.iter().any(|(grant, except)| {
                    candidates.iter().any(|c| grant.is_match(c))
                        && !candidates.iter().any(|c| except.is_match(c))
                })
            }
        }
    }
}

/// What a reader of one index may see.
#[derive(Debug, Clone, Default)]
pub struct Restrictions {
    pub query: Option<Value>,
    pub fields: Option<FieldFilter>,
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

    /// What a read of `index` may see: the documents (a query, `None` for all) and the
    /// fields (`None` for all). Several roles combine as Elasticsearch combines them, the
    /// union of their documents and of their fields; an API key's limit intersects.
    ///
    /// `names` are the index and its aliases: access may come through an alias, and the
    /// restrictions of the entries naming it apply then.
    pub fn restrictions(&self, action: &str, names: &[&str], user: &UserContext) -> Restrictions {
        match self {
            Permissions::Roles(roles) => {
                // Most roles restrict nothing: then there is nothing to look up per index.
                if !roles.iter().any(|r| r.restricts) {
                    return Restrictions::default();
                }
                let mut queries = Vec::new();
                let mut all_documents = false;
                let mut field_sets = Vec::new();
                let mut all_fields = false;
                for entry in roles.iter().flat_map(|r| r.indices.iter()) {
                    let reaches = names.iter().any(|name| {
                        (!is_restricted(name) || entry.allow_restricted)
                            && entry.names.is_match(name)
                    });
                    if !reaches || !entry.actions.is_match(action) {
                        continue;
                    }
                    match &entry.query {
                        None => all_documents = true,
                        Some(q) => queries.push(user.render(q)),
                    }
                    match &entry.fields {
                        None => all_fields = true,
                        Some(f) => field_sets.push(f.clone()),
                    }
                }
                Restrictions {
                    query: (!all_documents && !queries.is_empty())
                        .then(|| json!({"bool": {"should": queries, "minimum_should_match": 1}})),
                    fields: (!all_fields && !field_sets.is_empty())
                        .then(|| FieldFilter::Any(Arc::new(field_sets))),
                }
            }
            Permissions::Limited { owner, key } => {
                let (a, b) = (
                    owner.restrictions(action, names, user),
                    key.restrictions(action, names, user),
                );
                Restrictions {
                    query: match (a.query, b.query) {
                        (Some(x), Some(y)) => Some(json!({"bool": {"filter": [x, y]}})),
                        (x, y) => x.or(y),
                    },
                    fields: match (a.fields, b.fields) {
                        (Some(x), Some(y)) => Some(FieldFilter::Both(Box::new(x), Box::new(y))),
                        (x, y) => x.or(y),
                    },
                }
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
                json!({"indices": [{"names": ["a"], "privileges": ["read"], "query": "not json"}]}),
                "[query] is not valid JSON",
            ),
            (
                json!({"indices": [{"names": ["a"], "privileges": ["read"], "field_security": {"grant": ["a*"], "except": ["b"]}}]}),
                "must be a subset",
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

    #[test]
    fn document_and_field_restrictions_combine_as_elasticsearch() {
        let dls = compiled(
            json!({"indices": [{"names": ["docs"], "privileges": ["read"],
            "query": {"term": {"owner": "{{_user.username}}"}},
            "field_security": {"grant": ["public*", "owner"], "except": ["public.secret"]}}]}),
        );
        let full = compiled(json!({"indices": [{"names": ["docs"], "privileges": ["read"]}]}));
        let user = UserContext {
            username: "kim\"}}".into(),
            ..UserContext::default()
        };
        let restricted = Permissions::Roles(vec![Arc::new(dls)]);
        let r = restricted.restrictions("indices:data/read/search", &["docs"], &user);
        let query = r.query.expect("a query");
        assert_eq!(
            query["bool"]["should"][0]["term"]["owner"],
            json!("kim\"}}"),
            "the template value stays a string"
        );
        let fields = r.fields.expect("a field filter");
        assert!(fields.allows("public"));
        assert!(fields.allows("public.name"));
        assert!(!fields.allows("public.secret"));
        assert!(fields.allows("owner"));
        assert!(!fields.allows("salary"));
        // A second role without restrictions lifts them (union).
        let both = Permissions::Roles(vec![
            Arc::new(compiled(
                json!({"indices": [{"names": ["docs"], "privileges": ["read"], "query": {"match_none": {}}}]}),
            )),
            Arc::new(full),
        ]);
        let r = both.restrictions("indices:data/read/search", &["docs"], &user);
        assert!(r.query.is_none() && r.fields.is_none());
        let unknown = UserContext::default().render(&json!({"term": {"a": "{{_user.nope}}"}}));
        assert_eq!(unknown, json!({"match_none": {}}));
    }
}
