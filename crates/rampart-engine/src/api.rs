//! Executes index and document actions with Elasticsearch's response shapes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rampart_action::data::{
    BulkItem, CatIndicesRequest, DocWrite, IndicesOptions, MgetItem, Refresh, SourceFilter,
    WriteItem,
};
use rampart_action::{ActionResponse, DataRequest, EsError, IndexScope};
use serde_json::{Map, Value, json};

use crate::index::{Index, IndexMeta, IndexState, PreparedWrite, WriteOutcome};
use crate::mapping::Mappings;
use crate::names::{self, validate_index_name};
use crate::settings::{IndexSettings, nest};
use crate::{Engine, contexts, index_not_found, search, source};

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn random_id(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS generator failing is not recoverable; an all-zero id would collide.
    getrandom::fill(&mut buf).unwrap_or_else(|e| panic!("the OS random generator failed: {e}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// base64url's 64 symbols in ASCII order, so that byte order of ids is their numeric order.
const ORDERED_ALPHABET: &str = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/// An auto-generated `_id`: 20 characters from 15 bytes, a millisecond timestamp and a
/// per-process sequence (strictly increasing together), then 6 random bytes against
/// collisions between nodes. Increasing ids append to the right edge of the store's B-tree:
/// bench/kv-choice measured bulk ingest of such ids 7.9 times faster in redb than random ones.
fn time_ordered_id() -> String {
    // (milliseconds, sequence within that millisecond), increasing together.
    static LAST: std::sync::Mutex<(u64, u32)> = std::sync::Mutex::new((0, 0));
    let now = u64::try_from(now_millis()).unwrap_or(0);
    let (millis, sequence) = {
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        *last = if now > last.0 {
            (now, 0)
        } else if last.1 < 0x00FF_FFFF {
            (last.0, last.1 + 1)
        } else {
            // More than 16M ids in one millisecond: borrow the next one.
            (last.0 + 1, 0)
        };
        *last
    };
    let mut bytes = [0u8; 15];
    // 48 bits of milliseconds (enough until the year 10889), 24 bits of sequence.
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..9].copy_from_slice(&sequence.to_be_bytes()[1..]);
    getrandom::fill(&mut bytes[9..])
        .unwrap_or_else(|e| panic!("the OS random generator failed: {e}"));
    let alphabet = base64::alphabet::Alphabet::new(ORDERED_ALPHABET)
        .unwrap_or_else(|e| unreachable!("a constant alphabet of 64 distinct symbols: {e}"));
    base64::engine::GeneralPurpose::new(&alphabet, base64::engine::general_purpose::NO_PAD)
        .encode(bytes)
}

fn acknowledged() -> ActionResponse {
    ActionResponse::ok(json!({"acknowledged": true}))
}

fn object_or_empty(value: Option<&Value>, what: &str) -> Result<Value, EsError> {
    match value {
        None | Some(Value::Null) => Ok(json!({})),
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(EsError::bad_request(format!("[{what}] must be an object"))),
    }
}

fn fsync_dir(dir: &std::path::Path) -> Result<(), EsError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| crate::index::storage_error(dir, "syncing", e))
}

fn shards(index: &Index) -> Value {
    let replicas: u64 = index
        .state()
        .settings
        .get("index.number_of_replicas")
        .parse()
        .unwrap_or(0);
    json!({"total": 1 + replicas, "successful": 1, "failed": 0})
}

/// Takes the settings, not the index: callers already hold the state's read lock, and taking
/// it again while a writer waits would deadlock.
fn health_of(settings: &IndexSettings) -> &'static str {
    // One node holds every primary; replicas have nowhere to go, as on a one-node
    // Elasticsearch cluster.
    if settings.get("index.number_of_replicas") == "0" {
        "green"
    } else {
        "yellow"
    }
}

