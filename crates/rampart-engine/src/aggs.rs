//! Aggregations: an Elasticsearch `aggs` request becomes one tantivy aggregation tree that runs
//! on the columnar fast fields in the same pass as the query, and tantivy's result is reshaped
//! into Elasticsearch's. Where tantivy has no direct equivalent the request is rewritten:
//! `filter`, `missing` and `filters` become filter aggregations over queries built by the
//! query DSL; calendar months, quarters and years and any `time_zone` become a range
//! aggregation over precomputed bucket bounds; `date_range` becomes a range in nanoseconds.
//!
//! Every field a request names goes through one rewrite that maps it to its column and makes
//! fields hidden by field-level security look unmapped: no aggregation may read a column by
//! a name that did not pass through it. Document-level security is the caller's query, never
//! relaxed here.

use std::collections::{BTreeMap, HashMap};

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use rampart_action::{EsError, FieldPredicate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tantivy::aggregation::agg_req::{AggregationVariants, Aggregations};
use tantivy::aggregation::bucket::{FilterAggregation, QueryBuilder};
use tantivy::query::Query;

use crate::Index;
use crate::date::DateFormat;
use crate::date_math;
use crate::mapping::{FieldKind, Mappings};

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

pub(crate) fn aggregation_error(e: &tantivy::TantivyError) -> EsError {
    EsError::bad_request(format!("aggregation failed: {e}"))
}

/// Elasticsearch's `search.max_buckets` default.
const MAX_BUCKETS: usize = 65_536;

/// Types whose field references are all `field` keys the rewrite maps (and field-level
/// security hides), plus the ones rewritten here. Anything else is refused, never ignored.
const AGGREGATION_TYPES: &[&str] = &[
    "terms",
    "histogram",
    "date_histogram",
    "range",
    "date_range",
    "filter",
    "filters",
    "missing",
    "composite",
    "avg",
    "min",
    "max",
    "sum",
    "stats",
    "extended_stats",
    "value_count",
    "cardinality",
    "percentiles",
    "top_hits",
];

/// A query the DSL built, handed to tantivy's filter aggregation. It never travels between
/// nodes, so it only serializes as a marker.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Prebuilt {
    #[serde(skip)]
    query: Option<Box<dyn Query>>,
}

#[typetag::serde(name = "rampart_prebuilt")]
impl QueryBuilder for Prebuilt {
    fn build_query(
        &self,
        _schema: &tantivy::schema::Schema,
        _tokenizers: &tantivy::tokenizer::TokenizerManager,
    ) -> tantivy::Result<Box<dyn Query>> {
        self.query.as_ref().map(|q| q.box_clone()).ok_or_else(|| {
            tantivy::TantivyError::InvalidArgument("a filter aggregation lost its query".into())
        })
    }

    fn box_clone(&self) -> Box<dyn QueryBuilder> {
        Box::new(Prebuilt {
            query: self.query.as_ref().map(|q| q.box_clone()),
        })
    }
}

/// How tantivy's answer for one aggregation is turned into Elasticsearch's.
#[derive(Debug, Clone)]
enum Reshape {
    Plain,
    /// One `filter` bucket (also `missing`).
    Single,
    /// `filters`: sibling filter aggregations `name\u{1}i`, gathered back under `name`.
    Filters {
        keys: Vec<String>,
        keyed: bool,
    },
    /// A date histogram run as ranges: the bucket starts, in ms, and how keys are shown.
    Calendar {
        starts: Vec<i64>,
        zone: TimeZone,
        min_doc_count: u64,
        keyed: bool,
        format: KeyFormat,
    },
    /// A fixed date histogram: keys shown in Elasticsearch's date format.
    DateHistogram {
        keyed: bool,
        format: KeyFormat,
    },
    /// `range` and `date_range`: sibling filter aggregations `name\u{1}i`, one per range (so
    /// ranges may overlap and leave gaps, as in Elasticsearch), gathered back under `name`.
    /// Each bucket's key and bound fields are worked out before the search.
    Ranges {
        buckets: Vec<(String, Map<String, Value>)>,
        keyed: bool,
    },
    /// A keyed histogram: keys written as Java writes doubles.
    KeyedHistogram,
    /// min/max/avg/sum/stats of a date field: tantivy answers in nanoseconds.
    DateMetric,
    /// `composite`: `after_key` is the last bucket's key, in Elasticsearch's plain form.
    Composite,
    /// `top_hits`: tantivy finds the documents (by `_id`); their sources are fetched after.
    TopHits {
        /// The mapping kind of each sort key, to decode tantivy's sortable integers.
        sort_kinds: Vec<Option<FieldKind>>,
        includes: Vec<String>,
        excludes: Vec<String>,
        source: bool,
    },
}

/// Reads a hit's source for `top_hits`: `(index name, source)` after the reader's
/// document- and field-level security, or `None` when the reader may not see it.
pub(crate) type Fetch<'a> = dyn Fn(&str) -> Option<(String, Value)> + 'a;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    reshape: Reshape,
    children: Plan,
}

/// The reshaping plan, by aggregation name (as the client named them).
pub(crate) type Plan = BTreeMap<String, Node>;

/// The bounds (ms) of the values of fields that calendar histograms bucket, over the whole
/// search, so every index computes the same buckets.
pub(crate) type Spans = HashMap<String, (i64, i64)>;

pub(crate) struct Prepared {
    pub request: Aggregations,
    pub plan: Plan,
}

fn name_of_type(name: &str, definition: &Map<String, Value>) -> Result<String, EsError> {
    let mut kinds = definition
        .keys()
        .filter(|k| !matches!(k.as_str(), "aggs" | "aggregations" | "meta"));
    let (Some(kind), None) = (kinds.next(), kinds.next()) else {
        return Err(parsing(format!(
            "aggregation [{name}] must hold exactly one aggregation type"
        )));
    };
    if !AGGREGATION_TYPES.contains(&kind.as_str()) {
        return Err(parsing(format!(
            "aggregation [{name}]: [{kind}] is not supported yet; this version answers {}",
            AGGREGATION_TYPES.join(", ")
        )));
    }
    Ok(kind.clone())
}

fn sub_aggregations(definition: &Map<String, Value>) -> Option<&Value> {
    definition
        .get("aggs")
        .or_else(|| definition.get("aggregations"))
}

/// The date histograms that need their fields' spans: calendar units of varying length, or
/// any time zone.
pub(crate) fn span_fields(aggs: &Value, out: &mut Vec<String>) {
    let Value::Object(named) = aggs else {
        return;
    };
    for definition in named.values().filter_map(Value::as_object) {
        if let Some(Value::Object(h)) = definition.get("date_histogram")
            && needs_ranges(h)
            && let Some(field) = h.get("field").and_then(Value::as_str)
            && !out.iter().any(|f| f == field)
        {
            out.push(field.to_string());
        }
        if let Some(subs) = sub_aggregations(definition) {
            span_fields(subs, out);
        }
    }
}

fn needs_ranges(histogram: &Map<String, Value>) -> bool {
    let calendar = histogram
        .get("calendar_interval")
        .or_else(|| histogram.get("interval"))
        .and_then(Value::as_str)
        .is_some_and(|u| matches!(u.trim(), "1M" | "month" | "1q" | "quarter" | "1y" | "year"));
    let zoned = histogram
        .get("time_zone")
        .and_then(Value::as_str)
        .is_some_and(|z| !matches!(z, "UTC" | "Z" | "+00:00" | "Etc/UTC" | "GMT"));
    calendar || zoned
}

