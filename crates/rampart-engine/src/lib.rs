//! The engine: indices with their mappings and settings, the durable document store, the
//! derived search index, aliases and index templates, and the execution of index and document
//! actions.
//!
//! It owns `data/indices/` and `data/_state/index_templates.json`. It must never know about
//! users: it applies the `IndexScope` the pipeline hands it with each request (which names it
//! may touch, what a reader may see) and never decides who may do what.
#![forbid(unsafe_code)]

mod aggs;
mod api;
mod by_query;
mod contexts;
pub mod date;
mod date_math;
mod highlight;
mod index;
pub mod mapping;
mod names;
mod queries;
mod query_string;
mod search;
pub mod settings;
mod sort;
mod source;
mod templates;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rampart_action::data::IndicesOptions;
use rampart_action::{ActionResponse, DataRequest, EsError, IndexScope, Unrestricted};

pub use index::{DocRecord, Index, IndexMeta, WriteOutcome};
pub use names::validate_index_name;

/// Which indices a write may create (`action.auto_create_index`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoCreate {
    Always,
    Never,
    /// `+logs-*,-secret*`: the first matching pattern decides; no match means no.
    Patterns(Vec<(bool, String)>),
}

impl AutoCreate {
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "true" => Ok(AutoCreate::Always),
            "false" => Ok(AutoCreate::Never),
            list => {
                let mut patterns = Vec::new();
                for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (allow, pattern) = match p.strip_prefix('-') {
                        Some(rest) => (false, rest),
                        None => (true, p.strip_prefix('+').unwrap_or(p)),
                    };
                    if pattern.is_empty() {
                        return Err(format!(
                            "[action.auto_create_index] has an empty pattern in [{value}]"
                        ));
                    }
                    patterns.push((allow, pattern.to_string()));
                }
                if patterns.is_empty() {
                    return Err(format!(
                        "[action.auto_create_index] must be true, false or a list of patterns, got [{value}]"
                    ));
                }
                Ok(AutoCreate::Patterns(patterns))
            }
        }
    }

    pub fn allows(&self, index: &str) -> bool {
        match self {
            AutoCreate::Always => true,
            AutoCreate::Never => false,
            AutoCreate::Patterns(patterns) => patterns
                .iter()
                .find(|(_, p)| names::glob_match(p, index))
                .is_some_and(|(allow, _)| *allow),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub auto_create_index: AutoCreate,
    pub destructive_requires_name: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            auto_create_index: AutoCreate::Always,
            destructive_requires_name: true,
        }
    }
}

/// All indices of a node.
pub struct Engine {
    indices_dir: PathBuf,
    indices: RwLock<BTreeMap<String, Arc<Index>>>,
    templates: templates::Templates,
    /// Serializes changes to the set of indices, their aliases and the templates.
    admin: Mutex<()>,
    options: EngineOptions,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Open scrolls and points in time.
    pub(crate) contexts: contexts::Contexts,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("indices_dir", &self.indices_dir)
            .finish()
    }
}

/// Why an index is named by an expression, for the error when it is missing.
pub(crate) fn index_not_found(name: &str) -> EsError {
    EsError::new(
        404,
        "index_not_found_exception",
        format!("no such index [{name}]"),
    )
}

