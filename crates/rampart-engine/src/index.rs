//! One index: its redb document store (the source of truth), its tantivy search index (derived
//! and refreshed), and the ordered write path that assigns `_seq_no`s.
//!
//! On disk, `data/indices/{uuid}/` holds `store.redb` and `search/`. The store has three tables:
//! `meta` (the index's metadata and highest `_seq_no`), `docs` (`_id` → versioned, checksummed
//! record with the source) and `ops` (`_seq_no` → `_id`, the writes the search index may lack).
//! A tantivy commit records the highest `_seq_no` it holds in its payload, so recovery replays
//! only the newer `ops`; the search index can always be rebuilt from `docs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use rampart_action::EsError;
use rampart_action::data::{DocWrite, VersionType, WriteConditions};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tantivy::schema::{
    FAST, IndexRecordOption, JsonObjectOptions, OwnedValue, STRING, Schema, TextFieldIndexing,
};
use tantivy::{DateTime, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::mapping::{IndexValue, IndexedFields, MappingLimits, Mappings};
use crate::settings::IndexSettings;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs");
const OPS: TableDefinition<u64, &str> = TableDefinition::new("ops");

/// Version of the layout above; a store written by a newer Rampart is refused, not misread.
const STORE_FORMAT: u32 = 1;
const RECORD_FORMAT: u8 = 1;
const RECORD_HEADER: usize = 1 + 8 + 8 + 8 + 4;

/// Index writer memory: tantivy's minimum for one thread is 15 MB.
const WRITER_MEMORY: usize = 20_000_000;

pub(crate) fn storage_error(path: &Path, what: &str, e: impl std::fmt::Display) -> EsError {
    EsError::new(
        500,
        "exception",
        format!("{what} [{}] failed: {e}", path.display()),
    )
}

/// Metadata stored with the index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexMeta {
    pub format: u32,
    pub name: String,
    pub uuid: String,
    pub creation_date: i64,
    pub primary_term: u64,
    pub settings: Map<String, Value>,
    pub mappings: Value,
    /// Alias name → its definition (`filter`, `routing`, `is_write_index`, `is_hidden`).
    pub aliases: Map<String, Value>,
}

/// The live, parsed form of [`IndexMeta`].
#[derive(Debug, Clone)]
pub struct IndexState {
    pub meta: IndexMeta,
    pub settings: IndexSettings,
    /// Shared: every query clones it, and a mapping update replaces it whole.
    pub mappings: std::sync::Arc<Mappings>,
}

impl IndexState {
    fn from_meta(meta: IndexMeta) -> Result<Self, String> {
        let settings = IndexSettings::from_request(&Value::Object(meta.settings.clone()))
            .map_err(|e| format!("stored settings are invalid: {}", e.reason))?;
        let mappings = Mappings::parse(&meta.mappings)
            .map_err(|e| format!("stored mappings are invalid: {}", e.reason))?;
        Ok(IndexState {
            meta,
            settings,
            mappings: mappings.into(),
        })
    }

    pub fn limits(&self) -> MappingLimits {
        MappingLimits {
            total_fields: self.settings.total_fields_limit(),
            depth: self.settings.depth_limit(),
        }
    }
}

/// A stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct DocRecord {
    pub seq_no: u64,
    pub primary_term: u64,
    pub version: u64,
    pub source: Vec<u8>,
}

impl DocRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER + self.source.len());
        out.push(RECORD_FORMAT);
        out.extend_from_slice(&self.seq_no.to_be_bytes());
        out.extend_from_slice(&self.primary_term.to_be_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&self.source).to_be_bytes());
        out.extend_from_slice(&self.source);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < RECORD_HEADER || bytes[0] != RECORD_FORMAT {
            return Err("unknown record format".into());
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[25..29]);
        let source = bytes[RECORD_HEADER..].to_vec();
        if crc32fast::hash(&source) != u32::from_be_bytes(crc) {
            return Err("checksum mismatch".into());
        }
        Ok(DocRecord {
            seq_no: u64_at(1),
            primary_term: u64_at(9),
            version: u64_at(17),
            source,
        })
    }
}

/// What a write did, for its response.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOutcome {
    pub id: String,
    pub result: &'static str,
    pub status: u16,
    pub version: u64,
    pub seq_no: u64,
    pub primary_term: u64,
    /// The document after an update, for `_source` in an update response.
    pub source: Option<Vec<u8>>,
}

/// A write ready to run: the id is known.
#[derive(Debug, Clone)]
pub struct PreparedWrite {
    pub write: DocWrite,
    pub conditions: WriteConditions,
}

#[derive(Clone, Copy)]
struct SchemaFields {
    id: tantivy::schema::Field,
    text: tantivy::schema::Field,
    kw: tantivy::schema::Field,
}