/// Runs min and max of the span fields over one index's query, widening `spans`.
pub(crate) fn widen_spans(
    index: &Index,
    searcher: &tantivy::Searcher,
    query: &dyn Query,
    span_fields: &[String],
    fields: Option<&FieldPredicate>,
    spans: &mut Spans,
) -> Result<(), EsError> {
    if span_fields.is_empty() {
        return Ok(());
    }
    let mappings = index.state().mappings.clone();
    let mut request = Map::new();
    for (i, field) in span_fields.iter().enumerate() {
        let column = column_of(&mappings, field, fields)?;
        request.insert(format!("min{i}"), json!({"min": {"field": column}}));
        request.insert(format!("max{i}"), json!({"max": {"field": column}}));
    }
    let request: Aggregations =
        serde_json::from_value(Value::Object(request)).map_err(|e| parsing(e.to_string()))?;
    let collector = tantivy::aggregation::AggregationCollector::from_aggs(
        request,
        tantivy::aggregation::AggContextParams::new(
            tantivy::aggregation::AggregationLimitsGuard::default(),
            index.search_index().tokenizers().clone(),
        ),
    );
    let result = searcher
        .search(query, &collector)
        .map_err(|e| aggregation_error(&e))?;
    let result = serde_json::to_value(&result).map_err(|e| parsing(e.to_string()))?;
    for (i, field) in span_fields.iter().enumerate() {
        let (Some(min), Some(max)) = (
            result[format!("min{i}")]["value"].as_f64(),
            result[format!("max{i}")]["value"].as_f64(),
        ) else {
            continue;
        };
        // Date columns aggregate in nanoseconds.
        let (min, max) = ((min / 1e6).floor() as i64, (max / 1e6).ceil() as i64);
        let entry = spans.entry(field.clone()).or_insert((min, max));
        entry.0 = entry.0.min(min);
        entry.1 = entry.1.max(max);
    }
    Ok(())
}

/// The column a field's values live in; unknown and hidden fields read as unmapped.
fn column_of(
    mappings: &Mappings,
    path: &str,
    fields: Option<&FieldPredicate>,
) -> Result<String, EsError> {
    if matches!(
        path,
        "_index" | "_id" | "_source" | "_seq_no" | "_version" | "_routing"
    ) {
        return Err(EsError::bad_request(format!(
            "aggregating on the metadata field [{path}] is not supported yet: aggregate on a \
             mapped field"
        )));
    }
    let hidden = fields.is_some_and(|allowed| !allowed(path));
    Ok(match mappings.field(path).map(|f| f.kind) {
        _ if hidden => "kw.__rampart_unmapped".to_string(),
        None => "kw.__rampart_unmapped".to_string(),
        Some(FieldKind::Text) => {
            return Err(EsError::bad_request(format!(
                "Text fields are not optimised for operations that require per-document field \
                 data like aggregations and sorting, so these operations are disabled by \
                 default. Please use a keyword field instead. Alternatively, set \
                 fielddata=true on [{path}] in order to load field data by uninverting the \
                 inverted index."
            )));
        }
        Some(FieldKind::Object) => {
            return Err(EsError::bad_request(format!(
                "[{path}] is an object: aggregate on one of its fields"
            )));
        }
        Some(_) => format!("kw.{path}"),
    })
}

/// Rewrites every `field` key under `value` to its column.
fn rewrite_fields(
    value: &mut Value,
    mappings: &Mappings,
    fields: Option<&FieldPredicate>,
) -> Result<(), EsError> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "field"
                    && let Value::String(path) = child
                {
                    *path = column_of(mappings, path, fields)?;
                } else {
                    rewrite_fields(child, mappings, fields)?;
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                rewrite_fields(item, mappings, fields)?;
            }
        }
        _ => {}
    }
    Ok(())
}

struct Builder<'a> {
    index: &'a Index,
    mappings: std::sync::Arc<Mappings>,
    fields: Option<&'a FieldPredicate>,
    spans: &'a Spans,
    now_ms: i64,
    /// Filter queries to install once tantivy has parsed the tree, by path of names.
    filters: Vec<(Vec<String>, Box<dyn Query>)>,
}

pub(crate) fn prepare(
    index: &Index,
    aggs: &Value,
    fields: Option<&FieldPredicate>,
    spans: &Spans,
) -> Result<Prepared, EsError> {
    let now_ms = crate::api::now_millis();
    let mut builder = Builder {
        index,
        mappings: index.state().mappings.clone(),
        fields,
        spans,
        now_ms,
        filters: Vec::new(),
    };
    let (json, plan) = builder.convert(aggs, &[])?;
    let mut request: Aggregations = serde_json::from_value(json).map_err(|e| {
        parsing(format!(
            "cannot parse the aggregations: {e} (this version answers {} and nested \
             sub-aggregations)",
            AGGREGATION_TYPES.join(", ")
        ))
    })?;
    for (path, query) in builder.filters {
        install_filter(&mut request, &path, query)?;
    }
    Ok(Prepared { request, plan })
}

/// Puts a built query into the filter aggregation at `path` (tantivy parsed a marker there).
fn install_filter(
    aggs: &mut Aggregations,
    path: &[String],
    query: Box<dyn Query>,
) -> Result<(), EsError> {
    let lost = || EsError::new(500, "exception", "a filter aggregation went missing");
    let (first, rest) = path.split_first().ok_or_else(lost)?;
    let node = aggs.get_mut(first).ok_or_else(lost)?;
    if rest.is_empty() {
        node.agg =
            AggregationVariants::Filter(FilterAggregation::new_with_builder(Box::new(Prebuilt {
                query: Some(query),
            })));
        Ok(())
    } else {
        install_filter(&mut node.sub_aggregation, rest, query)
    }
}

