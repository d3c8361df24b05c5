//! `_search` and `_count` over the refreshed view of indices. This first cut answers the core
//! queries (`match_all`, `match_none`, `term`, `terms`, `match`, `ids`, `bool`) with `from`,
//! `size` and `_source` filtering; the full query DSL, sorting and aggregations are the search
//! issue's. A query it does not know is refused with a `parsing_exception`, never ignored.

use std::collections::HashMap;
use std::sync::Arc;

use rampart_action::{EsError, FieldPredicate, IndexRestrictions, IndexScope};
use serde_json::{Map, Value, json};
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector,
};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Term};

use crate::Index;
use crate::aggs::aggregation_error;
use crate::date::DateFormat;
use crate::date_math;
use crate::mapping::{FieldKind, Mappings};
use crate::sort::{KeySource, SortSpec, SortValue, SortedHit, TopSorted, compare, parse_sort};

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

/// Builds a tantivy query for one index (its mappings decide how values are typed).
pub(crate) fn build_query(
    index: &Index,
    query: &Value,
    fields: Option<&FieldPredicate>,
) -> Result<Box<dyn Query>, EsError> {
    let built = build_unboosted(index, query, fields)?;
    Ok(match query_boost(query)? {
        Some(boost) if boost != 1.0 => Box::new(tantivy::query::BoostQuery::new(built, boost)),
        _ => built,
    })
}

/// A query's `boost`, at its top level or, for single-field queries, beside the value.
/// `constant_score` and `boosting` use theirs themselves.
fn query_boost(query: &Value) -> Result<Option<f32>, EsError> {
    let Some((kind, body)) = query.as_object().and_then(|m| m.iter().next()) else {
        return Ok(None);
    };
    if matches!(kind.as_str(), "constant_score" | "boosting") {
        return Ok(None);
    }
    let boost = body.get("boost").or_else(|| {
        body.as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.values().next())
            .and_then(|inner| inner.get("boost"))
    });
    match boost {
        None => Ok(None),
        Some(b) => match b.as_f64() {
            Some(b) if b >= 0.0 => Ok(Some(b as f32)),
            _ => Err(parsing(format!(
                "[{kind}] [boost] must be a non-negative number, got [{b}]"
            ))),
        },
    }
}

