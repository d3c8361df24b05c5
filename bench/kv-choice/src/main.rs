//! kv-choice: redb vs fjall on Rampart-shaped bulk ingest.
//!
//! Usage: [KV_IDS=random|time] kv-choice <redb|fjall> [data_dir]
//!
//! KV_IDS selects the `_id` scheme (default `random`, the original workload):
//!   random: 20-char base64url id, uniformly random in key order (derived from seq_no)
//!   time:   20-char time-ordered id (see `make_time_id`): consecutive ids sort increasingly
//! Documents, seq_nos and everything else are identical between the two schemes.
//!
//! One store per process invocation, so that VmHWM (peak RSS) belongs to that store only.
//! Prints one line `RESULT store=... key=value ...` for the runner script to collect.
//!
//! Phases (all on the same database, in this order):
//!   1. bulk:   1,000,000 docs, 1,000 docs per durable transaction
//!   2. single: 5,000 docs, 1 doc per durable transaction
//!   3. reads:  200,000 random point gets by _id (over all 1,005,000 ids)
//!   4. close, then measure on-disk size (st_blocks, like `du`) and VmHWM
//!
//! Every transaction writes two tables atomically:
//!   docs:  _id (20 bytes) -> header(seq_no u64, primary_term u64, version u64; LE) + JSON source
//!   ops:   seq_no (u64 big-endian) -> _id

use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn Error>>;

const N_BULK: u64 = 1_000_000;
const BULK_BATCH: usize = 1_000;
const N_SINGLE: u64 = 5_000;
const N_READS: usize = 200_000;
const HEADER_LEN: usize = 24;

// ---------------------------------------------------------------- deterministic data

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64* PRNG.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        let s = splitmix64(seed);
        XorShift(if s == 0 { 0x1234_5678 } else { s })
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// 20-char base64url `_id` derived from seq_no (120 random-looking bits), so that
/// ids can be regenerated for the read phase without keeping them in memory.
fn make_id(seq: u64) -> [u8; 20] {
    let a = splitmix64(seq ^ 0x5EED_0000_0000_0001);
    let b = splitmix64(a ^ seq.rotate_left(29));
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        let bits = if i < 10 { a >> (i * 6) } else { b >> ((i - 10) * 6) };
        *o = B64URL[(bits & 63) as usize];
    }
    out
}

/// Sort-order-preserving base64url alphabet: the same 64 characters as `B64URL`, but in
/// ASCII order, so byte-wise comparison of encoded strings equals numeric comparison of
/// the encoded bits. (With the standard alphabet, 'Z' < 'a' < '0' breaks the order.)
const B64URL_SORTED: &[u8; 64] = b"-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// Synthetic ingest clock for time-ordered ids: fixed epoch and 50 docs per millisecond
/// (50k docs/s), so the run is reproducible and does not depend on the real clock.
const TIME_ID_EPOCH_MS: u64 = 1_700_000_000_000;
const TIME_ID_DOCS_PER_MS: u64 = 50;

