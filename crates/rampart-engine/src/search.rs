//! `_search` and `_count` over the refreshed view of indices. This first cut answers the core
//! queries (`match_all`, `match_none`, `term`, `terms`, `match`, `ids`, `bool`) with `from`,
//! `size` and `_source` filtering; the full query DSL, sorting and aggregations are the search
//! issue's. A query it does not know is refused with a `parsing_exception`, never ignored.

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
use crate::date::DateFormat;
use crate::date_math;
use crate::mapping::{FieldKind, Mappings};

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

/// Builds a tantivy query for one index (its mappings decide how values are typed).
pub(crate) fn build_query(
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
            let (text, operator) = match value {
                Value::Object(o) => (
                    o.get("query")
                        .ok_or_else(|| parsing("[match] query requires [query]"))?
                        .clone(),
                    o.get("operator")
                        .and_then(Value::as_str)
                        .unwrap_or("or")
                        .to_lowercase(),
                ),
                v => (v.clone(), "or".to_string()),
            };
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
                    let clauses: Vec<(Occur, Box<dyn Query>)> = analyze(index, &field, &text)?
                        .into_iter()
                        .map(|term| -> (Occur, Box<dyn Query>) {
                            (
                                occur,
                                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                            )
                        })
                        .collect();
                    if clauses.is_empty() {
                        return Ok(Box::new(EmptyQuery));
                    }
                    Ok(Box::new(BooleanQuery::new(clauses)))
                }
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
            let text = match &value {
                Value::Object(o) => o
                    .get("query")
                    .cloned()
                    .ok_or_else(|| parsing("[match_phrase] query requires [query]"))?,
                v => v.clone(),
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
                        _ => Box::new(tantivy::query::PhraseQuery::new(terms)),
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
        other => Err(parsing(format!(
            "unknown query [{other}]: this version of Rampart answers match_all, match_none, \
             term, terms, ids, match, match_phrase, multi_match, range, exists, \
             constant_score and bool"
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
    let mut terms = Vec::new();
    while stream.advance() {
        let mut term = Term::from_field_json_path(index.text_field(), field, true);
        term.append_type_and_str(&stream.token().text);
        terms.push(term);
    }
    Ok(terms)
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
    if spec.contains_key("time_zone") {
        return Err(EsError::bad_request(
            "[time_zone] in a range query is not supported yet: dates are in UTC",
        ));
    }
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0),
    )
    .unwrap_or(i64::MAX);
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
                    Value::String(s) => date_math::parse(s, &format, now_ms, rounding),
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
    for (key, value) in spec {
        if value.is_null() {
            continue;
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
            "format" | "boost" | "include_lower" | "include_upper" | "relation" | "_name" => {}
            other => {
                return Err(parsing(format!("[range] query does not support [{other}]")));
            }
        }
    }
    Ok(Box::new(tantivy::query::RangeQuery::new(lower, upper)))
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

pub(crate) struct SearchRequest {
    pub query: Value,
    pub from: usize,
    pub size: usize,
    pub source_includes: Vec<String>,
    pub source_excludes: Vec<String>,
    pub source_enabled: bool,
    pub track_total_hits: bool,
    /// `aggs` / `aggregations`, as given.
    pub aggregations: Option<Value>,
    /// `sort`, parsed; empty means by score.
    pub sort: Vec<SortSpec>,
}

/// One sort key of a search.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortSpec {
    /// A field path, `_score` or `_doc`.
    pub field: String,
    pub descending: bool,
    pub missing_first: bool,
}

/// `sort` as Elasticsearch reads it: `"field"`, `{"field": "desc"}`,
/// `{"field": {"order": "desc", "missing": "_first"}}`, or a list of these.
fn parse_sort(value: &Value) -> Result<Vec<SortSpec>, EsError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for item in items {
        let (field, options) = match item {
            Value::String(field) => (field, Value::Null),
            Value::Object(map) if map.len() == 1 => {
                let (field, options) = map.into_iter().next().unwrap_or_else(|| unreachable!());
                (field, options)
            }
            other => return Err(parsing(format!("[sort] cannot read [{other}]"))),
        };
        let default_descending = field == "_score";
        let (order, missing) = match &options {
            Value::Null => (None, None),
            Value::String(order) => (Some(order.clone()), None),
            Value::Object(o) => {
                for key in o.keys() {
                    if !matches!(
                        key.as_str(),
                        "order" | "missing" | "unmapped_type" | "mode" | "format"
                    ) {
                        return Err(parsing(format!(
                            "[sort] option [{key}] is not supported yet"
                        )));
                    }
                }
                (
                    o.get("order").and_then(Value::as_str).map(str::to_string),
                    o.get("missing").and_then(Value::as_str).map(str::to_string),
                )
            }
            other => return Err(parsing(format!("[sort] cannot read [{other}]"))),
        };
        let descending = match order.as_deref() {
            None => default_descending,
            Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(parsing(format!(
                    "[sort] order must be asc or desc, got [{other}]"
                )));
            }
        };
        let missing_first = match missing.as_deref() {
            None | Some("_last") => false,
            Some("_first") => true,
            Some(other) => {
                return Err(parsing(format!(
                    "[sort] missing [{other}] is not supported: use _first or _last"
                )));
            }
        };
        out.push(SortSpec {
            field,
            descending,
            missing_first,
        });
    }
    Ok(out)
}

