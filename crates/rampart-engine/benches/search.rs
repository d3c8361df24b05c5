//! Search over generated web-server logs (`http_logs`-shaped, see `http_logs.rs`): a term
//! query, a bool filter with a date range, a terms aggregation and a date histogram, each
//! measured through Rampart's `Engine` (as the REST layer calls it) beside the same operation
//! done with tantivy directly on a plain index of the same documents, twice: `tantivy` is
//! bulk-loaded with one commit (one segment), `tantivy_same_segments` has as many segments as
//! Rampart ended with, each a slice of time. The second is the like-for-like baseline: a date
//! range skips the segments outside it, so the layout alone can make either side look faster.
//!
//! `RAMPART_BENCH_DOCS` sets the number of documents: 1,000,000 by default under
//! `cargo bench`, 10,000 when the bench only runs as a test (`cargo test --benches`). Setup
//! (ingest on both sides, then a check that both give the same answers and that these match
//! what the generator made) is done once and not measured; its times are printed.
//!
//! `cargo bench -p rampart-engine --bench search`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_action::data::{BulkItem, DocWrite, IndicesOptions, Refresh, WriteItem};
use rampart_action::{DataRequest, Unrestricted};
use rampart_engine::{Engine, EngineOptions};
use serde_json::{Value, json};
use tantivy::indexer::NoMergePolicy;
use tantivy::{DateTime, IndexWriter, TantivyDocument};
use tantivy_logs::{Fields, Tantivy};

mod http_logs;
mod tantivy_logs;

const INDEX: &str = "logs";
const SEED: u64 = 1998;
const BATCH: usize = 10_000;
/// The tantivy side's indexing memory (one thread). Rampart's writer has 20 MB.
const TANTIVY_HEAP: usize = 256 << 20;

/// Status 200 on the third day: the bool filter's range.
const DAY_FROM_MS: i64 = http_logs::START_MS + 2 * http_logs::DAY_MS;
const DAY_TO_MS: i64 = DAY_FROM_MS + http_logs::DAY_MS;

fn doc_count() -> usize {
    match std::env::var("RAMPART_BENCH_DOCS") {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .expect("RAMPART_BENCH_DOCS must be a number of documents"),
        // `cargo bench` passes --bench; without it each benchmark runs once, as a test.
        Err(_) if std::env::args().any(|a| a == "--bench") => 1_000_000,
        Err(_) => 10_000,
    }
}

/// What the generator made, counted as it went: the answers both sides must give.
#[derive(Debug, Default)]
struct Expected {
    /// `(status, count)`, most frequent first, as a terms aggregation orders them.
    statuses: Vec<(i64, u64)>,
    /// `(hour start in ms, count)` from the first hour to the last, empty hours included.
    hours: Vec<(i64, u64)>,
    status_404: u64,
    status_200_on_day: u64,
}

impl Expected {
    fn count(docs: impl Iterator<Item = http_logs::LogDoc>) -> Self {
        let mut statuses = std::collections::BTreeMap::<i64, u64>::new();
        let mut hours = std::collections::BTreeMap::<i64, u64>::new();
        let mut expected = Expected::default();
        for doc in docs {
            *statuses.entry(i64::from(doc.status)).or_default() += 1;
            let hour = doc.timestamp_ms.div_euclid(http_logs::HOUR_MS) * http_logs::HOUR_MS;
            *hours.entry(hour).or_default() += 1;
            expected.status_404 += u64::from(doc.status == 404);
            expected.status_200_on_day += u64::from(
                doc.status == 200 && (DAY_FROM_MS..DAY_TO_MS).contains(&doc.timestamp_ms),
            );
        }
        expected.statuses = statuses.into_iter().collect();
        expected
            .statuses
            .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if let (Some(&first), Some(&last)) = (hours.keys().next(), hours.keys().next_back()) {
            expected.hours = (first..=last)
                .step_by(http_logs::HOUR_MS as usize)
                .map(|h| (h, hours.get(&h).copied().unwrap_or(0)))
                .collect();
        }
        expected
    }
}