/// Time-ordered 20-char id, flake-style: 15 bytes = 6-byte big-endian millisecond timestamp,
/// 3-byte big-endian sequence counter, 6 pseudo-random bytes (derived from seq_no), encoded
/// MSB-first with `B64URL_SORTED`. Timestamp is non-decreasing and the counter (= seq_no,
/// < 2^24 here) strictly increasing, so consecutive ids sort strictly increasingly.
fn make_time_id(seq: u64) -> [u8; 20] {
    assert!(seq < 1 << 24, "sequence counter would wrap");
    let ts = TIME_ID_EPOCH_MS + seq / TIME_ID_DOCS_PER_MS;
    let rnd = splitmix64(seq ^ 0x7135_0000_0000_0002);
    let mut bytes = [0u8; 15];
    bytes[..6].copy_from_slice(&ts.to_be_bytes()[2..]);
    bytes[6..9].copy_from_slice(&(seq as u32).to_be_bytes()[1..]);
    bytes[9..].copy_from_slice(&rnd.to_be_bytes()[2..]);
    let mut out = [0u8; 20];
    for (i, chunk) in bytes.chunks(3).enumerate() {
        let v = (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32;
        for j in 0..4 {
            out[i * 4 + j] = B64URL_SORTED[((v >> (18 - 6 * j)) & 63) as usize];
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum IdScheme {
    Random,
    Time,
}

static ID_SCHEME: std::sync::OnceLock<IdScheme> = std::sync::OnceLock::new();

/// KV_IDS=random (default) | time
fn id_scheme() -> IdScheme {
    *ID_SCHEME.get_or_init(|| match std::env::var("KV_IDS").as_deref() {
        Err(_) | Ok("random") => IdScheme::Random,
        Ok("time") => IdScheme::Time,
        Ok(other) => {
            eprintln!("KV_IDS must be 'random' or 'time', got {other:?}");
            std::process::exit(2);
        }
    })
}

/// The document `_id` for seq_no under the selected scheme.
fn doc_id(seq: u64) -> [u8; 20] {
    match id_scheme() {
        IdScheme::Random => make_id(seq),
        IdScheme::Time => make_time_id(seq),
    }
}

const DIRS: &[&str] = &[
    "english", "french", "images", "history", "teams", "venues", "news", "tickets",
    "competition", "results", "schedule", "playing", "member", "hosts", "fifa", "cup",
];
const FILES: &[&str] = &[
    "hm_bg", "hm_brdl", "nav_bg_top", "team_group_header_d", "space", "logo_cup",
    "bullet_anim", "arw_lk", "10511", "hm_anime_e", "nav_home_off", "dot_line",
];
const EXTS: &[&str] = &["gif", "jpg", "html", "htm", "css", "js"];
const STATUS: &[u16] = &[200, 200, 200, 200, 200, 200, 304, 304, 206, 404, 500];

/// http_logs-shaped JSON source for seq_no, appended to `buf`.
fn make_source(seq: u64, buf: &mut Vec<u8>) {
    use std::io::Write;
    let mut r = XorShift::new(seq.wrapping_mul(0x9E37_79B9) ^ 0xD0C5);
    // 1998-05-01 .. ~1998-07-26, time advances with seq like a real log
    let t = 893_980_800u64 + seq * 7 + r.below(7);
    let (days, rem) = (t / 86_400, t % 86_400);
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // days since 1970-01-01 -> 1998 month/day (only May..Jul reached)
    let doy = days - 10_227; // 1998-01-01 is day 10227
    let (mon, mday) = if doy < 151 {
        (5, doy - 120 + 1)
    } else if doy < 181 {
        (6, doy - 151 + 1)
    } else {
        (7, doy - 181 + 1)
    };
    let ms = r.below(1000);
    let ip = r.next();
    let ndirs = 8 + r.below(8) as usize;
    let mut path = String::with_capacity(120);
    for _ in 0..ndirs {
        path.push('/');
        path.push_str(DIRS[r.below(DIRS.len() as u64) as usize]);
    }
    path.push('/');
    path.push_str(FILES[r.below(FILES.len() as u64) as usize]);
    path.push('.');
    path.push_str(EXTS[r.below(EXTS.len() as u64) as usize]);
    if r.below(8) != 0 {
        path.push_str("?lang=en&session=");
        path.push_str(std::str::from_utf8(&make_id(r.next())).unwrap());
    }
    let status = STATUS[r.below(STATUS.len() as u64) as usize];
    let size = if status == 304 { 0 } else { r.below(60_000) };
    write!(
        buf,
        "{{\"@timestamp\":\"1998-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",\"clientip\":\"{}.{}.{}.{}\",\
         \"request\":\"GET {} HTTP/1.0\",\"status\":{},\"size\":{}}}",
        mon, mday, h, mi, s, ms,
        ip & 0xff, (ip >> 8) & 0xff, (ip >> 16) & 0xff, (ip >> 24) & 0xff,
        path, status, size,
    )
    .unwrap();
}

/// Full stored value: 24-byte header + JSON source.
fn make_value(seq: u64, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&seq.to_le_bytes()); // seq_no
    buf.extend_from_slice(&1u64.to_le_bytes()); // primary_term
    buf.extend_from_slice(&1u64.to_le_bytes()); // version
    make_source(seq, buf);
}

struct Doc {
    id: [u8; 20],
    seq_be: [u8; 8],
    value: Vec<u8>,
}

fn fill_batch(batch: &mut Vec<Doc>, first_seq: u64, n: usize) {
    batch.resize_with(n, || Doc { id: [0; 20], seq_be: [0; 8], value: Vec::with_capacity(320) });
    for (i, d) in batch.iter_mut().enumerate() {
        let seq = first_seq + i as u64;
        d.id = doc_id(seq);
        d.seq_be = seq.to_be_bytes();
        make_value(seq, &mut d.value);
    }
}

// ---------------------------------------------------------------- store abstraction

trait Store {
    /// Writes all docs + ops entries in ONE transaction, durably committed (fsync) on return.
    fn write_durable(&mut self, docs: &[Doc]) -> Res<()>;
    /// Point-gets each id; returns how many were found with the expected seq_no in the header.
    fn read_all(&self, lookups: &[([u8; 20], u64)]) -> Res<usize>;
    /// Crash test: how many of seq 0..n are present in BOTH tables with consistent contents.
    fn verify_prefix(&self, n: u64) -> Res<u64>;
}

// ---- redb

mod redb_store {
    use super::*;
    use redb::{Database, Durability, ReadableDatabase, TableDefinition};

    const DOCS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("docs");
    const OPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("ops");

    pub struct RedbStore {
        pub db: Database,
    }

    impl RedbStore {
        pub fn open(dir: &Path) -> Res<Self> {
            std::fs::create_dir_all(dir)?;
            // library defaults (1 GiB page cache) unless KV_CACHE_MB is set
            let mut b = Database::builder();
            if let Some(bytes) = cache_override() {
                b.set_cache_size(bytes as usize);
            }
            let db = b.create(dir.join("rampart.redb"))?;
            Ok(RedbStore { db })
        }
    }

    impl Store for RedbStore {
        fn write_durable(&mut self, docs: &[Doc]) -> Res<()> {
            let mut tx = self.db.begin_write()?;
            tx.set_durability(Durability::Immediate)?; // already the default; explicit on purpose
            {
                let mut t_docs = tx.open_table(DOCS)?;
                let mut t_ops = tx.open_table(OPS)?;
                for d in docs {
                    t_docs.insert(&d.id[..], &d.value[..])?;
                    t_ops.insert(&d.seq_be[..], &d.id[..])?;
                }
            }
            tx.commit()?;
            Ok(())
        }

        fn read_all(&self, lookups: &[([u8; 20], u64)]) -> Res<usize> {
            let tx = self.db.begin_read()?;
            let t = tx.open_table(DOCS)?;
            let mut ok = 0;
            for (id, seq) in lookups {
                if let Some(v) = t.get(&id[..])? {
                    let v = v.value();
                    if v.len() > HEADER_LEN && v[..8] == seq.to_le_bytes() {
                        ok += 1;
                    }
                }
            }
            Ok(ok)
        }

        fn verify_prefix(&self, n: u64) -> Res<u64> {
            let tx = self.db.begin_read()?;
            let docs = tx.open_table(DOCS)?;
            let ops = tx.open_table(OPS)?;
            let mut ok = 0;
            for seq in 0..n {
                let id = doc_id(seq);
                let in_ops = ops.get(&seq.to_be_bytes()[..])?.is_some_and(|v| v.value() == &id[..]);
                let in_docs = docs.get(&id[..])?.is_some_and(|v| v.value()[..8] == seq.to_le_bytes());
                if in_ops && in_docs {
                    ok += 1;
                }
            }
            Ok(ok)
        }
    }
}

// ---- fjall

mod fjall_store {
    use super::*;
    use fjall::{KeyspaceCreateOptions, PersistMode, SingleWriterTxDatabase, SingleWriterTxKeyspace};

    pub struct FjallStore {
        pub db: SingleWriterTxDatabase,
        pub docs: SingleWriterTxKeyspace,
        pub ops: SingleWriterTxKeyspace,
        pub mode: PersistMode,
    }

    impl FjallStore {
        pub fn open(dir: &Path) -> Res<Self> {
            // library defaults (32 MiB block cache, lz4 on) unless KV_CACHE_MB is set
            let mut b = SingleWriterTxDatabase::builder(dir);
            if let Some(bytes) = cache_override() {
                b = b.cache_size(bytes);
            }
            let db = b.open()?;
            let docs = db.keyspace("docs", KeyspaceCreateOptions::default)?;
            let ops = db.keyspace("ops", KeyspaceCreateOptions::default)?;
            Ok(FjallStore { db, docs, ops, mode: PersistMode::SyncAll })
        }
    }

    impl Store for FjallStore {
        fn write_durable(&mut self, docs: &[Doc]) -> Res<()> {
            // write_tx() defaults to PersistMode::Buffer; ask for an fsync of the journal.
            let mut tx = self.db.write_tx().durability(Some(self.mode));
            for d in docs {
                tx.insert(&self.docs, &d.id[..], &d.value[..]);
                tx.insert(&self.ops, &d.seq_be[..], &d.id[..]);
            }
            tx.commit()?;
            Ok(())
        }

        fn read_all(&self, lookups: &[([u8; 20], u64)]) -> Res<usize> {
            let mut ok = 0;
            for (id, seq) in lookups {
                if let Some(v) = self.docs.get(&id[..])? {
                    if v.len() > HEADER_LEN && v[..8] == seq.to_le_bytes() {
                        ok += 1;
                    }
                }
            }
            Ok(ok)
        }

        fn verify_prefix(&self, n: u64) -> Res<u64> {
            let mut ok = 0;
            for seq in 0..n {
                let id = doc_id(seq);
                let in_ops = self.ops.get(seq.to_be_bytes())?.is_some_and(|v| &v[..] == &id[..]);
                let in_docs = self.docs.get(id)?.is_some_and(|v| v[..8] == seq.to_le_bytes());
                if in_ops && in_docs {
                    ok += 1;
                }
            }
            Ok(ok)
        }
    }
}

// ---------------------------------------------------------------- crash test

/// `crash-writer <store> <dir>`: bulk-ingests 1000-doc durable transactions and prints
/// `ACK <docs>` after every commit returns. The runner kills it with SIGKILL.
fn crash_writer(store: &mut dyn Store) -> Res<()> {
    use std::io::Write;
    let mut batch = Vec::with_capacity(BULK_BATCH);
    let mut seq = 0u64;
    let stdout = std::io::stdout();
    while seq < N_BULK {
        fill_batch(&mut batch, seq, BULK_BATCH);
        store.write_durable(&batch)?;
        seq += BULK_BATCH as u64;
        let mut l = stdout.lock();
        writeln!(l, "ACK {seq}")?;
        l.flush()?;
    }
    Ok(())
}

fn open_store(which: &str, dir: &Path) -> Res<Box<dyn Store>> {
    Ok(match which {
        "redb" => Box::new(redb_store::RedbStore::open(dir)?),
        "fjall" => Box::new(fjall_store::FjallStore::open(dir)?),
        _ => return Err(format!("unknown store {which}").into()),
    })
}

fn crash_modes(args: &[String]) -> Res<bool> {
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    if mode != "crash-writer" && mode != "crash-verify" {
        return Ok(false);
    }
    let which = args.get(2).ok_or("store?")?;
    let dir = PathBuf::from(args.get(3).ok_or("dir?")?);
    if mode == "crash-writer" {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let mut s = open_store(which, &dir)?;
        crash_writer(s.as_mut())?;
    } else {
        let acked: u64 = args.get(4).ok_or("acked?")?.parse()?;
        let t0 = Instant::now();
        let s = open_store(which, &dir)?;
        let open_s = t0.elapsed().as_secs_f64();
        let present = s.verify_prefix(acked)?;
        // anything beyond the last ACK (a commit in flight at kill time) may or may not be there
        let extra = s.verify_prefix(acked + BULK_BATCH as u64)? - present;
        println!(
            "CRASH store={which} acked={acked} present={present} lost={} in_flight_present={extra} reopen_after_kill_s={open_s:.2}",
            acked - present
        );
    }
    Ok(true)
}

// ---------------------------------------------------------------- measurement helpers

/// KV_CACHE_MB=N overrides the store's cache size (both stores), for the equal-cache runs.
fn cache_override() -> Option<u64> {
    std::env::var("KV_CACHE_MB").ok().and_then(|v| v.parse::<u64>().ok()).map(|mb| mb << 20)
}

/// user+sys CPU seconds of the whole process (all threads, incl. background workers).
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // after ") ": state is field 3 overall -> index 0; utime field 14 -> 11; stime 15 -> 12
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0 // CLK_TCK is 100 on this Linux
}

fn dir_usage(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut blocks = 0u64;
    let mut apparent = 0u64;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(md) = std::fs::symlink_metadata(&d) else { continue };
        blocks += md.blocks() * 512;
        if md.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    stack.push(e.path());
                }
            }
        } else {
            apparent += md.len();
        }
    }
    (blocks, apparent)
}