impl Builder<'_> {
    fn hidden(&self, field: &str) -> bool {
        self.fields.is_some_and(|allowed| !allowed(field))
    }

    /// Whether an aggregation's `field` is a (visible) date field.
    fn is_date(&self, body: &Value) -> bool {
        body.get("field")
            .and_then(Value::as_str)
            .filter(|f| !self.hidden(f))
            .and_then(|f| self.mappings.field(f))
            .is_some_and(|f| f.kind == FieldKind::Date)
    }

    fn convert(&mut self, aggs: &Value, path: &[String]) -> Result<(Value, Plan), EsError> {
        let Value::Object(named) = aggs else {
            return Err(parsing("[aggs] must be an object"));
        };
        let mut out = Map::new();
        let mut plan = Plan::new();
        for (name, definition) in named {
            if name.contains('\u{1}') || name.is_empty() {
                return Err(parsing(format!("invalid aggregation name [{name}]")));
            }
            let Value::Object(definition) = definition else {
                return Err(parsing(format!("aggregation [{name}] must be an object")));
            };
            let kind = name_of_type(name, definition)?;
            let body = definition.get(&kind).cloned().unwrap_or(Value::Null);
            if body.get("script").is_some() {
                return Err(parsing(format!(
                    "aggregation [{name}]: scripts are not supported"
                )));
            }
            let subs = sub_aggregations(definition);
            let mut own_path = path.to_vec();
            own_path.push(name.clone());
            match kind.as_str() {
                "range" | "date_range" => {
                    let (buckets, queries) = self.ranges(name, &kind, &body)?;
                    let keyed = body.get("keyed").and_then(Value::as_bool).unwrap_or(false);
                    let children = self.siblings(name, path, subs, queries, &mut out)?;
                    let reshape = Reshape::Ranges { buckets, keyed };
                    plan.insert(name.clone(), Node { reshape, children });
                    continue;
                }
                "filters" => {
                    let (keys, queries, keyed) = self.filters_of(name, &body)?;
                    let children = self.siblings(name, path, subs, queries, &mut out)?;
                    let reshape = Reshape::Filters { keys, keyed };
                    plan.insert(name.clone(), Node { reshape, children });
                    continue;
                }
                "filter" | "missing" => {
                    let query = if kind == "filter" {
                        crate::search::build_query(self.index, &body, self.fields)?
                    } else {
                        let field = body.get("field").and_then(Value::as_str).ok_or_else(|| {
                            parsing(format!(
                                "aggregation [{name}]: [missing] requires a [field]"
                            ))
                        })?;
                        crate::search::build_query(
                            self.index,
                            &json!({"bool": {"must_not": [{"exists": {"field": field}}]}}),
                            self.fields,
                        )?
                    };
                    let (sub_json, sub_plan) = match subs {
                        Some(s) => self.convert(s, &own_path)?,
                        None => (json!({}), Plan::new()),
                    };
                    self.filters.push((own_path, query));
                    out.insert(
                        name.clone(),
                        json!({"filter": "__rampart_prebuilt", "aggs": sub_json}),
                    );
                    plan.insert(
                        name.clone(),
                        Node {
                            reshape: Reshape::Single,
                            children: sub_plan,
                        },
                    );
                    continue;
                }
                _ => {}
            }
            let (sub_json, sub_plan) = match subs {
                Some(s) => self.convert(s, &own_path)?,
                None => (json!({}), Plan::new()),
            };
            let (tantivy_kind, mut tantivy_body, reshape) = match kind.as_str() {
                "date_histogram" => self.date_histogram(name, &body)?,
                "composite" => self.composite(name, &body)?,
                "top_hits" => {
                    if subs.is_some() {
                        return Err(parsing(format!(
                            "Aggregator [{name}] of type [top_hits] cannot accept sub-aggregations"
                        )));
                    }
                    self.top_hits(name, &body)?
                }
                "terms"
                    if body
                        .get("size")
                        .and_then(Value::as_i64)
                        .is_some_and(|n| n < 1) =>
                {
                    return Err(EsError::bad_request(format!(
                        "[size] must be greater than 0. Found [{}] in [{name}]",
                        body["size"]
                    )));
                }
                "histogram" if body.get("keyed").and_then(Value::as_bool) == Some(true) => (
                    "histogram".to_string(),
                    body.clone(),
                    Reshape::KeyedHistogram,
                ),
                "min" | "max" | "avg" | "sum" | "stats" if self.is_date(&body) => {
                    (kind.clone(), body.clone(), Reshape::DateMetric)
                }
                "terms" => {
                    let mut body = body.clone();
                    if let Some(o) = body.as_object_mut() {
                        // ES's default shard_size is irrelevant on one shard, and tantivy's
                        // would make counts approximate.
                        o.remove("shard_size");
                        o.remove("execution_hint");
                        o.remove("collect_mode");
                    }
                    ("terms".to_string(), body, Reshape::Plain)
                }
                other => (other.to_string(), body.clone(), Reshape::Plain),
            };
            rewrite_fields(&mut tantivy_body, &self.mappings, self.fields)?;
            let mut entry = Map::new();
            entry.insert(tantivy_kind, tantivy_body);
            if sub_json.as_object().is_some_and(|o| !o.is_empty()) {
                entry.insert("aggs".into(), sub_json);
            }
            out.insert(name.clone(), Value::Object(entry));
            plan.insert(
                name.clone(),
                Node {
                    reshape,
                    children: sub_plan,
                },
            );
        }
        Ok((Value::Object(out), plan))
    }

    /// One filter aggregation per query, named `name\u{1}i`, each with the same
    /// sub-aggregations; returns their (shared) plan.
    fn siblings(
        &mut self,
        name: &str,
        path: &[String],
        subs: Option<&Value>,
        queries: Vec<Box<dyn Query>>,
        out: &mut Map<String, Value>,
    ) -> Result<Plan, EsError> {
        let mut children = Plan::new();
        for (i, query) in queries.into_iter().enumerate() {
            let sibling = format!("{name}\u{1}{i}");
            let mut sibling_path = path.to_vec();
            sibling_path.push(sibling.clone());
            let (sub_json, sub_plan) = match subs {
                Some(s) => self.convert(s, &sibling_path)?,
                None => (json!({}), Plan::new()),
            };
            self.filters.push((sibling_path, query));
            out.insert(
                sibling,
                json!({"filter": "__rampart_prebuilt", "aggs": sub_json}),
            );
            children = sub_plan;
        }
        Ok(children)
    }

    #[allow(clippy::type_complexity)]
    fn filters_of(
        &self,
        name: &str,
        body: &Value,
    ) -> Result<(Vec<String>, Vec<Box<dyn Query>>, bool), EsError> {
        let mut keys = Vec::new();
        let mut queries = Vec::new();
        let mut bodies = Vec::new();
        let keyed = match body.get("filters") {
            Some(Value::Object(map)) => {
                for (key, query) in map {
                    keys.push(key.clone());
                    bodies.push(query.clone());
                }
                true
            }
            Some(Value::Array(items)) => {
                for (i, query) in items.iter().enumerate() {
                    keys.push(i.to_string());
                    bodies.push(query.clone());
                }
                false
            }
            _ => {
                return Err(parsing(format!(
                    "aggregation [{name}]: [filters] requires [filters] as an object or an array"
                )));
            }
        };
        for query in &bodies {
            queries.push(crate::search::build_query(self.index, query, self.fields)?);
        }
        let other = body
            .get("other_bucket")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || body.get("other_bucket_key").is_some();
        if other {
            keys.push(
                body.get("other_bucket_key")
                    .and_then(Value::as_str)
                    .unwrap_or("_other_")
                    .to_string(),
            );
            queries.push(crate::search::build_query(
                self.index,
                &json!({"bool": {"must_not": bodies}}),
                self.fields,
            )?);
        }
        Ok((keys, queries, keyed))
    }

    fn date_format(&self, field: &str, body: &Value) -> Result<DateFormat, EsError> {
        match body.get("format").and_then(Value::as_str) {
            Some(f) => DateFormat::parse(f).map_err(|e| parsing(format!("[format] [{f}]: {e}"))),
            None => Ok(self
                .mappings
                .field(field)
                .filter(|_| !self.hidden(field))
                .and_then(|f| f.date_format.clone())
                .unwrap_or_else(DateFormat::default_format)),
        }
    }

    fn date_histogram(
        &self,
        name: &str,
        body: &Value,
    ) -> Result<(String, Value, Reshape), EsError> {
        let Value::Object(h) = body else {
            return Err(parsing(format!("aggregation [{name}] must be an object")));
        };
        for key in h.keys() {
            if !matches!(
                key.as_str(),
                "field"
                    | "calendar_interval"
                    | "fixed_interval"
                    | "interval"
                    | "time_zone"
                    | "offset"
                    | "min_doc_count"
                    | "extended_bounds"
                    | "hard_bounds"
                    | "keyed"
                    | "format"
                    | "missing"
                    | "order"
            ) {
                return Err(parsing(format!(
                    "aggregation [{name}]: [date_histogram] does not support [{key}]"
                )));
            }
        }
        let keyed = h.get("keyed").and_then(Value::as_bool).unwrap_or(false);
        let field = h
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| parsing(format!("aggregation [{name}] requires a [field]")))?;
        let min_doc_count = h.get("min_doc_count").and_then(Value::as_u64).unwrap_or(0);
        if !needs_ranges(h) {
            let mut fixed = h.clone();
            fixed.remove("format");
            fixed.remove("time_zone");
            calendar_to_fixed(&mut fixed)?;
            let format = self.date_format(field, body)?;
            for bounds in ["extended_bounds", "hard_bounds"] {
                if let Some(Value::Object(b)) = fixed.get_mut(bounds) {
                    for side in ["min", "max"] {
                        if let Some(v) = b.get(side).cloned() {
                            b.insert(side.into(), json!(self.date_ms(&v, &format, name)?));
                        }
                    }
                }
            }
            return Ok((
                "date_histogram".into(),
                Value::Object(fixed),
                Reshape::DateHistogram {
                    keyed,
                    format: KeyFormat::parse(h.get("format").and_then(Value::as_str))?,
                },
            ));
        }
        let zone = parse_time_zone(h.get("time_zone").and_then(Value::as_str))?;
        let unit = Unit::parse(h)?;
        let format = self.date_format(field, body)?;
        let mut span = self.spans.get(field).copied();
        if let Some(Value::Object(b)) = h.get("extended_bounds") {
            let min = b
                .get("min")
                .map(|v| self.date_ms(v, &format, name))
                .transpose()?;
            let max = b
                .get("max")
                .map(|v| self.date_ms(v, &format, name))
                .transpose()?;
            span = match (span, min, max) {
                (Some((lo, hi)), min, max) => {
                    Some((min.map_or(lo, |m| m.min(lo)), max.map_or(hi, |m| m.max(hi))))
                }
                (None, Some(lo), Some(hi)) => Some((lo, hi)),
                (None, _, _) => None,
            };
        }
        if let Some(Value::Object(b)) = h.get("hard_bounds")
            && let Some((lo, hi)) = span.as_mut()
        {
            if let Some(min) = b.get("min") {
                *lo = (*lo).max(self.date_ms(min, &format, name)?);
            }
            if let Some(max) = b.get("max") {
                *hi = (*hi).min(self.date_ms(max, &format, name)?);
            }
        }
        let mut starts = Vec::new();
        let mut ranges = Vec::new();
        // `offset` moves every bucket edge (`+6h`: days start at 06:00).
        let shift = match h.get("offset").and_then(Value::as_str) {
            None => 0,
            Some(text) => {
                let (sign, magnitude) = match text.strip_prefix('-') {
                    Some(rest) => (-1, rest),
                    None => (1, text.strip_prefix('+').unwrap_or(text)),
                };
                let d = rampart_config::parse_time_value(magnitude).map_err(|e| {
                    EsError::bad_request(format!("aggregation [{name}]: [offset] [{text}]: {e}"))
                })?;
                sign * i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
            }
        };
        if let Some((lo, hi)) = span {
            let out_of_range =
                || EsError::bad_request(format!("aggregation [{name}]: [offset] is out of range"));
            let mut start = unit
                .floor(lo.saturating_sub(shift), &zone)?
                .checked_add(shift)
                .ok_or_else(out_of_range)?;
            while start <= hi {
                let end = unit
                    .next(start.checked_sub(shift).ok_or_else(out_of_range)?, &zone)?
                    .checked_add(shift)
                    .ok_or_else(out_of_range)?;
                starts.push(start);
                ranges.push(json!({"from": ms_to_ns(start), "to": ms_to_ns(end)}));
                if starts.len() > MAX_BUCKETS {
                    return Err(EsError::bad_request(format!(
                        "Trying to create too many buckets. Must be less than or equal to: \
                         [{MAX_BUCKETS}]. Use a larger interval or narrow the query \
                         (aggregation [{name}])"
                    )));
                }
                start = end;
            }
        }
        if ranges.is_empty() {
            // No values: a range that matches nothing keeps the tree's shape.
            ranges.push(json!({"to": f64::MIN}));
        }
        Ok((
            "range".into(),
            json!({"field": field, "ranges": ranges, "keyed": false}),
            Reshape::Calendar {
                starts,
                zone,
                min_doc_count,
                keyed,
                format: KeyFormat::parse(h.get("format").and_then(Value::as_str))?,
            },
        ))
    }

    /// `composite`: tantivy's own request shape, except `after`, which Elasticsearch gives as
    /// plain values and tantivy wants typed by the column they come from.
    fn composite(&self, name: &str, body: &Value) -> Result<(String, Value, Reshape), EsError> {
        let mut body = body.clone();
        if body.get("size").is_none() {
            // Elasticsearch's default page of buckets.
            body["size"] = json!(10);
        }
        let sources = body
            .get("sources")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| {
                parsing(format!(
                    "aggregation [{name}]: [composite] requires [sources]"
                ))
            })?;
        // tantivy's date histogram source knows years, months and weeks as calendar units;
        // shorter units are fixed lengths in UTC. It has no time zone: refuse one rather than
        // let it be ignored.
        if let Some(Value::Array(list)) = body.get_mut("sources") {
            for source in list.iter_mut() {
                let Some(Value::Object(h)) = source
                    .as_object_mut()
                    .and_then(|o| o.values_mut().next())
                    .and_then(|spec| spec.get_mut("date_histogram"))
                else {
                    continue;
                };
                if h.get("time_zone")
                    .and_then(Value::as_str)
                    .is_some_and(|z| !matches!(z, "UTC" | "Z" | "+00:00" | "GMT"))
                    || h.contains_key("offset")
                {
                    return Err(EsError::bad_request(format!(
                        "aggregation [{name}]: [time_zone] and [offset] in a composite \
                         date_histogram source are not supported yet: buckets are in UTC"
                    )));
                }
                h.remove("time_zone");
                h.remove("format");
                let interval = h
                    .get("calendar_interval")
                    .or_else(|| h.get("interval"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let fixed = match interval.as_deref() {
                    Some("1s" | "second") => Some("1s"),
                    Some("1m" | "minute") => Some("1m"),
                    Some("1h" | "hour") => Some("1h"),
                    Some("1d" | "day") => Some("1d"),
                    Some("1w") => Some("week"),
                    Some("1M") => Some("month"),
                    Some("1y") => Some("year"),
                    Some("1q" | "quarter") => {
                        return Err(EsError::bad_request(format!(
                            "aggregation [{name}]: quarters in a composite date_histogram \
                             source are not supported yet: use month or year"
                        )));
                    }
                    _ => None,
                };
                if let Some(unit) = fixed {
                    h.remove("interval");
                    if matches!(unit, "week" | "month" | "year") {
                        h.insert("calendar_interval".into(), json!(unit));
                    } else {
                        h.remove("calendar_interval");
                        h.insert("fixed_interval".into(), json!(unit));
                    }
                }
            }
        }
        if let Some(Value::Object(after)) = body.get("after").cloned() {
            let mut typed = Map::new();
            for source in &sources {
                let Some((source_name, spec)) = source.as_object().and_then(|o| o.iter().next())
                else {
                    continue;
                };
                let Some((kind, options)) = spec.as_object().and_then(|o| o.iter().next()) else {
                    continue;
                };
                let Some(value) = after.get(source_name) else {
                    return Err(EsError::bad_request(format!(
                        "aggregation [{name}]: [after] has no value for the source [{source_name}]"
                    )));
                };
                let field = options
                    .get("field")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                // A hidden field is typed as an unmapped one: the answer must not tell them apart.
                let field_kind = if self.hidden(field) {
                    None
                } else {
                    self.mappings.field(field).map(|f| f.kind)
                };
                let encoded = match (value, kind.as_str(), field_kind) {
                    (Value::Null, _, _) => "null:".to_string(),
                    (Value::String(v), s, _) if v.contains(':') && s != "terms" => v.clone(),
                    (v, "date_histogram", _) | (v, _, Some(FieldKind::Date)) => {
                        let ms = v.as_f64().ok_or_else(|| {
                            EsError::bad_request(format!(
                                "aggregation [{name}]: [after] value for [{source_name}] must be \
                                 the epoch milliseconds of a bucket key"
                            ))
                        })? as i64;
                        format!("dt:{}", i128::from(ms) * 1_000_000)
                    }
                    (v, "histogram", _) => format!("f64:{}", v.as_f64().unwrap_or(0.0)),
                    (Value::Bool(b), _, _) => format!("bool:{b}"),
                    (Value::Number(n), _, _) => match n.as_i64() {
                        Some(i) => format!("i64:{i}"),
                        None => format!("f64:{}", n.as_f64().unwrap_or(0.0)),
                    },
                    (Value::String(v), _, Some(FieldKind::Ip)) => format!("ip:{v}"),
                    (Value::String(v), _, _) => format!("str:{v}"),
                    (other, _, _) => {
                        return Err(EsError::bad_request(format!(
                            "aggregation [{name}]: cannot read the [after] value [{other}]"
                        )));
                    }
                };
                typed.insert(source_name.clone(), json!(encoded));
            }
            body["after"] = Value::Object(typed);
        }
        Ok(("composite".into(), body, Reshape::Composite))
    }

    fn top_hits(&self, name: &str, body: &Value) -> Result<(String, Value, Reshape), EsError> {
        let Value::Object(o) = body else {
            return Err(parsing(format!("aggregation [{name}] must be an object")));
        };
        let mut sort = Vec::new();
        let mut sort_kinds = Vec::new();
        let items = match o.get("sort") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(other) => vec![other.clone()],
        };
        for item in items {
            let (field, order) = match &item {
                Value::String(f) => (f.clone(), "asc".to_string()),
                Value::Object(m) if m.len() == 1 => {
                    let (f, spec) = m.iter().next().unwrap_or_else(|| unreachable!());
                    let order = match spec {
                        Value::String(o) => o.clone(),
                        Value::Object(so) => so
                            .get("order")
                            .and_then(Value::as_str)
                            .unwrap_or("asc")
                            .to_string(),
                        _ => "asc".to_string(),
                    };
                    (f.clone(), order)
                }
                other => {
                    return Err(parsing(format!(
                        "[top_hits] cannot read the sort [{other}]"
                    )));
                }
            };
            if field == "_score" || field == "_doc" {
                return Err(EsError::bad_request(format!(
                    "aggregation [{name}]: top_hits sorts by fields only in this version \
                     ([{field}] is not supported)"
                )));
            }
            if !matches!(order.as_str(), "asc" | "desc") {
                return Err(parsing(format!(
                    "[top_hits] sort order must be asc or desc, got [{order}]"
                )));
            }
            let kind = if self.fields.is_some_and(|allowed| !allowed(&field)) {
                None
            } else {
                self.mappings.field(&field).map(|f| f.kind)
            };
            let column = column_of(&self.mappings, &field, self.fields)?;
            sort.push(json!({ column: order }));
            sort_kinds.push(kind);
        }
        let size = o.get("size").and_then(Value::as_u64).unwrap_or(3);
        let from = o.get("from").and_then(Value::as_u64).unwrap_or(0);
        if size.saturating_add(from) > 100 {
            return Err(EsError::bad_request(format!(
                "Top hits result window is too large, the top hits aggregator [{name}]'s from + \
                 size must be less than or equal to: [100] but was [{}]. This limit can be set \
                 by changing the [index.max_inner_result_window] index level setting.",
                size.saturating_add(from)
            )));
        }
        let (mut includes, mut excludes, mut source) = (Vec::new(), Vec::new(), true);
        match o.get("_source") {
            None => {}
            Some(Value::Bool(b)) => source = *b,
            Some(Value::Object(f)) => {
                includes = crate::source::string_list(f.get("includes"));
                excludes = crate::source::string_list(f.get("excludes"));
            }
            Some(other) => includes = crate::source::string_list(Some(other)),
        }
        for key in o.keys() {
            if !matches!(key.as_str(), "sort" | "size" | "from" | "_source") {
                return Err(parsing(format!(
                    "aggregation [{name}]: [top_hits] option [{key}] is not supported yet"
                )));
            }
        }
        Ok((
            "top_hits".into(),
            json!({"sort": sort, "size": size, "from": from, "docvalue_fields": ["_id"]}),
            Reshape::TopHits {
                sort_kinds,
                includes,
                excludes,
                source,
            },
        ))
    }

    fn date_ms(&self, value: &Value, format: &DateFormat, name: &str) -> Result<i64, EsError> {
        match value {
            Value::Number(n) => n.as_f64().map(|f| f as i64),
            Value::String(s) => date_math::parse(s, format, self.now_ms, date_math::Rounding::Down),
            _ => None,
        }
        .ok_or_else(|| {
            EsError::bad_request(format!(
                "aggregation [{name}]: cannot read the date [{value}]"
            ))
        })
    }
}