impl Engine {
    /// Opens every index under `data_dir/indices`, replaying what their search indices lack,
    /// and starts the background refresher.
    pub fn open(data_dir: &Path, options: EngineOptions) -> Result<Arc<Self>, EsError> {
        let indices_dir = data_dir.join("indices");
        rampart_config::fsutil::create_dir_durable(&indices_dir)
            .map_err(|e| index::storage_error(&indices_dir, "creating", e))?;
        let mut indices = BTreeMap::new();
        let entries = std::fs::read_dir(&indices_dir)
            .map_err(|e| index::storage_error(&indices_dir, "listing", e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                // An index whose creation or deletion was interrupted: never acknowledged, or
                // already acknowledged as deleted.
                tracing::info!(
                    "removing the incomplete index directory [{}]",
                    path.display()
                );
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    tracing::warn!("cannot remove [{}]: {e}", path.display());
                }
                continue;
            }
            if !path.is_dir() {
                continue;
            }
            let index = Index::open(&path)?;
            indices.insert(index.name.clone(), Arc::new(index));
        }
        let templates = templates::Templates::load(&data_dir.join("_state"))?;
        let engine = Arc::new(Engine {
            indices_dir,
            indices: RwLock::new(indices),
            templates,
            admin: Mutex::new(()),
            options,
            stop: Arc::new(AtomicBool::new(false)),
            ticker: Mutex::new(None),
            contexts: Default::default(),
        });
        let weak = Arc::downgrade(&engine);
        let stop = Arc::clone(&engine.stop);
        let handle = std::thread::Builder::new()
            .name("rampart-refresh".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    let Some(engine) = weak.upgrade() else {
                        return;
                    };
                    for index in engine.all_indices() {
                        index.tick();
                    }
                }
            })
            .map_err(|e| {
                EsError::new(500, "exception", format!("cannot start the refresher: {e}"))
            })?;
        *engine.ticker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(engine)
    }

    /// Stops the refresher and makes every acknowledged write durable and searchable.
    pub fn close(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.ticker.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        for index in self.all_indices() {
            if let Err(e) = index.sync().and_then(|()| index.refresh_now()) {
                tracing::error!("closing index [{}]: {e}", index.name);
            }
        }
    }

    pub fn all_indices(&self) -> Vec<Arc<Index>> {
        self.indices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn index(&self, name: &str) -> Option<Arc<Index>> {
        self.indices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Resolves index expressions (names, aliases, wildcards, `_all`, `-exclusions`) to
    /// indices, as Elasticsearch does.
    pub fn resolve(
        &self,
        expressions: &[String],
        options: IndicesOptions,
    ) -> Result<Vec<Arc<Index>>, EsError> {
        self.resolve_scoped(expressions, options, "", &Unrestricted)
    }

    /// [`Engine::resolve`] narrowed to what `scope` allows for `action`.
    pub fn resolve_scoped(
        &self,
        expressions: &[String],
        options: IndicesOptions,
        action: &str,
        scope: &dyn IndexScope,
    ) -> Result<Vec<Arc<Index>>, EsError> {
        let indices = self.indices.read().unwrap_or_else(|e| e.into_inner());
        let names = names::resolve(&indices, expressions, options, action, scope)?;
        Ok(names
            .iter()
            .filter_map(|n| indices.get(n).cloned())
            .collect())
    }

    /// [`Engine::execute`] without security, for tests and tools.
    pub fn execute_unscoped(&self, request: DataRequest) -> Result<ActionResponse, EsError> {
        api::execute(self, request, &Unrestricted)
    }

    /// `(index, health, primaries, replicas)` of the indices an expression names; `None` when
    /// a concrete name is missing.
    pub fn health(&self, expressions: &[String]) -> Option<Vec<(String, &'static str, u64, u64)>> {
        api::health(self, expressions)
    }

    /// Executes an index or document action on the indices `scope` allows.
    pub fn execute(
        &self,
        request: DataRequest,
        scope: &dyn IndexScope,
    ) -> Result<ActionResponse, EsError> {
        api::execute(self, request, scope)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_action::data::{DocWrite, Refresh, SourceFilter, WriteItem};
    use serde_json::json;

    fn write(engine: &Engine, id: &str, source: serde_json::Value) -> ActionResponse {
        engine
            .execute_unscoped(DataRequest::Write {
                item: WriteItem {
                    index: "books".into(),
                    write: DocWrite::Index {
                        id: Some(id.into()),
                        source: serde_json::to_vec(&source).expect("json"),
                        create: false,
                    },
                    conditions: Default::default(),
                    routing: None,
                    retry_on_conflict: 0,
                },
                refresh: Refresh::False,
                source: SourceFilter::default(),
            })
            .expect("write")
    }

    fn count(engine: &Engine) -> u64 {
        let response = engine
            .execute_unscoped(DataRequest::Search {
                indices: vec!["books".into()],
                options: IndicesOptions::default(),
                body: json!({}),
                count_only: true,
                scroll: None,
                owner: String::new(),
            })
            .expect("count");
        response.body["count"].as_u64().expect("count")
    }

    #[test]
    fn writes_survive_reopen_and_search_catches_up() {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("open");
        engine
            .execute_unscoped(DataRequest::CreateIndex {
                index: "books".into(),
                body: json!({"settings": {"refresh_interval": "-1"}}),
            })
            .expect("create");
        assert_eq!(write(&engine, "a", json!({"t": "one"})).body["_seq_no"], 0);
        assert_eq!(write(&engine, "b", json!({"t": "two"})).body["_seq_no"], 1);
        assert_eq!(count(&engine), 0, "refreshes are off");
        // Dropped without close: as after a crash, search must catch up from the store.
        drop(engine);
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("reopen");
        assert_eq!(count(&engine), 2);
        let third = write(&engine, "a", json!({"t": "uno"}));
        assert_eq!(third.body["_seq_no"], 2);
        assert_eq!(third.body["_version"], 2);
        assert_eq!(
            third.body["_primary_term"], 2,
            "each open takes a new primary term"
        );
        engine.close();
        drop(engine);

        // A damaged store names its file rather than serving wrong results.
        let index_dir = std::fs::read_dir(dir.path().join("indices"))
            .expect("indices")
            .flatten()
            .find(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .expect("index dir")
            .path();
        let store = index_dir.join("store.redb");
        let mut bytes = std::fs::read(&store).expect("store");
        for b in bytes.iter_mut().take(64) {
            *b ^= 0xA5;
        }
        std::fs::write(&store, bytes).expect("damage");
        let e = Engine::open(dir.path(), EngineOptions::default()).expect_err("damaged");
        assert!(e.reason.contains("store.redb"), "{}", e.reason);
    }

    #[test]
    fn a_lost_search_index_is_rebuilt_from_the_store() {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("open");
        for i in 0..10 {
            write(&engine, &i.to_string(), json!({"n": i}));
        }
        engine.close();
        let search_dir = engine.index("books").expect("index").dir().join("search");
        drop(engine);
        std::fs::remove_dir_all(&search_dir).expect("remove");
        std::fs::create_dir(&search_dir).expect("empty");
        std::fs::write(search_dir.join("meta.json"), b"{ not json").expect("garbage");
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("reopen");
        assert_eq!(count(&engine), 10, "rebuilt from a damaged search index");
        engine.close();
        drop(engine);
        std::fs::remove_dir_all(&search_dir).expect("remove");
        let engine = Engine::open(dir.path(), EngineOptions::default()).expect("reopen");
        assert_eq!(count(&engine), 10, "rebuilt from a missing search index");
    }
}
