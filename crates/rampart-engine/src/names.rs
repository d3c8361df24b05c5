//! Index names: Elasticsearch's rules for valid names, and the resolution of index expressions
//! (lists, wildcards, `_all`, exclusions, aliases) to concrete indices.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rampart_action::data::IndicesOptions;
use rampart_action::{EsError, IndexScope};

use crate::Index;

fn invalid(name: &str, why: &str) -> EsError {
    EsError::new(
        400,
        "invalid_index_name_exception",
        format!("Invalid index name [{name}], {why}"),
    )
}

/// Checks a name for a new index (or alias), with Elasticsearch's messages.
pub fn validate_index_name(name: &str) -> Result<(), EsError> {
    if name.is_empty() {
        return Err(invalid(name, "must not be empty"));
    }
    if name != name.to_lowercase() {
        return Err(invalid(name, "must be lowercase"));
    }
    if name == "." || name == ".." {
        return Err(invalid(name, "must not be '.' or '..'"));
    }
    if name.starts_with(['_', '-', '+']) {
        return Err(invalid(name, "must not start with '_', '-', or '+'"));
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#'
        )
    }) {
        return Err(invalid(
            name,
            &format!(
                "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #] \
                 (found [{c}])"
            ),
        ));
    }
    if name.contains(':') {
        return Err(invalid(name, "must not contain ':'"));
    }
    if name.len() > 255 {
        return Err(invalid(name, "index name is too long, (> 255)"));
    }
    Ok(())
}

/// `*` matches any run of characters; everything else is literal. Linear time.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = ti;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

fn is_hidden(index: &Index) -> bool {
    index.name.starts_with('.') || index.state().settings.hidden()
}

/// The indices an alias points at.
pub(crate) fn alias_targets(indices: &BTreeMap<String, Arc<Index>>, alias: &str) -> Vec<String> {
    indices
        .values()
        .filter(|i| i.state().meta.aliases.contains_key(alias))
        .map(|i| i.name.clone())
        .collect()
}

pub(crate) fn all_aliases(indices: &BTreeMap<String, Arc<Index>>) -> BTreeSet<String> {
    indices
        .values()
        .flat_map(|i| i.state().meta.aliases.keys().cloned().collect::<Vec<_>>())
        .collect()
}

/// Resolves expressions to index names, in order, without duplicates.
/// Names the scope does not allow fail the request when named explicitly (before their
/// existence is checked, so a denial does not reveal whether they exist) and are left out when
/// a wildcard or `_all` reached them. Aliases are authorized by the alias name.
pub(crate) fn resolve(
    indices: &BTreeMap<String, Arc<Index>>,
    expressions: &[String],
    options: IndicesOptions,
    action: &str,
    scope: &dyn IndexScope,
) -> Result<Vec<String>, EsError> {
    if !scope.allows_action(action) {
        let named = if expressions.is_empty() {
            vec!["_all".to_string()]
        } else {
            expressions.to_vec()
        };
        return Err(scope.denied(action, &named));
    }
    let mut out: Vec<String> = Vec::new();
    let push = |out: &mut Vec<String>, name: String| {
        if !out.contains(&name) {
            out.push(name);
        }
    };
    let visible = |index: &Index, explicit_dot: bool| {
        options.expand_hidden || !is_hidden(index) || explicit_dot
    };
    if expressions.is_empty() || expressions.iter().all(|e| e == "_all") {
        for index in indices.values() {
            if options.expand_open && visible(index, false) && scope.allows(action, &index.name) {
                push(&mut out, index.name.clone());
            }
        }
        return finish(out, options, expressions);
    }
    let aliases = all_aliases(indices);
    for (position, expression) in expressions.iter().enumerate() {
        if let Some(excluded) = expression.strip_prefix('-')
            && position > 0
        {
            out.retain(|name| !glob_match(excluded, name));
            continue;
        }
        if expression == "_all" || expression.contains('*') {
            if !options.expand_open {
                continue;
            }
            let explicit_dot = expression.starts_with('.');
            for index in indices.values() {
                if glob_match(expression, &index.name)
                    && visible(index, explicit_dot)
                    && scope.allows(action, &index.name)
                {
                    push(&mut out, index.name.clone());
                }
            }
            for alias in aliases.iter().filter(|_| !options.ignore_aliases) {
                if glob_match(expression, alias) && scope.allows(action, alias) {
                    for target in alias_targets(indices, alias) {
                        push(&mut out, target);
                    }
                }
            }
            continue;
        }
        scope.require(action, expression)?;
        if indices.contains_key(expression) {
            push(&mut out, expression.clone());
        } else if aliases.contains(expression) {
            for target in alias_targets(indices, expression) {
                push(&mut out, target);
            }
        } else if !options.ignore_unavailable {
            return Err(crate::index_not_found(expression));
        }
    }
    finish(out, options, expressions)
}

fn finish(
    out: Vec<String>,
    options: IndicesOptions,
    expressions: &[String],
) -> Result<Vec<String>, EsError> {
    if out.is_empty() && !options.allow_no_indices {
        return Err(crate::index_not_found(&if expressions.is_empty() {
            "_all".to_string()
        } else {
            expressions.join(",")
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_elasticsearch_rules() {
        for good in ["logs-2024.01", "a", ".hidden", "x_y+z"] {
            assert!(validate_index_name(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("Logs", "lowercase"),
            ("_x", "must not start"),
            ("-x", "must not start"),
            ("a*b", "must not contain"),
            ("a b", "must not contain"),
            ("a,b", "must not contain"),
            ("a:b", ":"),
            (".", "'.'"),
            ("..", "'.'"),
            ("", "empty"),
        ] {
            let e = validate_index_name(bad).expect_err(bad);
            assert_eq!(e.error_type, "invalid_index_name_exception");
            assert!(e.reason.contains(why), "{bad}: {}", e.reason);
        }
        assert!(validate_index_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob_match("logs-*", "logs-2024"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(!glob_match("a*b", "ac"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
    }
}