fn proc_status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            return rest.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
        }
    }
    0
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn run(store: &mut dyn Store, out: &mut Vec<(String, String)>) -> Res<()> {
    let mut batch = Vec::with_capacity(BULK_BATCH);

    // 1. bulk: 1000 docs / durable tx. Only the store call is timed (doc generation excluded).
    let mut t_bulk = Duration::ZERO;
    let mut src_bytes = 0u64;
    let wall = Instant::now();
    let mut seq = 0u64;
    while seq < N_BULK {
        let n = BULK_BATCH.min((N_BULK - seq) as usize);
        fill_batch(&mut batch, seq, n);
        src_bytes += batch.iter().map(|d| (d.value.len() - HEADER_LEN) as u64).sum::<u64>();
        let t0 = Instant::now();
        store.write_durable(&batch)?;
        t_bulk += t0.elapsed();
        seq += n as u64;
    }
    let wall_bulk = wall.elapsed();
    out.push(("bulk_docs_per_s".into(), format!("{:.0}", N_BULK as f64 / t_bulk.as_secs_f64())));
    out.push(("bulk_s".into(), format!("{:.2}", t_bulk.as_secs_f64())));
    out.push(("bulk_wall_s".into(), format!("{:.2}", wall_bulk.as_secs_f64())));
    out.push(("avg_source_bytes".into(), format!("{:.1}", src_bytes as f64 / N_BULK as f64)));
    eprintln!("  bulk done: {:.2}s", t_bulk.as_secs_f64());

    // 2. single-doc durable transactions
    let mut t_single = Duration::ZERO;
    for i in 0..N_SINGLE {
        fill_batch(&mut batch, N_BULK + i, 1);
        let t0 = Instant::now();
        store.write_durable(&batch)?;
        t_single += t0.elapsed();
    }
    out.push(("single_docs_per_s".into(), format!("{:.0}", N_SINGLE as f64 / t_single.as_secs_f64())));
    out.push(("single_s".into(), format!("{:.2}", t_single.as_secs_f64())));
    eprintln!("  single done: {:.2}s", t_single.as_secs_f64());

    // 3. random point reads over every written id
    let total = N_BULK + N_SINGLE;
    let mut r = XorShift::new(42);
    let lookups: Vec<([u8; 20], u64)> = (0..N_READS)
        .map(|_| {
            let s = r.below(total);
            (doc_id(s), s)
        })
        .collect();
    let t0 = Instant::now();
    let found = store.read_all(&lookups)?;
    let t_read = t0.elapsed();
    if found != N_READS {
        return Err(format!("read check failed: {found}/{N_READS} found").into());
    }
    out.push(("reads_per_s".into(), format!("{:.0}", N_READS as f64 / t_read.as_secs_f64())));
    eprintln!("  reads done: {:.2}s", t_read.as_secs_f64());
    Ok(())
}