/// A document's value for one sort key.
#[derive(Debug, Clone, PartialEq)]
enum SortValue {
    Missing,
    Number(f64),
    Text(String),
}

impl SortValue {
    fn to_json(&self) -> Value {
        match self {
            SortValue::Missing => Value::Null,
            SortValue::Number(n) if n.fract() == 0.0 && n.abs() < 9e15 => json!(*n as i64),
            SortValue::Number(n) => json!(n),
            SortValue::Text(t) => json!(t),
        }
    }
}

/// Reads a document's first value of a field from the `kw` columns.
fn column_value(
    segment: &tantivy::SegmentReader,
    kind: FieldKind,
    field: &str,
    doc: tantivy::DocId,
) -> Result<SortValue, EsError> {
    let column = format!("kw.{field}");
    let fast = segment.fast_fields();
    let fail = |e: tantivy::TantivyError| EsError::new(500, "exception", format!("sort: {e}"));
    if kind == FieldKind::Keyword || kind == FieldKind::Ip {
        let Some(strings) = fast.str(&column).map_err(fail)? else {
            return Ok(SortValue::Missing);
        };
        let Some(ord) = strings.term_ords(doc).next() else {
            return Ok(SortValue::Missing);
        };
        let mut text = String::new();
        strings
            .ord_to_str(ord, &mut text)
            .map_err(|e| EsError::new(500, "exception", format!("sort: {e}")))?;
        return Ok(SortValue::Text(text));
    }
    if let Some(c) = fast.column_opt::<i64>(&column).map_err(fail)?
        && let Some(v) = c.first(doc)
    {
        return Ok(SortValue::Number(v as f64));
    }
    if let Some(c) = fast.column_opt::<f64>(&column).map_err(fail)?
        && let Some(v) = c.first(doc)
    {
        return Ok(SortValue::Number(v));
    }
    if let Some(c) = fast.column_opt::<u64>(&column).map_err(fail)?
        && let Some(v) = c.first(doc)
    {
        return Ok(SortValue::Number(v as f64));
    }
    if let Some(c) = fast.column_opt::<DateTime>(&column).map_err(fail)?
        && let Some(v) = c.first(doc)
    {
        return Ok(SortValue::Number(v.into_timestamp_millis() as f64));
    }
    if let Some(c) = fast.column_opt::<bool>(&column).map_err(fail)?
        && let Some(v) = c.first(doc)
    {
        return Ok(SortValue::Number(f64::from(u8::from(v))));
    }
    Ok(SortValue::Missing)
}

/// Hits beyond this many matches are not sorted by field yet (they would all be read).
const MAX_FIELD_SORTED_MATCHES: usize = 100_000;

fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
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
        track_total_hits: true,
        aggregations: None,
        sort: Vec::new(),
    };
    for (key, value) in map {
        match key.as_str() {
            "query" => request.query = value.clone(),
            "from" => {
                request.from = value
                    .as_u64()
                    .ok_or_else(|| parsing("[from] must be a non-negative integer"))?
                    as usize;
            }
            "size" => {
                request.size = value
                    .as_u64()
                    .ok_or_else(|| parsing("[size] must be a non-negative integer"))?
                    as usize;
            }
            "_source" => match value {
                Value::Bool(b) => request.source_enabled = *b,
                Value::Object(o) => {
                    request.source_includes =
                        o.get("includes").map(string_list).unwrap_or_default();
                    request.source_excludes =
                        o.get("excludes").map(string_list).unwrap_or_default();
                }
                other => request.source_includes = string_list(other),
            },
            "track_total_hits" => request.track_total_hits = value != &json!(false),
            "sort" => request.sort = parse_sort(value)?,
            "aggs" | "aggregations" => {
                if !value.is_object() {
                    return Err(parsing("[aggs] must be an object"));
                }
                request.aggregations = Some(value.clone());
            }
            "timeout" | "version" | "seq_no_primary_term" => {}
            other => {
                return Err(parsing(format!(
                    "[{other}] is not supported in a search body by this version of Rampart"
                )));
            }
        }
    }
    Ok(request)
}

