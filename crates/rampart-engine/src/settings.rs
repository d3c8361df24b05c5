//! Index settings: the `index.*` names Rampart honours, their defaults, which may change on a
//! live index, and Elasticsearch's nested and flat JSON shapes.

use std::time::Duration;

use rampart_action::EsError;
use serde_json::{Map, Value, json};

/// How a setting's value is checked.
#[derive(Clone, Copy)]
enum Kind {
    PositiveInt,
    NonNegativeInt,
    Bool,
    /// A time value, or `-1` for "never".
    Interval,
    Durability,
    /// Accepted and shown back; has no effect on a single-node store.
    Informational,
}

struct Spec {
    name: &'static str,
    kind: Kind,
    dynamic: bool,
    default: &'static str,
}

// One spec per line reads as the table it is.
#[rustfmt::skip]
const SPECS: &[Spec] = &[
    Spec { name: "index.number_of_shards", kind: Kind::PositiveInt, dynamic: false, default: "1" },
    Spec { name: "index.number_of_replicas", kind: Kind::NonNegativeInt, dynamic: true, default: "1" },
    Spec { name: "index.auto_expand_replicas", kind: Kind::Informational, dynamic: true, default: "false" },
    Spec { name: "index.refresh_interval", kind: Kind::Interval, dynamic: true, default: "1s" },
    Spec { name: "index.translog.durability", kind: Kind::Durability, dynamic: true, default: "request" },
    Spec { name: "index.translog.sync_interval", kind: Kind::Interval, dynamic: true, default: "5s" },
    Spec { name: "index.mapping.total_fields.limit", kind: Kind::PositiveInt, dynamic: true, default: "1000" },
    Spec { name: "index.mapping.depth.limit", kind: Kind::PositiveInt, dynamic: true, default: "20" },
    Spec { name: "index.max_result_window", kind: Kind::PositiveInt, dynamic: true, default: "10000" },
    Spec { name: "index.hidden", kind: Kind::Bool, dynamic: true, default: "false" },
    Spec { name: "index.codec", kind: Kind::Informational, dynamic: false, default: "default" },
    Spec { name: "index.priority", kind: Kind::NonNegativeInt, dynamic: true, default: "1" },
];

/// Settings Elasticsearch generates and shows, which a request may not set.
const PRIVATE: &[&str] = &[
    "index.uuid",
    "index.creation_date",
    "index.provided_name",
    "index.version.created",
];

fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Flattens `{"index": {"number_of_shards": 1}}`, `{"number_of_shards": 1}` and
/// `{"index.number_of_shards": "1"}` into `index.number_of_shards = "1"`.
pub fn flatten(body: &Value) -> Result<Vec<(String, Value)>, EsError> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.clone())),
        }
    }
    if !body.is_object() {
        return Err(EsError::bad_request("index settings must be a JSON object"));
    }
    let mut flat = Vec::new();
    walk("", body, &mut flat);
    Ok(flat
        .into_iter()
        .map(|(k, v)| {
            let key = if k.starts_with("index.") {
                k
            } else {
                format!("index.{k}")
            };
            (key, v)
        })
        .collect())
}

fn as_setting_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn validate(spec: &Spec, value: &str) -> Result<(), String> {
    let ok = match spec.kind {
        Kind::PositiveInt => value.parse::<u64>().is_ok_and(|n| n > 0),
        Kind::NonNegativeInt => value.parse::<u64>().is_ok(),
        Kind::Bool => matches!(value, "true" | "false"),
        Kind::Interval => value == "-1" || rampart_config::parse_time_value(value).is_ok(),
        Kind::Durability => matches!(value, "request" | "async"),
        Kind::Informational => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match spec.kind {
            Kind::PositiveInt => format!(
                "Failed to parse value [{value}] for setting [{}] must be >= 1",
                spec.name
            ),
            Kind::NonNegativeInt => format!(
                "Failed to parse value [{value}] for setting [{}] must be >= 0",
                spec.name
            ),
            Kind::Bool => format!(
                "Failed to parse value [{value}] as only [true] or [false] are allowed (setting [{}])",
                spec.name
            ),
            Kind::Interval => format!(
                "failed to parse setting [{}] with value [{value}] as a time value: use a \
                 value such as 1s, 500ms or -1",
                spec.name
            ),
            Kind::Durability => format!(
                "unknown value [{value}] for [{}]: expected [request] or [async]",
                spec.name
            ),
            Kind::Informational => String::new(),
        })
    }
}

/// An index's settings: the values set on it, by full name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexSettings {
    values: Map<String, Value>,
}

impl IndexSettings {
    /// Checks settings given at creation (or by a template): all known, all valid.
    pub fn from_request(body: &Value) -> Result<Self, EsError> {
        let mut settings = IndexSettings::default();
        settings.apply(body, false)?;
        Ok(settings)
    }