impl Builder<'_> {
    /// The buckets of a `range` or `date_range` and the query of each: `from` inclusive, `to`
    /// exclusive. Dates take the aggregation's `format`, `time_zone` and date math.
    #[allow(clippy::type_complexity)]
    fn ranges(
        &self,
        name: &str,
        kind: &str,
        body: &Value,
    ) -> Result<(Vec<(String, Map<String, Value>)>, Vec<Box<dyn Query>>), EsError> {
        let field = body
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| parsing(format!("aggregation [{name}] requires a [field]")))?;
        column_of(&self.mappings, field, self.fields)?;
        let Some(Value::Array(items)) = body.get("ranges") else {
            return Err(parsing(format!(
                "aggregation [{name}]: [{kind}] requires [ranges]"
            )));
        };
        let dates = kind == "date_range" || self.is_date(body);
        let zone_name = body.get("time_zone").and_then(Value::as_str);
        let zone = parse_time_zone(zone_name)?;
        let key_format = KeyFormat::parse(body.get("format").and_then(Value::as_str))?;
        let format = self.date_format(field, body)?;
        let offset_ms = |ms: i64| -> i64 {
            Timestamp::from_millisecond(ms)
                .map(|at| i64::from(zone.to_offset(at).seconds()) * 1000)
                .unwrap_or(0)
        };
        let mut buckets = Vec::new();
        let mut queries = Vec::new();
        for item in items {
            let mut shaped = Map::new();
            let mut bound = Map::new();
            let mut texts: [Option<String>; 2] = [None, None];
            for (i, side) in ["from", "to"].into_iter().enumerate() {
                let Some(value) = item.get(side).filter(|v| !v.is_null()) else {
                    continue;
                };
                if dates {
                    let ms = match value {
                        Value::Number(n) => n.as_f64().map(|f| f as i64),
                        Value::String(text) => date_math::parse_zoned(
                            text,
                            &format,
                            self.now_ms,
                            date_math::Rounding::Down,
                            &offset_ms,
                        ),
                        _ => None,
                    }
                    .ok_or_else(|| {
                        EsError::bad_request(format!(
                            "aggregation [{name}]: cannot read the date [{value}]"
                        ))
                    })?;
                    let text = key_format.render(ms, &zone);
                    shaped.insert(side.into(), json!(ms as f64));
                    shaped.insert(format!("{side}_as_string"), json!(text));
                    texts[i] = Some(text);
                    bound.insert(if i == 0 { "gte" } else { "lt" }.into(), json!(ms));
                } else {
                    let number = value
                        .as_f64()
                        .or_else(|| value.as_str().and_then(|t| t.trim().parse().ok()))
                        .ok_or_else(|| {
                            parsing(format!("aggregation [{name}]: [{side}] must be a number"))
                        })?;
                    shaped.insert(side.into(), json!(number));
                    texts[i] = Some(java_double(number));
                    bound.insert(if i == 0 { "gte" } else { "lt" }.into(), json!(number));
                }
            }
            if dates {
                bound.insert("format".into(), json!("epoch_millis"));
            }
            let key = item
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    format!(
                        "{}-{}",
                        texts[0].as_deref().unwrap_or("*"),
                        texts[1].as_deref().unwrap_or("*")
                    )
                });
            queries.push(crate::search::build_query(
                self.index,
                &json!({"range": {field: bound}}),
                self.fields,
            )?);
            buckets.push((key, shaped));
        }
        Ok((buckets, queries))
    }
}