fn build_unboosted(
    index: &Index,
    query: &Value,
    fields: Option<&FieldPredicate>,
) -> Result<Box<dyn Query>, EsError> {
    let Value::Object(map) = query else {
        return Err(parsing("[query] must be an object"));
    };
    let mut entries = map.iter();
    let (Some((kind, body)), None) = (entries.next(), entries.next()) else {
        return Err(parsing(
            "a query must hold exactly one query type, such as {\"match_all\": {}}",
        ));
    };
    let mappings = index.state().mappings.clone();
    match kind.as_str() {
        "match_all" => Ok(Box::new(AllQuery)),
        "match_none" => Ok(Box::new(EmptyQuery)),
        "term" => {
            let (field, value) = single_field(kind, body)?;
            let value = match value {
                Value::Object(o) => o
                    .get("value")
                    .cloned()
                    .ok_or_else(|| parsing("[term] query requires a [value]"))?,
                v => v,
            };
            Ok(term_query(index, &mappings, &field, &value, fields)?)
        }
        "terms" => {
            let Value::Object(o) = body else {
                return Err(parsing("[terms] query must be an object"));
            };
            let (field, values) = o
                .iter()
                .find(|(k, _)| *k != "boost")
                .ok_or_else(|| parsing("[terms] query requires a field"))?;
            let Value::Array(values) = values else {
                return Err(parsing(format!(
                    "[terms] query on [{field}] requires an array"
                )));
            };
            let mut terms = Vec::new();
            for v in values {
                if let Some(t) = term_for(index, &mappings, field, v, fields)? {
                    terms.push(t);
                }
            }
            Ok(Box::new(TermSetQuery::new(terms)))
        }
        "ids" => {
            let values = body
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| parsing("[ids] query requires [values]"))?;
            let terms = values
                .iter()
                .filter_map(Value::as_str)
                .map(|id| Term::from_field_text(index.id_field(), id))
                .collect::<Vec<_>>();
            Ok(Box::new(TermSetQuery::new(terms)))
        }
        "match" => {
            let (field, value) = single_field(kind, body)?;
            let empty = Map::new();
            let (text, options) = match &value {
                Value::Object(o) => (
                    o.get("query")
                        .ok_or_else(|| parsing("[match] query requires [query]"))?
                        .clone(),
                    o,
                ),
                v => (v.clone(), &empty),
            };
            for key in options.keys() {
                if !matches!(
                    key.as_str(),
                    "query"
                        | "operator"
                        | "fuzziness"
                        | "prefix_length"
                        | "max_expansions"
                        | "fuzzy_transpositions"
                        | "minimum_should_match"
                        | "zero_terms_query"
                        | "lenient"
                        | "analyzer"
                        | "auto_generate_synonyms_phrase_query"
                        | "boost"
                        | "_name"
                ) {
                    return Err(parsing(format!("[match] query does not support [{key}]")));
                }
            }
            let operator = options
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("or")
                .to_lowercase();
            let fuzziness = options.get("fuzziness");
            let transpositions = options
                .get("fuzzy_transpositions")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let prefix_length = options
                .get("prefix_length")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let zero_terms_all =
                options.get("zero_terms_query").and_then(Value::as_str) == Some("all");
            match mappings.field(&field).map(|f| f.kind) {
                Some(FieldKind::Text) if fields.is_some_and(|allowed| !allowed(&field)) => {
                    Ok(Box::new(EmptyQuery))
                }
                Some(FieldKind::Text) => {
                    let occur = if operator == "and" {
                        Occur::Must
                    } else {
                        Occur::Should
                    };
                    let terms = analyze(index, &field, &text)?;
                    let tokens = analyzed_tokens(index, &text)?;
                    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                    for (term, value) in terms.into_iter().zip(tokens) {
                        let query: Box<dyn Query> = match fuzziness {
                            Some(spec) => Box::new(
                                crate::queries::PathTermsQuery::fuzzy(
                                    index.text_field(),
                                    crate::queries::json_str_prefix(index.text_field(), &field),
                                    &value,
                                    fuzzy_distance(Some(spec), &value)?,
                                    usize::try_from(prefix_length).unwrap_or(usize::MAX),
                                    transpositions,
                                )
                                .map_err(|e| too_complex(&field, &e))?,
                            ),
                            None => Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                        };
                        clauses.push((occur, query));
                    }
                    if clauses.is_empty() {
                        return Ok(if zero_terms_all {
                            Box::new(AllQuery)
                        } else {
                            Box::new(EmptyQuery)
                        });
                    }
                    let minimum = match options.get("minimum_should_match") {
                        Some(spec) if occur == Occur::Should => {
                            minimum_should_match(spec, clauses.len())?.max(1)
                        }
                        _ => usize::from(occur == Occur::Should),
                    };
                    Ok(Box::new(BooleanQuery::with_minimum_required_clauses(
                        clauses, minimum,
                    )))
                }
                Some(FieldKind::Keyword) if fuzziness.is_some() => build_query(
                    index,
                    &json!({"fuzzy": {field: {"value": text, "fuzziness": fuzziness,
                        "prefix_length": prefix_length, "transpositions": transpositions}}}),
                    fields,
                ),
                _ => term_query(index, &mappings, &field, &text, fields),
            }
        }
        "constant_score" => {
            let filter = body
                .get("filter")
                .ok_or_else(|| parsing("[constant_score] requires a [filter]"))?;
            let boost = body.get("boost").and_then(Value::as_f64).unwrap_or(1.0) as f32;
            Ok(Box::new(tantivy::query::ConstScoreQuery::new(
                build_query(index, filter, fields)?,
                boost,
            )))
        }
        "range" => {
            let (field, spec) = single_field(kind, body)?;
            range_query(index, &mappings, &field, &spec, fields)
        }
        "exists" => {
            let field = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| parsing("[exists] query requires a [field]"))?;
            if fields.is_some_and(|allowed| !allowed(field)) {
                return Ok(Box::new(EmptyQuery));
            }
            let column = match mappings.field(field) {
                None => return Ok(Box::new(EmptyQuery)),
                // Text has no column: its keyword sub-field has one when dynamic mapping made it.
                Some(f) if f.kind == FieldKind::Text => match f.fields.get("keyword") {
                    Some(_) => format!("kw.{field}.keyword"),
                    None => {
                        return Err(EsError::bad_request(format!(
                            "[exists] on the text field [{field}] needs a keyword sub-field"
                        )));
                    }
                },
                Some(_) => format!("kw.{field}"),
            };
            Ok(Box::new(tantivy::query::ExistsQuery::new(column, true)))
        }
        "match_phrase" => {
            let (field, value) = single_field(kind, body)?;
            let (text, slop) = match &value {
                Value::Object(o) => (
                    o.get("query")
                        .cloned()
                        .ok_or_else(|| parsing("[match_phrase] query requires [query]"))?,
                    o.get("slop").and_then(Value::as_u64).unwrap_or(0),
                ),
                v => (v.clone(), 0),
            };
            if fields.is_some_and(|allowed| !allowed(&field)) {
                return Ok(Box::new(EmptyQuery));
            }
            match mappings.field(&field).map(|f| f.kind) {
                Some(FieldKind::Text) => {
                    let terms = analyze(index, &field, &text)?;
                    Ok(match terms.len() {
                        0 => Box::new(EmptyQuery),
                        1 => Box::new(TermQuery::new(
                            terms.into_iter().next().unwrap_or_else(|| unreachable!()),
                            IndexRecordOption::WithFreqs,
                        )),
                        _ => {
                            let mut phrase = tantivy::query::PhraseQuery::new(terms);
                            phrase.set_slop(u32::try_from(slop).unwrap_or(u32::MAX));
                            Box::new(phrase)
                        }
                    })
                }
                _ => term_query(index, &mappings, &field, &text, fields),
            }
        }
        "multi_match" => {
            let query = body
                .get("query")
                .cloned()
                .ok_or_else(|| parsing("[multi_match] query requires [query]"))?;
            let names: Vec<String> = match body.get("fields") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(|f| f.split('^').next().unwrap_or(f).to_string())
                    .collect(),
                _ => return Err(parsing("[multi_match] query requires [fields]")),
            };
            let kind_of = body
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("best_fields");
            let per_field = match kind_of {
                "best_fields" | "most_fields" => "match",
                "phrase" => "match_phrase",
                other => {
                    return Err(parsing(format!(
                        "[multi_match] type [{other}] is not supported yet: use best_fields,                          most_fields or phrase"
                    )));
                }
            };
            let mut parts: Vec<Box<dyn Query>> = Vec::new();
            for name in names {
                let mut inner = serde_json::Map::new();
                inner.insert(name, query.clone());
                parts.push(build_query(index, &json!({ per_field: inner }), fields)?);
            }
            Ok(if kind_of == "most_fields" {
                Box::new(BooleanQuery::new(
                    parts.into_iter().map(|q| (Occur::Should, q)).collect(),
                ))
            } else {
                Box::new(tantivy::query::DisjunctionMaxQuery::new(parts))
            })
        }
        "bool" => {
            let Value::Object(o) = body else {
                return Err(parsing("[bool] query must be an object"));
            };
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let mut required = false;
            let mut shoulds = 0usize;
            for (key, value) in o {
                let occur = match key.as_str() {
                    "must" | "filter" => Occur::Must,
                    "should" => Occur::Should,
                    "must_not" => Occur::MustNot,
                    "boost" | "minimum_should_match" | "_name" | "adjust_pure_negative" => {
                        continue;
                    }
                    other => {
                        return Err(parsing(format!("[bool] query does not support [{other}]")));
                    }
                };
                let items = match value {
                    Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                for item in &items {
                    required |= occur == Occur::Must;
                    shoulds += usize::from(occur == Occur::Should);
                    clauses.push((occur, build_query(index, item, fields)?));
                }
            }
            // Elasticsearch: with a must or filter clause the should clauses are optional,
            // without one at least one must match; minimum_should_match overrides either.
            let minimum = match o.get("minimum_should_match") {
                None => usize::from(!required && shoulds > 0),
                Some(spec) => minimum_should_match(spec, shoulds)?,
            };
            if !required && shoulds == 0 {
                // Only must_not clauses: they exclude from everything.
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Ok(Box::new(BooleanQuery::with_minimum_required_clauses(
                clauses, minimum,
            )))
        }
        "prefix" | "wildcard" | "regexp" => {
            let (field, value) = single_field(kind, body)?;
            let (pattern, case_insensitive) = match &value {
                Value::String(s) => (s.clone(), false),
                Value::Object(o) => (
                    o.get("value")
                        .or_else(|| o.get(kind.as_str()))
                        .and_then(Value::as_str)
                        .ok_or_else(|| parsing(format!("[{kind}] query requires a [value]")))?
                        .to_string(),
                    o.get("case_insensitive")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                ),
                other => return Err(parsing(format!("[{kind}] cannot read [{other}]"))),
            };
            // A value may hold newlines: `*` and `?` match them, as in Elasticsearch.
            let regex = match kind.as_str() {
                "prefix" => format!("(?s){}.*", crate::queries::regex_literal(&pattern)),
                "wildcard" => format!("(?s){}", crate::queries::wildcard_regex(&pattern)),
                _ => pattern.clone(),
            };
            let regex = if case_insensitive {
                format!("(?i){regex}")
            } else {
                regex
            };
            let Some(prefix) = string_terms_prefix(index, &mappings, &field, kind, fields)? else {
                return Ok(Box::new(EmptyQuery));
            };
            let query =
                crate::queries::PathTermsQuery::regex(prefix.0, prefix.1, &regex).map_err(|e| {
                    EsError::new(
                        400,
                        "query_shard_exception",
                        format!("failed to create query: [{kind}] [{pattern}] on [{field}]: {e}"),
                    )
                })?;
            Ok(Box::new(query))
        }
        "fuzzy" => {
            let (field, value) = single_field(kind, body)?;
            let (text, fuzziness, prefix_length, transpositions) = match &value {
                Value::Object(o) => (
                    o.get("value")
                        .ok_or_else(|| parsing("[fuzzy] query requires a [value]"))?
                        .clone(),
                    o.get("fuzziness").cloned(),
                    o.get("prefix_length").and_then(Value::as_u64).unwrap_or(0),
                    o.get("transpositions")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                ),
                v => (v.clone(), None, 0, true),
            };
            let text = match text {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let Some(prefix) = string_terms_prefix(index, &mappings, &field, kind, fields)? else {
                return Ok(Box::new(EmptyQuery));
            };
            let distance = fuzzy_distance(fuzziness.as_ref(), &text)?;
            Ok(Box::new(
                crate::queries::PathTermsQuery::fuzzy(
                    prefix.0,
                    prefix.1,
                    &text,
                    distance,
                    usize::try_from(prefix_length).unwrap_or(usize::MAX),
                    transpositions,
                )
                .map_err(|e| too_complex(&field, &e))?,
            ))
        }
        "match_phrase_prefix" => {
            let (field, value) = single_field(kind, body)?;
            let (text, max_expansions) = match &value {
                Value::Object(o) => (
                    o.get("query")
                        .cloned()
                        .ok_or_else(|| parsing("[match_phrase_prefix] query requires [query]"))?,
                    o.get("max_expansions")
                        .and_then(Value::as_u64)
                        .unwrap_or(50),
                ),
                v => (v.clone(), 50),
            };
            if fields.is_some_and(|allowed| !allowed(&field)) {
                return Ok(Box::new(EmptyQuery));
            }
            match mappings.field(&field).map(|f| f.kind) {
                Some(FieldKind::Text) => {
                    let terms = analyze(index, &field, &text)?;
                    match terms.len() {
                        0 => Ok(Box::new(EmptyQuery)),
                        1 => {
                            let value = analyzed_tokens(index, &text)?.concat();
                            let query = crate::queries::PathTermsQuery::regex(
                                index.text_field(),
                                crate::queries::json_str_prefix(index.text_field(), &field),
                                &format!("{}.*", crate::queries::regex_literal(&value)),
                            )
                            .map_err(|e| EsError::bad_request(format!("[{kind}]: {e}")))?;
                            Ok(Box::new(query))
                        }
                        _ => {
                            let mut query = tantivy::query::PhrasePrefixQuery::new(terms);
                            query.set_max_expansions(
                                u32::try_from(max_expansions).unwrap_or(u32::MAX),
                            );
                            Ok(Box::new(query))
                        }
                    }
                }
                _ => build_query(index, &json!({"prefix": {field: {"value": text}}}), fields),
            }
        }
        "query_string" | "simple_query_string" => {
            let expand = |pattern: &str| mappings.expand_word_fields(pattern);
            let translated =
                crate::query_string::translate(body, kind == "simple_query_string", &expand)?;
            check_query_size(&translated)?;
            build_query(index, &translated, fields)
        }
        "boosting" => {
            let positive = body
                .get("positive")
                .ok_or_else(|| parsing("[boosting] query requires [positive]"))?;
            let negative = body
                .get("negative")
                .ok_or_else(|| parsing("[boosting] query requires [negative]"))?;
            let negative_boost = body
                .get("negative_boost")
                .and_then(Value::as_f64)
                .filter(|b| *b >= 0.0)
                .ok_or_else(|| {
                    parsing("[boosting] query requires a non-negative [negative_boost]")
                })?;
            Ok(crate::queries::boosting(
                build_query(index, positive, fields)?,
                build_query(index, negative, fields)?,
                negative_boost as f32,
            ))
        }
        other => Err(parsing(format!(
            "unknown query [{other}]: this version of Rampart answers match_all, match_none, \
             term, terms, ids, match, match_phrase, match_phrase_prefix, multi_match, range, \
             exists, prefix, wildcard, regexp, fuzzy, constant_score, boosting, bool, \
             query_string and simple_query_string"
        ))),
    }
}

/// `minimum_should_match` as Elasticsearch reads it: `N`, `-N`, `P%`, `-P%`, clamped to the
/// number of should clauses. Anything else is refused, never ignored: a role's document query
/// must not silently match more than it says.
fn minimum_should_match(spec: &Value, shoulds: usize) -> Result<usize, EsError> {
    let text = match spec {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        other => {
            return Err(parsing(format!(
                "[minimum_should_match] must be a number or a percentage, got [{other}]"
            )));
        }
    };
    let bad = || {
        parsing(format!(
            "[minimum_should_match] [{text}] is not supported: use N, -N, P% or -P%"
        ))
    };
    let total = i64::try_from(shoulds).unwrap_or(i64::MAX);
    let wanted = match text.strip_suffix('%') {
        Some(percent) => {
            let p: i64 = percent.parse().map_err(|_| bad())?;
            let part = total * p.abs() / 100;
            if p < 0 { total - part } else { part }
        }
        None => {
            let n: i64 = text.parse().map_err(|_| bad())?;
            if n < 0 { total + n } else { n }
        }
    };
    Ok(usize::try_from(wanted.clamp(0, total)).unwrap_or(0))
}

/// The terms the default analyzer makes of a text, at a text field's path.
fn analyze(index: &Index, field: &str, text: &Value) -> Result<Vec<Term>, EsError> {
    Ok(analyzed_tokens(index, text)?
        .into_iter()
        .map(|token| {
            let mut term = Term::from_field_json_path(index.text_field(), field, true);
            term.append_type_and_str(&token);
            term
        })
        .collect())
}

/// The tokens the default analyzer makes of a text.
fn analyzed_tokens(index: &Index, text: &Value) -> Result<Vec<String>, EsError> {
    let text = match text {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut tokenizer = index
        .search_index()
        .tokenizers()
        .get("default")
        .ok_or_else(|| EsError::new(500, "exception", "no default tokenizer"))?;
    let mut stream = tokenizer.token_stream(&text);
    let mut tokens = Vec::new();
    while stream.advance() {
        tokens.push(stream.token().text.clone());
    }
    Ok(tokens)
}

/// `range` on a numeric, date or keyword field (`gte`, `gt`, `lte`, `lt`, and the older
/// `from`/`to`/`include_lower`/`include_upper`); dates take date math and the field's format
/// or the query's `format`.
fn range_query(
    index: &Index,
    mappings: &Mappings,
    field: &str,
    spec: &Value,
    fields: Option<&FieldPredicate>,
) -> Result<Box<dyn Query>, EsError> {
    use std::ops::Bound;
    let Value::Object(spec) = spec else {
        return Err(parsing(format!(
            "[range] query on [{field}] must be an object"
        )));
    };
    if fields.is_some_and(|allowed| !allowed(field)) {
        return Ok(Box::new(EmptyQuery));
    }
    let Some(mapping) = mappings.field(field) else {
        return Ok(Box::new(EmptyQuery));
    };
    let format = match spec.get("format").and_then(Value::as_str) {
        Some(f) => DateFormat::parse(f)
            .map_err(|e| parsing(format!("[range] format [{f}] on [{field}]: {e}")))?,
        None => mapping
            .date_format
            .clone()
            .unwrap_or_else(DateFormat::default_format),
    };
    let zone = crate::aggs::parse_time_zone(spec.get("time_zone").and_then(Value::as_str))?;
    let offset_ms = |ms: i64| -> i64 {
        jiff::Timestamp::from_millisecond(ms)
            .map(|at| i64::from(zone.to_offset(at).seconds()) * 1000)
            .unwrap_or(0)
    };
    let now_ms = crate::api::now_millis();
    let bad = |value: &Value| {
        EsError::new(
            400,
            "query_shard_exception",
            format!(
                "failed to create query: [{value}] is not a valid bound for field [{field}] of                  type [{}]",
                mapping.kind.name()
            ),
        )
    };
    let term_of = |value: &Value, rounding: date_math::Rounding| -> Result<Term, EsError> {
        let mut term = Term::from_field_json_path(index.keyword_field(), field, true);
        match mapping.kind {
            FieldKind::Long | FieldKind::Integer | FieldKind::Short | FieldKind::Byte => {
                let n = value
                    .as_i64()
                    .or_else(|| value.as_f64().map(|f| f as i64))
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| bad(value))?;
                term.append_type_and_fast_value(n);
            }
            FieldKind::Double | FieldKind::Float | FieldKind::HalfFloat => {
                let f = value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| bad(value))?;
                term.append_type_and_fast_value(f);
            }
            FieldKind::Date => {
                let ms = match value {
                    Value::String(s) => {
                        date_math::parse_zoned(s, &format, now_ms, rounding, &offset_ms)
                    }
                    Value::Number(n) => n.as_f64().and_then(|f| format.parse_number(f)),
                    _ => None,
                }
                .ok_or_else(|| bad(value))?;
                term.append_type_and_fast_value(DateTime::from_timestamp_millis(ms));
            }
            FieldKind::Keyword => {
                let s = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                term.append_type_and_str(&s);
            }
            other => {
                return Err(EsError::bad_request(format!(
                    "[range] on [{field}] of type [{}] is not supported yet",
                    other.name()
                )));
            }
        }
        Ok(term)
    };
    use date_math::Rounding::{Down, Up};
    let mut lower = Bound::Unbounded;
    let mut upper = Bound::Unbounded;
    let include_lower = spec
        .get("include_lower")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let include_upper = spec
        .get("include_upper")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let integral = matches!(
        mapping.kind,
        FieldKind::Long | FieldKind::Integer | FieldKind::Short | FieldKind::Byte
    );
    for (key, value) in spec {
        if value.is_null() {
            continue;
        }
        // A fractional bound on a whole-number field becomes the nearest whole number inside
        // it (`gt 9.5` is `gte 10`, `lt 10.5` is `lte 10`), as Elasticsearch reads it.
        let fraction = value
            .as_f64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
            .filter(|f| integral && f.is_finite() && f.fract() != 0.0);
        if let Some(f) = fraction {
            match key.as_str() {
                "gt" | "gte" | "from" => {
                    lower = Bound::Included(term_of(&json!(f.ceil() as i64), Down)?);
                    continue;
                }
                "lt" | "lte" | "to" => {
                    upper = Bound::Included(term_of(&json!(f.floor() as i64), Up)?);
                    continue;
                }
                _ => {}
            }
        }
        match key.as_str() {
            "gte" => lower = Bound::Included(term_of(value, Down)?),
            "gt" => lower = Bound::Excluded(term_of(value, Up)?),
            "lte" => upper = Bound::Included(term_of(value, Up)?),
            "lt" => upper = Bound::Excluded(term_of(value, Down)?),
            "from" if include_lower => lower = Bound::Included(term_of(value, Down)?),
            "from" => lower = Bound::Excluded(term_of(value, Up)?),
            "to" if include_upper => upper = Bound::Included(term_of(value, Up)?),
            "to" => upper = Bound::Excluded(term_of(value, Down)?),
            "format" | "boost" | "include_lower" | "include_upper" | "relation" | "_name"
            | "time_zone" => {}
            other => {
                return Err(parsing(format!("[range] query does not support [{other}]")));
            }
        }
    }
    Ok(Box::new(tantivy::query::RangeQuery::new(lower, upper)))
}

