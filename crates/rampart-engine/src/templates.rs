//! Composable index templates (`_index_template`): validated, stored durably in
//! `data/_state/index_templates.json`, and applied when an index is created.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use rampart_action::EsError;
use serde_json::{Map, Value, json};

use crate::mapping::Mappings;
use crate::names::glob_match;
use crate::settings::IndexSettings;

/// What a template contributes to a new index.
#[derive(Debug, Clone, Default)]
pub struct Contribution {
    pub settings: Value,
    pub mappings: Value,
    pub aliases: Map<String, Value>,
}

pub struct Templates {
    path: PathBuf,
    templates: RwLock<BTreeMap<String, Value>>,
}

fn patterns(body: &Value) -> Vec<String> {
    match &body["index_patterns"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn priority(body: &Value) -> u64 {
    body["priority"].as_u64().unwrap_or(0)
}

/// Whether two index patterns can match a common name.
fn overlap(a: &str, b: &str) -> bool {
    let literal = |p: &str| p.split('*').next().unwrap_or("").to_string();
    let (la, lb) = (literal(a), literal(b));
    match (a.contains('*'), b.contains('*')) {
        (false, false) => a == b,
        (true, false) => glob_match(a, b),
        (false, true) => glob_match(b, a),
        (true, true) => la.starts_with(&lb) || lb.starts_with(&la),
    }
}

fn validate(name: &str, body: &Value) -> Result<Value, EsError> {
    let invalid = |reason: String| EsError::new(400, "x_content_parse_exception", reason);
    let Value::Object(map) = body else {
        return Err(invalid("the index template must be a JSON object".into()));
    };
    for (key, value) in map {
        match key.as_str() {
            "index_patterns" | "template" | "priority" | "version" | "_meta" => {}
            "composed_of" if value.as_array().is_some_and(Vec::is_empty) => {}
            "composed_of" => {
                return Err(EsError::bad_request(
                    "component templates ([composed_of]) are not supported yet: put the \
                     settings, mappings and aliases in [template]",
                ));
            }
            "data_stream" => {
                return Err(EsError::bad_request(
                    "data streams are not supported yet: remove [data_stream]",
                ));
            }
            "allow_auto_create" | "deprecated" | "ignore_missing_component_templates" => {}
            other => {
                return Err(invalid(format!("[index_template] unknown field [{other}]")));
            }
        }
    }
    let patterns = patterns(body);
    if patterns.is_empty() {
        return Err(EsError::new(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: index patterns are missing;",
        ));
    }
    for p in &patterns {
        if p.starts_with('-') || p.contains(' ') || p.contains(',') {
            return Err(EsError::bad_request(format!(
                "index_template [{name}] invalid, cause [index pattern [{p}] is invalid]"
            )));
        }
    }
    if let Some(p) = map.get("priority")
        && p.as_u64().is_none()
    {
        return Err(EsError::bad_request(
            "[priority] must be a non-negative integer",
        ));
    }
    if let Some(template) = map.get("template") {
        let Value::Object(t) = template else {
            return Err(invalid("[template] must be an object".into()));
        };
        for (key, value) in t {
            match key.as_str() {
                "settings" => {
                    IndexSettings::from_request(value)?;
                }
                "mappings" => {
                    Mappings::parse(value)?;
                }
                "aliases" => {
                    let Value::Object(aliases) = value else {
                        return Err(invalid("[aliases] must be an object".into()));
                    };
                    for alias in aliases.keys() {
                        crate::names::validate_index_name(alias)?;
                    }
                }
                "lifecycle" => {}
                other => {
                    return Err(invalid(format!("[template] unknown field [{other}]")));
                }
            }
        }
    }
    Ok(body.clone())
}

impl Templates {
    pub fn load(state_dir: &Path) -> Result<Self, EsError> {
        let path = state_dir.join("index_templates.json");
        let templates = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<BTreeMap<String, Value>>(&bytes).map_err(|e| {
                    crate::index::storage_error(
                        &path,
                        "reading the index templates (fix or remove the file)",
                        e,
                    )
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(crate::index::storage_error(&path, "reading", e)),
        };
        Ok(Templates {
            path,
            templates: RwLock::new(templates),
        })
    }

    fn persist(&self, templates: &BTreeMap<String, Value>) -> Result<(), EsError> {
        if let Some(dir) = self.path.parent() {
            rampart_config::fsutil::create_dir_durable(dir)
                .map_err(|e| crate::index::storage_error(dir, "creating", e))?;
        }
        let bytes = serde_json::to_vec_pretty(templates)
            .map_err(|e| crate::index::storage_error(&self.path, "encoding", e))?;
        rampart_config::fsutil::write_atomic(&self.path, &bytes, 0o600)
            .map_err(|e| crate::index::storage_error(&self.path, "writing", e))
    }

    pub fn put(&self, name: &str, body: &Value, create: bool) -> Result<(), EsError> {
        crate::names::validate_index_name(name).map_err(|_| {
            EsError::bad_request(format!(
                "index_template [{name}] invalid, cause [name must be lowercase and must not \
                 contain spaces, commas or wildcards]"
            ))
        })?;
        let body = validate(name, body)?;
        let mut templates = self.templates.write().unwrap_or_else(|e| e.into_inner());
        if create && templates.contains_key(name) {
            return Err(EsError::bad_request(format!(
                "index template [{name}] already exists"
            )));
        }
        let mine = patterns(&body);
        for (other, existing) in templates.iter() {
            if other == name || priority(existing) != priority(&body) {
                continue;
            }
            let theirs = patterns(existing);
            if mine.iter().any(|a| theirs.iter().any(|b| overlap(a, b))) {
                return Err(EsError::bad_request(format!(
                    "index template [{name}] has index patterns {mine:?} matching patterns from \
                     existing templates [{other}] with patterns ({other} => {theirs:?}) that have \
                     the same priority [{}], multiple index templates may not match during index \
                     creation, please use a different priority",
                    priority(&body)
                )));
            }
        }
        let mut updated = templates.clone();
        updated.insert(name.to_string(), body);
        self.persist(&updated)?;
        *templates = updated;
        Ok(())
    }

    pub fn delete(&self, name: &str) -> Result<(), EsError> {
        let mut templates = self.templates.write().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<String> = templates
            .keys()
            .filter(|k| glob_match(name, k))
            .cloned()
            .collect();
        if matching.is_empty() {
            return Err(EsError::new(
                404,
                "resource_not_found_exception",
                format!("index_template [{name}] missing"),
            ));
        }
        let mut updated = templates.clone();
        for m in &matching {
            updated.remove(m);
        }
        self.persist(&updated)?;
        *templates = updated;
        Ok(())
    }

    pub fn get(&self, names: &[String]) -> Result<Vec<(String, Value)>, EsError> {
        let templates = self.templates.read().unwrap_or_else(|e| e.into_inner());
        let wanted = |k: &str| names.is_empty() || names.iter().any(|n| glob_match(n, k));
        let found: Vec<(String, Value)> = templates
            .iter()
            .filter(|(k, _)| wanted(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if found.is_empty() && !names.is_empty() && names.iter().all(|n| !n.contains('*')) {
            return Err(EsError::new(
                404,
                "resource_not_found_exception",
                format!("index template matching [{}] not found", names.join(",")),
            ));
        }
        Ok(found)
    }

    /// The template that applies to a new index: the matching one with the highest priority.
    pub fn contribution(&self, index: &str) -> Option<(String, Contribution)> {
        let templates = self.templates.read().unwrap_or_else(|e| e.into_inner());
        let (name, body) = templates
            .iter()
            .filter(|(_, body)| patterns(body).iter().any(|p| glob_match(p, index)))
            // Hidden indices only take templates that name them without a bare `*`.
            .filter(|(_, body)| !index.starts_with('.') || patterns(body).iter().any(|p| p != "*"))
            .max_by_key(|(name, body)| (priority(body), std::cmp::Reverse((*name).clone())))?;
        let template = &body["template"];
        Some((
            name.clone(),
            Contribution {
                settings: template
                    .get("settings")
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                mappings: template
                    .get("mappings")
                    .cloned()
                    .unwrap_or_else(|| json!({})),
                aliases: template
                    .get("aliases")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_validate_persist_and_apply_by_priority() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = Templates::load(dir.path()).expect("load");
        t.put(
            "logs",
            &json!({"index_patterns": ["logs-*"], "priority": 1,
                    "template": {"settings": {"number_of_shards": 1}, "mappings": {"properties": {"a": {"type": "keyword"}}}}}),
            false,
        )
        .expect("valid");
        t.put(
            "all-logs",
            &json!({"index_patterns": "logs-*", "priority": 0}),
            false,
        )
        .expect("lower priority");
        let e = t
            .put(
                "clash",
                &json!({"index_patterns": ["logs-a*"], "priority": 1}),
                false,
            )
            .expect_err("same priority overlap");
        assert!(e.reason.contains("same priority"), "{}", e.reason);
        let e = t
            .put(
                "bad",
                &json!({"index_patterns": ["x"], "template": {"settings": {"nope": 1}}}),
                false,
            )
            .expect_err("bad setting");
        assert!(e.reason.contains("unknown setting"));
        assert!(
            t.put("logs", &json!({"index_patterns": ["logs-*"]}), true)
                .is_err()
        );
        let (name, c) = t.contribution("logs-1").expect("matches");
        assert_eq!(name, "logs");
        assert_eq!(c.mappings["properties"]["a"]["type"], json!("keyword"));
        assert!(t.contribution("other").is_none());
        let reloaded = Templates::load(dir.path()).expect("reload");
        assert_eq!(reloaded.get(&[]).expect("all").len(), 2);
        reloaded.delete("all-*").expect("deleted");
        assert!(reloaded.delete("all-*").is_err());
    }
}