pub(crate) fn execute(
    engine: &Engine,
    request: DataRequest,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let action = request.name();
    match request {
        DataRequest::CreateIndex { index, body } => {
            scope.require(action, &index)?;
            // Aliases in the request are alias changes: judged as `_aliases` would be.
            if let Some(Value::Object(aliases)) = body.get("aliases") {
                for alias in aliases.keys() {
                    scope.require("indices:admin/aliases", alias)?;
                }
            }
            create_index(engine, &index, &body)
        }
        DataRequest::DeleteIndex { indices, options } => {
            delete_index(engine, &indices, options, scope)
        }
        DataRequest::GetIndex { indices, options } => {
            let resolved = engine.resolve_scoped(&indices, options, action, scope)?;
            let mut out = Map::new();
            for index in resolved {
                // Before the state's read lock: restrictions read the aliases through it.
                let restrictions = index.restrictions(scope, action);
                let state = index.state();
                let mut mappings = state.mappings.to_json();
                if let Some(allowed) = restrictions.fields
                    && let Some(properties) = mappings.get_mut("properties")
                {
                    filter_properties(properties, "", allowed.as_ref());
                }
                out.insert(
                    index.name.clone(),
                    json!({
                        "aliases": state.meta.aliases,
                        "mappings": mappings,
                        "settings": settings_json(&index, &state, false, false),
                    }),
                );
            }
            Ok(ActionResponse::ok(Value::Object(out)))
        }
        DataRequest::IndexExists { indices, options } => {
            let found = match engine.resolve_scoped(&indices, options, action, scope) {
                Ok(resolved) => !resolved.is_empty(),
                Err(e) if e.status == 404 => false,
                Err(e) => return Err(e),
            };
            Ok(ActionResponse::with_status(
                if found { 200 } else { 404 },
                json!({}),
            ))
        }
        DataRequest::GetMapping { indices, options } => {
            let mut out = Map::new();
            for index in engine.resolve_scoped(&indices, options, action, scope)? {
                let mut mappings = index.state().mappings.to_json();
                // Field-level security hides the names of hidden fields too.
                if let Some(allowed) = index.restrictions(scope, action).fields
                    && let Some(properties) = mappings.get_mut("properties")
                {
                    filter_properties(properties, "", allowed.as_ref());
                }
                out.insert(index.name.clone(), json!({ "mappings": mappings }));
            }
            Ok(ActionResponse::ok(Value::Object(out)))
        }
        DataRequest::PutMapping {
            indices,
            body,
            options,
        } => {
            let update = Mappings::parse(&body)?;
            let resolved = engine.resolve_scoped(&indices, options, action, scope)?;
            if resolved.is_empty() {
                return Err(index_not_found(&indices.join(",")));
            }
            let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
            // Check every index before changing any.
            for index in &resolved {
                let state = index.state();
                state.mappings.merged(&update, state.limits())?;
            }
            for index in &resolved {
                index.update_meta(|state| {
                    let mut next = state.clone();
                    next.mappings = state.mappings.merged(&update, state.limits())?.into();
                    Ok(next)
                })?;
            }
            Ok(acknowledged())
        }
        DataRequest::GetSettings {
            indices,
            options,
            flat,
            include_defaults,
        } => {
            let mut out = Map::new();
            for index in engine.resolve_scoped(&indices, options, action, scope)? {
                let state = index.state();
                let mut entry = json!({"settings": settings_json(&index, &state, flat, false)});
                if include_defaults {
                    entry["defaults"] = settings_json(&index, &state, flat, true);
                }
                out.insert(index.name.clone(), entry);
            }
            Ok(ActionResponse::ok(Value::Object(out)))
        }
        DataRequest::PutSettings {
            indices,
            body,
            options,
        } => {
            let body = body.get("settings").cloned().unwrap_or(body);
            let resolved = engine.resolve_scoped(&indices, options, action, scope)?;
            let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
            for index in &resolved {
                index.state().settings.clone().apply(&body, true)?;
            }
            for index in &resolved {
                index.update_meta(|state| {
                    let mut next = state.clone();
                    next.settings.apply(&body, true)?;
                    Ok(next)
                })?;
            }
            Ok(acknowledged())
        }
        DataRequest::Refresh { indices, options } => {
            let resolved = engine.resolve_scoped(&indices, options, action, scope)?;
            for index in &resolved {
                index.refresh_now()?;
            }
            let n = resolved.len();
            Ok(ActionResponse::ok(
                json!({"_shards": {"total": n, "successful": n, "failed": 0}}),
            ))
        }
        DataRequest::CatIndices(request) => cat_indices(engine, &request, action, scope),
        DataRequest::UpdateAliases { body, .. } => update_aliases(engine, &body, scope),
        DataRequest::GetAliases {
            indices,
            names: alias_names,
            options,
            exists,
        } => get_aliases(
            engine,
            &indices,
            &alias_names,
            options,
            exists,
            action,
            scope,
        ),
        DataRequest::PutIndexTemplate { name, body, create } => {
            let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
            engine.templates.put(&name, &body, create)?;
            Ok(acknowledged())
        }
        DataRequest::GetIndexTemplates { names, exists } => {
            let found = match engine.templates.get(&names) {
                Ok(found) => found,
                Err(e) if exists && e.status == 404 => Vec::new(),
                Err(e) => return Err(e),
            };
            if exists {
                return Ok(ActionResponse::with_status(
                    if found.is_empty() { 404 } else { 200 },
                    json!({}),
                ));
            }
            Ok(ActionResponse::ok(json!({
                "index_templates": found
                    .into_iter()
                    .map(|(name, t)| json!({"name": name, "index_template": t}))
                    .collect::<Vec<_>>(),
            })))
        }
        DataRequest::DeleteIndexTemplate { name } => {
            let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
            engine.templates.delete(&name)?;
            Ok(acknowledged())
        }
        DataRequest::Write {
            item,
            refresh,
            source,
        } => write_one(engine, item, refresh, &source, scope),
        DataRequest::Bulk { items, refresh, .. } => bulk(engine, items, refresh, scope),
        DataRequest::Get {
            index,
            id,
            source,
            source_only,
            realtime: _,
            head,
        } => get(engine, &index, &id, &source, source_only, head, scope),
        DataRequest::Mget { items, .. } => mget(engine, items, scope),
        DataRequest::Msearch {
            searches, owner, ..
        } => {
            let started = Instant::now();
            let responses: Vec<Value> = searches
                .into_iter()
                .map(|item| {
                    let one = DataRequest::Search {
                        indices: item.indices,
                        options: item.options,
                        body: item.body,
                        count_only: false,
                        scroll: None,
                        owner: owner.clone(),
                    };
                    match execute(engine, one, scope) {
                        Ok(response) => {
                            let mut body = response.body;
                            body["status"] = json!(response.status);
                            body
                        }
                        Err(e) => {
                            let mut body = e.to_json();
                            body["status"] = json!(e.status);
                            body
                        }
                    }
                })
                .collect();
            Ok(ActionResponse::ok(json!({
                "took": started.elapsed().as_millis() as u64,
                "responses": responses,
            })))
        }
        DataRequest::Search {
            indices,
            options,
            body,
            count_only,
            scroll,
            owner,
        } => {
            if count_only {
                let resolved = engine.resolve_scoped(&indices, options, action, scope)?;
                let query = body
                    .get("query")
                    .cloned()
                    .unwrap_or_else(|| json!({"match_all": {}}));
                return Ok(ActionResponse::ok(search::count(&resolved, &query, scope)?));
            }
            let started = Instant::now();
            let mut request = search::parse_request(&body)?;
            let targets: Vec<search::Target> = match &request.pit {
                Some((id, keep_alive)) => {
                    if !indices.is_empty() {
                        return Err(EsError::bad_request(
                            "[indices] cannot be used with point in time. Do not specify any \
                             index with point in time.",
                        ));
                    }
                    if scroll.is_some() {
                        return Err(EsError::bad_request(
                            "[scroll] cannot be used with point in time: page with \
                             [search_after] instead",
                        ));
                    }
                    let keep_alive = keep_alive
                        .as_deref()
                        .map(|k| contexts::keep_alive(k, "keep_alive"))
                        .transpose()?;
                    let mut targets = engine.contexts.use_pit(id, &owner, keep_alive)?;
                    // Today's privileges decide, not those of the moment the point was opened.
                    for target in &mut targets {
                        scope.require(action, &target.index.name)?;
                        target.restrictions = target.index.restrictions(scope, action);
                    }
                    with_tiebreak(&mut request, false);
                    targets
                }
                None => engine
                    .resolve_scoped(&indices, options, action, scope)?
                    .iter()
                    .map(|index| search::Target::now(index, scope))
                    .collect(),
            };
            let window = targets
                .iter()
                .map(|t| t.index.state().settings.max_result_window())
                .min()
                .unwrap_or(10_000);
            let Some(scroll) = scroll else {
                let mut response = search::search(&targets, &request, window)?.response;
                response["took"] = json!(started.elapsed().as_millis() as u64);
                if let Some((id, _)) = &request.pit {
                    response["pit_id"] = json!(id);
                }
                return Ok(ActionResponse::ok(response));
            };
            let keep_alive = contexts::keep_alive(&scroll, "scroll")?;
            // A scroll keeps its request for every page: it must stay small.
            if request.query.to_string().len() > MAX_SCROLL_QUERY_BYTES {
                return Err(EsError::bad_request(format!(
                    "a scroll's query may be at most {MAX_SCROLL_QUERY_BYTES} bytes: narrow it, \
                     or page with a point in time and search_after"
                )));
            }
            if request.from > 0 {
                return Err(EsError::bad_request(
                    "using [from] is not allowed in a scroll context: page with the scroll id",
                ));
            }
            if request.search_after.is_some() {
                return Err(EsError::bad_request(
                    "[search_after] cannot be used in a scroll context",
                ));
            }
            with_tiebreak(&mut request, true);
            // A page may be as large as one search's window; the scroll may go on past it.
            let page = search::search(&targets, &request, window)?;
            let mut response = page.response;
            // Aggregations are answered once, with the first page.
            request.aggregations = None;
            let exhausted = page.last_keys.is_none();
            let id = engine.contexts.open(contexts::Context::new(
                &owner,
                targets,
                contexts::Kind::Scroll {
                    request: Box::new(request),
                    last_keys: page.last_keys,
                    exhausted,
                },
                keep_alive,
            ))?;
            response["_scroll_id"] = json!(id);
            response["took"] = json!(started.elapsed().as_millis() as u64);
            Ok(ActionResponse::ok(response))
        }
        DataRequest::Scroll {
            scroll_id,
            keep_alive,
            owner,
        } => {
            let started = Instant::now();
            let keep_alive = keep_alive
                .as_deref()
                .map(|k| contexts::keep_alive(k, "scroll"))
                .transpose()?;
            let mut context = engine.contexts.take(&scroll_id, &owner)?;
            // Today's privileges decide each page: a reader who lost access stops here (and
            // the scroll is closed), and changed restrictions apply at once.
            for target in &mut context.targets {
                scope.require(SEARCH_ACTION, &target.index.name)?;
                target.restrictions = target.index.restrictions(scope, SEARCH_ACTION);
            }
            context.touch(keep_alive);
            let contexts::Kind::Scroll {
                request,
                last_keys,
                exhausted,
                ..
            } = &mut context.kind
            else {
                engine.contexts.put(scroll_id.clone(), context);
                return Err(EsError::bad_request(
                    "this id is a point in time, not a scroll: pass it as [pit] in a search",
                ));
            };
            let result = if *exhausted {
                request.size = 0;
                search::search(&context.targets, request, u64::MAX)
            } else {
                request.search_after = last_keys.clone();
                search::search(&context.targets, request, u64::MAX)
            };
            let page = match result {
                Ok(page) => page,
                Err(e) => {
                    engine.contexts.put(scroll_id.clone(), context);
                    return Err(e);
                }
            };
            if page.last_keys.is_none() {
                *exhausted = true;
            } else {
                *last_keys = page.last_keys;
            }
            let mut response = page.response;
            engine.contexts.put(scroll_id.clone(), context);
            response["_scroll_id"] = json!(scroll_id);
            response["took"] = json!(started.elapsed().as_millis() as u64);
            Ok(ActionResponse::ok(response))
        }
        DataRequest::ClearScroll {
            scroll_ids,
            all,
            owner,
        } => {
            let freed = if all {
                engine.contexts.close(None, &owner, false)
            } else {
                engine.contexts.close(Some(&scroll_ids), &owner, false)
            };
            // Elasticsearch answers 404 when nothing named was found.
            let status = if freed == 0 && !all { 404 } else { 200 };
            Ok(ActionResponse {
                status,
                ..ActionResponse::ok(json!({"succeeded": true, "num_freed": freed}))
            })
        }
        DataRequest::OpenPit {
            indices,
            options,
            keep_alive,
            owner,
        } => {
            let keep_alive = contexts::keep_alive(&keep_alive, "keep_alive")?;
            let targets: Vec<search::Target> = engine
                .resolve_scoped(&indices, options, action, scope)?
                .iter()
                .map(|index| search::Target::now(index, scope))
                .collect();
            let id = engine.contexts.open(contexts::Context::new(
                &owner,
                targets,
                contexts::Kind::PointInTime,
                keep_alive,
            ))?;
            Ok(ActionResponse::ok(json!({"id": id})))
        }
        DataRequest::ClosePit { id, owner } => {
            let freed = engine.contexts.close(Some(&[id]), &owner, true);
            let status = if freed == 0 { 404 } else { 200 };
            Ok(ActionResponse {
                status,
                ..ActionResponse::ok(json!({"succeeded": true, "num_freed": freed}))
            })
        }
        DataRequest::ByQuery {
            indices,
            options,
            body,
            delete,
            proceed_on_conflict,
            refresh,
            max_docs,
        } => crate::by_query::run(
            engine,
            crate::by_query::ByQuery {
                indices: &indices,
                options,
                body: &body,
                delete,
                proceed_on_conflict,
                refresh,
                max_docs,
            },
            action,
            scope,
        ),
        DataRequest::FieldCaps {
            indices,
            options,
            fields,
        } => {
            let resolved = engine.resolve_scoped(&indices, options, action, scope)?;
            Ok(ActionResponse::ok(field_caps(&resolved, &fields, scope)))
        }
    }
}