fn too_complex(field: &str, reason: &str) -> EsError {
    EsError::new(
        400,
        "query_shard_exception",
        format!("failed to create query on [{field}]: {reason}"),
    )
}

/// Where the string terms of a keyword or text field live, for the term-pattern queries;
/// `None` when the field is unmapped or hidden (nothing matches).
fn string_terms_prefix(
    index: &Index,
    mappings: &Mappings,
    field: &str,
    kind: &str,
    fields: Option<&FieldPredicate>,
) -> Result<Option<(tantivy::schema::Field, Vec<u8>)>, EsError> {
    if fields.is_some_and(|allowed| !allowed(field)) {
        return Ok(None);
    }
    let target = match mappings.field(field).map(|f| f.kind) {
        None => return Ok(None),
        Some(FieldKind::Keyword | FieldKind::Ip) => index.keyword_field(),
        Some(FieldKind::Text) => index.text_field(),
        Some(other) => {
            return Err(EsError::new(
                400,
                "query_shard_exception",
                format!(
                    "failed to create query: can only use [{kind}] queries on keyword and text \
                     fields - not on [{field}] which is of type [{}]",
                    other.name()
                ),
            ));
        }
    };
    Ok(Some((
        target,
        crate::queries::json_str_prefix(target, field),
    )))
}

