//! Ranking hits by sort keys: parsing `sort`, reading each matching document's keys from the
//! columnar fast fields while the query runs, and keeping only the best `from + size` of them
//! (so memory follows the page, not the number of matches). `search_after` cursors, scrolls
//! and point-in-time pages continue from the keys of the last hit they returned.
//!
//! It reads only the columns of fields the caller has already judged visible: field-level
//! security is decided before a key source is built, never here.

use std::cmp::Ordering;

use rampart_action::EsError;
use serde_json::{Value, json};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DateTime, DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::mapping::FieldKind;

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

/// One sort key of a search.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortSpec {
    /// A field path, `_score`, `_doc` or `_shard_doc`.
    pub field: String,
    pub descending: bool,
    pub missing_first: bool,
    /// Sorting on a field an index does not map is refused unless this is given.
    pub unmapped: bool,
}

/// `sort` as Elasticsearch reads it: `"field"`, `{"field": "desc"}`,
/// `{"field": {"order": "desc", "missing": "_first"}}`, or a list of these.
pub(crate) fn parse_sort(value: &Value) -> Result<Vec<SortSpec>, EsError> {
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
        let unmapped = options.get("unmapped_type").is_some();
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
                // Options Rampart cannot honour are refused, never ignored: the order would
                // silently differ from the one asked for.
                if let Some(mode) = o.get("mode") {
                    return Err(parsing(format!(
                        "[sort] [mode: {mode}] is not supported yet: a document sorts by the \
                         first value of the field"
                    )));
                }
                let missing = match o.get("missing") {
                    None => None,
                    Some(Value::String(m)) => Some(m.clone()),
                    Some(other) => {
                        return Err(parsing(format!(
                            "[sort] missing [{other}] is not supported: use _first or _last"
                        )));
                    }
                };
                (
                    o.get("order").and_then(Value::as_str).map(str::to_string),
                    missing,
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
            unmapped,
        });
    }
    Ok(out)
}

/// A document's value for one sort key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortValue {
    Missing,
    Number(f64),
    Text(String),
}

impl SortValue {
    pub(crate) fn to_json(&self) -> Value {
        match self {
            SortValue::Missing => Value::Null,
            SortValue::Number(n) if n.fract() == 0.0 && n.abs() < 9e15 => json!(*n as i64),
            SortValue::Number(n) => json!(n),
            SortValue::Text(t) => json!(t),
        }
    }
}