// ---------------------------------------------------------------------------------------------
// Rampart: the Engine, driven with the DataRequests the REST layer builds.

struct Rampart {
    engine: Arc<Engine>,
    _dir: tempfile::TempDir,
}

fn run(engine: &Engine, request: DataRequest) -> Value {
    match engine.execute(request, &Unrestricted) {
        Ok(response) => response.body,
        Err(e) => panic!("{}: {}", e.error_type, e.reason),
    }
}

fn search_request(body: &Value) -> DataRequest {
    DataRequest::Search {
        indices: vec![INDEX.to_string()],
        options: IndicesOptions::default(),
        body: body.clone(),
        count_only: false,
        scroll: None,
        owner: String::new(),
    }
}

impl Rampart {
    fn search(&self, body: &Value) -> Value {
        run(&self.engine, search_request(body))
    }

    fn setup(n: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("engine opens");
        run(
            &engine,
            DataRequest::CreateIndex {
                index: INDEX.into(),
                body: json!({
                    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                    "mappings": {"properties": {
                        "@timestamp": {"type": "date"},
                        "clientip": {"type": "ip"},
                        "request": {
                            "type": "text",
                            "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}
                        },
                        "status": {"type": "integer"},
                        "size": {"type": "long"}
                    }}
                }),
            },
        );
        // Default settings: `refresh_interval` 1s, `translog.durability` request (each bulk is
        // fsynced before it is acknowledged). Only the engine's time is counted, not the
        // generator's nor the JSON encoding a client would do.
        let mut docs = http_logs::documents(n, SEED);
        let mut spent = Duration::ZERO;
        loop {
            let items: Vec<BulkItem> = docs
                .by_ref()
                .take(BATCH)
                .map(|doc| {
                    BulkItem::Write(WriteItem {
                        index: INDEX.into(),
                        write: DocWrite::Index {
                            id: None,
                            source: serde_json::to_vec(&doc).expect("json"),
                            create: false,
                        },
                        conditions: Default::default(),
                        routing: None,
                        retry_on_conflict: 0,
                    })
                })
                .collect();
            if items.is_empty() {
                break;
            }
            let started = Instant::now();
            let response = run(
                &engine,
                DataRequest::Bulk {
                    items,
                    indices: vec![INDEX.into()],
                    refresh: Refresh::False,
                },
            );
            spent += started.elapsed();
            assert_eq!(
                response["errors"],
                json!(false),
                "bulk failed: {}",
                response["items"]
                    .as_array()
                    .and_then(|items| items.iter().find(|i| i["index"]["error"].is_object()))
                    .unwrap_or(&Value::Null)
            );
        }
        let started = Instant::now();
        run(
            &engine,
            DataRequest::Refresh {
                indices: vec![INDEX.into()],
                options: IndicesOptions::default(),
            },
        );
        spent += started.elapsed();
        eprintln!(
            "rampart: ingested {n} docs in {:.1} s ({:.0} docs/s), {} segments searchable",
            spent.as_secs_f64(),
            n as f64 / spent.as_secs_f64(),
            segments(&engine),
        );

        // Background merges go on after the last refresh, and the engine's reader only moves
        // on at the next refresh with new writes. Let them finish (so they take no CPU from the
        // measurements), then reopen the engine, as after a restart: the steady state of an
        // index that no longer changes.
        let started = Instant::now();
        let search_dir = engine.index(INDEX).expect("the index").dir().join("search");
        wait_for_quiet_dir(&search_dir);
        engine.close();
        drop(engine);
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("engine reopens");
        let index = engine.index(INDEX).expect("the index");
        assert_eq!(
            index.searchable_docs(),
            n as u64,
            "every document is searchable"
        );
        eprintln!(
            "rampart: merges settled and reopened in {:.1} s: {} segments, {} reach into the \
             filtered day, {:.0} MB on disk",
            started.elapsed().as_secs_f64(),
            segments(&engine),
            day_overlap(&index.searcher(), "kw.@timestamp", DAY_FROM_MS, DAY_TO_MS),
            index.size_in_bytes() as f64 / 1e6,
        );
        Rampart { engine, _dir: dir }
    }
}