    /// Applies an update; `live` means the index exists, so only dynamic settings may change.
    pub fn apply(&mut self, body: &Value, live: bool) -> Result<(), EsError> {
        let mut updated = self.values.clone();
        for (name, value) in flatten(body)? {
            if PRIVATE.contains(&name.as_str()) {
                return Err(EsError::bad_request(format!(
                    "[{name}] is generated by the node and cannot be set"
                )));
            }
            let Some(spec) = spec(&name) else {
                let hint = if name.starts_with("index.analysis") {
                    " (custom analysis is not supported yet: text is analysed with the standard analyzer)"
                } else {
                    ""
                };
                return Err(EsError::bad_request(format!(
                    "unknown setting [{name}] please check that any required plugins are \
                     installed, or check the breaking changes documentation for removed \
                     settings{hint}"
                )));
            };
            if value.is_null() {
                updated.remove(&name);
                continue;
            }
            let text = as_setting_string(&value).ok_or_else(|| {
                EsError::bad_request(format!("setting [{name}] must be a single value"))
            })?;
            validate(spec, &text).map_err(EsError::bad_request)?;
            if live && !spec.dynamic && updated.get(&name) != Some(&json!(text)) {
                return Err(EsError::bad_request(format!(
                    "Can't update non dynamic settings [[{name}]] for open indices"
                )));
            }
            updated.insert(name, json!(text));
        }
        self.values = updated;
        Ok(())
    }

    /// Layers `self` over `base` (a template's settings under a request's).
    pub fn over(&self, base: &IndexSettings) -> IndexSettings {
        let mut values = base.values.clone();
        for (k, v) in &self.values {
            values.insert(k.clone(), v.clone());
        }
        IndexSettings { values }
    }

    pub fn get(&self, name: &str) -> String {
        self.values
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| spec(name).map(|s| s.default.to_string()))
            .unwrap_or_default()
    }

    fn get_u64(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or(1)
    }

    /// `None` when refreshes are off (`-1`).
    pub fn refresh_interval(&self) -> Option<Duration> {
        interval(&self.get("index.refresh_interval"))
    }

    pub fn sync_interval(&self) -> Duration {
        interval(&self.get("index.translog.sync_interval")).unwrap_or(Duration::from_secs(5))
    }

    pub fn durability_async(&self) -> bool {
        self.get("index.translog.durability") == "async"
    }

    pub fn total_fields_limit(&self) -> usize {
        usize::try_from(self.get_u64("index.mapping.total_fields.limit")).unwrap_or(usize::MAX)
    }

    pub fn depth_limit(&self) -> usize {
        usize::try_from(self.get_u64("index.mapping.depth.limit")).unwrap_or(usize::MAX)
    }

    pub fn max_result_window(&self) -> u64 {
        self.get_u64("index.max_result_window")
    }

    pub fn hidden(&self) -> bool {
        self.get("index.hidden") == "true"
    }

    pub fn explicit(&self) -> &Map<String, Value> {
        &self.values
    }

    /// All values as `index.x.y = "v"`, with defaults when asked.
    pub fn flat(&self, generated: &[(&str, String)], defaults: bool) -> Map<String, Value> {
        let mut out = Map::new();
        for spec in SPECS {
            if let Some(v) = self.values.get(spec.name) {
                out.insert(spec.name.to_string(), v.clone());
            } else if defaults
                || matches!(
                    spec.name,
                    "index.number_of_shards" | "index.number_of_replicas"
                )
            {
                out.insert(spec.name.to_string(), json!(spec.default));
            }
        }
        for (k, v) in generated {
            out.insert((*k).to_string(), json!(v));
        }
        out
    }
}

fn interval(value: &str) -> Option<Duration> {
    if value == "-1" {
        None
    } else {
        rampart_config::parse_time_value(value).ok()
    }
}

/// Turns `{"index.a.b": v}` into `{"index": {"a": {"b": v}}}`, as `GET _settings` shows it.
pub fn nest(flat: &Map<String, Value>) -> Value {
    let mut root = Map::new();
    for (key, value) in flat {
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let entry = node
                .entry((*part).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            let Value::Object(next) = entry else {
                unreachable!("just made an object")
            };
            node = next;
        }
        node.insert(parts[parts.len() - 1].to_string(), value.clone());
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_nested() {
        let s = IndexSettings::from_request(&json!({"index": {"number_of_shards": 2},
            "refresh_interval": "-1", "index.translog.durability": "async"}))
        .expect("valid");
        assert_eq!(s.get("index.number_of_shards"), "2");
        assert_eq!(s.refresh_interval(), None);
        assert!(s.durability_async());
        let e = IndexSettings::from_request(&json!({"index.nope": 1})).expect_err("unknown");
        assert!(e.reason.contains("unknown setting [index.nope]"));
        let e = IndexSettings::from_request(&json!({"number_of_shards": 0})).expect_err("zero");
        assert!(e.reason.contains("must be >= 1"));
        let e =
            IndexSettings::from_request(&json!({"refresh_interval": "often"})).expect_err("bad");
        assert!(e.reason.contains("time value"));
        let mut live = s.clone();
        let e = live
            .apply(&json!({"index": {"number_of_shards": 3}}), true)
            .expect_err("static");
        assert!(e.reason.contains("non dynamic"));
        live.apply(&json!({"index": {"number_of_replicas": 0}}), true)
            .expect("dynamic");
        assert_eq!(live.get("index.number_of_replicas"), "0");
        let nested = nest(&live.flat(&[("index.uuid", "u".into())], false));
        assert_eq!(nested["index"]["number_of_shards"], json!("2"));
        assert_eq!(nested["index"]["translog"]["durability"], json!("async"));
        assert_eq!(nested["index"]["uuid"], json!("u"));
    }
}