/// The query a restricted reader runs: theirs, with hidden fields matching nothing, and the
/// role's document query as a filter (document-level security is judged on all fields).
fn restricted_query(
    index: &Index,
    query: &Value,
    restrictions: &IndexRestrictions,
) -> Result<Box<dyn Query>, EsError> {
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

/// Runs a search over several indices, merging by score (or by the sort keys).
pub(crate) fn search(
    indices: &[Arc<Index>],
    request: &SearchRequest,
    max_window: u64,
    scope: &dyn IndexScope,
) -> Result<Value, EsError> {
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
    let mut total = 0usize;
    let mut hits: Vec<(f32, usize, tantivy::DocAddress, Vec<SortValue>)> = Vec::new();
    // Sorting by score alone (descending) is the default ranking.
    let by_score_only =
        matches!(request.sort.as_slice(), [only] if only.field == "_score" && only.descending);
    let by_field = !request.sort.is_empty() && !by_score_only;
    let mut searchers = Vec::new();
    let mut restrictions = Vec::new();
    let mut aggregated: Option<IntermediateAggregationResults> = None;
    for (i, index) in indices.iter().enumerate() {
        let restricted = index.restrictions(scope, "indices:data/read/search");
        let query = restricted_query(index, &request.query, &restricted)?;
        let searcher = index.searcher();
        if let Some(aggs) = &request.aggregations {
            // Over the same restricted query: document-level security bounds the buckets, and
            // hidden fields aggregate as if unmapped.
            let aggs = tantivy_aggregations(index, aggs, restricted.fields.as_ref())?;
            let collector = DistributedAggregationCollector::from_aggs(
                aggs,
                AggContextParams::new(
                    AggregationLimitsGuard::default(),
                    index.search_index().tokenizers().clone(),
                ),
            );
            let part = searcher
                .search(&query, &collector)
                .map_err(|e| aggregation_error(&e))?;
            match &mut aggregated {
                None => aggregated = Some(part),
                Some(all) => all.merge_fruits(part).map_err(|e| aggregation_error(&e))?,
            }
        }
        let count = searcher
            .search(&query, &Count)
            .map_err(|e| EsError::new(500, "exception", format!("search failed: {e}")))?;
        // By score, only the best `wanted` are needed; by field, every match is ranked.
        let limit = if by_field {
            if count > MAX_FIELD_SORTED_MATCHES {
                return Err(EsError::bad_request(format!(
                    "sorting {count} matches by field is not supported yet (at most \
                     {MAX_FIELD_SORTED_MATCHES}): narrow the query"
                )));
            }
            count
        } else {
            wanted
        };
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())
            .map_err(|e| EsError::new(500, "exception", format!("search failed: {e}")))?;
        total += count;
        let mappings = index.state().mappings.clone();
        for (score, addr) in top {
            let mut keys = Vec::with_capacity(request.sort.len());
            for spec in &request.sort {
                keys.push(match spec.field.as_str() {
                    "_score" => SortValue::Number(f64::from(score)),
                    "_doc" => SortValue::Number(
                        f64::from(addr.segment_ord) * 4_294_967_296.0 + f64::from(addr.doc_id),
                    ),
                    field => {
                        let hidden = restricted
                            .fields
                            .as_ref()
                            .is_some_and(|allowed| !allowed(field));
                        match mappings.field(field).map(|f| f.kind) {
                            Some(FieldKind::Text) => {
                                return Err(EsError::bad_request(format!(
                                    "Text fields are not optimised for operations that require \
                                     per-document field data like aggregations and sorting, so \
                                     these operations are disabled by default. Please use a \
                                     keyword field instead ([{field}])."
                                )));
                            }
                            Some(kind) if !hidden && kind != FieldKind::Object => column_value(
                                searcher.segment_reader(addr.segment_ord),
                                kind,
                                field,
                                addr.doc_id,
                            )?,
                            _ => {
                                return Err(EsError::new(
                                    400,
                                    "query_shard_exception",
                                    format!("No mapping found for [{field}] in order to sort on"),
                                ));
                            }
                        }
                    }
                });
            }
            hits.push((score, i, addr, keys));
        }
        restrictions.push(restricted);
        searchers.push(searcher);
    }
    if by_field {
        let specs = &request.sort;
        hits.sort_by(|a, b| {
            for (spec, (x, y)) in specs.iter().zip(a.3.iter().zip(b.3.iter())) {
                let order = match (x, y) {
                    (SortValue::Missing, SortValue::Missing) => std::cmp::Ordering::Equal,
                    // Missing values go last (or first) whatever the direction.
                    (SortValue::Missing, _) if spec.missing_first => std::cmp::Ordering::Less,
                    (SortValue::Missing, _) => std::cmp::Ordering::Greater,
                    (_, SortValue::Missing) if spec.missing_first => std::cmp::Ordering::Greater,
                    (_, SortValue::Missing) => std::cmp::Ordering::Less,
                    (SortValue::Number(p), SortValue::Number(q)) => {
                        let o = p.total_cmp(q);
                        if spec.descending { o.reverse() } else { o }
                    }
                    (SortValue::Text(p), SortValue::Text(q)) => {
                        let o = p.cmp(q);
                        if spec.descending { o.reverse() } else { o }
                    }
                    (SortValue::Number(_), SortValue::Text(_)) => std::cmp::Ordering::Less,
                    (SortValue::Text(_), SortValue::Number(_)) => std::cmp::Ordering::Greater,
                };
                if order != std::cmp::Ordering::Equal {
                    return order;
                }
            }
            std::cmp::Ordering::Equal
        });
    } else {
        hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    }
    // Elasticsearch reports no max_score when no hits are returned (size 0).
    let max_score = hits
        .first()
        .map(|h| h.0)
        .filter(|_| request.size > 0 && !by_field);
    let mut out = Vec::new();
    for (score, i, addr, keys) in hits.into_iter().skip(request.from).take(request.size) {
        let index = &indices[i];
        let id = doc_id(&searchers[i], index, addr)?;
        let mut hit = json!({"_index": index.name, "_id": id, "_score": score});
        if by_field {
            // Elasticsearch does not score hits sorted by field unless asked to.
            hit["_score"] = Value::Null;
            hit["sort"] = Value::Array(keys.iter().map(SortValue::to_json).collect());
        }
        let record = index.get(&id)?;
        // The hit matched the version search holds; the store may hold a newer one, which a
        // reader limited by document-level security must be allowed to see too.
        if let (Some(record), Some(documents)) = (&record, &restrictions[i].query)
            && !document_visible(index, &id, record.seq_no, documents)?
        {
            continue;
        }
        if request.source_enabled
            && let Some(record) = record
        {
            let mut source: Value = serde_json::from_slice(&record.source).unwrap_or(Value::Null);
            if let Some(allowed) = &restrictions[i].fields {
                source = crate::source::filter_fields(&source, allowed.as_ref());
            }
            hit["_source"] =
                crate::source::filter(&source, &request.source_includes, &request.source_excludes);
        }
        out.push(hit);
    }
    let mut hits_json = json!({
        "total": {"value": total, "relation": "eq"},
        "max_score": max_score,
        "hits": out,
    });
    if !request.track_total_hits {
        hits_json.as_object_mut().map(|o| o.remove("total"));
    }
    let mut response = json!({
        "took": 0,
        "timed_out": false,
        "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0},
        "hits": hits_json,
    });
    if let (Some(aggs), Some(first)) = (&request.aggregations, indices.first()) {
        // The request in tantivy's terms, for naming the final buckets.
        let request_aggs = tantivy_aggregations(first, aggs, None)?;
        let result = match aggregated {
            Some(all) => all
                .into_final_result(request_aggs, AggregationLimitsGuard::default())
                .map_err(|e| aggregation_error(&e))?,
            None => tantivy::aggregation::agg_result::AggregationResults::default(),
        };
        response["aggregations"] = serde_json::to_value(&result)
            .map_err(|e| EsError::new(500, "exception", format!("aggregation result: {e}")))?;
    }
    Ok(response)
}