const SEARCH_ACTION: &str = "indices:data/read/search";

/// The largest query a scroll keeps for its pages.
const MAX_SCROLL_QUERY_BYTES: usize = 1 << 20;

/// Appends the `_shard_doc` tiebreaker that lets a scroll or point in time page without
/// skipping or repeating hits whose keys are equal; a request without a sort ranks by score.
fn with_tiebreak(request: &mut search::SearchRequest, hidden: bool) {
    if request.sort.iter().any(|s| s.field == "_shard_doc") {
        return;
    }
    if request.sort.is_empty() {
        request.sort.push(crate::sort::SortSpec {
            field: "_score".into(),
            descending: true,
            missing_first: false,
            unmapped: false,
        });
    }
    request.sort.push(crate::sort::SortSpec {
        field: "_shard_doc".into(),
        descending: false,
        missing_first: false,
        unmapped: false,
    });
    if hidden {
        request.hidden_tiebreak = true;
    } else {
        request.show_sort = true;
    }
}

/// `_field_caps`: each field matching the patterns, by type, with whether it is searchable
/// and aggregatable and, when indices disagree, which index has which type. Fields a reader
/// may not see are left out, as if unmapped.
fn field_caps(indices: &[Arc<Index>], patterns: &[String], scope: &dyn IndexScope) -> Value {
    use std::collections::BTreeMap;
    // field -> type -> indices
    let mut found: BTreeMap<String, BTreeMap<&'static str, Vec<String>>> = BTreeMap::new();
    for index in indices {
        let restrictions = index.restrictions(scope, "indices:data/read/field_caps");
        let mappings = index.state().mappings.clone();
        for (path, kind) in mappings.leaf_fields() {
            if restrictions
                .fields
                .as_ref()
                .is_some_and(|allowed| !allowed(&path))
            {
                continue;
            }
            if !patterns.iter().any(|p| crate::names::glob_match(p, &path)) {
                continue;
            }
            found
                .entry(path)
                .or_default()
                .entry(kind)
                .or_default()
                .push(index.name.clone());
        }
    }
    let mut fields = Map::new();
    for (path, types) in found {
        let conflicting = types.len() > 1;
        let mut by_type = Map::new();
        for (kind, names) in types {
            let aggregatable = kind != "text" && kind != "object";
            let mut entry = json!({
                "type": kind,
                "metadata_field": false,
                "searchable": kind != "object",
                "aggregatable": aggregatable,
            });
            if conflicting {
                entry["indices"] = json!(names);
            }
            by_type.insert(kind.to_string(), entry);
        }
        fields.insert(path, Value::Object(by_type));
    }
    json!({
        "indices": indices.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
        "fields": fields,
    })
}