fn ms_to_ns(ms: i64) -> f64 {
    ms as f64 * 1_000_000.0
}

/// `calendar_interval` units of constant length in UTC become the `fixed_interval` tantivy
/// computes (weeks start on Monday, as Elasticsearch's do: the epoch was a Thursday).
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
                "[calendar_interval: {other}] is not a calendar unit: use minute, hour, day, \
                 week, month, quarter or year, or a fixed_interval"
            )));
        }
    };
    histogram.insert("fixed_interval".into(), json!(fixed));
    if let Some(offset) = offset
        && !histogram.contains_key("offset")
    {
        histogram.insert("offset".into(), json!(offset));
    }
    Ok(())
}

/// `time_zone`: a fixed offset (`+01:00`, `-0530`, `Z`) or an IANA name (`Europe/Berlin`),
/// looked up in the time zone database built into the binary, so a node answers the same
/// wherever it runs.
pub(crate) fn parse_time_zone(zone: Option<&str>) -> Result<TimeZone, EsError> {
    let Some(zone) = zone else {
        return Ok(TimeZone::UTC);
    };
    let bad = || {
        EsError::bad_request(format!(
            "[time_zone] [{zone}] is not a time zone: use an offset such as +01:00 or a name \
             such as Europe/Berlin"
        ))
    };
    if matches!(zone, "UTC" | "Z" | "utc" | "GMT") {
        return Ok(TimeZone::UTC);
    }
    if !zone.is_ascii() {
        return Err(bad());
    }
    let (sign, rest) = match zone.as_bytes().first() {
        Some(b'+') => (1i32, &zone[1..]),
        Some(b'-') => (-1i32, &zone[1..]),
        _ => return TimeZone::get(zone).map_err(|_| bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().map_err(|_| bad())?, 0),
        4 => (
            digits[..2].parse::<i32>().map_err(|_| bad())?,
            digits[2..].parse::<i32>().map_err(|_| bad())?,
        ),
        _ => return Err(bad()),
    };
    if h > 18 || m > 59 {
        return Err(bad());
    }
    let offset = jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).map_err(|_| bad())?;
    Ok(TimeZone::fixed(offset))
}

