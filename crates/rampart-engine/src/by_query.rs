//! `_delete_by_query` and `_update_by_query`: a point-in-time walk over the matching documents
//! in pages, each page written back as one bulk request whose items carry the sequence number
//! the walk saw, so a document changed meanwhile is a version conflict, never overwritten.
//!
//! Every write goes through the same bulk path and the same per-index authorization as `_bulk`:
//! this module never writes to an index directly, and it only sees the documents the reader's
//! document-level security lets it search.

use std::sync::Arc;
use std::time::Instant;

use rampart_action::data::{
    BulkItem, DocWrite, IndicesOptions, Refresh, WriteConditions, WriteItem,
};
use rampart_action::{ActionResponse, EsError, IndexScope};
use serde_json::{Value, json};

use crate::search::{self, Target};
use crate::sort::SortSpec;
use crate::{Engine, Index};

/// Documents per search page and per bulk request (Elasticsearch's default scroll size).
const BATCH: usize = 1000;

pub(crate) struct ByQuery<'a> {
    pub indices: &'a [String],
    pub options: IndicesOptions,
    pub body: &'a Value,
    pub delete: bool,
    pub proceed_on_conflict: bool,
    pub refresh: bool,
    pub max_docs: Option<u64>,
}

pub(crate) fn run(
    engine: &Engine,
    request: ByQuery<'_>,
    action: &str,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let started = Instant::now();
    let Value::Object(body) = request.body else {
        if request.body.is_null() {
            return run(
                engine,
                ByQuery {
                    body: &json!({}),
                    ..request
                },
                action,
                scope,
            );
        }
        return Err(EsError::new(
            400,
            "parsing_exception",
            "the request body must be a JSON object",
        ));
    };
    let mut query = json!({"match_all": {}});
    let mut partial: Option<Value> = None;
    let mut max_docs = request.max_docs;
    for (key, value) in body {
        match key.as_str() {
            "query" => query = value.clone(),
            "max_docs" => {
                max_docs = Some(value.as_u64().ok_or_else(|| {
                    EsError::bad_request("[max_docs] must be a non-negative number")
                })?);
            }
            "script" => {
                return Err(EsError::bad_request(
                    "scripts are not supported by Rampart: to set fields on every matching \
                     document, send them as a partial document in [doc] (a Rampart extension)",
                ));
            }
            "doc" if !request.delete => {
                if !value.is_object() {
                    return Err(EsError::bad_request("[doc] must be a JSON object"));
                }
                partial = Some(value.clone());
            }
            "conflicts" => {}
            other => {
                return Err(EsError::new(
                    400,
                    "parsing_exception",
                    format!("[{other}] is not supported in a by-query request body"),
                ));
            }
        }
    }
    let proceed = request.proceed_on_conflict
        || body.get("conflicts").and_then(Value::as_str) == Some("proceed");
    let resolved = engine.resolve_scoped(request.indices, request.options, action, scope)?;
    // The walk is a search: the reader needs read rights on every index it touches.
    for index in &resolved {
        scope.require("indices:data/read/search", &index.name)?;
    }
    let targets: Vec<Target> = resolved.iter().map(|i| Target::now(i, scope)).collect();
    let mut search_request = search::parse_request(&json!({
        "query": query,
        "size": BATCH,
        "_source": false,
        "track_total_hits": true,
    }))?;
    search_request.sort = vec![SortSpec {
        field: "_shard_doc".into(),
        descending: false,
        missing_first: false,
        unmapped: false,
    }];
    let mut report = Report::default();
    loop {
        let budget = max_docs.map(|m| m.saturating_sub(report.total));
        if budget == Some(0) {
            break;
        }
        if let Some(b) = budget {
            search_request.size = BATCH.min(usize::try_from(b).unwrap_or(BATCH));
        }
        let page = search::search(&targets, &search_request, u64::MAX)?;
        let hits = page.response["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut items = Vec::with_capacity(hits.len());
        for hit in &hits {
            let (Some(name), Some(id)) = (hit["_index"].as_str(), hit["_id"].as_str()) else {
                continue;
            };
            let Some(index) = resolved.iter().find(|i| i.name == name) else {
                continue;
            };
            if let Some(item) = write_for(index, id, request.delete, partial.as_ref())? {
                items.push(item);
            }
        }
        // A page may come back empty while the walk goes on: document-level security can
        // hide every hit of one page.
        if !items.is_empty() {
            report.total += items.len() as u64;
            report.batches += 1;
            let response = crate::api::bulk(engine, items, Refresh::False, scope)?;
            if report.absorb(&response.body, request.delete, proceed) {
                break;
            }
        }
        match page.last_keys {
            Some(keys) => search_request.search_after = Some(keys),
            None => break,
        }
    }
    if request.refresh {
        for index in &resolved {
            index.refresh_now()?;
        }
    }
    let status = if report.failures.is_empty() {
        200
    } else if report
        .failures
        .iter()
        .all(|f| f["status"].as_u64() == Some(409))
    {
        409
    } else {
        500
    };
    let mut out = json!({
        "took": started.elapsed().as_millis() as u64,
        "timed_out": false,
        "total": report.total,
        "batches": report.batches,
        "version_conflicts": report.conflicts,
        "noops": report.noops,
        "retries": {"bulk": 0, "search": 0},
        "throttled_millis": 0,
        "requests_per_second": -1.0,
        "throttled_until_millis": 0,
        "failures": report.failures,
    });
    if request.delete {
        out["deleted"] = json!(report.done);
    } else {
        out["updated"] = json!(report.done);
    }
    Ok(ActionResponse {
        status,
        ..ActionResponse::ok(out)
    })
}

/// The write for one matching document, conditioned on the version the walk saw; `None`
/// when the document is already gone.
fn write_for(
    index: &Arc<Index>,
    id: &str,
    delete: bool,
    partial: Option<&Value>,
) -> Result<Option<BulkItem>, EsError> {
    let Some(record) = index.get(id)? else {
        return Ok(None);
    };
    let write = match (delete, partial) {
        (true, _) => DocWrite::Delete { id: id.to_string() },
        (false, Some(doc)) => DocWrite::Update {
            id: id.to_string(),
            body: json!({"doc": doc}),
        },
        // Without a change, the document is written again as it is: it picks up mapping
        // changes, as Elasticsearch's update-by-query without a script does.
        (false, None) => DocWrite::Index {
            id: Some(id.to_string()),
            source: record.source.clone(),
            create: false,
        },
    };
    Ok(Some(BulkItem::Write(WriteItem {
        index: index.name.clone(),
        write,
        conditions: WriteConditions {
            if_seq_no: Some(record.seq_no),
            if_primary_term: Some(record.primary_term),
            ..WriteConditions::default()
        },
        routing: None,
        retry_on_conflict: 0,
    })))
}

#[derive(Default)]
struct Report {
    total: u64,
    done: u64,
    batches: u64,
    conflicts: u64,
    noops: u64,
    failures: Vec<Value>,
}

impl Report {
    /// Counts a bulk response's items; returns whether to stop (a failure, or a conflict
    /// without `conflicts=proceed`).
    fn absorb(&mut self, bulk: &Value, delete: bool, proceed: bool) -> bool {
        let mut stop = false;
        for item in bulk["items"].as_array().into_iter().flatten() {
            let Some(result) = item.as_object().and_then(|o| o.values().next()) else {
                continue;
            };
            let status = result["status"].as_u64().unwrap_or(500);
            match result["result"].as_str() {
                Some("deleted") if delete => self.done += 1,
                Some("updated") if !delete => self.done += 1,
                Some("noop") => self.noops += 1,
                Some("not_found") => {}
                _ if status == 409 => {
                    self.conflicts += 1;
                    if !proceed {
                        self.failures.push(failure(result, status));
                        stop = true;
                    }
                }
                _ if status >= 400 => {
                    self.failures.push(failure(result, status));
                    stop = true;
                }
                _ => self.done += 1,
            }
        }
        stop
    }
}

fn failure(result: &Value, status: u64) -> Value {
    json!({
        "index": result["_index"],
        "id": result["_id"],
        "cause": result["error"],
        "status": status,
    })
}