fn search_schema() -> (Schema, SchemaFields) {
    let mut builder = Schema::builder();
    let id = builder.add_text_field("_id", STRING | FAST);
    let text = builder.add_json_field(
        "text",
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("default")
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_expand_dots_enabled(),
    );
    let kw = builder.add_json_field(
        "kw",
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_fast("raw")
            .set_expand_dots_enabled(),
    );
    (builder.build(), SchemaFields { id, text, kw })
}

struct Writer {
    tantivy: IndexWriter<TantivyDocument>,
    next_seq_no: u64,
    /// A non-durable commit (`translog.durability: async`) has not been synced yet.
    unsynced: bool,
}

struct RefreshState {
    /// The highest `_seq_no` search sees; -1 before any.
    searchable: i64,
    last_refresh: Instant,
    last_sync: Instant,
}

pub struct Index {
    pub name: String,
    pub uuid: String,
    dir: PathBuf,
    db: Database,
    state: RwLock<IndexState>,
    writer: Mutex<Writer>,
    search: tantivy::Index,
    reader: IndexReader,
    fields: SchemaFields,
    refresh: Mutex<RefreshState>,
    refreshed: Condvar,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("name", &self.name)
            .field("uuid", &self.uuid)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Index {
    /// Creates the store of a new index in `dir` (which must not exist yet); open it with
    /// [`Index::open`] once it is in place.
    pub fn create(dir: &Path, meta: IndexMeta) -> Result<(), EsError> {
        std::fs::create_dir_all(dir).map_err(|e| storage_error(dir, "creating", e))?;
        let store = dir.join("store.redb");
        let db = Database::builder()
            .set_cache_size(32 << 20)
            .create(&store)
            .map_err(|e| storage_error(&store, "creating", e))?;
        let txn = db
            .begin_write()
            .map_err(|e| storage_error(&store, "writing", e))?;
        {
            let mut table = txn
                .open_table(META)
                .map_err(|e| storage_error(&store, "writing", e))?;
            let bytes =
                serde_json::to_vec(&meta).map_err(|e| storage_error(&store, "encoding", e))?;
            table
                .insert("index", bytes.as_slice())
                .map_err(|e| storage_error(&store, "writing", e))?;
            table
                .insert("format", STORE_FORMAT.to_be_bytes().as_slice())
                .map_err(|e| storage_error(&store, "writing", e))?;
            txn.open_table(DOCS)
                .map_err(|e| storage_error(&store, "writing", e))?;
            txn.open_table(OPS)
                .map_err(|e| storage_error(&store, "writing", e))?;
        }
        txn.commit()
            .map_err(|e| storage_error(&store, "committing", e))?;
        Ok(())
    }

    /// Opens an existing index, takes a new primary term and replays into the search index
    /// what it lacks.
    pub fn open(dir: &Path) -> Result<Self, EsError> {
        let store = dir.join("store.redb");
        let db = Database::builder()
            .set_cache_size(32 << 20)
            .open(&store)
            .map_err(|e| {
                storage_error(
                    &store,
                    "opening the document store (restore it from a snapshot or delete the index directory)",
                    e,
                )
            })?;
        let txn = db
            .begin_write()
            .map_err(|e| storage_error(&store, "writing", e))?;
        let (mut meta, max_seq_no) = {
            let mut table = txn
                .open_table(META)
                .map_err(|e| storage_error(&store, "reading", e))?;
            let format = table
                .get("format")
                .map_err(|e| storage_error(&store, "reading", e))?
                .map(|v| {
                    let mut b = [0u8; 4];
                    b.copy_from_slice(&v.value()[..4.min(v.value().len())]);
                    u32::from_be_bytes(b)
                });
            if format != Some(STORE_FORMAT) {
                return Err(storage_error(
                    &store,
                    "opening",
                    format!(
                        "store format {format:?} is not {STORE_FORMAT}: it was written by another \
                         version of Rampart"
                    ),
                ));
            }
            let meta: IndexMeta = table
                .get("index")
                .map_err(|e| storage_error(&store, "reading", e))?
                .ok_or_else(|| storage_error(&store, "reading", "no index metadata"))
                .and_then(|v| {
                    serde_json::from_slice(v.value())
                        .map_err(|e| storage_error(&store, "decoding metadata of", e))
                })?;
            let max_seq_no = table
                .get("max_seq_no")
                .map_err(|e| storage_error(&store, "reading", e))?
                .map(|v| decode_u64(v.value()));
            let mut meta = meta;
            meta.primary_term += 1;
            let bytes =
                serde_json::to_vec(&meta).map_err(|e| storage_error(&store, "encoding", e))?;
            table
                .insert("index", bytes.as_slice())
                .map_err(|e| storage_error(&store, "writing", e))?;
            (meta, max_seq_no)
        };
        txn.commit()
            .map_err(|e| storage_error(&store, "committing", e))?;
        meta.format = STORE_FORMAT;
        let state = IndexState::from_meta(meta)
            .map_err(|e| storage_error(&store, "loading metadata of", e))?;

        let (schema, fields) = search_schema();
        let search_dir = dir.join("search");
        let mut rebuild = false;
        let search = match open_search_index(&search_dir, &schema) {
            Ok(index) => index,
            Err(e) => {
                rebuild = true;
                // The search index is derived: rebuild it rather than refuse to start.
                tracing::warn!(
                    "the search index [{}] cannot be opened ({e}); rebuilding it from the document store",
                    search_dir.display()
                );
                let _ = std::fs::remove_dir_all(&search_dir);
                open_search_index(&search_dir, &schema)
                    .map_err(|e| storage_error(&search_dir, "creating the search index", e))?
            }
        };
        let committed: Option<i64> = search
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<Value>(&p).ok())
            .and_then(|v| v["max_seq_no"].as_i64());
        // No commit of ours: a new, lost or damaged search index.
        rebuild |= committed.is_none();
        let committed_seq_no = committed.unwrap_or(-1);
        let writer = search
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(|e| storage_error(&search_dir, "opening a writer on", e))?;
        let reader = search
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| storage_error(&search_dir, "opening a reader on", e))?;
        let next_seq_no = max_seq_no.map_or(0, |m| m + 1);
        let index = Index {
            name: state.meta.name.clone(),
            uuid: state.meta.uuid.clone(),
            dir: dir.to_path_buf(),
            db,
            state: RwLock::new(state),
            writer: Mutex::new(Writer {
                tantivy: writer,
                next_seq_no,
                unsynced: false,
            }),
            search,
            reader,
            fields,
            refresh: Mutex::new(RefreshState {
                searchable: committed_seq_no,
                last_refresh: Instant::now(),
                last_sync: Instant::now(),
            }),
            refreshed: Condvar::new(),
        };
        // The recovery log is trimmed once search has committed it, so a search index that
        // had to be recreated is rebuilt from every stored document.
        index.recover(if rebuild {
            None
        } else {
            Some(committed_seq_no)
        })?;
        Ok(index)
    }

    fn store_path(&self) -> PathBuf {
        self.dir.join("store.redb")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replays into the search index every write after `committed` (the search commit's
    /// `_seq_no`), or every stored document when `None`, then commits it.
    fn recover(&self, committed: Option<i64>) -> Result<(), EsError> {
        let store = self.store_path();
        let ops = self.read_table(OPS)?;
        let docs = self.read_table(DOCS)?;
        let mut ids = BTreeSet::new();
        match committed {
            Some(committed) => {
                let from = u64::try_from(committed + 1).unwrap_or(0);
                for entry in ops
                    .range(from..)
                    .map_err(|e| storage_error(&store, "reading", e))?
                {
                    let (_, id) = entry.map_err(|e| storage_error(&store, "reading", e))?;
                    ids.insert(id.value().to_string());
                }
            }
            None => {
                for entry in docs
                    .iter()
                    .map_err(|e| storage_error(&store, "reading", e))?
                {
                    let (id, _) = entry.map_err(|e| storage_error(&store, "reading", e))?;
                    ids.insert(id.value().to_string());
                }
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        tracing::info!(
            "index [{}]: replaying {} documents into the search index",
            self.name,
            ids.len()
        );
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let writer = lock(&self.writer);
        for id in &ids {
            writer
                .tantivy
                .delete_term(Term::from_field_text(self.fields.id, id));
            let Some(bytes) = docs
                .get(id.as_str())
                .map_err(|e| storage_error(&store, "reading", e))?
            else {
                continue;
            };
            let record = DocRecord::decode(bytes.value())
                .map_err(|e| storage_error(&store, &format!("reading document [{id}] of"), e))?;
            let source: Value = serde_json::from_slice(&record.source)
                .map_err(|e| storage_error(&store, "decoding a document of", e))?;
            // Stored documents were valid under these (only ever growing) mappings.
            let values = match state.mappings.parse_document(
                id,
                &source,
                MappingLimits {
                    total_fields: usize::MAX,
                    depth: usize::MAX,
                },
            ) {
                Ok((values, _)) => values,
                Err(e) => {
                    tracing::warn!(
                        "index [{}]: document [{id}] no longer parses: {e}",
                        self.name
                    );
                    continue;
                }
            };
            writer
                .tantivy
                .add_document(self.tantivy_doc(id, &values))
                .map_err(|e| storage_error(&self.dir, "indexing", e))?;
        }
        drop(state);
        drop(writer);
        drop(docs);
        drop(ops);
        self.refresh_now()
    }

    pub fn state(&self) -> std::sync::RwLockReadGuard<'_, IndexState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the metadata after `change` returns a new version of it, durably.
    pub fn update_meta(
        &self,
        change: impl FnOnce(&IndexState) -> Result<IndexState, EsError>,
    ) -> Result<(), EsError> {
        // The writer lock orders metadata changes with dynamic mapping updates of writes.
        let _writer = lock(&self.writer);
        let current = self.state().clone();
        let mut next = change(&current)?;
        next.meta.settings = next.settings.explicit().clone();
        next.meta.mappings = next.mappings.to_json();
        self.persist_meta(&next.meta)?;
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    fn persist_meta(&self, meta: &IndexMeta) -> Result<(), EsError> {
        let store = self.store_path();
        let txn = self
            .db
            .begin_write()
            .map_err(|e| storage_error(&store, "writing", e))?;
        {
            let mut table = txn
                .open_table(META)
                .map_err(|e| storage_error(&store, "writing", e))?;
            let bytes =
                serde_json::to_vec(meta).map_err(|e| storage_error(&store, "encoding", e))?;
            table
                .insert("index", bytes.as_slice())
                .map_err(|e| storage_error(&store, "writing", e))?;
        }
        txn.commit()
            .map_err(|e| storage_error(&store, "committing", e))
    }

    fn tantivy_doc(&self, id: &str, values: &[(String, IndexValue)]) -> TantivyDocument {
        let mut text: Vec<(String, OwnedValue)> = Vec::new();
        let mut kw: Vec<(String, OwnedValue)> = Vec::new();
        for (path, value) in values {
            let (target, owned) = match value {
                IndexValue::Text(s) => (&mut text, OwnedValue::Str(s.clone())),
                IndexValue::Keyword(s) => (&mut kw, OwnedValue::Str(s.clone())),
                IndexValue::I64(n) => (&mut kw, OwnedValue::I64(*n)),
                IndexValue::F64(f) => (&mut kw, OwnedValue::F64(*f)),
                IndexValue::Bool(b) => (&mut kw, OwnedValue::Bool(*b)),
                IndexValue::Date(ms) => (
                    &mut kw,
                    OwnedValue::Date(DateTime::from_timestamp_millis(*ms)),
                ),
                // Canonical text: exact matches work, and IPv4 reads as IPv4.
                IndexValue::Ip(ip) => (&mut kw, OwnedValue::Str(ip.to_canonical().to_string())),
            };
            match target.iter_mut().find(|(p, _)| p == path) {
                Some((_, OwnedValue::Array(items))) => items.push(owned),
                Some((_, existing)) => {
                    let first = std::mem::replace(existing, OwnedValue::Null);
                    *existing = OwnedValue::Array(vec![first, owned]);
                }
                None => target.push((path.clone(), owned)),
            }
        }
        let mut doc = TantivyDocument::default();
        doc.add_text(self.fields.id, id);
        doc.add_field_value(self.fields.text, &OwnedValue::Object(text));
        doc.add_field_value(self.fields.kw, &OwnedValue::Object(kw));
        doc
    }

    /// A read-only view of one of the store's tables.
    fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        table: TableDefinition<K, V>,
    ) -> Result<redb::ReadOnlyTable<K, V>, EsError> {
        let store = self.store_path();
        let read = self
            .db
            .begin_read()
            .map_err(|e| storage_error(&store, "reading", e))?;
        read.open_table(table)
            .map_err(|e| storage_error(&store, "reading", e))
    }

    /// Reads a document from the store (realtime).
    pub fn get(&self, id: &str) -> Result<Option<DocRecord>, EsError> {
        Ok(self.get_many(&[id])?.pop().flatten())
    }

    /// Several documents by id in one read transaction (a search page's hits).
    pub fn get_many(&self, ids: &[&str]) -> Result<Vec<Option<DocRecord>>, EsError> {
        let store = self.store_path();
        let docs = self.read_table(DOCS)?;
        ids.iter()
            .map(|id| {
                let Some(bytes) = docs
                    .get(*id)
                    .map_err(|e| storage_error(&store, "reading", e))?
                else {
                    return Ok(None);
                };
                DocRecord::decode(bytes.value())
                    .map(Some)
                    .map_err(|e| storage_error(&store, &format!("reading document [{id}] of"), e))
            })
            .collect()
    }

    /// Runs writes in order as one durable transaction: each item succeeds or fails on its own,
    /// and none is acknowledged before the transaction is on disk.
    pub fn write(&self, items: Vec<PreparedWrite>) -> Vec<Result<WriteOutcome, EsError>> {
        let store = self.store_path();
        let count = items.len();
        let mut writer = lock(&self.writer);
        let state = self.state().clone();
        let durable = !state.settings.durability_async();
        let mut txn = match self.db.begin_write() {
            Ok(t) => t,
            Err(e) => {
                let error = storage_error(&store, "writing", e);
                return items.iter().map(|_| Err(error.clone())).collect();
            }
        };
        if let Err(e) = txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        }) {
            let error = storage_error(&store, "writing", e);
            return items.iter().map(|_| Err(error.clone())).collect();
        }
        let start_seq_no = writer.next_seq_no;
        let mut next_seq_no = start_seq_no;
        let mut mappings = state.mappings.clone();
        let mut mappings_grew = false;
        let mut results = Vec::with_capacity(items.len());
        let mut search_ops: Vec<(String, Option<IndexedFields>)> = Vec::new();
        let run = (|| -> Result<(), EsError> {
            let mut docs = txn
                .open_table(DOCS)
                .map_err(|e| storage_error(&store, "writing", e))?;
            let mut ops = txn
                .open_table(OPS)
                .map_err(|e| storage_error(&store, "writing", e))?;
            for item in items {
                let limits = state.limits();
                let outcome = apply_one(
                    &mut docs,
                    &store,
                    &mut mappings,
                    &mut mappings_grew,
                    limits,
                    state.meta.primary_term,
                    &mut next_seq_no,
                    item,
                );
                match outcome {
                    Ok(Applied::Written {
                        outcome,
                        values,
                        seq_no,
                    }) => {
                        ops.insert(seq_no, outcome.id.as_str())
                            .map_err(|e| storage_error(&store, "writing", e))?;
                        search_ops.push((outcome.id.clone(), values));
                        results.push(Ok(outcome));
                    }
                    Ok(Applied::Unchanged(outcome)) => results.push(Ok(outcome)),
                    Err(ItemError::Item(e)) => results.push(Err(e)),
                    Err(ItemError::Storage(e)) => return Err(e),
                }
            }
            Ok(())
        })();
        if let Err(e) = run {
            txn.abort().ok();
            return (0..count).map(|_| Err(e.clone())).collect();
        }
        let commit = (|| -> Result<(), EsError> {
            let mut meta = txn
                .open_table(META)
                .map_err(|e| storage_error(&store, "writing", e))?;
            if next_seq_no > start_seq_no {
                meta.insert("max_seq_no", (next_seq_no - 1).to_be_bytes().as_slice())
                    .map_err(|e| storage_error(&store, "writing", e))?;
            }
            if mappings_grew {
                let mut grown = state.meta.clone();
                grown.mappings = mappings.to_json();
                let bytes =
                    serde_json::to_vec(&grown).map_err(|e| storage_error(&store, "encoding", e))?;
                meta.insert("index", bytes.as_slice())
                    .map_err(|e| storage_error(&store, "writing", e))?;
            }
            Ok(())
        })();
        let commit = commit.and_then(|()| {
            txn.commit()
                .map_err(|e| storage_error(&store, "committing", e))
        });
        if let Err(e) = commit {
            return (0..count).map(|_| Err(e.clone())).collect();
        }
        writer.next_seq_no = next_seq_no;
        writer.unsynced |= !durable;
        if mappings_grew {
            let mut live = self.state.write().unwrap_or_else(|e| e.into_inner());
            live.meta.mappings = mappings.to_json();
            live.mappings = mappings;
        }
        for (id, values) in search_ops {
            writer
                .tantivy
                .delete_term(Term::from_field_text(self.fields.id, &id));
            if let Some(values) = values
                && let Err(e) = writer.tantivy.add_document(self.tantivy_doc(&id, &values))
            {
                // The store has the write; recovery or the next open will index it.
                tracing::error!("index [{}]: indexing [{id}] failed: {e}", self.name);
            }
        }
        results
    }

    /// What `scope` lets a reader of this index see, through its name or any of its aliases.
    pub fn restrictions(
        &self,
        scope: &dyn rampart_action::IndexScope,
        action: &str,
    ) -> rampart_action::IndexRestrictions {
        let aliases: Vec<String> = self.state().meta.aliases.keys().cloned().collect();
        let mut names: Vec<&str> = vec![self.name.as_str()];
        names.extend(aliases.iter().map(String::as_str));
        scope.restrictions(action, &names)
    }

    /// The highest `_seq_no` search sees; -1 before any.
    pub fn searchable_seq_no(&self) -> i64 {
        lock(&self.refresh).searchable
    }

    /// The highest `_seq_no` written, if any.
    pub fn max_seq_no(&self) -> Option<u64> {
        lock(&self.writer).next_seq_no.checked_sub(1)
    }

    /// Makes every write so far visible to search.
    pub fn refresh_now(&self) -> Result<(), EsError> {
        let search_dir = self.dir.join("search");
        let target = {
            let mut writer = lock(&self.writer);
            let target = i64::try_from(writer.next_seq_no).unwrap_or(i64::MAX) - 1;
            if target <= lock(&self.refresh).searchable {
                return Ok(());
            }
            // Search must never hold a write the store could still lose (`translog.durability:
            // async`): that write's `_seq_no` would be given out again after a crash.
            self.sync_locked(&mut writer)?;
            let mut prepared = writer
                .tantivy
                .prepare_commit()
                .map_err(|e| storage_error(&search_dir, "refreshing", e))?;
            prepared.set_payload(&json!({ "max_seq_no": target }).to_string());
            prepared
                .commit()
                .map_err(|e| storage_error(&search_dir, "refreshing", e))?;
            target
        };
        self.reader
            .reload()
            .map_err(|e| storage_error(&search_dir, "reloading", e))?;
        {
            let mut refresh = lock(&self.refresh);
            refresh.searchable = target;
            refresh.last_refresh = Instant::now();
        }
        self.refreshed.notify_all();
        self.trim_ops(target);
        Ok(())
    }

    /// Drops the recovery log up to what the search index has committed; losing this (a
    /// non-durable transaction) only means a longer replay.
    fn trim_ops(&self, upto: i64) {
        let Ok(upto) = u64::try_from(upto) else {
            return;
        };
        let result = (|| -> Result<(), String> {
            let mut txn = self.db.begin_write().map_err(|e| e.to_string())?;
            txn.set_durability(Durability::None)
                .map_err(|e| e.to_string())?;
            {
                let mut ops = txn.open_table(OPS).map_err(|e| e.to_string())?;
                ops.retain_in(..=upto, |_, _| false)
                    .map_err(|e| e.to_string())?;
            }
            txn.commit().map_err(|e| e.to_string())
        })();
        if let Err(e) = result {
            tracing::warn!(
                "index [{}]: trimming the recovery log failed: {e}",
                self.name
            );
        }
    }

    /// Blocks until search sees `seq_no` (`refresh=wait_for`), refreshing if refreshes are off.
    pub fn wait_for_refresh(&self, seq_no: u64) -> Result<(), EsError> {
        let target = i64::try_from(seq_no).unwrap_or(i64::MAX);
        let interval = self.state().settings.refresh_interval();
        let Some(interval) = interval else {
            return self.refresh_now();
        };
        let mut refresh = lock(&self.refresh);
        let deadline = Instant::now() + interval * 2 + Duration::from_secs(1);
        while refresh.searchable < target {
            let now = Instant::now();
            if now >= deadline {
                drop(refresh);
                return self.refresh_now();
            }
            refresh = self
                .refreshed
                .wait_timeout(refresh, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// Called by the engine's background thread: refreshes and syncs when due.
    pub fn tick(&self) {
        let settings = self.state().settings.clone();
        let (refresh_due, sync_due) = {
            let refresh = lock(&self.refresh);
            (
                settings
                    .refresh_interval()
                    .is_some_and(|i| refresh.last_refresh.elapsed() >= i),
                settings.durability_async()
                    && refresh.last_sync.elapsed() >= settings.sync_interval(),
            )
        };
        if refresh_due && let Err(e) = self.refresh_now() {
            tracing::error!("index [{}]: {e}", self.name);
        }
        if refresh_due {
            lock(&self.refresh).last_refresh = Instant::now();
        }
        if sync_due {
            if let Err(e) = self.sync() {
                tracing::error!("index [{}]: {e}", self.name);
            }
            lock(&self.refresh).last_sync = Instant::now();
        }
    }

    /// Makes non-durable commits durable (`translog.durability: async`).
    pub fn sync(&self) -> Result<(), EsError> {
        let mut writer = lock(&self.writer);
        self.sync_locked(&mut writer)
    }

    fn sync_locked(&self, writer: &mut Writer) -> Result<(), EsError> {
        let store = self.store_path();
        if !writer.unsynced {
            return Ok(());
        }
        let txn = self
            .db
            .begin_write()
            .map_err(|e| storage_error(&store, "syncing", e))?;
        txn.commit()
            .map_err(|e| storage_error(&store, "syncing", e))?;
        writer.unsynced = false;
        Ok(())
    }

    /// The number of documents search sees.
    pub fn searchable_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn searcher(&self) -> tantivy::Searcher {
        self.reader.searcher()
    }

    pub fn search_index(&self) -> &tantivy::Index {
        &self.search
    }

    pub fn id_field(&self) -> tantivy::schema::Field {
        self.fields.id
    }

    pub fn text_field(&self) -> tantivy::schema::Field {
        self.fields.text
    }

    pub fn keyword_field(&self) -> tantivy::schema::Field {
        self.fields.kw
    }

    /// Bytes on disk.
    pub fn size_in_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir)
    }
}

fn decode_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

fn open_search_index(dir: &Path, schema: &Schema) -> Result<tantivy::Index, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let directory = tantivy::directory::MmapDirectory::open(dir).map_err(|e| e.to_string())?;
    let index =
        tantivy::Index::open_or_create(directory, schema.clone()).map_err(|e| e.to_string())?;
    Ok(index)
}

enum Applied {
    Written {
        outcome: WriteOutcome,
        /// `None` for a delete.
        values: Option<Vec<(String, IndexValue)>>,
        seq_no: u64,
    },
    /// A no-op update or a delete of a missing document.
    Unchanged(WriteOutcome),
}

enum ItemError {
    Item(EsError),
    Storage(EsError),
}

fn conflict(reason: String) -> ItemError {
    ItemError::Item(EsError::new(
        409,
        "version_conflict_engine_exception",
        reason,
    ))
}

fn check_conditions(
    id: &str,
    existing: Option<&DocRecord>,
    conditions: &WriteConditions,
) -> Result<(), ItemError> {
    if let (Some(seq_no), Some(term)) = (conditions.if_seq_no, conditions.if_primary_term) {
        match existing {
            Some(doc) if doc.seq_no == seq_no && doc.primary_term == term => {}
            Some(doc) => {
                return Err(conflict(format!(
                    "[{id}]: version conflict, required seqNo [{seq_no}], primary term [{term}]. \
                     current document has seqNo [{}] and primary term [{}]",
                    doc.seq_no, doc.primary_term
                )));
            }
            None => {
                return Err(conflict(format!(
                    "[{id}]: version conflict, required seqNo [{seq_no}], primary term [{term}]. \
                     but no document was found"
                )));
            }
        }
    }
    Ok(())
}

/// The version a write gets, checking external versions.
fn next_version(
    id: &str,
    existing: Option<&DocRecord>,
    conditions: &WriteConditions,
) -> Result<u64, ItemError> {
    match (conditions.version_type, conditions.version) {
        (VersionType::External | VersionType::ExternalGte, Some(wanted)) => {
            if let Some(doc) = existing {
                let too_low = match conditions.version_type {
                    VersionType::External => wanted <= doc.version,
                    _ => wanted < doc.version,
                };
                if too_low {
                    return Err(conflict(format!(
                        "[{id}]: version conflict, current version [{}] is higher or equal to \
                         the one provided [{wanted}]",
                        doc.version
                    )));
                }
            }
            Ok(wanted)
        }
        _ => Ok(existing.map_or(1, |d| d.version + 1)),
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_one(
    docs: &mut redb::Table<&str, &[u8]>,
    store: &Path,
    mappings: &mut std::sync::Arc<Mappings>,
    mappings_grew: &mut bool,
    limits: MappingLimits,
    primary_term: u64,
    next_seq_no: &mut u64,
    item: PreparedWrite,
) -> Result<Applied, ItemError> {
    let storage =
        |e: &dyn std::fmt::Display| ItemError::Storage(storage_error(store, "writing", e));
    let id = item
        .write
        .id()
        .ok_or_else(|| ItemError::Item(EsError::bad_request("a document id is required")))?
        .to_string();
    let existing = match docs.get(id.as_str()).map_err(|e| storage(&e))? {
        Some(bytes) => Some(DocRecord::decode(bytes.value()).map_err(|e| {
            ItemError::Storage(storage_error(
                store,
                &format!("reading document [{id}] of"),
                e,
            ))
        })?),
        None => None,
    };
    check_conditions(&id, existing.as_ref(), &item.conditions)?;
    let (source, result, created) = match item.write {
        DocWrite::Delete { .. } => {
            let Some(doc) = existing else {
                let seq_no = *next_seq_no;
                *next_seq_no += 1;
                return Ok(Applied::Unchanged(WriteOutcome {
                    id,
                    result: "not_found",
                    status: 404,
                    version: 1,
                    seq_no,
                    primary_term,
                    source: None,
                }));
            };
            let version = next_version(&id, Some(&doc), &item.conditions)?;
            docs.remove(id.as_str()).map_err(|e| storage(&e))?;
            let seq_no = *next_seq_no;
            *next_seq_no += 1;
            return Ok(Applied::Written {
                outcome: WriteOutcome {
                    id,
                    result: "deleted",
                    status: 200,
                    version,
                    seq_no,
                    primary_term,
                    source: None,
                },
                values: None,
                seq_no,
            });
        }
        DocWrite::Index { source, create, .. } => {
            if create && let Some(doc) = &existing {
                return Err(conflict(format!(
                    "[{id}]: version conflict, document already exists (current version [{}])",
                    doc.version
                )));
            }
            let created = existing.is_none();
            (source, if created { "created" } else { "updated" }, created)
        }
        DocWrite::Update { body, .. } => match update_source(&id, existing.as_ref(), &body)? {
            UpdateResult::Noop => {
                let doc = existing
                    .as_ref()
                    .map(|d| (d.version, d.seq_no, d.primary_term));
                let (version, seq_no, term) = doc.unwrap_or((1, 0, primary_term));
                return Ok(Applied::Unchanged(WriteOutcome {
                    id,
                    result: "noop",
                    status: 200,
                    version,
                    seq_no,
                    primary_term: term,
                    source: existing.map(|d| d.source),
                }));
            }
            UpdateResult::Write { source, created } => {
                (source, if created { "created" } else { "updated" }, created)
            }
        },
    };
    let parsed: Value = serde_json::from_slice(&source).map_err(|e| {
        ItemError::Item(EsError::new(
            400,
            "mapper_parsing_exception",
            format!("failed to parse: the document is not valid JSON: {e}"),
        ))
    })?;
    let (values, grown) = mappings
        .parse_document(&id, &parsed, limits)
        .map_err(ItemError::Item)?;
    if let Some(grown) = grown {
        *mappings = std::sync::Arc::new(grown);
        *mappings_grew = true;
    }
    let version = next_version(&id, existing.as_ref(), &item.conditions)?;
    let seq_no = *next_seq_no;
    *next_seq_no += 1;
    let record = DocRecord {
        seq_no,
        primary_term,
        version,
        source,
    };
    docs.insert(id.as_str(), record.encode().as_slice())
        .map_err(|e| storage(&e))?;
    Ok(Applied::Written {
        outcome: WriteOutcome {
            id,
            result,
            status: if created { 201 } else { 200 },
            version,
            seq_no,
            primary_term,
            source: Some(record.source),
        },
        values: Some(values),
        seq_no,
    })
}

enum UpdateResult {
    Noop,
    Write { source: Vec<u8>, created: bool },
}

/// `_update` semantics: a partial `doc` merged into the source, `upsert` or `doc_as_upsert`
/// for a missing document, no-op detection.
fn update_source(
    id: &str,
    existing: Option<&DocRecord>,
    body: &Value,
) -> Result<UpdateResult, ItemError> {
    let invalid = |reason: String| {
        ItemError::Item(EsError::new(
            400,
            "action_request_validation_exception",
            reason,
        ))
    };
    if body.get("script").is_some() || body.get("scripted_upsert").is_some() {
        return Err(invalid(
            "Validation Failed: 1: scripts are not supported by Rampart: send a partial [doc] \
             (with [doc_as_upsert] or [upsert] for missing documents) instead;"
                .into(),
        ));
    }
    let doc = body.get("doc");
    if let Some(d) = doc
        && !d.is_object()
    {
        return Err(invalid(
            "Validation Failed: 1: [doc] must be an object;".into(),
        ));
    }
    let doc_as_upsert = body
        .get("doc_as_upsert")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let detect_noop = body
        .get("detect_noop")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let upsert = body.get("upsert");
    if doc.is_none() {
        return Err(invalid(
            "Validation Failed: 1: script or doc is missing;".into(),
        ));
    }
    match existing {
        None => {
            let source = match (upsert, doc_as_upsert) {
                (Some(u), _) if u.is_object() => u.clone(),
                (Some(_), _) => {
                    return Err(invalid(
                        "Validation Failed: 1: [upsert] must be an object;".into(),
                    ));
                }
                (None, true) => doc.cloned().unwrap_or_else(|| json!({})),
                (None, false) => {
                    return Err(ItemError::Item(EsError::new(
                        404,
                        "document_missing_exception",
                        format!("[{id}]: document missing"),
                    )));
                }
            };
            Ok(UpdateResult::Write {
                source: serde_json::to_vec(&source).unwrap_or_default(),
                created: true,
            })
        }
        Some(record) => {
            let mut current: Value = serde_json::from_slice(&record.source).map_err(|e| {
                ItemError::Item(EsError::new(
                    500,
                    "exception",
                    format!("stored document [{id}] is not JSON: {e}"),
                ))
            })?;
            let before = current.clone();
            if let Some(doc) = doc {
                merge_into(&mut current, doc);
            }
            if detect_noop && current == before {
                return Ok(UpdateResult::Noop);
            }
            Ok(UpdateResult::Write {
                source: serde_json::to_vec(&current).unwrap_or_default(),
                created: false,
            })
        }
    }
}

/// Elasticsearch's partial-update merge: objects merge key by key, everything else replaces.
pub fn merge_into(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_into(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