/// `fuzziness` as Elasticsearch reads it: `0`, `1`, `2`, or `AUTO[:low,high]` (edits allowed
/// by the term's length: none below `low` characters, one below `high`, else two).
fn fuzzy_distance(fuzziness: Option<&Value>, term: &str) -> Result<u8, EsError> {
    let spec = match fuzziness {
        None => "AUTO".to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => return Err(parsing(format!("[fuzziness] cannot read [{other}]"))),
    };
    let bad = || {
        parsing(format!(
            "[fuzziness] [{spec}] is not supported: use 0, 1, 2 or AUTO[:low,high]"
        ))
    };
    if let Some(rest) = spec
        .strip_prefix("AUTO")
        .or_else(|| spec.strip_prefix("auto"))
    {
        let (low, high) = match rest.strip_prefix(':') {
            None if rest.is_empty() => (3, 6),
            Some(bounds) => {
                let (l, h) = bounds.split_once(',').ok_or_else(bad)?;
                (
                    l.trim().parse::<usize>().map_err(|_| bad())?,
                    h.trim().parse::<usize>().map_err(|_| bad())?,
                )
            }
            None => return Err(bad()),
        };
        let length = term.chars().count();
        return Ok(if length < low {
            0
        } else if length < high {
            1
        } else {
            2
        });
    }
    match spec.parse::<f64>() {
        Ok(n) if (0.0..=2.0).contains(&n) && n.fract() == 0.0 => Ok(n as u8),
        _ => Err(bad()),
    }
}

fn single_field(kind: &str, body: &Value) -> Result<(String, Value), EsError> {
    let Value::Object(o) = body else {
        return Err(parsing(format!("[{kind}] query must be an object")));
    };
    let mut fields = o.iter();
    match (fields.next(), fields.next()) {
        (Some((field, value)), None) => Ok((field.clone(), value.clone())),
        _ => Err(parsing(format!(
            "[{kind}] query doesn't support multiple fields, found [{}]",
            o.keys().cloned().collect::<Vec<_>>().join("] and [")
        ))),
    }
}

fn term_query(
    index: &Index,
    mappings: &Mappings,
    field: &str,
    value: &Value,
    fields: Option<&FieldPredicate>,
) -> Result<Box<dyn Query>, EsError> {
    Ok(match term_for(index, mappings, field, value, fields)? {
        Some(term) => Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
        None => Box::new(EmptyQuery),
    })
}