/// A bucket width. Days and longer follow the calendar of the time zone (a day across a
/// daylight-saving change lasts 23 or 25 hours); shorter units are fixed durations.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Fixed(i64),
    Days(i32),
    Months(i32),
}

fn jiff_error(e: jiff::Error) -> EsError {
    EsError::bad_request(format!("date out of range: {e}"))
}

fn ms_of(zoned: &jiff::ZonedDateTime) -> i64 {
    zoned.timestamp().as_millisecond()
}

impl Unit {
    fn parse(h: &Map<String, Value>) -> Result<Self, EsError> {
        if let Some(fixed) = h.get("fixed_interval").and_then(Value::as_str) {
            let d = rampart_config::parse_time_value(fixed)
                .map_err(|e| EsError::bad_request(format!("[fixed_interval] [{fixed}]: {e}")))?;
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            if ms <= 0 {
                return Err(EsError::bad_request("[fixed_interval] must be positive"));
            }
            return Ok(Unit::Fixed(ms));
        }
        let unit = h
            .get("calendar_interval")
            .or_else(|| h.get("interval"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                parsing("[date_histogram] requires a [calendar_interval] or [fixed_interval]")
            })?;
        Ok(match unit.trim() {
            "1s" | "second" => Unit::Fixed(1000),
            "1m" | "minute" => Unit::Fixed(60_000),
            "1h" | "hour" => Unit::Fixed(3_600_000),
            "1d" | "day" => Unit::Days(1),
            "1w" | "week" => Unit::Days(7),
            "1M" | "month" => Unit::Months(1),
            "1q" | "quarter" => Unit::Months(3),
            "1y" | "year" => Unit::Months(12),
            other => {
                return Err(EsError::bad_request(format!(
                    "[calendar_interval: {other}] is not a calendar unit: use minute, hour, \
                     day, week, month, quarter or year"
                )));
            }
        })
    }

    /// The start of the bucket holding `ms`.
    fn floor(self, ms: i64, zone: &TimeZone) -> Result<i64, EsError> {
        let at = Timestamp::from_millisecond(ms).map_err(jiff_error)?;
        let local = at.to_zoned_datetime(zone.clone());
        let date = local.date();
        let first = match self {
            Unit::Fixed(width) => {
                // Rounded on the local clock, then read back at the offset in force there.
                let offset = i64::from(zone.to_offset(at).seconds()) * 1000;
                let local = ms.saturating_add(offset);
                return Ok(local.div_euclid(width).saturating_mul(width) - offset);
            }
            Unit::Days(1) => date,
            Unit::Days(_) => date
                .checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
                .map_err(jiff_error)?,
            Unit::Months(n) => {
                let month0 = i32::from(date.month()) - 1;
                let start = i8::try_from(month0 - month0 % n + 1).unwrap_or(1);
                jiff::civil::Date::new(date.year(), start, 1).map_err(jiff_error)?
            }
        };
        Ok(ms_of(
            &first
                .to_zoned_datetime(zone.clone())
                .and_then(|z| z.start_of_day())
                .map_err(jiff_error)?,
        ))
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: i64, zone: &TimeZone) -> Result<i64, EsError> {
        let date = Timestamp::from_millisecond(start)
            .map_err(jiff_error)?
            .to_zoned_datetime(zone.clone())
            .date();
        let next = match self {
            Unit::Fixed(width) => {
                return start
                    .checked_add(width)
                    .ok_or_else(|| EsError::bad_request("date out of range"));
            }
            Unit::Days(n) => date.checked_add(n.days()),
            Unit::Months(n) => date.checked_add(n.months()),
        }
        .map_err(jiff_error)?;
        Ok(ms_of(
            &next
                .to_zoned_datetime(zone.clone())
                .and_then(|z| z.start_of_day())
                .map_err(jiff_error)?,
        ))
    }
}

/// Elasticsearch's default rendering of a date key: `2024-01-31T00:00:00.000Z`, or with the
/// offset in force in the histogram's time zone.
fn date_string(ms: i64, zone: &TimeZone) -> String {
    let Ok(at) = Timestamp::from_millisecond(ms) else {
        return ms.to_string();
    };
    let local = at.to_zoned_datetime(zone.clone());
    if zone.to_offset(at).seconds() == 0 {
        local.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    } else {
        local.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
    }
}

/// A `top_hits` sort value from tantivy's order-preserving u64 form.
fn decode_sort(value: &Value, kind: Option<FieldKind>) -> Value {
    let Some(raw) = value.as_u64() else {
        return Value::Null;
    };
    match kind {
        Some(FieldKind::Date) => json!(tantivy::u64_to_i64(raw) / 1_000_000),
        Some(FieldKind::Double | FieldKind::Float | FieldKind::HalfFloat) => {
            json!(tantivy::u64_to_f64(raw))
        }
        Some(FieldKind::Long | FieldKind::Integer | FieldKind::Short | FieldKind::Byte) => {
            json!(tantivy::u64_to_i64(raw))
        }
        Some(FieldKind::Boolean) => json!(raw != 0),
        _ => json!(raw),
    }
}

