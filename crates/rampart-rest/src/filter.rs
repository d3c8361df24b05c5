//! `filter_path`: Elasticsearch's response filtering. A comma-separated list of dotted paths;
//! `*` matches within one field name, `**` any number of levels, a leading `-` excludes.
//! Arrays are transparent: a path names fields of the objects inside them.

use serde_json::{Map, Value};

type Pattern<'a> = &'a [&'a str];

/// Applies `filter_path` to a response body; `None` when nothing matched (Elasticsearch then
/// answers `{}`).
pub(crate) fn filter_path(body: &Value, filters: &str) -> Value {
    let parsed: Vec<(bool, Vec<&str>)> = filters
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| match f.strip_prefix('-') {
            Some(rest) => (false, rest.split('.').collect()),
            None => (true, f.split('.').collect()),
        })
        .collect();
    let includes: Vec<Pattern<'_>> = parsed
        .iter()
        .filter(|(i, _)| *i)
        .map(|(_, p)| &p[..])
        .collect();
    let excludes: Vec<Pattern<'_>> = parsed
        .iter()
        .filter(|(i, _)| !*i)
        .map(|(_, p)| &p[..])
        .collect();
    let included = if includes.is_empty() {
        Some(body.clone())
    } else {
        include(body, &includes)
    };
    let result = match included {
        Some(v) if !excludes.is_empty() => exclude(&v, &excludes),
        other => other,
    };
    result.unwrap_or_else(|| Value::Object(Map::new()))
}

/// Glob match of one field name against one segment with `*` wildcards.
fn matches(segment: &str, name: &str) -> bool {
    let parts: Vec<&str> = segment.split('*').collect();
    if parts.len() == 1 {
        return segment == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The patterns that continue below field `name`; `None` inside means "everything below".
fn step<'a>(patterns: &[Pattern<'a>], name: &str) -> (bool, Vec<Pattern<'a>>) {
    let mut whole = false;
    let mut next = Vec::new();
    let mut push = |rest: Pattern<'a>| {
        if rest.is_empty() {
            whole = true;
        } else {
            next.push(rest);
        }
    };
    for pattern in patterns {
        let Some((head, rest)) = pattern.split_first() else {
            continue;
        };
        if *head == "**" {
            // `**` matches this level and stays, or matches nothing and lets `rest` try here.
            push(pattern);
            if let Some((after, rest_after)) = rest.split_first()
                && matches(after, name)
            {
                push(rest_after);
            }
            if rest.is_empty() {
                push(rest);
            }
        } else if matches(head, name) {
            push(rest);
        }
    }
    (whole, next)
}

fn include(value: &Value, patterns: &[Pattern<'_>]) -> Option<Value> {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (name, child) in map {
                let (whole, next) = step(patterns, name);
                let kept = if whole {
                    Some(child.clone())
                } else if next.is_empty() {
                    None
                } else {
                    include(child, &next)
                };
                if let Some(kept) = kept {
                    out.insert(name.clone(), kept);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(|i| include(i, patterns)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

fn exclude(value: &Value, patterns: &[Pattern<'_>]) -> Option<Value> {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (name, child) in map {
                let (whole, next) = step(patterns, name);
                if whole {
                    continue;
                }
                let kept = if next.is_empty() {
                    Some(child.clone())
                } else {
                    exclude(child, &next)
                };
                if let Some(kept) = kept {
                    out.insert(name.clone(), kept);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(|i| exclude(i, patterns)).collect(),
        )),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "cluster_name": "c",
            "status": "green",
            "active_shards": 1,
            "unassigned_shards": 0,
            "version": {"number": "8.17.0", "build_flavor": "default"},
            "nodes": [{"name": "a", "ip": "1"}, {"name": "b", "ip": "2"}],
        })
    }

    #[test]
    fn includes_with_wildcards_and_arrays() {
        assert_eq!(filter_path(&sample(), "status"), json!({"status": "green"}));
        assert_eq!(
            filter_path(&sample(), "*_shards,version.number"),
            json!({"active_shards": 1, "unassigned_shards": 0, "version": {"number": "8.17.0"}})
        );
        assert_eq!(
            filter_path(&sample(), "nodes.name"),
            json!({"nodes": [{"name": "a"}, {"name": "b"}]})
        );
        assert_eq!(
            filter_path(&sample(), "**.number"),
            json!({"version": {"number": "8.17.0"}})
        );
        assert_eq!(filter_path(&sample(), "nothing.here"), json!({}));
    }

    #[test]
    fn exclusions_alone_and_after_includes() {
        let out = filter_path(&sample(), "-nodes,-version.build_flavor,-*_shards");
        assert_eq!(
            out,
            json!({"cluster_name": "c", "status": "green", "version": {"number": "8.17.0"}})
        );
        assert_eq!(
            filter_path(&sample(), "version,-version.number"),
            json!({"version": {"build_flavor": "default"}})
        );
    }

    #[test]
    fn glob_segments() {
        assert!(matches("*", "anything"));
        assert!(matches("a*c", "abbc"));
        assert!(matches("*_shards", "active_shards"));
        assert!(!matches("a*c", "ab"));
        assert!(!matches("status", "statuses"));
        assert!(matches("a*b*c", "aXbYc"));
        assert!(!matches("ab*ba", "aba"));
    }
}
