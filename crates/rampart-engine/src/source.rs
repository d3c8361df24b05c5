//! `_source` filtering: `includes` and `excludes` patterns on field paths, with `*` wildcards,
//! as Elasticsearch applies them to returned documents.

use serde_json::{Map, Value};

use crate::names::glob_match;

/// Whether a pattern names this path or one of its parents.
fn covers(pattern: &str, path: &str) -> bool {
    if glob_match(pattern, path) {
        return true;
    }
    let mut end = path.len();
    while let Some(dot) = path[..end].rfind('.') {
        if glob_match(pattern, &path[..dot]) {
            return true;
        }
        end = dot;
    }
    false
}

/// Whether an include pattern may match something under this object path.
fn may_contain(pattern: &str, path: &str) -> bool {
    let prefix = format!("{path}.");
    // Compare the literal part before the first wildcard.
    let literal = pattern.split('*').next().unwrap_or("");
    literal.starts_with(&prefix) || prefix.starts_with(literal) || pattern.starts_with('*')
}

/// A string or a list of strings (other values ignored), as many request keys accept.
pub(crate) fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `fields` of a hit: every leaf value whose full path matches one of the patterns, as a
/// flat list per path (arrays flattened), read from the (already security-filtered) source.
pub fn field_values(source: &Value, patterns: &[String]) -> Map<String, Value> {
    fn walk(value: &Value, path: &str, patterns: &[String], out: &mut Map<String, Value>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, &child_path, patterns, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, path, patterns, out);
                }
            }
            Value::Null => {}
            leaf => {
                if patterns.iter().any(|p| glob_match(p, path)) {
                    let entry = out
                        .entry(path.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(values) = entry {
                        values.push(leaf.clone());
                    }
                }
            }
        }
    }
    let mut out = Map::new();
    walk(source, "", patterns, &mut out);
    out
}

/// Keeps only the fields `allowed` lets a reader see (field-level security): leaves by their
/// full path; objects are kept when something inside them is.
pub fn filter_fields(source: &Value, allowed: &dyn Fn(&str) -> bool) -> Value {
    fn walk(value: &Value, path: &str, allowed: &dyn Fn(&str) -> bool) -> Option<Value> {
        match value {
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if let Some(kept) = walk(child, &child_path, allowed) {
                        out.insert(key.clone(), kept);
                    }
                }
                (path.is_empty() || !out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(|item| walk(item, path, allowed))
                    .collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            leaf => allowed(path).then(|| leaf.clone()),
        }
    }
    walk(source, "", allowed).unwrap_or_else(|| Value::Object(Map::new()))
}

pub fn filter(source: &Value, includes: &[String], excludes: &[String]) -> Value {
    if includes.is_empty() && excludes.is_empty() {
        return source.clone();
    }
    match source {
        Value::Object(map) => Value::Object(filter_object(map, "", includes, excludes)),
        other => other.clone(),
    }
}

fn filter_object(
    map: &Map<String, Value>,
    prefix: &str,
    includes: &[String],
    excludes: &[String],
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if excludes.iter().any(|p| covers(p, &path)) {
            continue;
        }
        let included = includes.is_empty() || includes.iter().any(|p| covers(p, &path));
        match value {
            Value::Object(inner) => {
                if included {
                    let filtered = filter_object(inner, &path, &[], excludes);
                    out.insert(key.clone(), Value::Object(filtered));
                } else if includes.iter().any(|p| may_contain(p, &path)) {
                    let filtered = filter_object(inner, &path, includes, excludes);
                    if !filtered.is_empty() {
                        out.insert(key.clone(), Value::Object(filtered));
                    }
                }
            }
            Value::Array(items) if items.iter().any(Value::is_object) => {
                if !included && !includes.iter().any(|p| may_contain(p, &path)) {
                    continue;
                }
                let inc: &[String] = if included { &[] } else { includes };
                let filtered: Vec<Value> = items
                    .iter()
                    .filter_map(|item| match item {
                        Value::Object(inner) => {
                            let f = filter_object(inner, &path, inc, excludes);
                            (!f.is_empty() || included).then_some(Value::Object(f))
                        }
                        other => included.then(|| other.clone()),
                    })
                    .collect();
                if !filtered.is_empty() || included {
                    out.insert(key.clone(), Value::Array(filtered));
                }
            }
            other => {
                if included {
                    out.insert(key.clone(), other.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn includes_and_excludes() {
        let doc = json!({"a": 1, "user": {"name": "kim", "secret": "x"}, "tags": [{"k": 1, "v": 2}], "b": 2});
        assert_eq!(filter(&doc, &s(&["a"]), &[]), json!({"a": 1}));
        assert_eq!(
            filter(&doc, &s(&["user"]), &s(&["user.secret"])),
            json!({"user": {"name": "kim"}})
        );
        assert_eq!(
            filter(&doc, &s(&["user.n*"]), &[]),
            json!({"user": {"name": "kim"}})
        );
        assert_eq!(
            filter(&doc, &s(&["tags.k"]), &[]),
            json!({"tags": [{"k": 1}]})
        );
        assert_eq!(
            filter(&doc, &[], &s(&["user", "tags"])),
            json!({"a": 1, "b": 2})
        );
        assert_eq!(filter(&doc, &s(&["nothing"]), &[]), json!({}));
    }
}