fn segments(engine: &Engine) -> usize {
    engine
        .index(INDEX)
        .expect("the index")
        .searcher()
        .segment_readers()
        .len()
}

/// Waits until no file under `dir` has appeared, gone or changed size for a few seconds
/// (tantivy's merges write new segment files and delete the old ones), at most 5 minutes.
fn wait_for_quiet_dir(dir: &Path) {
    fn snapshot(dir: &Path) -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| {
                        let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                        (e.file_name().to_string_lossy().into_owned(), len)
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = snapshot(dir);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let now = snapshot(dir);
        if now == last {
            quiet += 1;
        } else {
            quiet = 0;
            last = now;
        }
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// `k/m segments (d docs)`: the segments whose timestamps reach into [from, to), which a range
/// over that day cannot skip, and the documents they hold.
fn day_overlap(searcher: &tantivy::Searcher, column: &str, from_ms: i64, to_ms: i64) -> String {
    let (from, to) = (
        DateTime::from_timestamp_millis(from_ms),
        DateTime::from_timestamp_millis(to_ms),
    );
    let readers = searcher.segment_readers();
    let overlapping: Vec<_> = readers
        .iter()
        .filter(
            |segment| match segment.fast_fields().column_opt::<DateTime>(column) {
                Ok(Some(c)) => c.min_value() < to && c.max_value() >= from,
                _ => true,
            },
        )
        .collect();
    let docs: u32 = overlapping.iter().map(|s| s.num_docs()).sum();
    format!(
        "{}/{} segments ({docs} docs)",
        overlapping.len(),
        readers.len()
    )
}

// ---------------------------------------------------------------------------------------------
// Tantivy directly: the natural typed schema (`tantivy_logs.rs`), one writer.

/// Indexes the documents with one writer. `segments == 1`: one commit at the end, with
/// tantivy's default merge policy, as one would bulk-load an index. More: a commit after each
/// `n / segments` documents and no merges, so the index has that many segments, each a slice of
/// time, as Rampart's refreshes and merges leave it.
fn tantivy_setup(n: usize, segments: usize) -> (Tantivy, tempfile::TempDir) {
    let (schema, fields): (_, Fields) = Fields::schema();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let index = tantivy::Index::create_in_dir(dir.path(), schema).expect("index");
    let mut writer: IndexWriter<TantivyDocument> = index
        .writer_with_num_threads(1, TANTIVY_HEAP)
        .expect("writer");
    let segments = segments.max(1);
    if segments > 1 {
        writer.set_merge_policy(Box::new(NoMergePolicy));
    }
    let per_commit = n.div_ceil(segments).max(1);
    let mut docs = http_logs::log_docs(n, SEED);
    let mut added = 0usize;
    let mut spent = Duration::ZERO;
    loop {
        // Batches end at commit points.
        let take = BATCH.min(per_commit - added % per_commit);
        let batch: Vec<(http_logs::LogDoc, Vec<u8>)> = docs
            .by_ref()
            .take(take)
            .map(|doc| {
                let source = serde_json::to_vec(&doc.to_json()).expect("json");
                (doc, source)
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        let started = Instant::now();
        for (doc, source) in &batch {
            writer
                .add_document(fields.document(doc, source))
                .expect("add");
        }
        added += batch.len();
        if added.is_multiple_of(per_commit) && added < n {
            writer.commit().expect("commit");
        }
        spent += started.elapsed();
    }
    let started = Instant::now();
    writer.commit().expect("commit");
    spent += started.elapsed();
    let ingest = spent;
    let started = Instant::now();
    writer.wait_merging_threads().expect("merges");
    let merges = started.elapsed();
    let tantivy = Tantivy::new(index, fields);
    eprintln!(
        "tantivy ({segments} commit(s)): ingested {n} docs in {:.1} s ({:.0} docs/s), \
         merges {:.1} s more: {} reach into the filtered day, {:.0} MB on disk",
        ingest.as_secs_f64(),
        n as f64 / ingest.as_secs_f64(),
        merges.as_secs_f64(),
        day_overlap(
            &tantivy.reader.searcher(),
            "timestamp",
            DAY_FROM_MS,
            DAY_TO_MS
        ),
        dir_size(dir.path()) as f64 / 1e6,
    );
    (tantivy, dir)
}

// ---------------------------------------------------------------------------------------------
// The same answers on both sides, before anything is measured.

fn total(response: &Value) -> u64 {
    response["hits"]["total"]["value"]
        .as_u64()
        .expect("hits.total")
}

fn sources(response: &Value) -> Vec<Value> {
    response["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["_source"].clone())
        .collect()
}

/// `(key, doc_count)` of an aggregation's buckets, in their order.
fn buckets(aggregation: &Value) -> Vec<(i64, u64)> {
    aggregation["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["key"].as_f64().expect("numeric key") as i64,
                b["doc_count"].as_u64().expect("doc_count"),
            )
        })
        .collect()
}

fn check_hits(
    name: &str,
    what: &str,
    expected: u64,
    rampart: &Value,
    tantivy: &(usize, Vec<Value>),
) {
    assert_eq!(total(rampart), expected, "{what}: Rampart's total");
    assert_eq!(tantivy.0 as u64, expected, "{what}: {name}'s total");
    let want = expected.min(10) as usize;
    assert_eq!(sources(rampart).len(), want, "{what}: Rampart's hits");
    assert_eq!(tantivy.1.len(), want, "{what}: {name}'s hits");
}

// ---------------------------------------------------------------------------------------------

fn bench(c: &mut Criterion) {
    let n = doc_count();
    eprintln!("http_logs: {n} documents (RAMPART_BENCH_DOCS)");
    let expected = Expected::count(http_logs::log_docs(n, SEED));
    let rampart = Rampart::setup(n);
    // `tantivy`: bulk-loaded with one commit. `tantivy_same_segments`: as many segments as
    // Rampart ended with, so that the layout (a range over time-ordered segments skips most
    // of them) is not mistaken for Rampart's own cost or gain.
    let (plain, _plain_dir) = tantivy_setup(n, 1);
    let (same_segments, _same_segments_dir) = tantivy_setup(n, segments(&rampart.engine));
    let tantivies = [("tantivy", plain), ("tantivy_same_segments", same_segments)];

    // a. term query
    // `track_total_hits: true` everywhere: the default (10,000) would report `gte 10000` at 1M
    // documents, where tantivy's answer is the exact count.
    let term_body = json!({"query": {"term": {"status": 404}}, "track_total_hits": true});
    let r = rampart.search(&term_body);
    for source in sources(&r) {
        assert_eq!(source["status"], json!(404), "term: Rampart's hit {source}");
    }
    for (name, tantivy) in &tantivies {
        let t = tantivy.term_status(404);
        check_hits(name, "term", expected.status_404, &r, &t);
        for source in &t.1 {
            assert_eq!(source["status"], json!(404), "term: {name}'s hit {source}");
        }
    }

    // b. bool filter + date range
    let (from, to) = (
        http_logs::iso8601(DAY_FROM_MS),
        http_logs::iso8601(DAY_TO_MS),
    );
    let bool_body = json!({"query": {"bool": {"filter": [
        {"term": {"status": 200}},
        {"range": {"@timestamp": {"gte": from, "lt": to}}}
    ]}}, "track_total_hits": true});
    let in_filter = |source: &Value| {
        let ts = source["@timestamp"].as_str().unwrap_or_default();
        source["status"] == json!(200) && from.as_str() <= ts && ts < to.as_str()
    };
    let r = rampart.search(&bool_body);
    for source in sources(&r) {
        assert!(in_filter(&source), "bool: Rampart's hit {source}");
    }
    for (name, tantivy) in &tantivies {
        let t = tantivy.status_on_day(200, DAY_FROM_MS, DAY_TO_MS);
        check_hits(name, "bool", expected.status_200_on_day, &r, &t);
        for source in &t.1 {
            assert!(in_filter(source), "bool: {name}'s hit {source}");
        }
    }

    // c. terms aggregation
    let terms_body = json!({"size": 0, "track_total_hits": true, "aggs": {"status": {"terms": {"field": "status", "size": 10}}}});
    let terms_aggs = tantivy_logs::terms_aggs();
    let r = rampart.search(&terms_body);
    assert_eq!(total(&r), n as u64, "terms: Rampart's total");
    assert_eq!(
        buckets(&r["aggregations"]["status"]),
        expected.statuses,
        "terms: Rampart's buckets"
    );
    for (name, tantivy) in &tantivies {
        let (count, result) = tantivy.aggregate(&terms_aggs);
        let result = serde_json::to_value(&result).expect("aggregation json");
        assert_eq!(count, n, "terms: {name}'s total");
        assert_eq!(
            buckets(&result["status"]),
            expected.statuses,
            "terms: {name}'s buckets"
        );
    }

    // d. date histogram
    let hist_body = json!({"size": 0, "track_total_hits": true, "aggs": {"hourly": {
        "date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}
    }}});
    let hist_aggs = tantivy_logs::hourly_aggs();
    let r = rampart.search(&hist_body);
    assert_eq!(
        buckets(&r["aggregations"]["hourly"]),
        expected.hours,
        "histogram: Rampart's buckets"
    );
    for (name, tantivy) in &tantivies {
        let (count, result) = tantivy.aggregate(&hist_aggs);
        let result = serde_json::to_value(&result).expect("aggregation json");
        assert_eq!(count, n, "histogram: {name}'s total");
        assert_eq!(
            buckets(&result["hourly"]),
            expected.hours,
            "histogram: {name}'s buckets"
        );
    }
    eprintln!(
        "same answers: {} hits for status 404, {} for status 200 on {from}, {} statuses, {} hours",
        expected.status_404,
        expected.status_200_on_day,
        expected.statuses.len(),
        expected.hours.len()
    );

    let mut group = c.benchmark_group("term_status_404");
    group.bench_function("rampart", |b| {
        b.iter(|| rampart.search(black_box(&term_body)))
    });
    for (name, tantivy) in &tantivies {
        group.bench_function(*name, |b| b.iter(|| tantivy.term_status(black_box(404))));
    }
    group.finish();

    let mut group = c.benchmark_group("bool_status_200_and_day");
    group.bench_function("rampart", |b| {
        b.iter(|| rampart.search(black_box(&bool_body)))
    });
    for (name, tantivy) in &tantivies {
        group.bench_function(*name, |b| {
            b.iter(|| tantivy.status_on_day(black_box(200), DAY_FROM_MS, DAY_TO_MS))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("terms_agg_status");
    group.bench_function("rampart", |b| {
        b.iter(|| rampart.search(black_box(&terms_body)))
    });
    for (name, tantivy) in &tantivies {
        group.bench_function(*name, |b| {
            b.iter(|| tantivy.aggregate(black_box(&terms_aggs)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("date_histogram_1h");
    group.bench_function("rampart", |b| {
        b.iter(|| rampart.search(black_box(&hist_body)))
    });
    for (name, tantivy) in &tantivies {
        group.bench_function(*name, |b| {
            b.iter(|| tantivy.aggregate(black_box(&hist_aggs)))
        });
    }
    group.finish();

    rampart.engine.close();
}

fn config() -> Criterion {
    // Short runs: the machine is small and shared.
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