/// `calendar_interval` units of constant length in UTC become the `fixed_interval` tantivy
/// computes (weeks start on Monday, as Elasticsearch's do: the epoch was a Thursday). Months,
/// quarters and years vary in length and are refused until calendar bucketing lands.
fn calendar_to_fixed(histogram: &mut Map<String, Value>) -> Result<(), EsError> {
    let Some(interval) = histogram
        .remove("calendar_interval")
        .or_else(|| histogram.remove("interval"))
    else {
        return Ok(());
    };
    let unit = interval.as_str().unwrap_or_default().trim().to_string();
    let (fixed, offset) = match unit.as_str() {
        "1s" | "second" => ("1s", None),
        "1m" | "minute" => ("1m", None),
        "1h" | "hour" => ("1h", None),
        "1d" | "day" => ("1d", None),
        "1w" | "week" => ("7d", Some("4d")),
        other => {
            return Err(EsError::bad_request(format!(
                "[calendar_interval: {other}] is not supported yet: use minute, hour, day or                  week, or a fixed_interval"
            )));
        }
    };
    if histogram.contains_key("time_zone") {
        return Err(EsError::bad_request(
            "[time_zone] on a date_histogram is not supported yet: buckets are in UTC",
        ));
    }
    histogram.insert("fixed_interval".into(), json!(fixed));
    if let Some(offset) = offset
        && !histogram.contains_key("offset")
    {
        histogram.insert("offset".into(), json!(offset));
    }
    Ok(())
}

/// Aggregation types whose every field reference is a `field` key, which the rewrite maps
/// (and field-level security hides). Others, such as `top_hits` with its `docvalue_fields`,
/// could name a column directly, so they are refused until they are mapped the same way.
const AGGREGATION_TYPES: &[&str] = &[
    "terms",
    "histogram",
    "date_histogram",
    "range",
    "avg",
    "min",
    "max",
    "sum",
    "stats",
    "value_count",
    "cardinality",
    "percentiles",
];