/// How date keys are written (`format` of a date histogram or range).
#[derive(Debug, Clone)]
enum KeyFormat {
    Iso,
    EpochMillis,
    EpochSecond,
    /// A Java-style pattern (`yyyy-MM-dd`), as strftime.
    Pattern(String),
}

impl KeyFormat {
    fn parse(spec: Option<&str>) -> Result<Self, EsError> {
        let Some(spec) = spec else {
            return Ok(KeyFormat::Iso);
        };
        Ok(match spec {
            "strict_date_optional_time"
            | "date_optional_time"
            | "strict_date_time"
            | "date_time"
            | "strict_date_optional_time_nanos" => KeyFormat::Iso,
            "epoch_millis" => KeyFormat::EpochMillis,
            "epoch_second" => KeyFormat::EpochSecond,
            "date" | "strict_date" | "yyyy-MM-dd" => KeyFormat::Pattern("%Y-%m-%d".into()),
            pattern => KeyFormat::Pattern(java_to_strftime(pattern).ok_or_else(|| {
                EsError::bad_request(format!(
                    "[format] [{pattern}] is not a date pattern Rampart can write: use letters \
                     such as yyyy, MM, dd, HH, mm, ss, SSS, quoted literals, or epoch_millis"
                ))
            })?),
        })
    }

    fn render(&self, ms: i64, zone: &TimeZone) -> String {
        match self {
            KeyFormat::Iso => date_string(ms, zone),
            KeyFormat::EpochMillis => ms.to_string(),
            KeyFormat::EpochSecond => ms.div_euclid(1000).to_string(),
            KeyFormat::Pattern(p) => match Timestamp::from_millisecond(ms) {
                Ok(at) => at.to_zoned_datetime(zone.clone()).strftime(p).to_string(),
                Err(_) => ms.to_string(),
            },
        }
    }
}

/// Writes epoch milliseconds in a date `format` (UTC), for values returned beside a hit.
pub(crate) fn key_format(spec: Option<&str>) -> Result<impl Fn(i64) -> String, EsError> {
    let format = KeyFormat::parse(spec)?;
    Ok(move |ms: i64| format.render(ms, &TimeZone::UTC))
}

/// A Java date pattern as strftime, for the letters dates are usually written with; `None`
/// for anything else (refused rather than written wrongly).
fn java_to_strftime(pattern: &str) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..].iter().position(|&q| q == '\'')? + i + 1;
            for &literal in &chars[i + 1..end] {
                if literal == '%' {
                    out.push_str("%%");
                } else {
                    out.push(literal);
                }
            }
            i = end + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        out.push_str(match (c, run) {
            ('y' | 'u', 2) => "%y",
            ('y' | 'u', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', _) => "%3f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', _) => "%z",
            ('X' | 'x', 1..=2) => "%z",
            ('X' | 'x', _) => "%:z",
            _ => return None,
        });
        i += run;
    }
    Some(out)
}

/// A bucket bound as Java writes a double (`50.0`, `10.5`), which range keys are made of.
fn java_double(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

/// Range bucket keys tantivy adds that are not results.
const RANGE_BUCKET_KEYS: &[&str] = &[
    "key",
    "from",
    "to",
    "from_as_string",
    "to_as_string",
    "doc_count",
];

/// Reshapes tantivy's aggregation results (as JSON) into Elasticsearch's, following the plan.
pub(crate) fn finish(results: &mut Map<String, Value>, plan: &Plan, fetch: &Fetch<'_>) {
    let count = results.get("doc_count").and_then(Value::as_u64);
    finish_in(results, plan, fetch, count);
}

fn finish_in(results: &mut Map<String, Value>, plan: &Plan, fetch: &Fetch<'_>, count: Option<u64>) {
    for (name, node) in plan {
        if let Reshape::Ranges { buckets, keyed } = &node.reshape {
            let mut keyed_buckets = Map::new();
            let mut listed = Vec::new();
            for (i, (key, bounds)) in buckets.iter().enumerate() {
                let mut found = match results.remove(&format!("{name}\u{1}{i}")) {
                    Some(Value::Object(b)) => b,
                    _ => Map::new(),
                };
                finish(&mut found, &node.children, fetch);
                let count = found.remove("doc_count").unwrap_or(json!(0));
                let mut bucket = Map::new();
                if !*keyed {
                    bucket.insert("key".into(), json!(key));
                }
                bucket.extend(bounds.clone());
                bucket.insert("doc_count".into(), count);
                bucket.extend(found);
                if *keyed {
                    keyed_buckets.insert(key.clone(), Value::Object(bucket));
                } else {
                    listed.push(Value::Object(bucket));
                }
            }
            let buckets = if *keyed {
                Value::Object(keyed_buckets)
            } else {
                Value::Array(listed)
            };
            results.insert(name.clone(), json!({ "buckets": buckets }));
            continue;
        }
        if let Reshape::Filters { keys, keyed } = &node.reshape {
            let mut keyed_buckets = Map::new();
            let mut listed = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                let mut bucket = results
                    .remove(&format!("{name}\u{1}{i}"))
                    .unwrap_or_else(|| json!({"doc_count": 0}));
                if let Value::Object(b) = &mut bucket {
                    finish(b, &node.children, fetch);
                }
                if *keyed {
                    keyed_buckets.insert(key.clone(), bucket);
                } else {
                    listed.push(bucket);
                }
            }
            let buckets = if *keyed {
                Value::Object(keyed_buckets)
            } else {
                Value::Array(listed)
            };
            results.insert(name.clone(), json!({ "buckets": buckets }));
            continue;
        }
        let Some(entry) = results.get_mut(name) else {
            continue;
        };
        reshape(entry, node, fetch, count);
    }
}

fn each_bucket(entry: &mut Value, children: &Plan, fetch: &Fetch<'_>) {
    match entry.get_mut("buckets") {
        Some(Value::Array(buckets)) => {
            for bucket in buckets {
                if let Value::Object(b) = bucket {
                    finish(b, children, fetch);
                }
            }
        }
        Some(Value::Object(buckets)) => {
            for bucket in buckets.values_mut() {
                if let Value::Object(b) = bucket {
                    finish(b, children, fetch);
                }
            }
        }
        _ => {}
    }
}

fn keyed_or_listed(buckets: Vec<(String, Value)>, keyed: bool) -> Value {
    if keyed {
        Value::Object(buckets.into_iter().collect())
    } else {
        Value::Array(buckets.into_iter().map(|(_, b)| b).collect())
    }
}

