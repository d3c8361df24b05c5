//! The Rust half of `bench/run` (see BENCHMARKS.md): writes the `_bulk` bodies that the node is
//! sent, and measures the tantivy baseline of the ingest and search comparisons on the same
//! documents, in one process, with the typed schema and the searches of the criterion bench
//! (`benches/tantivy_logs.rs`). Every answer is one JSON object on stdout.
//!
//! ```text
//! bench_tool ndjson  --docs N --batch B --out DIR [--seed S]
//!     DIR/bulk-00000.ndjson ...: `{"index":{}}` and one generated http_logs document per pair
//!     of lines, B documents per file
//! bench_tool ingest --input DIR --index DIR [--segments K]
//!     reads and parses those files and indexes them with one writer thread (256 MB): one
//!     commit at the end, or with K > 1 a commit after each K-th of the documents and no merges
//! bench_tool search --index DIR --query term|bool_range|terms_agg|date_histogram
//!         [--seconds S] [--min-iterations N]
//!     times that search for S seconds after a warm-up: p50/p99 in microseconds
//! bench_tool open-search --index DIR
//!     opens that index and answers the term query once (the time to a first answer)
//! ```

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tantivy::indexer::NoMergePolicy;
use tantivy::{IndexWriter, TantivyDocument};

#[allow(dead_code)]
#[path = "../benches/http_logs.rs"]
mod http_logs;
#[allow(dead_code)]
#[path = "../benches/tantivy_logs.rs"]
mod tantivy_logs;

use tantivy_logs::{Fields, Tantivy};

const SEED: u64 = 1998;
/// The tantivy side's indexing memory, as in the criterion bench (one thread). Rampart's writer
/// has 20 MB.
const TANTIVY_HEAP: usize = 256 << 20;
/// Status 200 on the third day: the bool filter's range, as in the criterion bench.
const DAY_FROM_MS: i64 = http_logs::START_MS + 2 * http_logs::DAY_MS;
const DAY_TO_MS: i64 = DAY_FROM_MS + http_logs::DAY_MS;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        usage("a command")
    };
    let options = Options::parse(rest);
    let answer = match command.as_str() {
        "ndjson" => ndjson(&options),
        "ingest" => ingest(&options),
        "search" => search(&options),
        "open-search" => open_search(&options),
        other => usage(&format!("a known command, not {other}")),
    };
    println!("{answer}");
}

fn usage(what: &str) -> ! {
    eprintln!(
        "bench_tool: expected {what}\n\
         usage: bench_tool ndjson --docs N --batch B --out DIR [--seed S]\n       \
         bench_tool ingest --input DIR --index DIR [--segments K]\n       \
         bench_tool search --index DIR --query NAME [--seconds S] [--min-iterations N]\n       \
         bench_tool open-search --index DIR"
    );
    std::process::exit(64)
}

struct Options(Vec<(String, String)>);

