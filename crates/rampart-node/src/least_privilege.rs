//! The start-up warning about applications holding `superuser`.
//!
//! The rule: a user other than `elastic` is an application when its metadata says so
//! (`"application": true`, or `"type": "application"` / `"service"`), or when a part of its
//! name (split at `-`, `_`, `.`, `@`) is a word applications are named by (`app`, `svc`,
//! `service`, `bot`, `agent`, `optimize`, `camunda`, `beat`, `shipper`, `logstash`, `fluentd`,
//! `vector`, `kibana`, `ingest`, `etl`, `sync`, `exporter`, `collector`, `monitor`, `backup`).
//! Such a user holding `superuser` gets a warning at every start naming it and the least-privilege
//! recipe. Reserved users other than `elastic` never hold `superuser`.

use serde_json::Value;

const APPLICATION_WORDS: &[&str] = &[
    "app",
    "apps",
    "svc",
    "service",
    "bot",
    "agent",
    "optimize",
    "camunda",
    "beat",
    "beats",
    "shipper",
    "logstash",
    "fluentd",
    "fluentbit",
    "vector",
    "kibana",
    "ingest",
    "etl",
    "sync",
    "exporter",
    "collector",
    "monitor",
    "monitoring",
    "backup",
];

/// Why a user looks like an application, or `None`.
pub fn application_reason(username: &str, metadata: &Value) -> Option<String> {
    if username == "elastic" {
        return None;
    }
    if metadata.get("application") == Some(&Value::Bool(true)) {
        return Some("its metadata has \"application\": true".to_string());
    }
    if let Some(kind @ ("application" | "service")) = metadata.get("type").and_then(Value::as_str) {
        return Some(format!("its metadata has \"type\": \"{kind}\""));
    }
    let lower = username.to_ascii_lowercase();
    lower
        .split(['-', '_', '.', '@'])
        .find(|part| APPLICATION_WORDS.contains(part))
        .map(|word| format!("its name contains [{word}]"))
}

/// The warnings for `(username, roles, metadata)` of every user the node knows.
pub fn superuser_warnings<'a>(
    users: impl IntoIterator<Item = (&'a str, &'a [String], &'a Value)>,
) -> Vec<String> {
    users
        .into_iter()
        .filter(|(_, roles, _)| roles.iter().any(|r| r == "superuser"))
        .filter_map(|(name, _, metadata)| {
            application_reason(name, metadata).map(|why| {
                format!(
                    "user [{name}] looks like an application ({why}) and holds [superuser], which \
                     can read, change and delete everything, including security: give it a role \
                     with only what it needs (README: least privilege for applications)"
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applications_are_recognised() {
        let none = json!({});
        assert!(application_reason("elastic", &json!({"application": true})).is_none());
        assert!(application_reason("alice", &none).is_none());
        assert!(
            application_reason("appleby", &none).is_none(),
            "whole words only"
        );
        assert!(application_reason("camunda-optimize", &none).is_some());
        assert!(application_reason("log_shipper", &none).is_some());
        assert!(application_reason("bob", &json!({"type": "service"})).is_some());
        let roles = vec!["superuser".to_string()];
        let viewer = vec!["viewer".to_string()];
        let warnings = superuser_warnings([
            ("optimize", roles.as_slice(), &none),
            ("alice", roles.as_slice(), &none),
            ("metrics_agent", viewer.as_slice(), &none),
        ]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("user [optimize] looks like an application"));
    }
}