/// Same 200k random gets as phase 3, but after reopen + flush + full compaction.
fn settled_reads(store: &dyn Store, out: &mut Vec<(String, String)>) -> Res<()> {
    let mut r = XorShift::new(43);
    let lookups: Vec<([u8; 20], u64)> = (0..N_READS)
        .map(|_| {
            let s = r.below(N_BULK + N_SINGLE);
            (doc_id(s), s)
        })
        .collect();
    let t0 = Instant::now();
    let found = store.read_all(&lookups)?;
    let t = t0.elapsed();
    if found != N_READS {
        return Err(format!("settled read check failed: {found}/{N_READS}").into());
    }
    out.push(("reads_settled_per_s".into(), format!("{:.0}", N_READS as f64 / t.as_secs_f64())));
    Ok(())
}

fn finish_workload(dir: &Path, out: &mut Vec<(String, String)>) {
    out.push(("cpu_s".into(), format!("{:.1}", cpu_seconds())));
    out.push(("peak_rss_mib".into(), format!("{:.1}", proc_status_kb("VmHWM") as f64 / 1024.0)));
    out.push(("disk_open_mib".into(), format!("{:.1}", mb(dir_usage(dir).0))));
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    id_scheme(); // validate KV_IDS up front
    if crash_modes(&args)? {
        return Ok(());
    }
    let which = args.get(1).map(String::as_str).unwrap_or("");
    if which == "sample" {
        let mut v = Vec::new();
        for seq in [0u64, 1, 2, 999_999] {
            make_value(seq, &mut v);
            println!("{} {} {}", String::from_utf8_lossy(&doc_id(seq)), v.len() - HEADER_LEN,
                     String::from_utf8_lossy(&v[HEADER_LEN..]));
        }
        // how many consecutive id pairs over the whole workload are in increasing byte order
        let total = N_BULK + N_SINGLE;
        let inc = (0..total - 1).filter(|&s| doc_id(s) < doc_id(s + 1)).count();
        println!("ids={:?} increasing_pairs={inc}/{}", id_scheme(), total - 1);
        return Ok(());
    }
    let dir: PathBuf = args
        .get(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/kvbench/data").join(which));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;

    let mut out: Vec<(String, String)> = Vec::new();
    let t_all = Instant::now();
    // Timed workload, then: peak RSS of the workload, size while open, size after close
    // ("as the workload leaves it"), then reopen (timed: recovery/open cost), force
    // flush + full compaction (redb: Database::compact; fjall: memtable flush + major_compact),
    // close and measure the settled size. Peak RSS is read before the reopen/compaction step.
    match which {
        "redb" => {
            let mut s = redb_store::RedbStore::open(&dir)?;
            run(&mut s, &mut out)?;
            finish_workload(&dir, &mut out);
            let t0 = Instant::now();
            drop(s);
            out.push(("close_s".into(), format!("{:.2}", t0.elapsed().as_secs_f64())));
            out.push(("disk_closed_mib".into(), format!("{:.1}", mb(dir_usage(&dir).0))));
            let t0 = Instant::now();
            let mut s = redb_store::RedbStore::open(&dir)?;
            out.push(("reopen_s".into(), format!("{:.2}", t0.elapsed().as_secs_f64())));
            let t0 = Instant::now();
            while s.db.compact()? {}
            out.push(("compact_s".into(), format!("{:.2}", t0.elapsed().as_secs_f64())));
            settled_reads(&s, &mut out)?;
            drop(s);
        }
        "fjall" | "fjall-syncdata" => {
            let mut s = fjall_store::FjallStore::open(&dir)?;
            if which == "fjall-syncdata" {
                s.mode = fjall::PersistMode::SyncData;
            }
            run(&mut s, &mut out)?;
            finish_workload(&dir, &mut out);
            let t0 = Instant::now();
            drop(s);
            out.push(("close_s".into(), format!("{:.2}", t0.elapsed().as_secs_f64())));
            out.push(("disk_closed_mib".into(), format!("{:.1}", mb(dir_usage(&dir).0))));
            let t0 = Instant::now();
            let s = fjall_store::FjallStore::open(&dir)?;
            out.push(("reopen_s".into(), format!("{:.2}", t0.elapsed().as_secs_f64())));
            let t0 = Instant::now();
            for ks in [&s.docs, &s.ops] {
                ks.inner().rotate_memtable_and_wait()?;
                ks.inner().major_compact()?;
            }
            s.db.persist(fjall::PersistMode::SyncAll)?;
            out.push(("compact_s".into(), format!("{:.2}", t0.elapsed().as_secs_f64())));
            settled_reads(&s, &mut out)?;
            drop(s);
            // journal files are released asynchronously; give the worker a moment
            std::thread::sleep(Duration::from_millis(500));
        }
        _ => {
            eprintln!("usage: kv-choice <redb|fjall|fjall-syncdata|sample> [data_dir]");
            std::process::exit(2);
        }
    }
    let (blocks, apparent) = dir_usage(&dir);
    out.push(("disk_compacted_mib".into(), format!("{:.1}", mb(blocks))));
    out.push(("disk_compacted_apparent_mib".into(), format!("{:.1}", mb(apparent))));
    out.push(("total_s".into(), format!("{:.1}", t_all.elapsed().as_secs_f64())));

    let line: Vec<String> = out.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let label = match std::env::var("KV_CACHE_MB") {
        Ok(v) => format!("{which}+cache{v}m"),
        Err(_) => which.to_string(),
    };
    let ids = match id_scheme() {
        IdScheme::Random => "random",
        IdScheme::Time => "time",
    };
    println!("RESULT store={label} ids={ids} {}", line.join(" "));
    Ok(())
}
