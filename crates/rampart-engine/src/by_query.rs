//! `_delete_by_query` and `_update_by_query`: one streaming walk over a fixed view of each
//! index's matches, written back in batches of one bulk request each. Every item carries the
//! sequence number read just before the batch, so a document changed in between is a version
//! conflict, never overwritten. (A change made after the view was taken and before that read
//! is not detected: the search index does not keep sequence numbers.)
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

use tantivy::query::EnableScoring;
use tantivy::{DocSet, TERMINATED};

use crate::search::{self, Target};
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
    let mut report = Report::default();
    // One streaming walk over each index's fixed view: every match is visited once, however
    // many there are, and nothing but the current batch is held.
    let writer = Writer {
        engine,
        delete: request.delete,
        partial: partial.as_ref(),
        proceed,
        scope,
    };
    'walk: for target in &targets {
        let index = &target.index;
        let restricted = search::restricted_query(index, &query, &target.restrictions)?;
        let weight = restricted
            .weight(EnableScoring::disabled_from_searcher(&target.searcher))
            .map_err(|e| walk_failed(&e))?;
        let mut batch: Vec<String> = Vec::with_capacity(BATCH);
        for (ord, segment) in target.searcher.segment_readers().iter().enumerate() {
            let ids = search::id_column(&target.searcher, u32::try_from(ord).unwrap_or(0))?;
            let mut scorer = weight.scorer(segment, 1.0).map_err(|e| walk_failed(&e))?;
            let alive = segment.alive_bitset();
            while scorer.doc() != TERMINATED {
                let doc = scorer.doc();
                if alive.is_none_or(|bits| bits.is_alive(doc)) {
                    batch.push(search::doc_id(&ids, index, doc)?);
                }
                let budget = max_docs.map(|m| m.saturating_sub(report.total + batch.len() as u64));
                if batch.len() == BATCH || budget == Some(0) {
                    let stop = writer.write(target, std::mem::take(&mut batch), &mut report)?;
                    if stop || budget == Some(0) {
                        break 'walk;
                    }
                }
                scorer.advance();
            }
        }
        if writer.write(target, batch, &mut report)? {
            break;
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

fn walk_failed(e: &tantivy::TantivyError) -> EsError {
    EsError::new(500, "exception", format!("walking the matches failed: {e}"))
}

/// How a batch of matches is written.
struct Writer<'a> {
    engine: &'a Engine,
    delete: bool,
    partial: Option<&'a Value>,
    proceed: bool,
    scope: &'a dyn IndexScope,
}

impl Writer<'_> {
    /// Writes one batch of matches as one bulk request; returns whether to stop.
    fn write(
        &self,
        target: &Target,
        ids: Vec<String>,
        report: &mut Report,
    ) -> Result<bool, EsError> {
        let index = &target.index;
        let mut items = Vec::with_capacity(ids.len());
        // One store transaction for the batch, not one per document.
        let wanted: Vec<&str> = ids.iter().map(String::as_str).collect();
        for (id, record) in ids.iter().zip(index.get_many(&wanted)?) {
            let Some(record) = record else {
                continue;
            };
            // The store may hold a newer version than the walk matched: a reader limited by
            // document-level security may touch it only if that version is visible to them too.
            if let Some(documents) = &target.restrictions.query
                && !search::document_visible(index, id, record.seq_no, documents)?
            {
                continue;
            }
            items.push(write_for(index, id, record, self.delete, self.partial));
        }
        if items.is_empty() {
            return Ok(false);
        }
        report.total += items.len() as u64;
        report.batches += 1;
        let response = crate::api::bulk(self.engine, items, Refresh::False, self.scope)?;
        Ok(report.absorb(&response.body, self.delete, self.proceed))
    }
}

/// The write for one matching document, conditioned on the version read just before it.
fn write_for(
    index: &Arc<Index>,
    id: &str,
    record: crate::DocRecord,
    delete: bool,
    partial: Option<&Value>,
) -> BulkItem {
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
            source: record.source,
            create: false,
        },
    };
    BulkItem::Write(WriteItem {
        index: index.name.clone(),
        write,
        conditions: WriteConditions {
            if_seq_no: Some(record.seq_no),
            if_primary_term: Some(record.primary_term),
            ..WriteConditions::default()
        },
        routing: None,
        retry_on_conflict: 0,
    })
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