/// Removes from a mapping's `properties` the fields a reader may not see; an object stays
/// when something inside it is visible.
fn filter_properties(properties: &mut Value, prefix: &str, allowed: &dyn Fn(&str) -> bool) {
    let Value::Object(map) = properties else {
        return;
    };
    map.retain(|name, field| {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match field.get_mut("properties") {
            Some(children) => {
                filter_properties(children, &path, allowed);
                children.as_object().is_some_and(|c| !c.is_empty())
            }
            None => allowed(&path),
        }
    });
}

fn settings_json(index: &Index, state: &IndexState, flat: bool, defaults: bool) -> Value {
    let generated = [
        ("index.uuid", index.uuid.clone()),
        ("index.creation_date", state.meta.creation_date.to_string()),
        ("index.provided_name", index.name.clone()),
        ("index.version.created", "8521000".to_string()),
    ];
    let values = if defaults {
        let mut all = state.settings.flat(&[], true);
        for k in state.settings.explicit().keys() {
            all.remove(k);
        }
        all.remove("index.number_of_shards");
        all.remove("index.number_of_replicas");
        all
    } else {
        state.settings.flat(&generated, false)
    };
    if flat {
        Value::Object(values)
    } else {
        nest(&values)
    }
}

fn create_index(engine: &Engine, name: &str, body: &Value) -> Result<ActionResponse, EsError> {
    let body = match body {
        Value::Null => json!({}),
        Value::Object(_) => body.clone(),
        _ => {
            return Err(EsError::bad_request(
                "the create index body must be a JSON object",
            ));
        }
    };
    for key in body.as_object().map(|o| o.keys()).into_iter().flatten() {
        if !matches!(key.as_str(), "settings" | "mappings" | "aliases") {
            return Err(EsError::new(
                400,
                "parse_exception",
                format!("unknown key [{key}] for create index"),
            ));
        }
    }
    create(engine, name, &body)?;
    Ok(ActionResponse::ok(json!({
        "acknowledged": true,
        "shards_acknowledged": true,
        "index": name,
    })))
}

/// Creates an index from a create-index body, layered over the matching template.
fn create(engine: &Engine, name: &str, body: &Value) -> Result<Arc<Index>, EsError> {
    validate_index_name(name)?;
    let request_settings =
        IndexSettings::from_request(&object_or_empty(body.get("settings"), "settings")?)?;
    let request_mappings = Mappings::parse(&object_or_empty(body.get("mappings"), "mappings")?)?;
    let request_aliases = object_or_empty(body.get("aliases"), "aliases")?;
    let (settings, mappings, mut aliases) = match engine.templates.contribution(name) {
        Some((_, template)) => {
            let base_settings = IndexSettings::from_request(&template.settings)?;
            let settings = request_settings.over(&base_settings);
            let base_mappings = Mappings::parse(&template.mappings)?;
            let limits = crate::mapping::MappingLimits {
                total_fields: settings.total_fields_limit(),
                depth: settings.depth_limit(),
            };
            let mappings = base_mappings.merged(&request_mappings, limits)?;
            (settings, mappings, template.aliases)
        }
        None => (request_settings, request_mappings, Map::new()),
    };
    if let Value::Object(extra) = request_aliases {
        for (alias, definition) in extra {
            aliases.insert(alias, definition);
        }
    }
    for (alias, definition) in &aliases {
        validate_index_name(alias)?;
        if !definition.is_object() {
            return Err(EsError::bad_request(format!(
                "alias [{alias}] must be defined by an object"
            )));
        }
    }
    let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
    {
        let indices = engine.indices.read().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = indices.get(name) {
            return Err(EsError::new(
                400,
                "resource_already_exists_exception",
                format!("index [{name}/{}] already exists", existing.uuid),
            ));
        }
        if names::all_aliases(&indices).contains(name) {
            return Err(EsError::new(
                400,
                "invalid_index_name_exception",
                format!("Invalid index name [{name}], already exists as alias"),
            ));
        }
        for alias in aliases.keys() {
            if indices.contains_key(alias) || alias == name {
                return Err(EsError::new(
                    400,
                    "invalid_alias_name_exception",
                    format!(
                        "Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias"
                    ),
                ));
            }
        }
    }
    let uuid = random_id(16);
    let meta = IndexMeta {
        format: 1,
        name: name.to_string(),
        uuid: uuid.clone(),
        creation_date: now_millis(),
        primary_term: 0,
        settings: settings.explicit().clone(),
        mappings: mappings.to_json(),
        aliases,
    };
    // Built under a hidden name and renamed into place: a crash leaves a directory the next
    // start removes, never a half-made index.
    let staging = engine.indices_dir.join(format!(".{uuid}.creating"));
    let target = engine.indices_dir.join(&uuid);
    let built = Index::create(&staging, meta).and_then(|()| {
        fsync_dir(&staging)?;
        std::fs::rename(&staging, &target)
            .map_err(|e| crate::index::storage_error(&target, "creating", e))?;
        fsync_dir(&engine.indices_dir)?;
        Index::open(&target)
    });
    let index = match built {
        Ok(index) => Arc::new(index),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            let _ = std::fs::remove_dir_all(&target);
            return Err(e);
        }
    };
    engine
        .indices
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), Arc::clone(&index));
    tracing::info!("created index [{name}] ({uuid})");
    Ok(index)
}