/// The indexed term for a value of a field, typed by its mapping; `None` when the field is
/// unmapped (nothing can match).
fn term_for(
    index: &Index,
    mappings: &Mappings,
    path: &str,
    value: &Value,
    fields: Option<&FieldPredicate>,
) -> Result<Option<Term>, EsError> {
    if path == "_id" {
        return Ok(value
            .as_str()
            .map(|id| Term::from_field_text(index.id_field(), id)));
    }
    // A field hidden by field-level security matches nothing, as if it were not there.
    if fields.is_some_and(|allowed| !allowed(path)) {
        return Ok(None);
    }
    let Some(field) = mappings.field(path) else {
        return Ok(None);
    };
    let bad = || {
        EsError::new(
            400,
            "query_shard_exception",
            format!(
                "failed to create query: [{value}] is not a valid value for field [{path}] of type [{}]",
                field.kind.name()
            ),
        )
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let kw = || Term::from_field_json_path(index.keyword_field(), path, true);
    let term = match field.kind {
        FieldKind::Text => {
            let mut t = Term::from_field_json_path(index.text_field(), path, true);
            t.append_type_and_str(&text(value));
            t
        }
        FieldKind::Keyword => {
            let mut t = kw();
            t.append_type_and_str(&text(value));
            t
        }
        FieldKind::Long | FieldKind::Integer | FieldKind::Short | FieldKind::Byte => {
            let n = value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(bad)?;
            let mut t = kw();
            t.append_type_and_fast_value(n);
            t
        }
        FieldKind::Double | FieldKind::Float | FieldKind::HalfFloat => {
            let f = value
                .as_f64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(bad)?;
            let mut t = kw();
            // Whole numbers in a JSON field are indexed as integers.
            if f.fract() == 0.0 && f.abs() < 9e15 {
                t.append_type_and_fast_value(f as i64);
            } else {
                t.append_type_and_fast_value(f);
            }
            t
        }
        FieldKind::Boolean => {
            let b = match value {
                Value::Bool(b) => *b,
                Value::String(s) if s == "true" => true,
                Value::String(s) if s == "false" => false,
                _ => return Err(bad()),
            };
            let mut t = kw();
            t.append_type_and_fast_value(b);
            t
        }
        FieldKind::Date => {
            let format = field
                .date_format
                .clone()
                .unwrap_or_else(crate::date::DateFormat::default_format);
            let ms = match value {
                Value::String(s) => format.parse_str(s),
                Value::Number(n) => n.as_f64().and_then(|f| format.parse_number(f)),
                _ => None,
            }
            .ok_or_else(bad)?;
            let mut t = kw();
            t.append_type_and_fast_value(
                DateTime::from_timestamp_millis(ms)
                    .truncate(tantivy::schema::DATE_TIME_PRECISION_INDEXED),
            );
            t
        }
        FieldKind::Ip => {
            let ip: std::net::IpAddr = value
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?;
            let mut t = kw();
            t.append_type_and_str(&ip.to_canonical().to_string());
            t
        }
        FieldKind::Object => return Ok(None),
    };
    Ok(Some(term))
}

/// How `track_total_hits` asks the total to be counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TrackTotal {
    Off,
    Exact,
    /// Exact up to this many, then reported as "at least" (Elasticsearch's default is 10000).
    UpTo(u64),
}

pub(crate) struct SearchRequest {
    pub query: Value,
    pub from: usize,
    pub size: usize,
    pub source_includes: Vec<String>,
    pub source_excludes: Vec<String>,
    pub source_enabled: bool,
    pub track_total_hits: TrackTotal,
    /// `aggs` / `aggregations`, as given.
    pub aggregations: Option<Value>,
    /// `sort`, parsed; empty means by score.
    pub sort: Vec<SortSpec>,
    pub search_after: Option<Vec<SortValue>>,
    /// `fields` and `docvalue_fields` patterns: values returned beside `_source`.
    pub fields: Vec<String>,
    pub highlight: Option<Value>,
    /// `pit`: the point in time to search, and how long to keep it.
    pub pit: Option<(String, Option<String>)>,
    /// A scroll or point in time adds `_shard_doc` as the last key so that pages never skip
    /// or repeat hits with equal keys; it is not shown unless the client asked for it.
    pub hidden_tiebreak: bool,
    /// Whether hits carry their `sort` values (when the client sorted, or paged a point in
    /// time).
    pub show_sort: bool,
    /// Hits scoring below this are left out, of the total and the aggregations too.
    pub min_score: Option<f32>,
    /// Narrows the hits after the aggregations saw them.
    pub post_filter: Option<Value>,
    /// `fields` entries' date `format`s, by field pattern.
    pub field_formats: HashMap<String, String>,
}

pub(crate) fn parse_request(body: &Value) -> Result<SearchRequest, EsError> {
    let empty = Map::new();
    let map = match body {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => return Err(parsing("the search body must be a JSON object")),
    };
    let mut request = SearchRequest {
        query: json!({"match_all": {}}),
        from: 0,
        size: 10,
        source_includes: Vec::new(),
        source_excludes: Vec::new(),
        source_enabled: true,
        track_total_hits: TrackTotal::UpTo(10_000),
        aggregations: None,
        sort: Vec::new(),
        search_after: None,
        fields: Vec::new(),
        highlight: None,
        pit: None,
        hidden_tiebreak: false,
        show_sort: false,
        min_score: None,
        post_filter: None,
        field_formats: HashMap::new(),
    };
    for (key, value) in map {
        match key.as_str() {
            "query" => request.query = value.clone(),
            "from" => {
                request.from = match value.as_i64() {
                    Some(-1) => 0,
                    Some(n) if n >= 0 => n as usize,
                    _ => return Err(parsing("[from] must be a non-negative integer")),
                };
            }
            "size" => {
                request.size = match value.as_i64() {
                    Some(-1) => 10,
                    Some(n) if n >= 0 => n as usize,
                    _ => return Err(parsing("[size] must be a non-negative integer")),
                };
            }
            "_source" => match value {
                Value::Bool(b) => request.source_enabled = *b,
                Value::Object(o) => {
                    request.source_includes = crate::source::string_list(o.get("includes"));
                    request.source_excludes = crate::source::string_list(o.get("excludes"));
                }
                other => request.source_includes = crate::source::string_list(Some(other)),
            },
            "track_total_hits" => {
                request.track_total_hits = match value {
                    Value::Bool(true) => TrackTotal::Exact,
                    Value::Bool(false) => TrackTotal::Off,
                    Value::Number(n) if n.as_u64().is_some() => {
                        TrackTotal::UpTo(n.as_u64().unwrap_or(0))
                    }
                    Value::Number(n) if n.as_i64() == Some(-1) => TrackTotal::Exact,
                    other => {
                        return Err(parsing(format!(
                            "[track_total_hits] must be true, false or a number of hits, got \
                             [{other}]"
                        )));
                    }
                }
            }
            "sort" => {
                request.sort = parse_sort(value)?;
                request.show_sort = !request.sort.is_empty();
            }
            "search_after" => {
                let Value::Array(items) = value else {
                    return Err(parsing("[search_after] must be an array of sort values"));
                };
                request.search_after = Some(
                    items
                        .iter()
                        .map(SortValue::from_json)
                        .collect::<Result<_, _>>()?,
                );
            }
            "fields" | "docvalue_fields" => {
                let Value::Array(items) = value else {
                    return Err(parsing(format!("[{key}] must be an array")));
                };
                for item in items {
                    match item {
                        Value::String(f) => request.fields.push(f.clone()),
                        Value::Object(o) => match o.get("field").and_then(Value::as_str) {
                            Some(f) => {
                                request.fields.push(f.to_string());
                                if let Some(format) = o.get("format").and_then(Value::as_str) {
                                    request
                                        .field_formats
                                        .insert(f.to_string(), format.to_string());
                                }
                            }
                            None => {
                                return Err(parsing(format!(
                                    "[{key}] entries need a [field], got [{item}]"
                                )));
                            }
                        },
                        other => {
                            return Err(parsing(format!("[{key}] cannot read [{other}]")));
                        }
                    }
                }
            }
            "highlight" => {
                if !value
                    .get("fields")
                    .is_some_and(|f| f.is_object() || f.is_array())
                {
                    return Err(parsing("[highlight] requires [fields]"));
                }
                request.highlight = Some(value.clone());
            }
            "pit" => {
                let id = value
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| parsing("[pit] requires an [id]"))?;
                let keep_alive = value
                    .get("keep_alive")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                request.pit = Some((id.to_string(), keep_alive));
            }
            "aggs" | "aggregations" => {
                if !value.is_object() {
                    return Err(parsing("[aggs] must be an object"));
                }
                request.aggregations = Some(value.clone());
            }
            "min_score" => {
                request.min_score = Some(
                    value
                        .as_f64()
                        .ok_or_else(|| parsing("[min_score] must be a number"))?
                        as f32,
                );
            }
            "post_filter" => {
                if !value.is_object() {
                    return Err(parsing("[post_filter] must be a query object"));
                }
                request.post_filter = Some(value.clone());
            }
            "timeout"
            | "version"
            | "seq_no_primary_term"
            | "stored_fields"
            | "explain"
            | "track_scores"
            | "terminate_after"
            | "profile" => {}
            other => {
                return Err(parsing(format!(
                    "[{other}] is not supported in a search body by this version of Rampart"
                )));
            }
        }
    }
    if request.search_after.is_some() && request.from > 0 {
        return Err(EsError::bad_request(
            "Cannot use [from] parameter in conjunction with [search_after]: leave [from] out \
             and page with the sort values of the last hit",
        ));
    }
    Ok(request)
}

