//! A search body from the client, run against a small real index: the query DSL (including
//! `query_string` and `simple_query_string` syntax), sorting, paging, highlighting and
//! aggregations must answer or refuse with an error, never panic. Input that is not JSON is
//! sent as `query_string` and `simple_query_string` text.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rampart_action::DataRequest;
use rampart_action::data::{
    DocWrite, IndicesOptions, Refresh, SourceFilter, WriteConditions, WriteItem,
};
use rampart_engine::{Engine, EngineOptions};
use serde_json::{Value, json};

fn engine() -> &'static Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rampart-fuzz-search-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fuzz data dir");
        let engine = Engine::open(&dir, EngineOptions::default()).expect("engine");
        engine
            .execute_unscoped(DataRequest::CreateIndex {
                index: "docs".into(),
                body: json!({"mappings": {"properties": {
                    "title": {"type": "text"}, "user": {"type": "keyword"},
                    "n": {"type": "integer"}, "price": {"type": "double"},
                    "ts": {"type": "date"}, "ok": {"type": "boolean"}, "ip": {"type": "ip"},
                    "obj": {"properties": {"k": {"type": "keyword"}}}}}}),
            })
            .expect("create index");
        let docs = [
            json!({"title": "The quick brown fox", "user": "kimchy", "n": 1, "price": 1.5,
                   "ts": "2024-01-15T10:00:00Z", "ok": true, "ip": "10.0.0.1", "obj": {"k": "a"}}),
            json!({"title": "Lazy dogs sleep all day", "user": "bob", "n": 20, "price": 3.0,
                   "ts": "2024-03-31T23:30:00Z", "ok": false}),
            json!({"title": "quick quick quack", "n": -5, "ts": "2023-12-31T00:00:00Z"}),
        ];
        for (i, doc) in docs.iter().enumerate() {
            engine
                .execute_unscoped(DataRequest::Write {
                    item: WriteItem {
                        index: "docs".into(),
                        write: DocWrite::Index {
                            id: Some(i.to_string()),
                            source: serde_json::to_vec(doc).expect("json"),
                            create: false,
                        },
                        conditions: WriteConditions::default(),
                        routing: None,
                        retry_on_conflict: 0,
                    },
                    refresh: Refresh::True,
                    source: SourceFilter::default(),
                })
                .expect("index a document");
        }
        engine
    })
}

fn search(body: Value) {
    let _ = engine().execute_unscoped(DataRequest::Search {
        indices: vec!["docs".into()],
        options: IndicesOptions::default(),
        body,
        count_only: false,
        scroll: None,
        owner: String::new(),
    });
}

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<Value>(data) {
        Ok(body) => search(body),
        Err(_) => {
            let Ok(text) = std::str::from_utf8(data) else {
                return;
            };
            search(json!({"query": {"query_string": {"query": text}}}));
            search(json!({"query": {"simple_query_string": {"query": text}}}));
        }
    }
});