impl SortValue {
    /// A `search_after` value as given by a client.
    pub(crate) fn from_json(value: &Value) -> Result<Self, EsError> {
        match value {
            Value::Null => Ok(SortValue::Missing),
            Value::Number(n) => Ok(SortValue::Number(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => Ok(SortValue::Text(s.clone())),
            Value::Bool(b) => Ok(SortValue::Number(f64::from(u8::from(*b)))),
            other => Err(parsing(format!(
                "[search_after] values must be numbers, strings or null, got [{other}]"
            ))),
        }
    }
}

/// Orders two key lists as the sort asks; missing values go last (or first) whatever the
/// direction, as in Elasticsearch.
pub(crate) fn compare(specs: &[SortSpec], a: &[SortValue], b: &[SortValue]) -> Ordering {
    for (spec, (x, y)) in specs.iter().zip(a.iter().zip(b.iter())) {
        let order = match (x, y) {
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Missing, _) if spec.missing_first => Ordering::Less,
            (SortValue::Missing, _) => Ordering::Greater,
            (_, SortValue::Missing) if spec.missing_first => Ordering::Greater,
            (_, SortValue::Missing) => Ordering::Less,
            (SortValue::Number(p), SortValue::Number(q)) => {
                let o = p.total_cmp(q);
                if spec.descending { o.reverse() } else { o }
            }
            (SortValue::Text(p), SortValue::Text(q)) => {
                let o = p.cmp(q);
                if spec.descending { o.reverse() } else { o }
            }
            (SortValue::Number(_), SortValue::Text(_)) => Ordering::Less,
            (SortValue::Text(_), SortValue::Number(_)) => Ordering::Greater,
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// Where one sort key of an index comes from.
#[derive(Debug, Clone)]
pub(crate) enum KeySource {
    Score,
    /// Index order; `base` keeps keys of different indices of one search apart.
    Doc {
        base: f64,
    },
    Column {
        column: String,
        strings: bool,
    },
    /// Unmapped with `unmapped_type` given, or no value anywhere: every document lacks it.
    Missing,
}

impl KeySource {
    /// The source of a field key, or the error Elasticsearch gives for a field that cannot be
    /// sorted on.
    pub(crate) fn for_field(
        spec: &SortSpec,
        kind: Option<FieldKind>,
        index_ordinal: usize,
    ) -> Result<Self, EsError> {
        Ok(match spec.field.as_str() {
            "_score" => KeySource::Score,
            "_doc" | "_shard_doc" => KeySource::Doc {
                // 2^40 per index keeps (index, segment < 256, doc) exact within an f64.
                base: index_ordinal as f64 * 1_099_511_627_776.0,
            },
            field => match kind {
                Some(FieldKind::Text) => {
                    return Err(EsError::bad_request(format!(
                        "Text fields are not optimised for operations that require per-document \
                         field data like aggregations and sorting, so these operations are \
                         disabled by default. Please use a keyword field instead ([{field}])."
                    )));
                }
                Some(FieldKind::Object) | None if !spec.unmapped => {
                    return Err(EsError::new(
                        400,
                        "query_shard_exception",
                        format!("No mapping found for [{field}] in order to sort on"),
                    ));
                }
                Some(FieldKind::Object) | None => KeySource::Missing,
                Some(kind) => KeySource::Column {
                    column: format!("kw.{field}"),
                    strings: matches!(kind, FieldKind::Keyword | FieldKind::Ip),
                },
            },
        })
    }
}

/// One ranked hit: its keys, its score and where it is.
pub(crate) type SortedHit = (Vec<SortValue>, Score, DocAddress);

/// Collects the best `limit` hits by sort keys, strictly after `after` when given.
pub(crate) struct TopSorted {
    pub specs: Vec<SortSpec>,
    pub sources: Vec<KeySource>,
    pub after: Option<Vec<SortValue>>,
    pub limit: usize,
}

enum NumericColumn {
    I64(Column<i64>),
    F64(Column<f64>),
    U64(Column<u64>),
    Date(Column<DateTime>),
    Bool(Column<bool>),
}

impl NumericColumn {
    fn first(&self, doc: DocId) -> Option<f64> {
        match self {
            NumericColumn::I64(c) => c.first(doc).map(|v| v as f64),
            NumericColumn::F64(c) => c.first(doc),
            NumericColumn::U64(c) => c.first(doc).map(|v| v as f64),
            NumericColumn::Date(c) => c.first(doc).map(|v| v.into_timestamp_millis() as f64),
            NumericColumn::Bool(c) => c.first(doc).map(|v| f64::from(u8::from(v))),
        }
    }
}

enum KeyReader {
    Score,
    Doc(f64),
    Strings(StrColumn),
    /// A JSON path may hold several typed columns (whole numbers of a double field are
    /// stored as integers): a document's value is in the first that has one.
    Numbers(Vec<NumericColumn>),
    Missing,
}

impl KeyReader {
    fn open(
        source: &KeySource,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self> {
        Ok(match source {
            KeySource::Score => KeyReader::Score,
            KeySource::Doc { base } => {
                if segment_ord >= 256 {
                    return Err(tantivy::TantivyError::InvalidArgument(
                        "more than 256 segments: refresh and retry once merges catch up".into(),
                    ));
                }
                KeyReader::Doc(base + f64::from(segment_ord) * 4_294_967_296.0)
            }
            KeySource::Missing => KeyReader::Missing,
            KeySource::Column {
                column,
                strings: true,
            } => match segment.fast_fields().str(column)? {
                Some(c) => KeyReader::Strings(c),
                None => KeyReader::Missing,
            },
            KeySource::Column {
                column,
                strings: false,
            } => {
                let fast = segment.fast_fields();
                let mut columns = Vec::new();
                if let Some(c) = fast.column_opt::<i64>(column)? {
                    columns.push(NumericColumn::I64(c));
                }
                if let Some(c) = fast.column_opt::<f64>(column)? {
                    columns.push(NumericColumn::F64(c));
                }
                if let Some(c) = fast.column_opt::<u64>(column)? {
                    columns.push(NumericColumn::U64(c));
                }
                if let Some(c) = fast.column_opt::<DateTime>(column)? {
                    columns.push(NumericColumn::Date(c));
                }
                if let Some(c) = fast.column_opt::<bool>(column)? {
                    columns.push(NumericColumn::Bool(c));
                }
                KeyReader::Numbers(columns)
            }
        })
    }

    fn read(&self, doc: DocId, score: Score) -> SortValue {
        match self {
            KeyReader::Score => SortValue::Number(f64::from(score)),
            KeyReader::Doc(base) => SortValue::Number(base + f64::from(doc)),
            KeyReader::Strings(column) => {
                let Some(ord) = column.term_ords(doc).next() else {
                    return SortValue::Missing;
                };
                let mut text = String::new();
                match column.ord_to_str(ord, &mut text) {
                    Ok(true) => SortValue::Text(text),
                    _ => SortValue::Missing,
                }
            }
            KeyReader::Numbers(columns) => columns
                .iter()
                .find_map(|c| c.first(doc))
                .map_or(SortValue::Missing, SortValue::Number),
            KeyReader::Missing => SortValue::Missing,
        }
    }
}

pub(crate) struct TopSortedSegment {
    specs: std::sync::Arc<Vec<SortSpec>>,
    after: Option<std::sync::Arc<Vec<SortValue>>>,
    readers: Vec<KeyReader>,
    limit: usize,
    segment_ord: SegmentOrdinal,
    hits: Vec<SortedHit>,
}

impl TopSortedSegment {
    /// Keeps the buffer within twice the limit: sorting and truncating now and then costs
    /// less than a heap's comparisons on every hit, and memory stays bounded by the page.
    fn shrink(&mut self) {
        let specs = &self.specs;
        self.hits.sort_by(|a, b| compare(specs, &a.0, &b.0));
        self.hits.truncate(self.limit);
    }
}

impl SegmentCollector for TopSortedSegment {
    type Fruit = Vec<SortedHit>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let keys: Vec<SortValue> = self.readers.iter().map(|r| r.read(doc, score)).collect();
        if let Some(after) = &self.after
            && compare(&self.specs, &keys, after) != Ordering::Greater
        {
            return;
        }
        self.hits
            .push((keys, score, DocAddress::new(self.segment_ord, doc)));
        if self.hits.len() >= self.limit.saturating_mul(2).max(64) {
            self.shrink();
        }
    }

    fn harvest(mut self) -> Vec<SortedHit> {
        self.shrink();
        self.hits
    }
}

impl Collector for TopSorted {
    type Fruit = Vec<SortedHit>;
    type Child = TopSortedSegment;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<TopSortedSegment> {
        let readers = self
            .sources
            .iter()
            .map(|s| KeyReader::open(s, segment_ord, segment))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(TopSortedSegment {
            specs: std::sync::Arc::new(self.specs.clone()),
            after: self.after.clone().map(std::sync::Arc::new),
            readers,
            limit: self.limit,
            segment_ord,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.sources.iter().any(|s| matches!(s, KeySource::Score))
    }

    fn merge_fruits(&self, fruits: Vec<Vec<SortedHit>>) -> tantivy::Result<Vec<SortedHit>> {
        let mut all: Vec<SortedHit> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| compare(&self.specs, &a.0, &b.0));
        all.truncate(self.limit);
        Ok(all)
    }
}

/// Passes the wrapped collector only the documents scoring at least `min` (`min_score`).
pub(crate) struct MinScore<C> {
    pub inner: C,
    pub min: f32,
}

pub(crate) struct MinScoreSegment<S> {
    inner: S,
    min: f32,
}

impl<S: SegmentCollector> SegmentCollector for MinScoreSegment<S> {
    type Fruit = S::Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if score >= self.min {
            self.inner.collect(doc, score);
        }
    }

    fn harvest(self) -> S::Fruit {
        self.inner.harvest()
    }
}

impl<C: Collector> Collector for MinScore<C> {
    type Fruit = C::Fruit;
    type Child = MinScoreSegment<C::Child>;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        Ok(MinScoreSegment {
            inner: self.inner.for_segment(segment_ord, segment)?,
            min: self.min,
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(
        &self,
        fruits: Vec<<Self::Child as SegmentCollector>::Fruit>,
    ) -> tantivy::Result<C::Fruit> {
        self.inner.merge_fruits(fruits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(field: &str, descending: bool, missing_first: bool) -> SortSpec {
        SortSpec {
            field: field.into(),
            descending,
            missing_first,
            unmapped: false,
        }
    }

    #[test]
    fn missing_values_stay_last_in_both_directions_unless_asked_first() {
        let n = |v: f64| vec![SortValue::Number(v)];
        let missing = vec![SortValue::Missing];
        for descending in [false, true] {
            let s = [spec("f", descending, false)];
            assert_eq!(compare(&s, &n(1.0), &missing), Ordering::Less);
            assert_eq!(compare(&s, &missing, &n(1.0)), Ordering::Greater);
        }
        let s = [spec("f", false, true)];
        assert_eq!(compare(&s, &missing, &n(1.0)), Ordering::Less);
        let s = [spec("f", true, false)];
        assert_eq!(compare(&s, &n(2.0), &n(1.0)), Ordering::Less);
    }

    #[test]
    fn later_keys_break_ties() {
        let s = [spec("a", false, false), spec("b", true, false)];
        let x = vec![SortValue::Text("k".into()), SortValue::Number(1.0)];
        let y = vec![SortValue::Text("k".into()), SortValue::Number(2.0)];
        assert_eq!(compare(&s, &y, &x), Ordering::Less);
    }

    #[test]
    fn sort_syntax_variants() {
        let parsed = parse_sort(&json!(["a", {"b": "desc"}, {"c": {"order": "asc", "missing": "_first", "unmapped_type": "long"}}, "_score"])).expect("test setup");
        assert_eq!(parsed.len(), 4);
        assert!(!parsed[0].descending);
        assert!(parsed[1].descending);
        assert!(parsed[2].missing_first && parsed[2].unmapped);
        assert!(parsed[3].descending, "_score sorts descending by default");
        assert!(parse_sort(&json!({"a": "up"})).is_err());
    }
}