fn delete_index(
    engine: &Engine,
    expressions: &[String],
    options: IndicesOptions,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    if engine.options.destructive_requires_name
        && expressions
            .iter()
            .any(|e| e == "_all" || e.contains('*') || e.starts_with('-'))
    {
        return Err(EsError::bad_request(
            "Wildcard expressions or all indices are not allowed (set \
             [action.destructive_requires_name] to false to allow them)",
        ));
    }
    if expressions.is_empty() {
        return Err(EsError::bad_request("an index name is required"));
    }
    let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
    {
        let indices = engine.indices.read().unwrap_or_else(|e| e.into_inner());
        let aliases = names::all_aliases(&indices);
        for e in expressions {
            // Authorization first: what exists is nobody's business who may not delete it.
            if !e.contains('*') && !e.starts_with('-') && !scope.allows("indices:admin/delete", e) {
                return Err(scope.denied("indices:admin/delete", std::slice::from_ref(e)));
            }
            if !e.contains('*') && aliases.contains(e) && !indices.contains_key(e) {
                return Err(EsError::bad_request(format!(
                    "The provided expression [{e}] matches an alias, specify the corresponding \
                     concrete indices instead."
                )));
            }
        }
    }
    // Deleting by wildcard never follows aliases to the indices behind them.
    let options = IndicesOptions {
        ignore_aliases: true,
        ..options
    };
    let resolved = engine.resolve_scoped(expressions, options, "indices:admin/delete", scope)?;
    for index in resolved {
        engine
            .indices
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&index.name);
        // Open scrolls and points in time on it close with it.
        engine.contexts.forget_index(&index.uuid);
        let doomed = engine.indices_dir.join(format!(".{}.deleting", index.uuid));
        std::fs::rename(index.dir(), &doomed)
            .map_err(|e| crate::index::storage_error(index.dir(), "deleting", e))?;
        fsync_dir(&engine.indices_dir)?;
        if let Err(e) = std::fs::remove_dir_all(&doomed) {
            tracing::warn!(
                "cannot remove [{}] yet: {e}; the next start will",
                doomed.display()
            );
        }
        tracing::info!("deleted index [{}] ({})", index.name, index.uuid);
    }
    Ok(acknowledged())
}

/// The index a write to `name` goes to: the index itself, or an alias's write index.
fn write_target(engine: &Engine, name: &str) -> Result<Option<Arc<Index>>, EsError> {
    if let Some(index) = engine.index(name) {
        return Ok(Some(index));
    }
    let indices = engine.indices.read().unwrap_or_else(|e| e.into_inner());
    let targets = names::alias_targets(&indices, name);
    if targets.is_empty() {
        return Ok(None);
    }
    let write_index: Vec<&String> = targets
        .iter()
        .filter(|t| {
            indices[t.as_str()].state().meta.aliases[name]
                .get("is_write_index")
                .and_then(Value::as_bool)
                == Some(true)
        })
        .collect();
    let chosen = match (write_index.as_slice(), targets.as_slice()) {
        ([one], _) => (*one).clone(),
        ([], [only]) => only.clone(),
        _ => {
            return Err(EsError::bad_request(format!(
                "no write index is defined for alias [{name}]. The write index may be \
                 explicitly disabled using is_write_index=false or the alias points to multiple \
                 indices without one being designated as a write index"
            )));
        }
    };
    Ok(indices.get(&chosen).cloned())
}

/// The write target, creating the index when `action.auto_create_index` allows.
fn write_target_or_create(
    engine: &Engine,
    name: &str,
    action: &str,
    scope: &dyn IndexScope,
) -> Result<Arc<Index>, EsError> {
    // Authorized by the name as given (an index or an alias), before its existence shows.
    scope.require(action, name)?;
    if let Some(index) = write_target(engine, name)? {
        return Ok(index);
    }
    scope.require("indices:admin/auto_create", name)?;
    if !engine.options.auto_create_index.allows(name) {
        return Err(EsError::new(
            404,
            "index_not_found_exception",
            format!(
                "no such index [{name}] and [action.auto_create_index] ([{name}]) doesn't match"
            ),
        ));
    }
    match create(engine, name, &json!({})) {
        Ok(index) => Ok(index),
        // Another request created it first.
        Err(e) if e.error_type == "resource_already_exists_exception" => {
            engine.index(name).ok_or_else(|| index_not_found(name))
        }
        Err(e) => Err(e),
    }
}

/// An update reads the document it changes, so a reader limited by document- or field-level
/// security could learn hidden values through it; Elasticsearch refuses such updates too.
fn refuse_restricted_update(index: &Index, scope: &dyn IndexScope) -> Result<(), EsError> {
    if index
        .restrictions(scope, "indices:data/read/get")
        .is_restricted()
    {
        return Err(EsError::bad_request(format!(
            "Update requests are not supported on [{}] for users with document or field level \
             security: index the whole document instead",
            index.name
        )));
    }
    Ok(())
}

fn prepare(item: WriteItem) -> PreparedWrite {
    let write = match item.write {
        DocWrite::Index {
            id: None, source, ..
        } => DocWrite::Index {
            id: Some(time_ordered_id()),
            source,
            // An auto-generated id always creates.
            create: true,
        },
        other => other,
    };
    PreparedWrite {
        write,
        conditions: item.conditions,
    }
}

fn outcome_json(index: &Index, outcome: &WriteOutcome) -> Value {
    json!({
        "_index": index.name,
        "_id": outcome.id,
        "_version": outcome.version,
        "result": outcome.result,
        "_shards": shards(index),
        "_seq_no": outcome.seq_no,
        "_primary_term": outcome.primary_term,
    })
}

fn after_write(index: &Index, refresh: Refresh, seq_no: Option<u64>) -> Result<bool, EsError> {
    match refresh {
        Refresh::False => Ok(false),
        Refresh::True => index.refresh_now().map(|()| true),
        Refresh::WaitFor => {
            if let Some(seq_no) = seq_no {
                index.wait_for_refresh(seq_no)?;
            }
            Ok(false)
        }
    }
}

fn write_one(
    engine: &Engine,
    item: WriteItem,
    refresh: Refresh,
    source_filter: &SourceFilter,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let index = write_target_or_create(
        engine,
        &item.index,
        item.write.authorization_action(),
        scope,
    )?;
    let is_update = matches!(item.write, DocWrite::Update { .. });
    if is_update {
        refuse_restricted_update(&index, scope)?;
    }
    let retries = item.retry_on_conflict;
    let mut attempt = 0;
    let outcome = loop {
        let prepared = prepare(item.clone());
        let result = index.write(vec![prepared]).pop().unwrap_or_else(|| {
            Err(EsError::new(
                500,
                "exception",
                "the write produced no result",
            ))
        });
        match result {
            Err(e) if is_update && e.status == 409 && attempt < retries => attempt += 1,
            other => break other?,
        }
    };
    let written = outcome.result != "noop" && outcome.result != "not_found";
    let forced = after_write(&index, refresh, written.then_some(outcome.seq_no))?;
    let mut body = outcome_json(&index, &outcome);
    if forced {
        body["forced_refresh"] = json!(true);
    }
    if outcome.result == "noop" {
        body["_shards"] = json!({"total": 0, "successful": 0, "failed": 0});
    }
    if is_update
        && source_filter.enabled
        && let Some(bytes) = &outcome.source
    {
        let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        body["get"] = json!({
            "_seq_no": outcome.seq_no,
            "_primary_term": outcome.primary_term,
            "found": true,
            "_source": source::filter(&doc, &source_filter.includes, &source_filter.excludes),
        });
    }
    Ok(ActionResponse::with_status(outcome.status, body))
}

