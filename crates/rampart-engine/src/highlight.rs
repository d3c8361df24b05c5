//! Basic `highlight` of search hits: the words of text and keyword fields that the query's
//! match-family, term and prefix clauses name are wrapped in tags, in fragments around them.
//!
//! It works only on the source it is given, which the caller has already passed through
//! field-level security: a hidden field is never read here, so it can never be highlighted.

use std::collections::{HashMap, HashSet};

use rampart_action::EsError;
use serde_json::{Map, Value};

use crate::Index;
use crate::mapping::{FieldKind, Mappings};
use crate::names::glob_match;

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

/// Longest pre or post tag.
const MAX_TAG_BYTES: usize = 256;
/// Most fragments per field.
const MAX_FRAGMENTS: u64 = 100;
/// Text beyond this many bytes of a field is not analyzed for highlighting (Elasticsearch's
/// `index.highlight.max_analyzed_offset` default).
const MAX_ANALYZED_BYTES: usize = 1_000_000;

pub(crate) struct Highlighter {
    /// Field patterns, each with its own options merged over the global ones.
    fields: Vec<(String, Options)>,
}

#[derive(Clone)]
struct Options {
    pre_tag: String,
    post_tag: String,
    fragment_size: usize,
    number_of_fragments: usize,
}

impl Options {
    fn merged(&self, spec: &Value) -> Result<Self, EsError> {
        let mut out = self.clone();
        let Value::Object(o) = spec else {
            return Ok(out);
        };
        for (key, value) in o {
            match key.as_str() {
                "pre_tags" | "post_tags" => {
                    if let Some(tag) = value.get(0).and_then(Value::as_str) {
                        // A tag is copied around every match: keep it a tag.
                        if tag.len() > MAX_TAG_BYTES {
                            return Err(parsing(format!(
                                "[highlight] [{key}] may be at most {MAX_TAG_BYTES} bytes"
                            )));
                        }
                        if key == "pre_tags" {
                            out.pre_tag = tag.to_string();
                        } else {
                            out.post_tag = tag.to_string();
                        }
                    }
                }
                "fragment_size" => {
                    out.fragment_size =
                        value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                            parsing("[highlight] [fragment_size] must be positive")
                        })? as usize;
                }
                "number_of_fragments" => {
                    out.number_of_fragments = value
                        .as_u64()
                        .filter(|n| *n <= MAX_FRAGMENTS)
                        .ok_or_else(|| {
                            parsing(format!(
                                "[highlight] [number_of_fragments] must be a number from 0 to \
                                 {MAX_FRAGMENTS}"
                            ))
                        })? as usize;
                }
                "fields"
                | "type"
                | "require_field_match"
                | "order"
                | "encoder"
                | "no_match_size"
                | "boundary_scanner"
                | "fragmenter"
                | "tags_schema" => {}
                other => {
                    return Err(parsing(format!(
                        "[highlight] option [{other}] is not supported"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// What the query asks to find in one field.
#[derive(Default)]
struct Wanted {
    words: HashSet<String>,
    prefixes: Vec<String>,
    /// Keyword fields match as a whole value.
    exact: HashSet<String>,
}

impl Highlighter {
    pub(crate) fn new(spec: &Value) -> Result<Self, EsError> {
        let defaults = Options {
            pre_tag: "<em>".into(),
            post_tag: "</em>".into(),
            fragment_size: 100,
            number_of_fragments: 5,
        }
        .merged(spec)?;
        let mut fields = Vec::new();
        let mut add = |name: &str, options: &Value| -> Result<(), EsError> {
            fields.push((name.to_string(), defaults.merged(options)?));
            Ok(())
        };
        match spec.get("fields") {
            Some(Value::Object(map)) => {
                for (name, options) in map {
                    add(name, options)?;
                }
            }
            Some(Value::Array(items)) => {
                for item in items {
                    let Some(map) = item.as_object() else {
                        return Err(parsing("[highlight] [fields] entries must be objects"));
                    };
                    for (name, options) in map {
                        add(name, options)?;
                    }
                }
            }
            _ => return Err(parsing("[highlight] requires [fields]")),
        }
        Ok(Highlighter { fields })
    }

    /// The highlighted fragments of one hit, by field path.
    pub(crate) fn highlight(
        &self,
        index: &Index,
        mappings: &Mappings,
        query: &Value,
        source: &Value,
    ) -> Result<Map<String, Value>, EsError> {
        let mut wanted: HashMap<String, Wanted> = HashMap::new();
        // query_string text is read as the query DSL it stands for, over the same fields.
        let expand = |pattern: &str| mappings.expand_word_fields(pattern);
        collect_wanted(index, query, &expand, &mut wanted);
        let mut out = Map::new();
        let mut leaves = Vec::new();
        collect_strings(source, "", &mut leaves);
        for (path, text) in leaves {
            let Some((_, options)) = self.fields.iter().find(|(p, _)| glob_match(p, &path)) else {
                continue;
            };
            let Some(w) = wanted.get(&path) else {
                continue;
            };
            let kind = mappings.field(&path).map(|f| f.kind);
            let spans = match kind {
                Some(FieldKind::Text) => {
                    let mut end = text.len().min(MAX_ANALYZED_BYTES);
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    word_spans(index, &text[..end], w)
                }
                Some(FieldKind::Keyword) if w.exact.contains(&text) => vec![(0, text.len())],
                _ => Vec::new(),
            };
            if spans.is_empty() {
                continue;
            }
            let fragments = fragments(&text, &spans, options);
            let entry = out
                .entry(path.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.extend(fragments.into_iter().map(Value::String));
                list.truncate(options.number_of_fragments.max(1));
            }
        }
        Ok(out)
    }
}

fn collect_strings(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_strings(child, &p, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_strings(item, path, out);
            }
        }
        Value::String(s) => out.push((path.to_string(), s.clone())),
        _ => {}
    }
}

fn tokens(index: &Index, text: &str) -> Vec<(usize, usize, String)> {
    let Some(mut tokenizer) = index.search_index().tokenizers().get("default") else {
        return Vec::new();
    };
    let mut stream = tokenizer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let t = stream.token();
        out.push((t.offset_from, t.offset_to, t.text.clone()));
    }
    out
}

/// Walks the query for the words it looks for, per field.
fn collect_wanted(
    index: &Index,
    query: &Value,
    expand: &dyn Fn(&str) -> Vec<String>,
    out: &mut HashMap<String, Wanted>,
) {
    let Some((kind, body)) = query.as_object().and_then(|m| m.iter().next()) else {
        return;
    };
    let text_of = |v: &Value| -> String {
        match v {
            Value::Object(o) => o
                .get("query")
                .or_else(|| o.get("value"))
                .map(|q| match q {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let mut add_words = |field: &str, text: &str| {
        let entry = out.entry(field.to_string()).or_default();
        entry.exact.insert(text.to_string());
        for (_, _, word) in tokens(index, text) {
            entry.words.insert(word);
        }
    };
    match kind.as_str() {
        "match" | "match_phrase" | "term" | "fuzzy" => {
            if let Some((field, value)) = body.as_object().and_then(|o| o.iter().next()) {
                add_words(field, &text_of(value));
            }
        }
        "terms" => {
            if let Some((field, Value::Array(values))) = body
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| *k != "boost"))
            {
                for v in values {
                    add_words(field, &text_of(v));
                }
            }
        }
        "multi_match" => {
            let text = text_of(body);
            for field in body
                .get("fields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                add_words(field.split('^').next().unwrap_or(field), &text);
            }
        }
        "match_phrase_prefix" | "prefix" => {
            if let Some((field, value)) = body.as_object().and_then(|o| o.iter().next()) {
                let text = text_of(value);
                let mut words: Vec<String> =
                    tokens(index, &text).into_iter().map(|t| t.2).collect();
                let last = words.pop();
                let entry = out.entry(field.clone()).or_default();
                entry.words.extend(words);
                if let Some(last) = last {
                    entry.prefixes.push(last);
                }
            }
        }
        "bool" => {
            for clause in ["must", "filter", "should"] {
                match body.get(clause) {
                    Some(Value::Array(items)) => {
                        for item in items {
                            collect_wanted(index, item, expand, out);
                        }
                    }
                    Some(item) => collect_wanted(index, item, expand, out),
                    None => {}
                }
            }
        }
        "query_string" | "simple_query_string" => {
            if let Ok(translated) =
                crate::query_string::translate(body, kind == "simple_query_string", expand)
            {
                collect_wanted(index, &translated, expand, out);
            }
        }
        "constant_score" => {
            if let Some(filter) = body.get("filter") {
                collect_wanted(index, filter, expand, out);
            }
        }
        "boosting" => {
            if let Some(positive) = body.get("positive") {
                collect_wanted(index, positive, expand, out);
            }
        }
        _ => {}
    }
}

fn word_spans(index: &Index, text: &str, wanted: &Wanted) -> Vec<(usize, usize)> {
    tokens(index, text)
        .into_iter()
        .filter(|(_, _, word)| {
            wanted.words.contains(word) || wanted.prefixes.iter().any(|p| word.starts_with(p))
        })
        .map(|(from, to, _)| (from, to))
        .collect()
}

/// Cuts fragments of about `fragment_size` bytes around the spans (whole text when it is
/// short or `number_of_fragments` is 0) and tags the spans inside each.
fn fragments(text: &str, spans: &[(usize, usize)], options: &Options) -> Vec<String> {
    let tag = |from: usize, to: usize| -> String {
        let mut out = String::new();
        let mut at = from;
        for &(s, e) in spans.iter().filter(|(s, e)| *s >= from && *e <= to) {
            out.push_str(&text[at..s]);
            out.push_str(&options.pre_tag);
            out.push_str(&text[s..e]);
            out.push_str(&options.post_tag);
            at = e;
        }
        out.push_str(&text[at..to]);
        out
    };
    if options.number_of_fragments == 0 || text.len() <= options.fragment_size {
        return vec![tag(0, text.len())];
    }
    let boundary_before = |at: usize| -> usize {
        let mut at = at.min(text.len());
        while at > 0 && !text.is_char_boundary(at) {
            at -= 1;
        }
        match text[..at].rfind(char::is_whitespace) {
            Some(ws) => ws + text[ws..].chars().next().map_or(1, char::len_utf8),
            None => 0,
        }
    };
    let boundary_after = |at: usize| -> usize {
        let mut at = at.min(text.len());
        while at < text.len() && !text.is_char_boundary(at) {
            at += 1;
        }
        match text[at..].find(char::is_whitespace) {
            Some(ws) => at + ws,
            None => text.len(),
        }
    };
    let mut out = Vec::new();
    let mut covered_to = 0usize;
    for &(s, e) in spans {
        if e <= covered_to && !out.is_empty() {
            continue;
        }
        let margin = options.fragment_size.saturating_sub(e - s) / 2;
        let from = boundary_before(s.saturating_sub(margin))
            .max(covered_to)
            .min(s);
        let to = boundary_after((from + options.fragment_size).max(e));
        out.push(tag(from, to).trim().to_string());
        covered_to = to;
        if out.len() == options.number_of_fragments {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(size: usize, n: usize) -> Options {
        Options {
            pre_tag: "<em>".into(),
            post_tag: "</em>".into(),
            fragment_size: size,
            number_of_fragments: n,
        }
    }

    #[test]
    fn short_text_is_one_tagged_fragment() {
        let text = "the quick brown fox";
        assert_eq!(
            fragments(text, &[(4, 9), (16, 19)], &options(100, 5)),
            vec!["the <em>quick</em> brown <em>fox</em>"]
        );
    }

    #[test]
    fn long_text_is_cut_around_the_matches_on_word_boundaries() {
        let text = format!("{} needle {}", "hay ".repeat(100), "straw ".repeat(100));
        let at = text.find("needle").expect("test setup");
        let found = fragments(&text, &[(at, at + 6)], &options(40, 5));
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("<em>needle</em>"), "{found:?}");
        assert!(found[0].len() < 80, "{found:?}");
        assert!(found[0].starts_with("hay"), "{found:?}");
    }
}