/// The query a restricted reader runs: theirs, with hidden fields matching nothing, and the
/// role's document query as a filter (document-level security is judged on all fields).
/// The most query objects one search may hold (Elasticsearch's `max_clause_count` guards the
/// same thing): a request body or a query string must not fan out into millions of queries.
const MAX_QUERY_NODES: usize = 10_000;

fn check_query_size(query: &Value) -> Result<(), EsError> {
    fn nodes(value: &Value, budget: &mut usize) -> bool {
        match value {
            Value::Object(map) => {
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                map.values().all(|v| nodes(v, budget))
            }
            Value::Array(items) => items.iter().all(|v| nodes(v, budget)),
            _ => true,
        }
    }
    let mut budget = MAX_QUERY_NODES;
    if nodes(query, &mut budget) {
        Ok(())
    } else {
        Err(EsError::bad_request(format!(
            "the query is too large: it holds more than {MAX_QUERY_NODES} clauses \
             (max_clause_count); split it or use a terms query"
        )))
    }
}

pub(crate) fn restricted_query(
    index: &Index,
    query: &Value,
    restrictions: &IndexRestrictions,
) -> Result<Box<dyn Query>, EsError> {
    check_query_size(query)?;
    let mine = build_query(index, query, restrictions.fields.as_ref())?;
    match &restrictions.query {
        None => Ok(mine),
        Some(documents) => Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Must, mine),
            (Occur::Must, build_query(index, documents, None)?),
        ]))),
    }
}

/// Whether a stored document is among those `documents` lets a reader see (a realtime GET
/// under document-level security): refreshes first if search does not have the document yet.
pub(crate) fn document_visible(
    index: &Index,
    id: &str,
    seq_no: u64,
    documents: &Value,
) -> Result<bool, EsError> {
    if index.searchable_seq_no() < i64::try_from(seq_no).unwrap_or(i64::MAX) {
        index.refresh_now()?;
    }
    let query = BooleanQuery::new(vec![
        (Occur::Must, build_query(index, documents, None)?),
        (
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(index.id_field(), id),
                IndexRecordOption::Basic,
            )),
        ),
    ]);
    let found = index
        .searcher()
        .search(&query, &Count)
        .map_err(|e| EsError::new(500, "exception", format!("search failed: {e}")))?;
    Ok(found > 0)
}

/// Sort keys a search may name (each costs a column read per match and memory per hit).
const MAX_SORT_KEYS: usize = 64;

/// One index as a search sees it: a fixed view of its segments and what the reader may see of
/// it. A scroll or point in time keeps these between requests.
#[derive(Clone)]
pub(crate) struct Target {
    pub index: Arc<Index>,
    pub searcher: tantivy::Searcher,
    pub restrictions: IndexRestrictions,
}

impl Target {
    pub(crate) fn now(index: &Arc<Index>, scope: &dyn IndexScope) -> Self {
        Target {
            index: Arc::clone(index),
            searcher: index.searcher(),
            restrictions: index.restrictions(scope, "indices:data/read/search"),
        }
    }
}

/// Dates in `fields` are written in the field's (or the requested) format, not as sent.
fn format_dates(
    mappings: &Mappings,
    formats: &HashMap<String, String>,
    values: &mut Map<String, Value>,
) -> Result<(), EsError> {
    for (path, list) in values.iter_mut() {
        let Some(field) = mappings.field(path).filter(|f| f.kind == FieldKind::Date) else {
            continue;
        };
        let parse_with = field
            .date_format
            .clone()
            .unwrap_or_else(DateFormat::default_format);
        let requested = formats
            .iter()
            .find(|(pattern, _)| crate::names::glob_match(pattern, path))
            .map(|(_, f)| f.as_str());
        let write_with = crate::aggs::key_format(requested)?;
        if let Value::Array(items) = list {
            for item in items.iter_mut() {
                let ms = match &*item {
                    Value::String(text) => parse_with.parse_str(text),
                    Value::Number(n) => n.as_f64().and_then(|f| parse_with.parse_number(f)),
                    _ => None,
                };
                if let Some(ms) = ms {
                    *item = json!(write_with(ms));
                }
            }
        }
    }
    Ok(())
}

/// Runs a collector, passing it only documents scoring at least `min_score` when one is set.
fn collect<C: tantivy::collector::Collector>(
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    collector: C,
    min_score: Option<f32>,
) -> tantivy::Result<C::Fruit> {
    match min_score {
        None => searcher.search(query, &collector),
        Some(min) => searcher.search(
            query,
            &crate::sort::MinScore {
                inner: collector,
                min,
            },
        ),
    }
}

fn score_hits(top: Vec<(f32, tantivy::DocAddress)>) -> Vec<SortedHit> {
    top.into_iter()
        .map(|(score, addr)| (vec![SortValue::Number(f64::from(score))], score, addr))
        .collect()
}

fn search_failed(e: &tantivy::TantivyError) -> EsError {
    EsError::new(500, "exception", format!("search failed: {e}"))
}

/// What a search page answered, and where the next page of a scroll starts.
pub(crate) struct Page {
    pub response: Value,
    pub last_keys: Option<Vec<SortValue>>,
}