fn item_error(
    op: &str,
    index: &str,
    id: Option<&str>,
    error: &EsError,
    uuid: Option<&str>,
) -> Value {
    let mut err = json!({"type": error.error_type, "reason": error.reason});
    if let Some(uuid) = uuid {
        err["index_uuid"] = json!(uuid);
        err["shard"] = json!("0");
        err["index"] = json!(index);
    }
    let mut entry = Map::new();
    entry.insert("_index".into(), json!(index));
    if let Some(id) = id {
        entry.insert("_id".into(), json!(id));
    }
    entry.insert("status".into(), json!(error.status));
    entry.insert("error".into(), err);
    json!({ op: entry })
}

/// A bulk item ready for its index: its position in the request and its operation name.
type Queued = (usize, &'static str, PreparedWrite);
/// Where an item's result goes: position, operation name and id.
type Slot = (usize, &'static str, Option<String>);

pub(crate) fn bulk(
    engine: &Engine,
    items: Vec<BulkItem>,
    refresh: Refresh,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let started = Instant::now();
    let mut responses: Vec<Option<Value>> = vec![None; items.len()];
    // Items grouped by target index, in request order within each index.
    let mut groups: BTreeMap<String, (Arc<Index>, Vec<Queued>)> = BTreeMap::new();
    for (position, item) in items.into_iter().enumerate() {
        match item {
            BulkItem::Invalid {
                op,
                index,
                id,
                reason,
            } => {
                responses[position] = Some(item_error(
                    op,
                    &index,
                    id.as_deref(),
                    &EsError::new(400, "action_request_validation_exception", reason),
                    None,
                ));
            }
            BulkItem::Write(item) => {
                let op = item.write.op_name();
                let id = item.write.id().map(str::to_string);
                let name = item.index.clone();
                let action = item.write.authorization_action();
                let is_update = matches!(item.write, DocWrite::Update { .. });
                match write_target_or_create(engine, &name, action, scope).and_then(|index| {
                    if is_update {
                        refuse_restricted_update(&index, scope)?;
                    }
                    Ok(index)
                }) {
                    Ok(index) => {
                        groups
                            .entry(index.name.clone())
                            .or_insert_with(|| (Arc::clone(&index), Vec::new()))
                            .1
                            .push((position, op, prepare(item)));
                    }
                    Err(e) => {
                        responses[position] = Some(item_error(op, &name, id.as_deref(), &e, None));
                    }
                }
            }
        }
    }
    let mut touched = Vec::new();
    for (_, (index, group)) in groups {
        let (meta, writes): (Vec<Slot>, Vec<PreparedWrite>) = group
            .into_iter()
            .map(|(position, op, write)| {
                ((position, op, write.write.id().map(str::to_string)), write)
            })
            .unzip();
        let results = index.write(writes);
        let mut max_seq_no = None;
        for ((position, op, id), result) in meta.into_iter().zip(results) {
            responses[position] = Some(match result {
                Ok(outcome) => {
                    if outcome.result != "noop" && outcome.result != "not_found" {
                        max_seq_no = max_seq_no.max(Some(outcome.seq_no));
                    }
                    let mut entry = outcome_json(&index, &outcome);
                    entry["status"] = json!(outcome.status);
                    if outcome.result == "noop" {
                        entry["_shards"] = json!({"total": 0, "successful": 0, "failed": 0});
                    }
                    json!({ op: entry })
                }
                Err(e) => item_error(op, &index.name, id.as_deref(), &e, Some(&index.uuid)),
            });
        }
        touched.push((index, max_seq_no));
    }
    for (index, max_seq_no) in &touched {
        after_write(index, refresh, *max_seq_no)?;
    }
    let items: Vec<Value> = responses
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect();
    let errors = items.iter().any(|item| {
        item.as_object()
            .and_then(|o| o.values().next())
            .is_some_and(|entry| entry.get("error").is_some())
    });
    Ok(ActionResponse::ok(json!({
        "errors": errors,
        "took": started.elapsed().as_millis() as u64,
        "items": items,
    })))
}

/// The one index a read of `name` addresses (an index, or an alias of exactly one index).
fn read_target(
    engine: &Engine,
    name: &str,
    action: &str,
    scope: &dyn IndexScope,
) -> Result<Arc<Index>, EsError> {
    scope.require(action, name)?;
    if let Some(index) = engine.index(name) {
        return Ok(index);
    }
    let indices = engine.indices.read().unwrap_or_else(|e| e.into_inner());
    match names::alias_targets(&indices, name).as_slice() {
        [] => Err(index_not_found(name)),
        [one] => indices
            .get(one)
            .cloned()
            .ok_or_else(|| index_not_found(name)),
        _ => Err(EsError::bad_request(format!(
            "alias [{name}] has more than one index associated with it, can't execute a single \
             index op"
        ))),
    }
}

/// A stored document as a restricted reader may see it: `None` when document-level security
/// hides it, otherwise its source with hidden fields removed.
fn visible_source(
    index: &Index,
    id: &str,
    record: &crate::DocRecord,
    scope: &dyn IndexScope,
) -> Result<Option<Value>, EsError> {
    let restrictions = index.restrictions(scope, "indices:data/read/get");
    if let Some(documents) = &restrictions.query
        && !search::document_visible(index, id, record.seq_no, documents)?
    {
        return Ok(None);
    }
    let doc: Value = serde_json::from_slice(&record.source).unwrap_or(Value::Null);
    Ok(Some(match &restrictions.fields {
        Some(allowed) => source::filter_fields(&doc, allowed.as_ref()),
        None => doc,
    }))
}

fn doc_json(
    index: &Index,
    id: &str,
    record: &crate::DocRecord,
    doc: &Value,
    filter: &SourceFilter,
) -> Value {
    let mut body = json!({
        "_index": index.name,
        "_id": id,
        "_version": record.version,
        "_seq_no": record.seq_no,
        "_primary_term": record.primary_term,
        "found": true,
    });
    if filter.enabled {
        body["_source"] = source::filter(doc, &filter.includes, &filter.excludes);
    }
    body
}

fn get(
    engine: &Engine,
    name: &str,
    id: &str,
    filter: &SourceFilter,
    source_only: bool,
    head: bool,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let index = read_target(engine, name, "indices:data/read/get", scope)?;
    let visible = match index.get(id)? {
        Some(record) => visible_source(&index, id, &record, scope)?.map(|doc| (record, doc)),
        None => None,
    };
    match (visible, source_only) {
        (Some((record, doc)), false) => Ok(ActionResponse::ok(doc_json(
            &index, id, &record, &doc, filter,
        ))),
        (Some((_, doc)), true) => Ok(ActionResponse::ok(source::filter(
            &doc,
            &filter.includes,
            &filter.excludes,
        ))),
        (None, true) if !head => Err(EsError::new(
            404,
            "resource_not_found_exception",
            format!("Document not found [{}]/[{id}]", index.name),
        )),
        (None, _) => Ok(ActionResponse::with_status(
            404,
            json!({"_index": index.name, "_id": id, "found": false}),
        )),
    }
}

fn mget(
    engine: &Engine,
    items: Vec<MgetItem>,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let mut docs = Vec::with_capacity(items.len());
    for item in items {
        let entry = match read_target(engine, &item.index, "indices:data/read/get", scope) {
            Err(e) => json!({
                "_index": item.index,
                "_id": item.id,
                "error": {"root_cause": [{"type": e.error_type, "reason": e.reason}], "type": e.error_type, "reason": e.reason},
            }),
            Ok(index) => {
                let visible = match index.get(&item.id)? {
                    Some(record) => {
                        visible_source(&index, &item.id, &record, scope)?.map(|doc| (record, doc))
                    }
                    None => None,
                };
                match visible {
                    Some((record, doc)) => doc_json(&index, &item.id, &record, &doc, &item.source),
                    None => json!({"_index": index.name, "_id": item.id, "found": false}),
                }
            }
        };
        docs.push(entry);
    }
    Ok(ActionResponse::ok(json!({ "docs": docs })))
}

fn human_bytes(bytes: u64, unit: Option<&str>) -> String {
    match unit {
        Some("b") => bytes.to_string(),
        Some("kb") => (bytes / 1024).to_string(),
        Some("mb") => (bytes >> 20).to_string(),
        Some("gb") => (bytes >> 30).to_string(),
        _ => {
            let b = bytes as f64;
            if b >= (1u64 << 30) as f64 {
                format!("{:.1}gb", b / (1u64 << 30) as f64)
            } else if b >= (1u64 << 20) as f64 {
                format!("{:.1}mb", b / (1u64 << 20) as f64)
            } else if b >= 1024.0 {
                format!("{:.1}kb", b / 1024.0)
            } else {
                format!("{bytes}b")
            }
        }
    }
}

const CAT_INDICES_COLUMNS: &[&str] = &[
    "health",
    "status",
    "index",
    "uuid",
    "pri",
    "rep",
    "docs.count",
    "docs.deleted",
    "store.size",
    "pri.store.size",
    "dataset.size",
];

fn cat_indices(
    engine: &Engine,
    request: &CatIndicesRequest,
    action: &str,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let columns = &request.columns;
    let bytes_unit = request.bytes_unit.as_deref();
    let columns: Vec<String> = if columns.is_empty() {
        CAT_INDICES_COLUMNS.iter().map(|c| c.to_string()).collect()
    } else {
        for c in columns {
            if !CAT_INDICES_COLUMNS.contains(&c.as_str()) {
                return Err(EsError::bad_request(format!(
                    "Unknown column [{c}]: use one of {}",
                    CAT_INDICES_COLUMNS.join(", ")
                )));
            }
        }
        columns.to_vec()
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut sort_keys = Vec::new();
    for key in &request.sort {
        let (column, descending) = match key.split_once(':') {
            Some((c, "desc")) => (c, true),
            Some((c, "asc")) | Some((c, "")) => (c, false),
            Some((_, other)) => {
                return Err(EsError::bad_request(format!(
                    "invalid sort order [{other}] in [s={key}]: use asc or desc"
                )));
            }
            None => (key.as_str(), false),
        };
        let position = CAT_INDICES_COLUMNS
            .iter()
            .position(|c| *c == column)
            .ok_or_else(|| {
                EsError::bad_request(format!("Unable to sort by unknown column [{column}]"))
            })?;
        sort_keys.push((position, descending));
    }
    let mut all_rows: Vec<Vec<String>> = Vec::new();
    for index in engine.resolve_scoped(&request.indices, request.options, action, scope)? {
        let searchable = index.searchable_docs();
        let size = human_bytes(index.size_in_bytes(), bytes_unit);
        let state = index.state();
        let row = CAT_INDICES_COLUMNS
            .iter()
            .map(|c| match *c {
                "health" => health_of(&state.settings).to_string(),
                "status" => "open".to_string(),
                "index" => index.name.clone(),
                "uuid" => index.uuid.clone(),
                "pri" => state.settings.get("index.number_of_shards"),
                "rep" => state.settings.get("index.number_of_replicas"),
                "docs.count" => searchable.to_string(),
                "docs.deleted" => "0".to_string(),
                _ => size.clone(),
            })
            .collect();
        all_rows.push(row);
    }
    if let Some(health) = &request.health {
        all_rows.retain(|row| &row[0] == health);
    }
    all_rows.sort_by(|a, b| {
        for (position, descending) in &sort_keys {
            let (x, y) = (&a[*position], &b[*position]);
            let order = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => x.total_cmp(&y),
                _ => x.cmp(y),
            };
            let order = if *descending { order.reverse() } else { order };
            if order != std::cmp::Ordering::Equal {
                return order;
            }
        }
        a[2].cmp(&b[2])
    });
    let positions: Vec<usize> = columns
        .iter()
        .filter_map(|c| CAT_INDICES_COLUMNS.iter().position(|k| k == c))
        .collect();
    for row in all_rows {
        rows.push(positions.iter().map(|p| row[*p].clone()).collect());
    }
    if request.json {
        let body: Vec<Value> = rows
            .iter()
            .map(|row| {
                Value::Object(
                    columns
                        .iter()
                        .zip(row)
                        .map(|(c, v)| (c.clone(), json!(v)))
                        .collect(),
                )
            })
            .collect();
        return Ok(ActionResponse::ok(Value::Array(body)));
    }
    let mut table = rows;
    if request.headers {
        table.insert(0, columns.clone());
    }
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        text.push_str(line.join(" ").trim_end());
        text.push('\n');
    }
    Ok(ActionResponse {
        status: 200,
        body: Value::Null,
        text: Some(text),
    })
}

fn update_aliases(
    engine: &Engine,
    body: &Value,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    const ACTION: &str = "indices:admin/aliases";
    let actions = body
        .get("actions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            EsError::new(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: no actions specified;",
            )
        })?;
    let _admin = engine.admin.lock().unwrap_or_else(|e| e.into_inner());
    // index name → its new alias map; applied only when every action is valid.
    let mut changes: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let current = |changes: &BTreeMap<String, Map<String, Value>>, index: &Index| {
        changes
            .get(&index.name)
            .cloned()
            .unwrap_or_else(|| index.state().meta.aliases.clone())
    };
    for action in actions {
        let Some((kind, spec)) = action.as_object().and_then(|o| o.iter().next()) else {
            return Err(EsError::bad_request("each alias action must be an object"));
        };
        let mut index_exprs = source::string_list(spec.get("index"));
        index_exprs.extend(source::string_list(spec.get("indices")));
        let mut aliases = source::string_list(spec.get("alias"));
        aliases.extend(source::string_list(spec.get("aliases")));
        if index_exprs.is_empty() {
            return Err(EsError::new(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: One of [index] or [indices] is required;",
            ));
        }
        // Both the indices and the alias names must be allowed.
        for alias in aliases.iter().filter(|a| !a.contains('*')) {
            scope.require(ACTION, alias)?;
        }
        let targets =
            engine.resolve_scoped(&index_exprs, IndicesOptions::default(), ACTION, scope)?;
        if targets.is_empty() {
            return Err(index_not_found(&index_exprs.join(",")));
        }
        match kind.as_str() {
            "add" => {
                if aliases.is_empty() {
                    return Err(EsError::new(
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: One of [alias] or [aliases] is required;",
                    ));
                }
                let mut definition = Map::new();
                for key in [
                    "filter",
                    "routing",
                    "index_routing",
                    "search_routing",
                    "is_write_index",
                    "is_hidden",
                ] {
                    if let Some(v) = spec.get(key) {
                        definition.insert(key.to_string(), v.clone());
                    }
                }
                if definition.contains_key("filter") {
                    return Err(EsError::bad_request(
                        "filtered aliases are not supported yet: remove [filter]",
                    ));
                }
                for alias in &aliases {
                    validate_index_name(alias)?;
                    if engine.index(alias).is_some() {
                        return Err(EsError::new(
                            400,
                            "invalid_alias_name_exception",
                            format!(
                                "Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias"
                            ),
                        ));
                    }
                    for index in &targets {
                        let mut map = current(&changes, index);
                        map.insert(alias.clone(), Value::Object(definition.clone()));
                        changes.insert(index.name.clone(), map);
                    }
                }
            }
            "remove" => {
                if aliases.is_empty() {
                    return Err(EsError::new(
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: One of [alias] or [aliases] is required;",
                    ));
                }
                let must_exist = spec.get("must_exist").and_then(Value::as_bool);
                let mut removed_any = false;
                for index in &targets {
                    let mut map = current(&changes, index);
                    let before = map.len();
                    map.retain(|name, _| !aliases.iter().any(|a| names::glob_match(a, name)));
                    removed_any |= map.len() != before;
                    changes.insert(index.name.clone(), map);
                }
                if !removed_any && must_exist != Some(false) {
                    return Err(EsError::new(
                        404,
                        "aliases_not_found_exception",
                        format!("aliases [{}] missing", aliases.join(",")),
                    ));
                }
            }
            "remove_index" => {
                return Err(EsError::bad_request(
                    "[remove_index] is not supported: delete the index with DELETE /{index}",
                ));
            }
            other => {
                return Err(EsError::bad_request(format!(
                    "unknown alias action [{other}]: use add or remove"
                )));
            }
        }
    }
    for (name, aliases) in changes {
        if let Some(index) = engine.index(&name) {
            index.update_meta(|state| {
                let mut next = state.clone();
                next.meta.aliases = aliases;
                Ok(next)
            })?;
        }
    }
    Ok(ActionResponse::ok(
        json!({"acknowledged": true, "errors": false}),
    ))
}