fn check_aggregation_types(aggs: &Value) -> Result<(), EsError> {
    let Value::Object(named) = aggs else {
        return Err(parsing("[aggs] must be an object"));
    };
    for (name, definition) in named {
        let Value::Object(definition) = definition else {
            return Err(parsing(format!("aggregation [{name}] must be an object")));
        };
        for (key, body) in definition {
            match key.as_str() {
                "aggs" | "aggregations" => check_aggregation_types(body)?,
                "meta" => {}
                kind if AGGREGATION_TYPES.contains(&kind) => {
                    if body.get("script").is_some() {
                        return Err(parsing(format!(
                            "aggregation [{name}]: scripts are not supported"
                        )));
                    }
                }
                other => {
                    return Err(parsing(format!(
                        "aggregation [{name}]: [{other}] is not supported yet; this version \
                         answers {}",
                        AGGREGATION_TYPES.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

fn aggregation_error(e: &tantivy::TantivyError) -> EsError {
    EsError::bad_request(format!("aggregation failed: {e}"))
}

/// An Elasticsearch aggregation request with field names rewritten to the index's columns:
/// keyword, numeric, date, boolean and IP values live in the `kw` JSON column at their path.
/// Text fields are refused as Elasticsearch refuses them; unknown fields and fields hidden by
/// field-level security aggregate as unmapped (no values).
fn tantivy_aggregations(
    index: &Index,
    aggs: &Value,
    fields: Option<&FieldPredicate>,
) -> Result<tantivy::aggregation::agg_req::Aggregations, EsError> {
    fn rewrite(
        value: &mut Value,
        mappings: &Mappings,
        fields: Option<&FieldPredicate>,
    ) -> Result<(), EsError> {
        match value {
            Value::Object(map) => {
                if let Some(Value::Object(histogram)) = map.get_mut("date_histogram") {
                    calendar_to_fixed(histogram)?;
                }
                for (key, child) in map.iter_mut() {
                    if key == "field"
                        && let Value::String(path) = child
                    {
                        let hidden = fields.is_some_and(|allowed| !allowed(path));
                        *path = match mappings.field(path).map(|f| f.kind) {
                            _ if hidden => "kw.__rampart_unmapped".to_string(),
                            None => "kw.__rampart_unmapped".to_string(),
                            Some(FieldKind::Text) => {
                                return Err(EsError::bad_request(format!(
                                    "Text fields are not optimised for operations that require \
                                     per-document field data like aggregations and sorting, so \
                                     these operations are disabled by default. Please use a \
                                     keyword field instead. Alternatively, set fielddata=true on \
                                     [{path}] in order to load field data by uninverting the \
                                     inverted index."
                                )));
                            }
                            Some(FieldKind::Object) => {
                                return Err(EsError::bad_request(format!(
                                    "[{path}] is an object: aggregate on one of its fields"
                                )));
                            }
                            Some(_) => format!("kw.{path}"),
                        };
                    } else {
                        rewrite(child, mappings, fields)?;
                    }
                }
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    rewrite(item, mappings, fields)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    let mut aggs = aggs.clone();
    let mappings = index.state().mappings.clone();
    check_aggregation_types(&aggs)?;
    rewrite(&mut aggs, &mappings, fields)?;
    serde_json::from_value(aggs).map_err(|e| {
        EsError::new(
            400,
            "parsing_exception",
            format!(
                "cannot parse the aggregations: {e} (this version answers terms, histogram, \
                 date_histogram, range, avg, min, max, sum, stats, value_count, cardinality, \
                 percentiles and nested sub-aggregations)"
            ),
        )
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

fn doc_id(
    searcher: &tantivy::Searcher,
    index: &Index,
    addr: tantivy::DocAddress,
) -> Result<String, EsError> {
    let reader = searcher.segment_reader(addr.segment_ord);
    let column = reader
        .fast_fields()
        .str("_id")
        .map_err(|e| EsError::new(500, "exception", format!("reading _id failed: {e}")))?
        .ok_or_else(|| EsError::new(500, "exception", "the _id column is missing"))?;
    let mut id = String::new();
    let ord = column
        .term_ords(addr.doc_id)
        .next()
        .ok_or_else(|| EsError::new(500, "exception", format!("no _id in [{}]", index.name)))?;
    column
        .ord_to_str(ord, &mut id)
        .map_err(|e| EsError::new(500, "exception", format!("reading _id failed: {e}")))?;
    Ok(id)
}