impl Options {
    fn parse(args: &[String]) -> Self {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                usage(&format!("--name value pairs, not {key}"))
            };
            let Some(value) = it.next() else {
                usage(&format!("a value after {key}"))
            };
            pairs.push((name.to_string(), value.clone()));
        }
        Options(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(
            self.get(name)
                .unwrap_or_else(|| usage(&format!("--{name}"))),
        )
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> T {
        match self.get(name) {
            Some(v) => v
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage(&format!("a number after --{name}, not {v}"))),
            None => default.unwrap_or_else(|| usage(&format!("--{name}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------------

fn ndjson(options: &Options) -> Value {
    let n: usize = options.number("docs", None);
    let batch: usize = options.number::<usize>("batch", None).max(1);
    let seed: u64 = options.number("seed", Some(SEED));
    let out = options.path("out");
    std::fs::create_dir_all(&out).expect("the output directory");
    let mut docs = http_logs::documents(n, seed);
    let (mut files, mut bytes) = (0usize, 0u64);
    loop {
        let chunk: Vec<Value> = docs.by_ref().take(batch).collect();
        if chunk.is_empty() {
            break;
        }
        let path = out.join(format!("bulk-{files:05}.ndjson"));
        let mut w = BufWriter::new(std::fs::File::create(&path).expect("a bulk file"));
        for doc in &chunk {
            w.write_all(b"{\"index\":{}}\n").expect("write");
            serde_json::to_writer(&mut w, doc).expect("write");
            w.write_all(b"\n").expect("write");
        }
        w.flush().expect("write");
        bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        files += 1;
    }
    json!({"docs": n, "files": files, "bytes": bytes, "seed": seed})
}

/// One document line of a bulk body, as sent.
#[derive(serde::Deserialize)]
struct Line {
    #[serde(rename = "@timestamp")]
    timestamp: String,
    clientip: Ipv4Addr,
    request: String,
    status: u16,
    size: u64,
}

fn parse_line(line: &[u8]) -> http_logs::LogDoc {
    let line: Line = serde_json::from_slice(line).expect("a document line");
    let timestamp = time::OffsetDateTime::parse(
        &line.timestamp,
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an RFC 3339 @timestamp");
    http_logs::LogDoc {
        timestamp_ms: (timestamp.unix_timestamp_nanos() / 1_000_000) as i64,
        clientip: line.clientip,
        request: line.request,
        status: line.status,
        size: line.size,
    }
}

fn bulk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the input directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    files.sort();
    files
}

/// (user + system CPU seconds of this process, VmRSS in bytes).
fn cpu_and_rss() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th and
    // 13th of them, in clock ticks of 1/100 s (USER_HZ).
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let cpu = ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    (cpu / 100.0, rss_kb * 1024)
}

fn ingest(options: &Options) -> Value {
    let input = options.path("input");
    let index_dir = options.path("index");
    let segments: usize = options.number::<usize>("segments", Some(1)).max(1);
    let files = bulk_files(&input);
    // With more than one segment: a commit after each slice of the documents and no merges, so
    // that the index has that many segments, each a slice of time, as Rampart's refreshes and
    // merges leave its own (the criterion bench's `tantivy_same_segments`).
    let per_commit = if segments > 1 {
        let lines: usize = files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(f).expect("a bulk file");
                bytes.iter().filter(|&&b| b == b'\n').count()
            })
            .sum();
        (lines / 2).div_ceil(segments).max(1)
    } else {
        usize::MAX
    };

    // Read each bulk body as a client would send it, parse every document line, index it with
    // the typed schema and its source, and commit at the end (searchable then, as Rampart's
    // documents are after the final _refresh).
    std::fs::create_dir_all(&index_dir).expect("the index directory");
    let (schema, fields) = Fields::schema();
    let index = tantivy::Index::create_in_dir(&index_dir, schema).expect("a new index");
    let (cpu_before, _) = cpu_and_rss();
    let started = Instant::now();
    let mut writer: IndexWriter<TantivyDocument> = index
        .writer_with_num_threads(1, TANTIVY_HEAP)
        .expect("writer");
    if segments > 1 {
        writer.set_merge_policy(Box::new(NoMergePolicy));
    }
    let mut docs = 0usize;
    for file in files {
        let reader = BufReader::new(std::fs::File::open(&file).expect("a bulk file"));
        // Pairs of lines: the action, then the document.
        for (i, line) in reader.split(b'\n').enumerate() {
            let line = line.expect("read");
            if i % 2 == 0 || line.is_empty() {
                continue;
            }
            let doc = parse_line(&line);
            writer
                .add_document(fields.document(&doc, &line))
                .expect("add");
            docs += 1;
            if docs.is_multiple_of(per_commit) {
                writer.commit().expect("commit");
            }
        }
    }
    writer.commit().expect("commit");
    let ingest = started.elapsed();
    let (cpu_after, _) = cpu_and_rss();
    let started = Instant::now();
    writer.wait_merging_threads().expect("merges");
    let merges = started.elapsed();
    let (_, rss_after_ingest) = cpu_and_rss();
    let segments = Tantivy::new(index, fields)
        .reader
        .searcher()
        .segment_readers()
        .len();
    json!({
        "docs": docs,
        "ingest_seconds": ingest.as_secs_f64(),
        "docs_per_second": docs as f64 / ingest.as_secs_f64(),
        "ingest_cpu_seconds": cpu_after - cpu_before,
        "merge_seconds": merges.as_secs_f64(),
        "rss_after_ingest_bytes": rss_after_ingest,
        "segments": segments,
    })
}

/// One search as timed: its answer as JSON bytes, as a service on tantivy would have to give.
type Search<'a> = Box<dyn Fn() -> Vec<u8> + 'a>;

fn search(options: &Options) -> Value {
    let index = tantivy::Index::open_in_dir(options.path("index")).expect("the index");
    let name = options.get("query").unwrap_or_else(|| usage("--query"));
    let seconds: f64 = options.number("seconds", Some(10.0));
    let min_iterations: usize = options.number("min-iterations", Some(20));
    let (_, fields) = Fields::schema();
    let tantivy = Tantivy::new(index, fields);
    let terms = tantivy_logs::terms_aggs();
    let hourly = tantivy_logs::hourly_aggs();
    let search: Search = match name {
        "term" => Box::new(|| answer(tantivy.term_status(404))),
        "bool_range" => Box::new(|| answer(tantivy.status_on_day(200, DAY_FROM_MS, DAY_TO_MS))),
        "terms_agg" => Box::new(|| answer(tantivy.aggregate(&terms))),
        "date_histogram" => Box::new(|| answer(tantivy.aggregate(&hourly))),
        other => usage(&format!(
            "--query term, bool_range, terms_agg or date_histogram, not {other}"
        )),
    };
    let first: Value = serde_json::from_slice(&search()).expect("an answer");
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_millis(200) {
        std::hint::black_box(search());
    }
    let mut latencies = Vec::new();
    let budget = Duration::from_secs_f64(seconds);
    let began = Instant::now();
    while latencies.len() < min_iterations || began.elapsed() < budget {
        let t = Instant::now();
        std::hint::black_box(search());
        latencies.push(t.elapsed());
    }
    latencies.sort();
    json!({
        "query": name,
        "iterations": latencies.len(),
        "p50_us": percentile(&latencies, 50.0),
        "p99_us": percentile(&latencies, 99.0),
        "segments": tantivy.reader.searcher().segment_readers().len(),
        "total": first["total"],
        "buckets": buckets(&first["body"]),
    })
}

/// Nearest-rank percentile of sorted latencies, in microseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

/// An answer as JSON: the total and the hits or the aggregations.
fn answer<T: serde::Serialize>((total, body): (usize, T)) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Answer<T> {
        total: usize,
        body: T,
    }
    serde_json::to_vec(&Answer { total, body }).expect("json")
}

/// `[key, doc_count]` of the buckets of the only aggregation in `body`, or null for hits.
fn buckets(body: &Value) -> Value {
    body.as_object()
        .and_then(|aggs| aggs.values().next())
        .and_then(|agg| agg["buckets"].as_array())
        .map(|buckets| {
            buckets
                .iter()
                .map(|b| json!([b["key"], b["doc_count"]]))
                .collect()
        })
        .unwrap_or(Value::Null)
}

fn open_search(options: &Options) -> Value {
    let started = Instant::now();
    let index = tantivy::Index::open_in_dir(options.path("index")).expect("the index");
    let (_, fields) = Fields::schema();
    let tantivy = Tantivy::new(index, fields);
    let (total, _) = tantivy.term_status(404);
    json!({"total": total, "seconds": started.elapsed().as_secs_f64()})
}