/// Runs a search over several indices, merging by score (or by the sort keys).
pub(crate) fn search(
    targets: &[Target],
    request: &SearchRequest,
    max_window: u64,
) -> Result<Page, EsError> {
    if (request.from + request.size) as u64 > max_window {
        return Err(EsError::bad_request(format!(
            "Result window is too large, from + size must be less than or equal to: \
             [{max_window}] but was [{}]. See the scroll api for a more efficient way to request \
             large data sets. This limit can be set by changing the [index.max_result_window] \
             index level setting.",
            request.from + request.size
        )));
    }
    let wanted = request.from + request.size;
    if request.sort.len() > MAX_SORT_KEYS {
        return Err(EsError::bad_request(format!(
            "a search may sort on at most {MAX_SORT_KEYS} keys, got {}",
            request.sort.len()
        )));
    }
    // Ranking by score alone, from the start, is tantivy's own top-k; anything else (field keys,
    // a cursor) goes through the sort-key collector.
    let specs: Vec<SortSpec> = if request.sort.is_empty() {
        vec![SortSpec {
            field: "_score".into(),
            descending: true,
            missing_first: false,
            unmapped: false,
        }]
    } else {
        request.sort.clone()
    };
    if let Some(after) = &request.search_after
        && after.len() != specs.len()
    {
        return Err(EsError::bad_request(format!(
            "search_after has {} value(s) but sort has {}: pass the [sort] values of the last \
             hit as they were returned",
            after.len(),
            specs.len()
        )));
    }
    let by_score_only = request.search_after.is_none()
        && matches!(specs.as_slice(), [only] if only.field == "_score" && only.descending);
    let shows_scores = specs.iter().any(|s| s.field == "_score");
    let mut total = 0usize;
    let mut hits: Vec<(usize, SortedHit)> = Vec::new();
    let mut aggregated: Option<IntermediateAggregationResults> = None;
    // Calendar histograms bucket by bounds every index must share: the span of their fields
    // over the whole search, under each reader's restrictions.
    let mut spans = crate::aggs::Spans::new();
    if let Some(aggs) = &request.aggregations {
        let mut fields = Vec::new();
        crate::aggs::span_fields(aggs, &mut fields);
        for target in targets {
            let query = restricted_query(&target.index, &request.query, &target.restrictions)?;
            crate::aggs::widen_spans(
                &target.index,
                &target.searcher,
                query.as_ref(),
                &fields,
                target.restrictions.fields.as_ref(),
                &mut spans,
            )?;
        }
    }
    for (i, target) in targets.iter().enumerate() {
        let index = &target.index;
        let query = restricted_query(index, &request.query, &target.restrictions)?;
        let searcher = &target.searcher;
        // Collectors reserve room for the page up front: never more than the index holds.
        let wanted = wanted.min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        // Over the same restricted query: document-level security bounds the buckets, and
        // hidden fields aggregate as if unmapped.
        let agg_collector = match &request.aggregations {
            Some(aggs) => {
                let prepared =
                    crate::aggs::prepare(index, aggs, target.restrictions.fields.as_ref(), &spans)?;
                Some(DistributedAggregationCollector::from_aggs(
                    prepared.request,
                    AggContextParams::new(
                        AggregationLimitsGuard::default(),
                        index.search_index().tokenizers().clone(),
                    ),
                ))
            }
            None => None,
        };
        // One pass collects the count, the page and the aggregations together, except where
        // tantivy answers alone much faster: a count of a term or of everything is read from
        // the index statistics, and a score-ranked page skips blocks that cannot make the cut.
        let min_score = request.min_score;
        // A post_filter narrows the hits, not the aggregations: those run apart, on the query.
        let (query, agg_collector, filtered_part) = match &request.post_filter {
            None => (query, agg_collector, None),
            Some(filter) => {
                let part = match agg_collector {
                    Some(c) => Some(
                        collect(searcher, query.as_ref(), c, min_score)
                            .map_err(|e| aggregation_error(&e))?,
                    ),
                    None => None,
                };
                let narrowed: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                    (Occur::Must, query),
                    (
                        Occur::Must,
                        Box::new(tantivy::query::ConstScoreQuery::new(
                            build_query(index, filter, target.restrictions.fields.as_ref())?,
                            0.0,
                        )) as Box<dyn Query>,
                    ),
                ]));
                (narrowed, None, part)
            }
        };
        let cheap_count = target.restrictions.query.is_none()
            && min_score.is_none()
            && request.post_filter.is_none()
            && request
                .query
                .as_object()
                .and_then(|q| q.keys().next())
                .is_some_and(|kind| matches!(kind.as_str(), "match_all" | "term"));
        let (count, part, top): (
            usize,
            Option<IntermediateAggregationResults>,
            Vec<SortedHit>,
        ) = if by_score_only && (wanted == 0 || cheap_count) {
            // Count alone keeps tantivy's shortcut (a term's document frequency); in a tuple it
            // would decode every posting.
            let (count, part) = match agg_collector {
                None => (
                    collect(searcher, query.as_ref(), Count, min_score)
                        .map_err(|e| search_failed(&e))?,
                    None,
                ),
                Some(aggs) => collect(searcher, query.as_ref(), (Count, Some(aggs)), min_score)
                    .map_err(|e| search_failed(&e))?,
            };
            let top = if wanted == 0 {
                Vec::new()
            } else {
                score_hits(
                    searcher
                        .search(&query, &TopDocs::with_limit(wanted).order_by_score())
                        .map_err(|e| search_failed(&e))?,
                )
            };
            (count, part, top)
        } else if by_score_only {
            let (count, top, part) = collect(
                searcher,
                query.as_ref(),
                (
                    Count,
                    TopDocs::with_limit(wanted).order_by_score(),
                    agg_collector,
                ),
                min_score,
            )
            .map_err(|e| search_failed(&e))?;
            (count, part, score_hits(top))
        } else {
            let mappings = index.state().mappings.clone();
            let mut sources = Vec::with_capacity(specs.len());
            for spec in &specs {
                let hidden = target
                    .restrictions
                    .fields
                    .as_ref()
                    .is_some_and(|allowed| !allowed(&spec.field));
                // A field hidden by field-level security sorts as if it were unmapped.
                let kind = if hidden {
                    None
                } else {
                    mappings.field(&spec.field).map(|f| f.kind)
                };
                sources.push(KeySource::for_field(spec, kind, i)?);
            }
            let collector = TopSorted {
                specs: specs.clone(),
                sources,
                after: request.search_after.clone(),
                limit: wanted.max(1),
            };
            let (count, top, part) = collect(
                searcher,
                query.as_ref(),
                (Count, collector, agg_collector),
                min_score,
            )
            .map_err(|e| search_failed(&e))?;
            (count, part, top)
        };
        total += count;
        hits.extend(top.into_iter().map(|hit| (i, hit)));
        if let Some(part) = part.or(filtered_part) {
            match &mut aggregated {
                None => aggregated = Some(part),
                Some(all) => all.merge_fruits(part).map_err(|e| aggregation_error(&e))?,
            }
        }
    }
    hits.sort_by(|a, b| compare(&specs, &a.1.0, &b.1.0));
    let last_keys = hits
        .get(wanted.saturating_sub(1).min(hits.len().saturating_sub(1)))
        .filter(|_| request.size > 0)
        .map(|h| h.1.0.clone());
    // Elasticsearch reports no max_score when no hits are returned (size 0).
    let max_score = hits
        .iter()
        .map(|h| h.1.1)
        .reduce(f32::max)
        .filter(|_| request.size > 0 && shows_scores);
    let highlighter = match &request.highlight {
        Some(spec) => Some(crate::highlight::Highlighter::new(spec)?),
        None => None,
    };
    let page: Vec<(usize, SortedHit)> = hits
        .into_iter()
        .skip(request.from)
        .take(request.size)
        .collect();
    // Each segment's `_id` column is opened once, and each index's records are read in one
    // store transaction, not one per hit.
    let mut id_columns: HashMap<(usize, u32), tantivy::columnar::StrColumn> = HashMap::new();
    let mut ids = Vec::with_capacity(page.len());
    for (i, (_, _, addr)) in &page {
        let column = match id_columns.entry((*i, addr.segment_ord)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id_column(&targets[*i].searcher, addr.segment_ord)?)
            }
        };
        ids.push(doc_id(column, &targets[*i].index, addr.doc_id)?);
    }
    let mut records: Vec<Option<crate::DocRecord>> = vec![None; page.len()];
    for (i, target) in targets.iter().enumerate() {
        let positions: Vec<usize> = (0..page.len()).filter(|&k| page[k].0 == i).collect();
        if positions.is_empty() {
            continue;
        }
        let wanted_ids: Vec<&str> = positions.iter().map(|&k| ids[k].as_str()).collect();
        for (k, record) in positions
            .into_iter()
            .zip(target.index.get_many(&wanted_ids)?)
        {
            records[k] = record;
        }
    }
    let mut out = Vec::new();
    for (((i, (keys, score, _)), id), record) in page.into_iter().zip(ids).zip(records) {
        let target = &targets[i];
        let index = &target.index;
        let mut hit = json!({"_index": index.name, "_id": id, "_score": score});
        if !shows_scores {
            // Elasticsearch does not score hits sorted by field unless asked to.
            hit["_score"] = Value::Null;
        }
        if request.show_sort {
            let shown = if request.hidden_tiebreak {
                &keys[..keys.len().saturating_sub(1)]
            } else {
                &keys[..]
            };
            hit["sort"] = Value::Array(shown.iter().map(SortValue::to_json).collect());
        }
        // The hit matched the version search holds; the store may hold a newer one, which a
        // reader limited by document-level security must be allowed to see too.
        if let (Some(record), Some(documents)) = (&record, &target.restrictions.query)
            && !document_visible(index, &id, record.seq_no, documents)?
        {
            continue;
        }
        let needs_source =
            request.source_enabled || !request.fields.is_empty() || highlighter.is_some();
        if needs_source && let Some(record) = record {
            let mut source: Value = serde_json::from_slice(&record.source).unwrap_or(Value::Null);
            if let Some(allowed) = &target.restrictions.fields {
                source = crate::source::filter_fields(&source, allowed.as_ref());
            }
            if !request.fields.is_empty() {
                let mut values = crate::source::field_values(&source, &request.fields);
                format_dates(&index.state().mappings, &request.field_formats, &mut values)?;
                if !values.is_empty() {
                    hit["fields"] = Value::Object(values);
                }
            }
            if let Some(highlighter) = &highlighter {
                let mappings = index.state().mappings.clone();
                let found = highlighter.highlight(index, &mappings, &request.query, &source)?;
                if !found.is_empty() {
                    hit["highlight"] = Value::Object(found);
                }
            }
            if request.source_enabled {
                hit["_source"] =
                    if request.source_includes.is_empty() && request.source_excludes.is_empty() {
                        source
                    } else {
                        crate::source::filter(
                            &source,
                            &request.source_includes,
                            &request.source_excludes,
                        )
                    };
            }
        }
        out.push(hit);
    }
    let mut hits_json = json!({"max_score": max_score, "hits": out});
    match request.track_total_hits {
        TrackTotal::Off => {}
        TrackTotal::Exact => hits_json["total"] = json!({"value": total, "relation": "eq"}),
        TrackTotal::UpTo(limit) => {
            let relation = if total as u64 > limit { "gte" } else { "eq" };
            hits_json["total"] = json!({"value": (total as u64).min(limit), "relation": relation});
        }
    }
    let mut response = json!({
        "took": 0,
        "timed_out": false,
        "_shards": {"total": targets.len(), "successful": targets.len(), "skipped": 0, "failed": 0},
        "hits": hits_json,
    });
    if let (Some(aggs), Some(first)) = (&request.aggregations, targets.first()) {
        // The request in tantivy's terms, for naming the final buckets.
        // With the first index's restrictions: a hidden field must fail (or not) exactly as
        // an unmapped one does, here too.
        let prepared = crate::aggs::prepare(
            &first.index,
            aggs,
            first.restrictions.fields.as_ref(),
            &spans,
        )?;
        let result = match aggregated {
            Some(all) => all
                .into_final_result(prepared.request, AggregationLimitsGuard::default())
                .map_err(|e| aggregation_error(&e))?,
            None => tantivy::aggregation::agg_result::AggregationResults::default(),
        };
        let mut shaped = serde_json::to_value(&result)
            .map_err(|e| EsError::new(500, "exception", format!("aggregation result: {e}")))?;
        // top_hits hands back ids: their sources are read as a search hit's would be, under
        // the reader's document- and field-level security.
        let fetch = |id: &str| -> Option<(String, Value)> {
            for target in targets {
                let Ok(Some(record)) = target.index.get(id) else {
                    continue;
                };
                if let Some(documents) = &target.restrictions.query
                    && !document_visible(&target.index, id, record.seq_no, documents)
                        .unwrap_or(false)
                {
                    continue;
                }
                let mut source: Value =
                    serde_json::from_slice(&record.source).unwrap_or(Value::Null);
                if let Some(allowed) = &target.restrictions.fields {
                    source = crate::source::filter_fields(&source, allowed.as_ref());
                }
                return Some((target.index.name.clone(), source));
            }
            None
        };
        if let Value::Object(map) = &mut shaped {
            map.insert("doc_count".into(), json!(total));
            crate::aggs::finish(map, &prepared.plan, &fetch);
            map.remove("doc_count");
        }
        response["aggregations"] = shaped;
    }
    Ok(Page {
        response,
        last_keys,
    })
}