#[allow(clippy::too_many_arguments)]
fn get_aliases(
    engine: &Engine,
    expressions: &[String],
    alias_names: &[String],
    options: IndicesOptions,
    exists: bool,
    action: &str,
    scope: &dyn IndexScope,
) -> Result<ActionResponse, EsError> {
    let resolved = engine.resolve_scoped(expressions, options, action, scope)?;
    let mut out = Map::new();
    let mut found_any = false;
    for index in resolved {
        let aliases: Map<String, Value> = index
            .state()
            .meta
            .aliases
            .iter()
            .filter(|(name, _)| {
                alias_names.is_empty() || alias_names.iter().any(|a| names::glob_match(a, name))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        found_any |= !aliases.is_empty();
        if alias_names.is_empty() || !aliases.is_empty() {
            out.insert(index.name.clone(), json!({"aliases": aliases}));
        }
    }
    if !alias_names.is_empty() && !found_any {
        if exists {
            return Ok(ActionResponse::with_status(404, json!({})));
        }
        return Ok(ActionResponse::with_status(
            404,
            json!({"error": format!("alias [{}] missing", alias_names.join(",")), "status": 404}),
        ));
    }
    Ok(ActionResponse::ok(Value::Object(out)))
}

/// Health of the indices an expression names, for `_cluster/health`: `None` when a concrete
/// name is missing.
pub fn health(
    engine: &Engine,
    expressions: &[String],
) -> Option<Vec<(String, &'static str, u64, u64)>> {
    let options = IndicesOptions {
        expand_hidden: true,
        ..IndicesOptions::default()
    };
    let resolved = engine.resolve(expressions, options).ok()?;
    Some(
        resolved
            .iter()
            .map(|index| {
                let state = index.state();
                let shards = state
                    .settings
                    .get("index.number_of_shards")
                    .parse()
                    .unwrap_or(1);
                let replicas = state
                    .settings
                    .get("index.number_of_replicas")
                    .parse()
                    .unwrap_or(0);
                (
                    index.name.clone(),
                    health_of(&state.settings),
                    shards,
                    replicas,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_ids_increase_and_have_elasticsearch_length() {
        let ids: Vec<String> = (0..10_000).map(|_| time_ordered_id()).collect();
        assert!(ids.iter().all(|id| id.len() == 20), "{}", ids[0]);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids must strictly increase"
        );
    }
}
