//! Flattens elasticsearch.yml syntax (nested maps, dotted keys, or both) into `key → value`.

use serde_yaml_ng::Value as Yaml;

use crate::{ConfigError, Source, Value};

pub(crate) fn flatten(text: &str, source: &Source) -> Result<Vec<(String, Value)>, ConfigError> {
    let root: Yaml = serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax {
        source: source.clone(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    match root {
        Yaml::Null => {}
        Yaml::Mapping(_) => walk(String::new(), root, source, &mut out)?,
        _ => {
            return Err(ConfigError::Syntax {
                source: source.clone(),
                message: "expected a map of settings, e.g. `cluster.name: my-cluster`".to_string(),
            });
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (key, _) in &out {
        if !seen.insert(key.clone()) {
            return Err(ConfigError::DuplicateKey {
                key: key.clone(),
                source: source.clone(),
            });
        }
    }
    Ok(out)
}

fn walk(
    prefix: String,
    node: Yaml,
    source: &Source,
    out: &mut Vec<(String, Value)>,
) -> Result<(), ConfigError> {
    let syntax = |message: String| ConfigError::Syntax {
        source: source.clone(),
        message,
    };
    match node {
        Yaml::Mapping(map) => {
            for (k, v) in map {
                let k = scalar(&k)
                    .ok_or_else(|| syntax(format!("a key under [{prefix}] is not a plain name")))?;
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                walk(key, v, source, out)?;
            }
        }
        Yaml::Sequence(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in &items {
                values.push(
                    scalar(item).ok_or_else(|| {
                        syntax(format!("[{prefix}] must be a list of plain values"))
                    })?,
                );
            }
            out.push((prefix, Value::List(values)));
        }
        // `key:` with no value means unset in elasticsearch.yml; keep it out.
        Yaml::Null => {}
        other => {
            let value = scalar(&other)
                .ok_or_else(|| syntax(format!("[{prefix}] has a value of an unsupported type")))?;
            out.push((prefix, Value::Scalar(value)));
        }
    }
    Ok(())
}

fn scalar(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