pub(crate) fn count(
    indices: &[Arc<Index>],
    query: &Value,
    scope: &dyn IndexScope,
) -> Result<Value, EsError> {
    let mut total = 0usize;
    for index in indices {
        let restricted = index.restrictions(scope, "indices:data/read/search");
        let q = restricted_query(index, query, &restricted)?;
        total += index
            .searcher()
            .search(&q, &Count)
            .map_err(|e| EsError::new(500, "exception", format!("count failed: {e}")))?;
    }
    Ok(json!({
        "count": total,
        "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0},
    }))
}

pub(crate) fn id_column(
    searcher: &tantivy::Searcher,
    segment_ord: u32,
) -> Result<tantivy::columnar::StrColumn, EsError> {
    searcher
        .segment_reader(segment_ord)
        .fast_fields()
        .str("_id")
        .map_err(|e| EsError::new(500, "exception", format!("reading _id failed: {e}")))?
        .ok_or_else(|| EsError::new(500, "exception", "the _id column is missing"))
}

pub(crate) fn doc_id(
    column: &tantivy::columnar::StrColumn,
    index: &Index,
    doc: tantivy::DocId,
) -> Result<String, EsError> {
    let mut id = String::new();
    let ord = column
        .term_ords(doc)
        .next()
        .ok_or_else(|| EsError::new(500, "exception", format!("no _id in [{}]", index.name)))?;
    column
        .ord_to_str(ord, &mut id)
        .map_err(|e| EsError::new(500, "exception", format!("reading _id failed: {e}")))?;
    Ok(id)
}