fn reshape(entry: &mut Value, node: &Node, fetch: &Fetch<'_>, count: Option<u64>) {
    match &node.reshape {
        Reshape::Plain | Reshape::Filters { .. } => each_bucket(entry, &node.children, fetch),
        Reshape::TopHits {
            sort_kinds,
            includes,
            excludes,
            source,
        } => {
            let found = entry
                .get("hits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut hits = Vec::new();
            for hit in found {
                let id = match &hit["docvalue_fields"]["_id"] {
                    Value::String(s) => s.clone(),
                    Value::Array(v) => v.first().and_then(Value::as_str).unwrap_or("").to_string(),
                    _ => continue,
                };
                let Some((index, body)) = fetch(&id) else {
                    continue;
                };
                let mut shaped = json!({"_index": index, "_id": id, "_score": Value::Null});
                if *source {
                    shaped["_source"] = crate::source::filter(&body, includes, excludes);
                }
                if !sort_kinds.is_empty() {
                    let values: Vec<Value> = hit["sort"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .zip(sort_kinds)
                        .map(|(v, kind)| decode_sort(v, *kind))
                        .collect();
                    shaped["sort"] = Value::Array(values);
                }
                hits.push(shaped);
            }
            *entry = json!({"hits": {
                "total": {"value": count.unwrap_or(hits.len() as u64), "relation": "eq"},
                "max_score": Value::Null,
                "hits": hits,
            }});
        }
        Reshape::Composite => {
            each_bucket(entry, &node.children, fetch);
            let last = entry
                .get("buckets")
                .and_then(Value::as_array)
                .and_then(|b| b.last())
                .map(|b| b["key"].clone());
            if let Value::Object(map) = entry {
                match last {
                    Some(key) => {
                        map.insert("after_key".into(), key);
                    }
                    None => {
                        map.remove("after_key");
                    }
                }
            }
        }
        Reshape::Single => {
            if let Value::Object(b) = entry {
                finish(b, &node.children, fetch);
            }
        }
        Reshape::DateHistogram { keyed, format } => {
            let mut out = Vec::new();
            let buckets = match entry.get_mut("buckets").map(Value::take) {
                Some(Value::Array(list)) => list,
                Some(Value::Object(map)) => map.into_iter().map(|(_, v)| v).collect(),
                _ => Vec::new(),
            };
            for mut bucket in buckets {
                let ms = bucket["key"].as_f64().unwrap_or(0.0) as i64;
                let text = format.render(ms, &TimeZone::UTC);
                if let Value::Object(b) = &mut bucket {
                    b.insert("key".into(), json!(ms));
                    b.insert("key_as_string".into(), json!(text));
                    finish(b, &node.children, fetch);
                }
                out.push((text, bucket));
            }
            *entry = json!({ "buckets": keyed_or_listed(out, *keyed) });
        }
        Reshape::Calendar {
            starts,
            zone,
            min_doc_count,
            keyed,
            format,
        } => {
            let mut by_start: HashMap<i64, Map<String, Value>> = HashMap::new();
            if let Some(Value::Array(list)) = entry.get_mut("buckets").map(Value::take) {
                for bucket in list {
                    if let (Value::Object(b), Some(from)) = (&bucket, bucket["from"].as_f64()) {
                        by_start.insert((from / 1_000_000.0).round() as i64, b.clone());
                    }
                }
            }
            let mut out = Vec::new();
            for start in starts {
                let mut bucket = by_start.remove(start).unwrap_or_default();
                let count = bucket.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
                if count < *min_doc_count {
                    continue;
                }
                for key in RANGE_BUCKET_KEYS {
                    bucket.remove(*key);
                }
                finish(&mut bucket, &node.children, fetch);
                let text = format.render(*start, zone);
                let mut shaped = Map::new();
                shaped.insert("key_as_string".into(), json!(text));
                shaped.insert("key".into(), json!(start));
                shaped.insert("doc_count".into(), json!(count));
                shaped.extend(bucket);
                out.push((text, Value::Object(shaped)));
            }
            *entry = json!({ "buckets": keyed_or_listed(out, *keyed) });
        }
        Reshape::Ranges { .. } => {}
        Reshape::KeyedHistogram => {
            if let Some(Value::Object(buckets)) = entry.get_mut("buckets").map(Value::take) {
                let mut out = Map::new();
                for (key, mut bucket) in buckets {
                    if let Value::Object(b) = &mut bucket {
                        finish(b, &node.children, fetch);
                    }
                    let key = key.parse::<f64>().map(java_double).unwrap_or(key);
                    out.insert(key, bucket);
                }
                *entry = json!({ "buckets": out });
            }
        }
        Reshape::DateMetric => {
            // Date columns aggregate in nanoseconds; Elasticsearch answers in milliseconds,
            // with the value written as a date beside it.
            if let Value::Object(map) = entry {
                let names: Vec<String> = map.keys().cloned().collect();
                for name in names {
                    let ms = match map.get(&name).and_then(Value::as_f64) {
                        Some(ns) if name != "count" => (ns / 1_000_000.0).round(),
                        _ => continue,
                    };
                    map.insert(name.clone(), json!(ms));
                    let text_key = if name == "value" {
                        "value_as_string".to_string()
                    } else {
                        format!("{name}_as_string")
                    };
                    map.insert(text_key, json!(date_string(ms as i64, &TimeZone::UTC)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>()
            .expect("test date")
            .as_millisecond()
    }

    #[test]
    fn months_quarters_and_years_follow_the_calendar() {
        let utc = TimeZone::UTC;
        let month = Unit::Months(1);
        let start = month
            .floor(ms("2024-02-29T13:00:00Z"), &utc)
            .expect("floor");
        assert_eq!(start, ms("2024-02-01T00:00:00Z"));
        assert_eq!(
            month.next(start, &utc).expect("next"),
            ms("2024-03-01T00:00:00Z")
        );
        let quarter = Unit::Months(3);
        assert_eq!(
            quarter.floor(ms("2024-05-10T00:00:00Z"), &utc).expect("q"),
            ms("2024-04-01T00:00:00Z")
        );
        let year = Unit::Months(12);
        let y = year.floor(ms("2023-12-31T23:59:59Z"), &utc).expect("y");
        assert_eq!(y, ms("2023-01-01T00:00:00Z"));
        assert_eq!(
            year.next(y, &utc).expect("next"),
            ms("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn time_zones_move_bucket_edges_to_local_midnight() {
        let plus_two = parse_time_zone(Some("+02:00")).expect("tz");
        let day = Unit::Days(1);
        // 23:30 UTC on the 1st is 01:30 on the 2nd at +02:00.
        let start = day
            .floor(ms("2024-03-01T23:30:00Z"), &plus_two)
            .expect("floor");
        assert_eq!(start, ms("2024-03-01T22:00:00Z"));
        assert_eq!(
            date_string(start, &plus_two),
            "2024-03-02T00:00:00.000+02:00"
        );
        assert_eq!(
            Unit::Months(1)
                .floor(ms("2024-02-29T23:00:00Z"), &plus_two)
                .expect("m"),
            ms("2024-02-29T22:00:00Z")
        );
        assert!(parse_time_zone(Some("Mars/Olympus")).is_err());
        assert!(parse_time_zone(Some("+25:00")).is_err());
    }

    #[test]
    fn named_zones_follow_daylight_saving_time() {
        let berlin = parse_time_zone(Some("Europe/Berlin")).expect("tz");
        let day = Unit::Days(1);
        // 2024-03-31 in Berlin lasted 23 hours (clocks went forward at 02:00).
        let start = day
            .floor(ms("2024-03-31T12:00:00Z"), &berlin)
            .expect("floor");
        assert_eq!(start, ms("2024-03-30T23:00:00Z"));
        let next = day.next(start, &berlin).expect("next");
        assert_eq!(next, ms("2024-03-31T22:00:00Z"));
        assert_eq!(next - start, 23 * 3_600_000);
        assert_eq!(date_string(next, &berlin), "2024-04-01T00:00:00.000+02:00");
        assert_eq!(date_string(start, &berlin), "2024-03-31T00:00:00.000+01:00");
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2024-03-07 was a Thursday; its week began on Monday the 4th.
        let start = Unit::Days(7)
            .floor(ms("2024-03-07T12:00:00Z"), &TimeZone::UTC)
            .expect("week");
        assert_eq!(start, ms("2024-03-04T00:00:00Z"));
        assert_eq!(
            date_string(start, &TimeZone::UTC),
            "2024-03-04T00:00:00.000Z"
        );
    }
}
