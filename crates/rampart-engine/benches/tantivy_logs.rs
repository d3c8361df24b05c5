//! The tantivy side of the comparisons: `http_logs` documents (see `http_logs.rs`) in a plain
//! tantivy index with the natural typed schema, and the four searches of the search bench done
//! with tantivy directly. Shared by the criterion bench (`search.rs`) and the `bench_tool`
//! example behind `bench/run`, with `#[path = ".../benches/tantivy_logs.rs"] mod tantivy_logs;`
//! beside `mod http_logs;`.

use std::ops::Bound;

use serde_json::Value;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::agg_result::AggregationResults;
use tantivy::aggregation::{AggContextParams, AggregationCollector, AggregationLimitsGuard};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, IpAddrOptions, STORED,
    STRING, Schema, TEXT, Value as _,
};
use tantivy::{DateTime, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::http_logs::LogDoc;

/// The fields of the typed schema: the mapping Rampart's index is given, field for field.
#[derive(Clone, Copy)]
pub struct Fields {
    pub timestamp: Field,
    pub clientip: Field,
    pub request: Field,
    pub request_raw: Field,
    pub status: Field,
    pub size: Field,
    /// The document as sent, for returning hits as Rampart does.
    pub source: Field,
}

impl Fields {
    /// `@timestamp` (date, ms), `clientip` (ip), `request` (text, and its keyword copy),
    /// `status` and `size` (numbers), and the source as stored bytes.
    pub fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let fields = Fields {
            timestamp: builder.add_date_field(
                "timestamp",
                DateOptions::default()
                    .set_indexed()
                    .set_fast()
                    .set_precision(DateTimePrecision::Milliseconds),
            ),
            clientip: builder.add_ip_addr_field(
                "clientip",
                IpAddrOptions::default().set_indexed().set_fast(),
            ),
            request: builder.add_text_field("request", TEXT),
            request_raw: builder.add_text_field("request_raw", STRING | FAST),
            status: builder.add_u64_field("status", INDEXED | FAST),
            size: builder.add_u64_field("size", FAST),
            source: builder.add_bytes_field("_source", STORED),
        };
        (builder.build(), fields)
    }

    /// The tantivy document of one log line and its source as sent.
    pub fn document(&self, doc: &LogDoc, source: &[u8]) -> TantivyDocument {
        let mut d = TantivyDocument::new();
        d.add_date(
            self.timestamp,
            DateTime::from_timestamp_millis(doc.timestamp_ms),
        );
        d.add_ip_addr(self.clientip, doc.clientip.to_ipv6_mapped());
        d.add_text(self.request, &doc.request);
        d.add_text(self.request_raw, &doc.request);
        d.add_u64(self.status, u64::from(doc.status));
        d.add_u64(self.size, doc.size);
        d.add_bytes(self.source, source);
        d
    }
}

/// A searchable tantivy index of the documents.
pub struct Tantivy {
    pub index: tantivy::Index,
    pub reader: IndexReader,
    pub fields: Fields,
}

impl Tantivy {
    /// A reader on `index`, reloaded only by hand (nothing writes to it while it is searched).
    pub fn new(index: tantivy::Index, fields: Fields) -> Self {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .expect("reader");
        Tantivy {
            index,
            reader,
            fields,
        }
    }

    /// Total hits and the 10 best, with their stored documents parsed as Rampart returns them.
    ///
    /// Two searches rather than one with the `(Count, TopDocs)` tuple: alone, `Count` of a
    /// term query is its document frequency (no postings read) and `TopDocs` may skip blocks
    /// that cannot enter the top 10, both of which the tuple forgoes. The baseline is the
    /// fastest way tantivy gives the same answer.
    pub fn count_and_top10(&self, query: &dyn Query) -> (usize, Vec<Value>) {
        let searcher = self.reader.searcher();
        let count = searcher.search(query, &Count).expect("count");
        let top = searcher
            .search(query, &TopDocs::with_limit(10).order_by_score())
            .expect("search");
        let hits = top
            .into_iter()
            .map(|(_, addr)| {
                let doc: TantivyDocument = searcher.doc(addr).expect("stored document");
                let bytes = doc
                    .get_first(self.fields.source)
                    .and_then(|v| v.as_bytes())
                    .expect("_source");
                serde_json::from_slice(bytes).expect("source json")
            })
            .collect();
        (count, hits)
    }

    pub fn term_status(&self, status: u64) -> (usize, Vec<Value>) {
        let query = TermQuery::new(
            Term::from_field_u64(self.fields.status, status),
            IndexRecordOption::Basic,
        );
        self.count_and_top10(&query)
    }

    pub fn status_on_day(&self, status: u64, from_ms: i64, to_ms: i64) -> (usize, Vec<Value>) {
        let ts = self.fields.timestamp;
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_u64(self.fields.status, status),
                    IndexRecordOption::Basic,
                )),
            ),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_date(
                        ts,
                        DateTime::from_timestamp_millis(from_ms),
                    )),
                    Bound::Excluded(Term::from_field_date(
                        ts,
                        DateTime::from_timestamp_millis(to_ms),
                    )),
                )),
            ),
        ]);
        self.count_and_top10(&query)
    }

    /// Total hits and the aggregations over every document (`size: 0`); the count on its own,
    /// where it costs nothing, for the same reason as in [`Tantivy::count_and_top10`].
    pub fn aggregate(&self, aggs: &Aggregations) -> (usize, AggregationResults) {
        let searcher = self.reader.searcher();
        let collector = AggregationCollector::from_aggs(
            aggs.clone(),
            AggContextParams::new(
                AggregationLimitsGuard::default(),
                self.index.tokenizers().clone(),
            ),
        );
        let count = searcher.search(&AllQuery, &Count).expect("count");
        let results = searcher.search(&AllQuery, &collector).expect("aggregation");
        (count, results)
    }
}

/// The terms aggregation of the search bench, in tantivy's request format.
pub fn terms_aggs() -> Aggregations {
    serde_json::from_value(
        serde_json::json!({"status": {"terms": {"field": "status", "size": 10}}}),
    )
    .expect("terms aggregation")
}

/// The hourly date histogram of the search bench, in tantivy's request format.
pub fn hourly_aggs() -> Aggregations {
    serde_json::from_value(serde_json::json!({"hourly": {
        "date_histogram": {"field": "timestamp", "fixed_interval": "1h"}
    }}))
    .expect("date histogram")
}
