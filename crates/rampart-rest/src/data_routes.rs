//! Index and document routes: each turns a request into a [`DataRequest`], with Elasticsearch's
//! parameters validated here so the engine sees only well-formed actions.

use hyper::Method;
use rampart_action::data::{
    BulkItem, CatIndicesRequest, DocWrite, IndicesOptions, MgetItem, MsearchItem, Refresh,
    SourceFilter, VersionType, WriteConditions, WriteItem,
};
use rampart_action::{ActionRequest, DataRequest, EsError};
use serde_json::{Map, Value, json};

use crate::routes::{Endpoint, invalid_value, param};

type Params<'a, 'k, 'v> = &'a matchit::Params<'k, 'v>;
type Query<'a> = &'a [(String, String)];

fn data(request: DataRequest) -> Result<ActionRequest, EsError> {
    Ok(ActionRequest::Data(request))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn indices(params: Params<'_, '_, '_>) -> Vec<String> {
    params.get("index").map(list).unwrap_or_default()
}

fn one_index(params: Params<'_, '_, '_>) -> Result<String, EsError> {
    let index = params.get("index").unwrap_or_default();
    if index.contains(',') || index.contains('*') {
        return Err(EsError::new(
            400,
            "invalid_index_name_exception",
            format!(
                "Invalid index name [{index}], must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"
            ),
        ));
    }
    Ok(index.to_string())
}

fn id(params: Params<'_, '_, '_>) -> Result<String, EsError> {
    let id = params.get("id").unwrap_or_default();
    check_id(id)?;
    Ok(id.to_string())
}

fn check_id(id: &str) -> Result<(), EsError> {
    if id.is_empty() {
        return Err(validation("id is missing"));
    }
    if id.len() > 512 {
        return Err(validation(&format!(
            "id [{}...] is too long, must be no longer than 512 bytes but was: {}",
            &id[..id.char_indices().nth(20).map_or(id.len(), |(i, _)| i)],
            id.len()
        )));
    }
    Ok(())
}

fn validation(reason: &str) -> EsError {
    EsError::new(
        400,
        "action_request_validation_exception",
        format!("Validation Failed: 1: {reason};"),
    )
}

fn flag(query: Query<'_>, name: &str, default: bool) -> Result<bool, EsError> {
    match param(query, name) {
        None => Ok(default),
        Some("" | "true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(invalid_value(name, other, "true or false")),
    }
}

fn body_json(body: &[u8], what: &str) -> Result<Value, EsError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        EsError::new(
            400,
            "parse_exception",
            format!("failed to parse the body of {what}: {e}"),
        )
    })
}

fn body_object(body: &[u8], what: &str) -> Result<Value, EsError> {
    match body_json(body, what)? {
        v @ Value::Object(_) => Ok(v),
        Value::Null => Err(EsError::new(
            400,
            "parse_exception",
            format!("request body is required for {what}"),
        )),
        _ => Err(EsError::new(
            400,
            "parse_exception",
            format!("the body of {what} must be a JSON object"),
        )),
    }
}

pub(crate) fn indices_options(query: Query<'_>) -> Result<IndicesOptions, EsError> {
    let mut options = IndicesOptions {
        ignore_unavailable: flag(query, "ignore_unavailable", false)?,
        allow_no_indices: flag(query, "allow_no_indices", true)?,
        ..IndicesOptions::default()
    };
    if let Some(value) = param(query, "expand_wildcards") {
        options.expand_open = false;
        for w in list(value) {
            match w.as_str() {
                "open" => options.expand_open = true,
                "all" => {
                    options.expand_open = true;
                    options.expand_hidden = true;
                }
                "hidden" => options.expand_hidden = true,
                "closed" | "none" => {}
                other => {
                    return Err(invalid_value(
                        "expand_wildcards",
                        other,
                        "open, closed, hidden, none or all",
                    ));
                }
            }
        }
    }
    Ok(options)
}

fn refresh(query: Query<'_>) -> Result<Refresh, EsError> {
    match param(query, "refresh") {
        None | Some("false") => Ok(Refresh::False),
        Some("" | "true") => Ok(Refresh::True),
        Some("wait_for") => Ok(Refresh::WaitFor),
        Some(other) => Err(invalid_value("refresh", other, "true, false or wait_for")),
    }
}

fn u64_param(query: Query<'_>, name: &str) -> Result<Option<u64>, EsError> {
    param(query, name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| invalid_value(name, v, "a non-negative integer"))
        })
        .transpose()
}

fn version_type(value: Option<&str>) -> Result<VersionType, EsError> {
    match value {
        None | Some("internal") => Ok(VersionType::Internal),
        Some("external") => Ok(VersionType::External),
        Some("external_gte") => Ok(VersionType::ExternalGte),
        Some(other) => Err(invalid_value(
            "version_type",
            other,
            "internal, external or external_gte",
        )),
    }
}

fn check_conditions(conditions: &WriteConditions, op: &str) -> Result<(), EsError> {
    match (conditions.if_seq_no, conditions.if_primary_term) {
        (Some(_), None) | (None, Some(_)) => {
            return Err(validation(
                "if_seq_no and if_primary_term must be given together",
            ));
        }
        _ => {}
    }
    if conditions.version.is_some() && conditions.version_type == VersionType::Internal {
        return Err(validation(
            "internal versioning can not be used for optimistic concurrency control. Please use \
             `if_seq_no` and `if_primary_term` instead",
        ));
    }
    if conditions.version_type != VersionType::Internal && conditions.version.is_none() {
        return Err(validation(&format!(
            "a version is required with version_type for {op}"
        )));
    }
    if op == "update" && conditions.version.is_some() {
        return Err(validation(
            "can't provide version in update requests: use if_seq_no and if_primary_term",
        ));
    }
    Ok(())
}

fn conditions(query: Query<'_>, op: &str) -> Result<WriteConditions, EsError> {
    let conditions = WriteConditions {
        if_seq_no: u64_param(query, "if_seq_no")?,
        if_primary_term: u64_param(query, "if_primary_term")?,
        version: u64_param(query, "version")?,
        version_type: version_type(param(query, "version_type"))?,
    };
    check_conditions(&conditions, op)?;
    Ok(conditions)
}

fn no_pipeline(query: Query<'_>) -> Result<(), EsError> {
    if let Some(p) = param(query, "pipeline")
        && p != "_none"
    {
        return Err(EsError::bad_request(format!(
            "ingest pipelines are not supported: remove [pipeline={p}]"
        )));
    }
    Ok(())
}

pub(crate) fn source_filter(
    query: Query<'_>,
    default_enabled: bool,
) -> Result<SourceFilter, EsError> {
    let mut filter = SourceFilter {
        enabled: default_enabled,
        ..SourceFilter::default()
    };
    match param(query, "_source") {
        None => {}
        Some("true" | "") => filter.enabled = true,
        Some("false") => filter.enabled = false,
        Some(fields) => {
            filter.enabled = true;
            filter.includes = list(fields);
        }
    }
    for name in ["_source_includes", "_source_include"] {
        if let Some(v) = param(query, name) {
            filter.enabled = true;
            filter.includes = list(v);
        }
    }
    for name in ["_source_excludes", "_source_exclude"] {
        if let Some(v) = param(query, name) {
            filter.enabled = true;
            filter.excludes = list(v);
        }
    }
    Ok(filter)
}

fn index_doc(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
    create: bool,
    with_id: bool,
) -> Result<ActionRequest, EsError> {
    no_pipeline(query)?;
    let op_type = param(query, "op_type");
    let create = create
        || match op_type {
            None | Some("index") => false,
            Some("create") => true,
            Some(other) => return Err(invalid_value("op_type", other, "index or create")),
        };
    if body.is_empty() {
        return Err(EsError::new(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: source is missing;",
        ));
    }
    let id = if with_id { Some(id(params)?) } else { None };
    if !with_id && op_type == Some("create") {
        // Auto-generated ids always create; nothing to check.
    }
    let item = WriteItem {
        index: one_index(params)?,
        write: DocWrite::Index {
            id,
            source: body.to_vec(),
            create,
        },
        conditions: conditions(query, if create { "create" } else { "index" })?,
        routing: param(query, "routing").map(str::to_string),
        retry_on_conflict: 0,
    };
    data(DataRequest::Write {
        item,
        refresh: refresh(query)?,
        source: SourceFilter {
            enabled: false,
            ..SourceFilter::default()
        },
    })
}

fn update_doc(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_object(body, "an update request")?;
    let mut source = source_filter(query, false)?;
    if let Some(requested) = body.get("_source") {
        source.enabled = requested != &json!(false);
        match requested {
            Value::String(s) => source.includes = vec![s.clone()],
            Value::Array(items) => {
                source.includes = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
            }
            Value::Object(o) => {
                source.includes = string_list(o.get("includes"));
                source.excludes = string_list(o.get("excludes"));
            }
            _ => {}
        }
    }
    let retry_on_conflict = u64_param(query, "retry_on_conflict")?.unwrap_or(0);
    let item = WriteItem {
        index: one_index(params)?,
        write: DocWrite::Update {
            id: id(params)?,
            body,
        },
        conditions: conditions(query, "update")?,
        routing: param(query, "routing").map(str::to_string),
        retry_on_conflict: u32::try_from(retry_on_conflict).unwrap_or(u32::MAX),
    };
    data(DataRequest::Write {
        item,
        refresh: refresh(query)?,
        source,
    })
}

fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => list(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn delete_doc(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    _body: &[u8],
) -> Result<ActionRequest, EsError> {
    let item = WriteItem {
        index: one_index(params)?,
        write: DocWrite::Delete { id: id(params)? },
        conditions: conditions(query, "delete")?,
        routing: param(query, "routing").map(str::to_string),
        retry_on_conflict: 0,
    };
    data(DataRequest::Write {
        item,
        refresh: refresh(query)?,
        source: SourceFilter::default(),
    })
}

fn get_doc(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    source_only: bool,
    head: bool,
) -> Result<ActionRequest, EsError> {
    if param(query, "stored_fields").is_some_and(|v| !v.is_empty() && v != "_none_") {
        return Err(EsError::bad_request(
            "[stored_fields] is not supported: Rampart stores the _source only",
        ));
    }
    data(DataRequest::Get {
        index: one_index(params)?,
        id: id(params)?,
        source: source_filter(query, true)?,
        source_only,
        realtime: flag(query, "realtime", true)?,
        head,
    })
}

fn mget(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_object(body, "a multi get request")?;
    let default_index = params.get("index").map(str::to_string);
    let default_source = source_filter(query, true)?;
    let mut items = Vec::new();
    let source_of = |spec: &Value| -> SourceFilter {
        match spec.get("_source") {
            None => default_source.clone(),
            Some(Value::Bool(b)) => SourceFilter {
                enabled: *b,
                ..SourceFilter::default()
            },
            Some(Value::Object(o)) => SourceFilter {
                enabled: true,
                includes: string_list(o.get("includes").or_else(|| o.get("include"))),
                excludes: string_list(o.get("excludes").or_else(|| o.get("exclude"))),
            },
            Some(other) => SourceFilter {
                enabled: true,
                includes: string_list(Some(other)),
                excludes: Vec::new(),
            },
        }
    };
    if let Some(docs) = body.get("docs") {
        let Value::Array(docs) = docs else {
            return Err(EsError::new(
                400,
                "parse_exception",
                "[docs] must be an array",
            ));
        };
        for doc in docs {
            let index = doc
                .get("_index")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| default_index.clone())
                .ok_or_else(|| validation("index is missing for doc 0"))?;
            let id = match doc.get("_id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(validation("id is missing for doc 0")),
            };
            items.push(MgetItem {
                index,
                id,
                source: source_of(doc),
            });
        }
    } else if let Some(ids) = body.get("ids") {
        let index = default_index.ok_or_else(|| validation("index is missing for doc 0"))?;
        let Value::Array(ids) = ids else {
            return Err(EsError::new(
                400,
                "parse_exception",
                "[ids] must be an array",
            ));
        };
        for id in ids {
            let id = match id {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(EsError::new(
                        400,
                        "parse_exception",
                        "[ids] must hold strings",
                    ));
                }
            };
            items.push(MgetItem {
                index: index.clone(),
                id,
                source: default_source.clone(),
            });
        }
    } else {
        return Err(validation("no documents to get"));
    }
    if items.is_empty() {
        return Err(validation("no documents to get"));
    }
    let mut names: Vec<String> = items.iter().map(|i| i.index.clone()).collect();
    names.sort();
    names.dedup();
    data(DataRequest::Mget {
        items,
        indices: names,
    })
}

/// Parses a `_bulk` body: NDJSON action lines, each followed by a source line for `index`,
/// `create` and `update`. A malformed action line fails the request, as in Elasticsearch; a
/// bad document fails only its item (the engine reports it).
pub fn parse_bulk(default_index: Option<&str>, body: &[u8]) -> Result<Vec<BulkItem>, EsError> {
    if body.is_empty() {
        return Err(validation("no requests added"));
    }
    if body.last() != Some(&b'\n') {
        return Err(EsError::bad_request(
            "The bulk request must be terminated by a newline [\\n]",
        ));
    }
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(n, line)| (n + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .peekable();
    let mut items = Vec::new();
    while let Some((number, line)) = lines.next() {
        let action: Value = serde_json::from_slice(line).map_err(|e| {
            EsError::bad_request(format!(
                "Malformed action/metadata line [{number}], expected a JSON object: {e}"
            ))
        })?;
        let Value::Object(action) = action else {
            return Err(EsError::bad_request(format!(
                "Malformed action/metadata line [{number}], expected START_OBJECT"
            )));
        };
        let mut entries = action.into_iter();
        let (Some((op, meta)), None) = (entries.next(), entries.next()) else {
            return Err(EsError::bad_request(format!(
                "Malformed action/metadata line [{number}], expected one of [create], \
                 [delete], [index] or [update]"
            )));
        };
        let op: &'static str = match op.as_str() {
            "index" => "index",
            "create" => "create",
            "update" => "update",
            "delete" => "delete",
            other => {
                return Err(EsError::bad_request(format!(
                    "Malformed action/metadata line [{number}], expected field [create], \
                     [delete], [index] or [update] but found [{other}]"
                )));
            }
        };
        let Value::Object(meta) = meta else {
            return Err(EsError::bad_request(format!(
                "Malformed action/metadata line [{number}], expected START_OBJECT after [{op}]"
            )));
        };
        let source = if op == "delete" {
            None
        } else {
            match lines.next() {
                Some((_, line)) => Some(line),
                None => {
                    return Err(validation(&format!(
                        "the [{op}] on line [{number}] has no source line"
                    )));
                }
            }
        };
        items.push(bulk_item(number, op, &meta, source, default_index)?);
    }
    if items.is_empty() {
        return Err(validation("no requests added"));
    }
    Ok(items)
}

fn bulk_item(
    number: usize,
    op: &'static str,
    meta: &Map<String, Value>,
    source: Option<&[u8]>,
    default_index: Option<&str>,
) -> Result<BulkItem, EsError> {
    let mut index = default_index.map(str::to_string);
    let mut id = None;
    let mut conditions = WriteConditions::default();
    let mut routing = None;
    let mut retry_on_conflict = 0u32;
    let bad = |field: &str, expected: &str| {
        EsError::bad_request(format!(
            "Malformed action/metadata line [{number}]: [{field}] must be {expected}"
        ))
    };
    for (key, value) in meta {
        match key.as_str() {
            "_index" => {
                index = Some(
                    value
                        .as_str()
                        .ok_or_else(|| bad(key, "a string"))?
                        .to_string(),
                )
            }
            "_id" => {
                id = Some(match value {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(bad(key, "a string")),
                });
            }
            "routing" => routing = value.as_str().map(str::to_string),
            "if_seq_no" => {
                conditions.if_seq_no = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| bad(key, "a non-negative integer"))?,
                )
            }
            "if_primary_term" => {
                conditions.if_primary_term = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| bad(key, "a non-negative integer"))?,
                );
            }
            "version" => {
                conditions.version = Some(
                    value
                        .as_u64()
                        .ok_or_else(|| bad(key, "a non-negative integer"))?,
                )
            }
            "version_type" => conditions.version_type = version_type(value.as_str())?,
            "retry_on_conflict" => {
                retry_on_conflict = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad(key, "a non-negative integer"))?;
            }
            "require_alias" | "dynamic_templates" | "_source" => {}
            "pipeline" if value == &json!("_none") => {}
            "pipeline" => {
                return Err(EsError::bad_request(format!(
                    "Malformed action/metadata line [{number}]: ingest pipelines are not supported"
                )));
            }
            other => {
                return Err(EsError::bad_request(format!(
                    "Action/metadata line [{number}] contains an unknown parameter [{other}]"
                )));
            }
        }
    }
    let Some(index) = index else {
        return Err(validation("index is missing"));
    };
    let invalid = |reason: String| {
        Ok(BulkItem::Invalid {
            op,
            index: index.clone(),
            id: id.clone(),
            reason,
        })
    };
    if index.is_empty() {
        return invalid("Invalid index name [], must not be empty".into());
    }
    if let Err(e) = check_conditions(&conditions, op) {
        return invalid(e.reason);
    }
    if let Some(id) = &id
        && let Err(e) = check_id(id)
    {
        return invalid(e.reason);
    }
    let write = match op {
        "delete" | "update" if id.is_none() => {
            return invalid(format!("Validation Failed: 1: id is missing for [{op}];"));
        }
        "delete" => DocWrite::Delete {
            id: id.clone().unwrap_or_default(),
        },
        "update" => {
            let body: Value = match serde_json::from_slice(source.unwrap_or_default()) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => return invalid("the update line must be a JSON object".into()),
                Err(e) => return invalid(format!("failed to parse the update line: {e}")),
            };
            DocWrite::Update {
                id: id.clone().unwrap_or_default(),
                body,
            }
        }
        _ => DocWrite::Index {
            id: id.clone(),
            source: source.unwrap_or_default().to_vec(),
            create: op == "create",
        },
    };
    Ok(BulkItem::Write(WriteItem {
        index,
        write,
        conditions,
        routing,
        retry_on_conflict,
    }))
}

fn bulk(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    no_pipeline(query)?;
    let default_index = params.get("index");
    let items = parse_bulk(default_index, body)?;
    let mut names: Vec<String> = items
        .iter()
        .map(|i| match i {
            BulkItem::Write(w) => w.index.clone(),
            BulkItem::Invalid { index, .. } => index.clone(),
        })
        .collect();
    names.sort();
    names.dedup();
    data(DataRequest::Bulk {
        items,
        indices: names,
        refresh: refresh(query)?,
    })
}

fn search(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
    count_only: bool,
) -> Result<ActionRequest, EsError> {
    let mut body = match body_json(body, "a search request")? {
        Value::Null => json!({}),
        v @ Value::Object(_) => v,
        _ => {
            return Err(EsError::new(
                400,
                "parse_exception",
                "the search body must be a JSON object",
            ));
        }
    };
    for name in ["from", "size"] {
        if let Some(n) = u64_param(query, name)? {
            body[name] = json!(n);
        }
    }
    if let Some(v) = param(query, "track_total_hits") {
        body["track_total_hits"] = match v {
            "true" | "" => json!(true),
            "false" => json!(false),
            n => json!(n.parse::<u64>().map_err(|_| invalid_value(
                "track_total_hits",
                n,
                "true, false or a number"
            ))?),
        };
    }
    let filter = source_filter(query, true)?;
    if param(query, "_source").is_some()
        || param(query, "_source_includes").is_some()
        || param(query, "_source_excludes").is_some()
    {
        body["_source"] = if filter.enabled {
            json!({"includes": filter.includes, "excludes": filter.excludes})
        } else {
            json!(false)
        };
    }
    if let Some(q) = param(query, "q") {
        if body.get("query").is_some() {
            return Err(EsError::bad_request(
                "[q] and a [query] in the body cannot be used together: use one of them",
            ));
        }
        let mut query_string = json!({"query": q});
        for (name, key) in [
            ("df", "default_field"),
            ("default_operator", "default_operator"),
            ("analyze_wildcard", "analyze_wildcard"),
            ("lenient", "lenient"),
        ] {
            if let Some(v) = param(query, name) {
                query_string[key] = match key {
                    "analyze_wildcard" | "lenient" => json!(v != "false"),
                    _ => json!(v),
                };
            }
        }
        body["query"] = json!({"query_string": query_string});
    }
    if let Some(sort) = param(query, "sort") {
        let mut keys = Vec::new();
        for key in sort.split(',').filter(|k| !k.is_empty()) {
            keys.push(match key.rsplit_once(':') {
                Some((field, order @ ("asc" | "desc"))) => json!({ field: order }),
                Some((_, other)) => {
                    return Err(invalid_value(
                        "sort",
                        key,
                        &format!("field or field:asc|desc (not [{other}])"),
                    ));
                }
                None => json!(key),
            });
        }
        body["sort"] = Value::Array(keys);
    }
    for name in ["docvalue_fields", "stored_fields"] {
        if let Some(v) = param(query, name) {
            body[name] = json!(list(v));
        }
    }
    let scroll = param(query, "scroll").map(str::to_string);
    if scroll.is_some() && count_only {
        return Err(EsError::bad_request("[scroll] is not allowed with _count"));
    }
    data(DataRequest::Search {
        indices: indices(params),
        options: indices_options(query)?,
        body,
        count_only,
        scroll,
        owner: String::new(),
    })
}

/// `_search/scroll`: the id and keep-alive from the path, the query or the body.
fn scroll(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_json(body, "a scroll request")?;
    let scroll_id = params
        .get("scroll_id")
        .map(str::to_string)
        .or_else(|| param(query, "scroll_id").map(str::to_string))
        .or_else(|| {
            body.get("scroll_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| validation("scroll_id is missing;"))?;
    let keep_alive = param(query, "scroll").map(str::to_string).or_else(|| {
        body.get("scroll")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    data(DataRequest::Scroll {
        scroll_id,
        keep_alive,
        owner: String::new(),
    })
}

fn clear_scroll(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_json(body, "a clear scroll request")?;
    let mut ids: Vec<String> = params.get("scroll_id").map(list).unwrap_or_default();
    if let Some(v) = param(query, "scroll_id") {
        ids.extend(list(v));
    }
    match body.get("scroll_id") {
        Some(Value::String(id)) => ids.push(id.clone()),
        Some(Value::Array(items)) => {
            ids.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)))
        }
        Some(other) => {
            return Err(EsError::bad_request(format!(
                "[scroll_id] must be a string or an array of strings, got [{other}]"
            )));
        }
        None => {}
    }
    let all = ids.iter().any(|i| i == "_all");
    if ids.is_empty() {
        return Err(validation("scroll_id is missing;"));
    }
    data(DataRequest::ClearScroll {
        scroll_ids: ids,
        all,
        owner: String::new(),
    })
}

fn open_pit(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    _body: &[u8],
) -> Result<ActionRequest, EsError> {
    let keep_alive = param(query, "keep_alive")
        .ok_or_else(|| validation("[keep_alive] is missing;"))?
        .to_string();
    data(DataRequest::OpenPit {
        indices: indices(params),
        options: indices_options(query)?,
        keep_alive,
        owner: String::new(),
    })
}

fn close_pit(
    _params: Params<'_, '_, '_>,
    _query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_json(body, "a close point in time request")?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("[id] is missing;"))?
        .to_string();
    data(DataRequest::ClosePit {
        id,
        owner: String::new(),
    })
}

fn by_query(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
    delete: bool,
) -> Result<ActionRequest, EsError> {
    let body = body_json(body, "a by-query request")?;
    let proceed_on_conflict = match param(query, "conflicts") {
        None | Some("abort") => false,
        Some("proceed") => true,
        Some(other) => return Err(invalid_value("conflicts", other, "abort or proceed")),
    };
    if param(query, "wait_for_completion") == Some("false") {
        return Err(EsError::bad_request(
            "[wait_for_completion=false] (background tasks) is not supported yet: leave it out \
             and the request answers when the work is done",
        ));
    }
    if let Some(slices) = param(query, "slices")
        && slices != "1"
        && slices != "auto"
    {
        return Err(invalid_value(
            "slices",
            slices,
            "1 or auto (one node runs one slice)",
        ));
    }
    if param(query, "q").is_some() {
        return Err(EsError::bad_request(
            "[q] is not supported on by-query requests yet: send a [query] in the body",
        ));
    }
    data(DataRequest::ByQuery {
        indices: indices(params),
        options: indices_options(query)?,
        body,
        delete,
        proceed_on_conflict,
        refresh: flag(query, "refresh", false)?,
        max_docs: u64_param(query, "max_docs")?,
    })
}

fn field_caps(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_json(body, "a field capabilities request")?;
    let mut fields: Vec<String> = param(query, "fields").map(list).unwrap_or_default();
    match body.get("fields") {
        Some(Value::Array(items)) => {
            fields.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
        Some(Value::String(v)) => fields.extend(list(v)),
        _ => {}
    }
    if fields.is_empty() {
        return Err(validation("specified fields can't be null or empty;"));
    }
    data(DataRequest::FieldCaps {
        indices: indices(params),
        options: indices_options(query)?,
        fields,
    })
}

/// `_msearch`: NDJSON pairs of a header (`index`, `ignore_unavailable`, ...) and a search body.
pub fn parse_msearch(
    default_index: Option<&str>,
    body: &[u8],
) -> Result<Vec<MsearchItem>, EsError> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(n, line)| (n + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    while let Some((number, header)) = lines.next() {
        let header: Value = serde_json::from_slice(header).map_err(|e| {
            EsError::bad_request(format!("Malformed msearch header on line [{number}]: {e}"))
        })?;
        let Value::Object(header) = header else {
            return Err(EsError::bad_request(format!(
                "Malformed msearch header on line [{number}]: expected an object"
            )));
        };
        let (_, search) = lines.next().ok_or_else(|| {
            validation(&format!(
                "the msearch header on line [{number}] has no search body"
            ))
        })?;
        let search: Value = serde_json::from_slice(search).map_err(|e| {
            EsError::new(
                400,
                "parse_exception",
                format!("Malformed msearch body after line [{number}]: {e}"),
            )
        })?;
        let mut indices = match header.get("index") {
            Some(v) => string_list(Some(v)),
            None => default_index.map(list).unwrap_or_default(),
        };
        indices.retain(|i| !i.is_empty());
        let query: Vec<(String, String)> = header
            .iter()
            .filter(|(k, _)| *k != "index")
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                )
            })
            .collect();
        items.push(MsearchItem {
            indices,
            options: indices_options(&query)?,
            body: search,
        });
    }
    if items.is_empty() {
        return Err(validation("no requests added"));
    }
    Ok(items)
}

fn msearch(
    params: Params<'_, '_, '_>,
    _query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let searches = parse_msearch(params.get("index"), body)?;
    let mut names: Vec<String> = searches.iter().flat_map(|s| s.indices.clone()).collect();
    names.sort();
    names.dedup();
    data(DataRequest::Msearch {
        searches,
        indices: names,
        owner: String::new(),
    })
}

fn cat_indices(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    _body: &[u8],
) -> Result<ActionRequest, EsError> {
    let json = match param(query, "format") {
        None | Some("text" | "txt") => false,
        Some("json") => true,
        Some(other) => return Err(invalid_value("format", other, "text or json")),
    };
    let bytes_unit = match param(query, "bytes") {
        None => None,
        Some(u @ ("b" | "kb" | "mb" | "gb")) => Some(u.to_string()),
        Some(other) => return Err(invalid_value("bytes", other, "b, kb, mb or gb")),
    };
    let health = match param(query, "health") {
        None => None,
        Some(h @ ("green" | "yellow" | "red")) => Some(h.to_string()),
        Some(other) => return Err(invalid_value("health", other, "green, yellow or red")),
    };
    data(DataRequest::CatIndices(CatIndicesRequest {
        indices: indices(params),
        options: IndicesOptions {
            expand_hidden: param(query, "expand_wildcards")
                .is_some_and(|w| w.contains("all") || w.contains("hidden")),
            ..indices_options(query)?
        },
        json,
        headers: flag(query, "v", false)?,
        columns: param(query, "h").map(list).unwrap_or_default(),
        bytes_unit,
        sort: param(query, "s").map(list).unwrap_or_default(),
        health,
    }))
}

fn put_template(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    data(DataRequest::PutIndexTemplate {
        name: params.get("name").unwrap_or_default().to_string(),
        body: body_object(body, "a put index template request")?,
        create: flag(query, "create", false)?,
    })
}

fn put_alias(
    params: Params<'_, '_, '_>,
    _query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let mut spec = match body_json(body, "a put alias request")? {
        Value::Object(o) => o,
        Value::Null => Map::new(),
        _ => {
            return Err(EsError::new(
                400,
                "parse_exception",
                "the alias body must be an object",
            ));
        }
    };
    let idx = indices(params);
    spec.insert("indices".into(), json!(idx));
    spec.insert(
        "alias".into(),
        json!(params.get("name").unwrap_or_default()),
    );
    data(DataRequest::UpdateAliases {
        indices: idx,
        body: json!({"actions": [{"add": spec}]}),
    })
}

fn delete_alias(
    params: Params<'_, '_, '_>,
    _query: Query<'_>,
    _body: &[u8],
) -> Result<ActionRequest, EsError> {
    let idx = indices(params);
    data(DataRequest::UpdateAliases {
        indices: idx.clone(),
        body: json!({"actions": [{"remove": {"indices": idx, "aliases": list(params.get("name").unwrap_or_default())}}]}),
    })
}

fn update_aliases(
    _params: Params<'_, '_, '_>,
    _query: Query<'_>,
    body: &[u8],
) -> Result<ActionRequest, EsError> {
    let body = body_object(body, "an aliases request")?;
    let mut names = Vec::new();
    if let Some(actions) = body.get("actions").and_then(Value::as_array) {
        for action in actions {
            if let Some(spec) = action.as_object().and_then(|o| o.values().next()) {
                names.extend(string_list(spec.get("index")));
                names.extend(string_list(spec.get("indices")));
            }
        }
    }
    names.sort();
    names.dedup();
    data(DataRequest::UpdateAliases {
        indices: names,
        body,
    })
}

fn get_aliases(
    params: Params<'_, '_, '_>,
    query: Query<'_>,
    exists: bool,
) -> Result<ActionRequest, EsError> {
    data(DataRequest::GetAliases {
        indices: indices(params),
        names: params.get("name").map(list).unwrap_or_default(),
        options: indices_options(query)?,
        exists,
    })
}

const CAT_PARAMS: &[&str] = &[
    "format",
    "v",
    "h",
    "bytes",
    "expand_wildcards",
    "health",
    "pri",
    "s",
    "help",
    "local",
    "master_timeout",
    "time",
    "include_unloaded_segments",
];
const PUT_MAPPING_PARAMS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "master_timeout",
    "timeout",
    "write_index_only",
];
const GET_INDEX_PARAMS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "master_timeout",
    "local",
    "flat_settings",
    "include_defaults",
    "features",
];
const MSEARCH_PARAMS: &[&str] = &[
    "max_concurrent_searches",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "rest_total_hits_as_int",
    "typed_keys",
    "search_type",
    "ccs_minimize_roundtrips",
];
const INDICES_OPTIONS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "master_timeout",
    "timeout",
    "local",
];
const WRITE_PARAMS: &[&str] = &[
    "refresh",
    "routing",
    "timeout",
    "op_type",
    "if_seq_no",
    "if_primary_term",
    "version",
    "version_type",
    "pipeline",
    "wait_for_active_shards",
    "require_alias",
    "require_data_stream",
];
const UPDATE_PARAMS: &[&str] = &[
    "refresh",
    "routing",
    "timeout",
    "if_seq_no",
    "if_primary_term",
    "retry_on_conflict",
    "_source",
    "_source_includes",
    "_source_excludes",
    "wait_for_active_shards",
    "require_alias",
    "lang",
];
const GET_PARAMS: &[&str] = &[
    "_source",
    "_source_includes",
    "_source_excludes",
    "_source_include",
    "_source_exclude",
    "routing",
    "realtime",
    "refresh",
    "preference",
    "stored_fields",
    "version",
    "version_type",
];
const BULK_PARAMS: &[&str] = &[
    "refresh",
    "routing",
    "timeout",
    "pipeline",
    "wait_for_active_shards",
    "_source",
    "_source_includes",
    "_source_excludes",
    "require_alias",
    "require_data_stream",
    "list_executed_pipelines",
];
const SEARCH_PARAMS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "from",
    "size",
    "_source",
    "_source_includes",
    "_source_excludes",
    "track_total_hits",
    "rest_total_hits_as_int",
    "typed_keys",
    "preference",
    "routing",
    "timeout",
    "request_cache",
    "search_type",
    "batched_reduce_size",
    "ccs_minimize_roundtrips",
    "allow_partial_search_results",
    "q",
    "df",
    "default_operator",
    "analyze_wildcard",
    "lenient",
    "sort",
    "scroll",
    "docvalue_fields",
    "stored_fields",
    "seq_no_primary_term",
    "version",
    "explain",
    "track_scores",
    "min_score",
    "terminate_after",
];
const FIELD_CAPS_PARAMS: &[&str] = &[
    "fields",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "include_unmapped",
];
const BY_QUERY_PARAMS: &[&str] = &[
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "conflicts",
    "refresh",
    "max_docs",
    "wait_for_completion",
    "slices",
    "scroll_size",
    "requests_per_second",
    "timeout",
    "q",
];

fn endpoint(
    method: Method,
    params: &'static [&'static str],
    accepts_body: bool,
    build: crate::routes::Build,
) -> Endpoint {
    Endpoint {
        method,
        params,
        accepts_body,
        build,
    }
}

/// The data routes, to add to the router.
pub(crate) fn routes() -> Vec<(&'static str, Vec<Endpoint>)> {
    use Method as M;
    let search_endpoints = |count: bool| -> Vec<Endpoint> {
        let build: crate::routes::Build = if count {
            |p, q, b| search(p, q, b, true)
        } else {
            |p, q, b| search(p, q, b, false)
        };
        vec![
            endpoint(M::GET, SEARCH_PARAMS, true, build),
            endpoint(M::POST, SEARCH_PARAMS, true, build),
        ]
    };
    let get_alias_endpoints = || {
        vec![
            endpoint(M::GET, INDICES_OPTIONS, false, |p, q, _| {
                get_aliases(p, q, false)
            }),
            endpoint(M::HEAD, INDICES_OPTIONS, false, |p, q, _| {
                get_aliases(p, q, true)
            }),
        ]
    };
    let alias_write_endpoints = || {
        vec![
            endpoint(M::PUT, &["timeout", "master_timeout"], true, put_alias),
            endpoint(M::POST, &["timeout", "master_timeout"], true, put_alias),
            endpoint(
                M::DELETE,
                &["timeout", "master_timeout"],
                false,
                delete_alias,
            ),
        ]
    };
    let bulk_endpoints = || {
        vec![
            endpoint(M::POST, BULK_PARAMS, true, bulk),
            endpoint(M::PUT, BULK_PARAMS, true, bulk),
        ]
    };
    let msearch_endpoints = || {
        vec![
            endpoint(M::GET, MSEARCH_PARAMS, true, msearch),
            endpoint(M::POST, MSEARCH_PARAMS, true, msearch),
        ]
    };
    let mget_endpoints = || {
        vec![
            endpoint(M::GET, GET_PARAMS, true, mget),
            endpoint(M::POST, GET_PARAMS, true, mget),
        ]
    };
    let refresh_endpoints = || {
        let build: crate::routes::Build = |p, q, _| {
            data(DataRequest::Refresh {
                indices: indices(p),
                options: indices_options(q)?,
            })
        };
        vec![
            endpoint(M::POST, INDICES_OPTIONS, false, build),
            endpoint(M::GET, INDICES_OPTIONS, false, build),
        ]
    };
    let get_mapping: crate::routes::Build = |p, q, _| {
        data(DataRequest::GetMapping {
            indices: indices(p),
            options: indices_options(q)?,
        })
    };
    let put_mapping: crate::routes::Build = |p, q, b| {
        data(DataRequest::PutMapping {
            indices: indices(p),
            body: body_object(b, "a put mapping request")?,
            options: indices_options(q)?,
        })
    };
    let get_settings: crate::routes::Build = |p, q, _| {
        data(DataRequest::GetSettings {
            indices: indices(p),
            options: indices_options(q)?,
            flat: flag(q, "flat_settings", false)?,
            include_defaults: flag(q, "include_defaults", false)?,
        })
    };
    let put_settings: crate::routes::Build = |p, q, b| {
        data(DataRequest::PutSettings {
            indices: indices(p),
            body: body_object(b, "an update settings request")?,
            options: indices_options(q)?,
        })
    };
    const SETTINGS_PARAMS: &[&str] = &[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "master_timeout",
        "timeout",
        "local",
        "flat_settings",
        "include_defaults",
        "preserve_existing",
        "reopen",
    ];
    let settings_endpoints = || {
        vec![
            endpoint(M::GET, SETTINGS_PARAMS, false, get_settings),
            endpoint(M::PUT, SETTINGS_PARAMS, true, put_settings),
        ]
    };
    let template_endpoints = || {
        vec![
            endpoint(
                M::PUT,
                &["create", "master_timeout", "cause"],
                true,
                put_template,
            ),
            endpoint(
                M::POST,
                &["create", "master_timeout", "cause"],
                true,
                put_template,
            ),
            endpoint(
                M::GET,
                &[
                    "master_timeout",
                    "local",
                    "flat_settings",
                    "include_defaults",
                ],
                false,
                |p, _, _| {
                    data(DataRequest::GetIndexTemplates {
                        names: p.get("name").map(list).unwrap_or_default(),
                        exists: false,
                    })
                },
            ),
            endpoint(
                M::HEAD,
                &["master_timeout", "local", "flat_settings"],
                false,
                |p, _, _| {
                    data(DataRequest::GetIndexTemplates {
                        names: p.get("name").map(list).unwrap_or_default(),
                        exists: true,
                    })
                },
            ),
            endpoint(
                M::DELETE,
                &["master_timeout", "timeout"],
                false,
                |p, _, _| {
                    data(DataRequest::DeleteIndexTemplate {
                        name: p.get("name").unwrap_or_default().to_string(),
                    })
                },
            ),
        ]
    };
    vec![
        (
            "/{index}",
            vec![
                endpoint(
                    M::PUT,
                    &["wait_for_active_shards", "timeout", "master_timeout"],
                    true,
                    |p, _, b| {
                        data(DataRequest::CreateIndex {
                            index: one_index(p)?,
                            body: body_json(b, "a create index request")?,
                        })
                    },
                ),
                endpoint(M::DELETE, INDICES_OPTIONS, false, |p, q, _| {
                    data(DataRequest::DeleteIndex {
                        indices: indices(p),
                        options: IndicesOptions {
                            allow_no_indices: flag(q, "allow_no_indices", false)?,
                            ..indices_options(q)?
                        },
                    })
                }),
                endpoint(M::GET, GET_INDEX_PARAMS, false, |p, q, _| {
                    data(DataRequest::GetIndex {
                        indices: indices(p),
                        options: indices_options(q)?,
                    })
                }),
                endpoint(M::HEAD, GET_INDEX_PARAMS, false, |p, q, _| {
                    data(DataRequest::IndexExists {
                        indices: indices(p),
                        options: indices_options(q)?,
                    })
                }),
            ],
        ),
        (
            "/{index}/_doc/{id}",
            vec![
                endpoint(M::PUT, WRITE_PARAMS, true, |p, q, b| {
                    index_doc(p, q, b, false, true)
                }),
                endpoint(M::POST, WRITE_PARAMS, true, |p, q, b| {
                    index_doc(p, q, b, false, true)
                }),
                endpoint(M::GET, GET_PARAMS, false, |p, q, _| {
                    get_doc(p, q, false, false)
                }),
                endpoint(M::HEAD, GET_PARAMS, false, |p, q, _| {
                    get_doc(p, q, false, true)
                }),
                endpoint(M::DELETE, WRITE_PARAMS, false, delete_doc),
            ],
        ),
        (
            "/{index}/_doc",
            vec![endpoint(M::POST, WRITE_PARAMS, true, |p, q, b| {
                index_doc(p, q, b, false, false)
            })],
        ),
        (
            "/{index}/_create/{id}",
            vec![
                endpoint(M::PUT, WRITE_PARAMS, true, |p, q, b| {
                    index_doc(p, q, b, true, true)
                }),
                endpoint(M::POST, WRITE_PARAMS, true, |p, q, b| {
                    index_doc(p, q, b, true, true)
                }),
            ],
        ),
        (
            "/{index}/_source/{id}",
            vec![
                endpoint(M::GET, GET_PARAMS, false, |p, q, _| {
                    get_doc(p, q, true, false)
                }),
                endpoint(M::HEAD, GET_PARAMS, false, |p, q, _| {
                    get_doc(p, q, true, true)
                }),
            ],
        ),
        (
            "/{index}/_update/{id}",
            vec![endpoint(M::POST, UPDATE_PARAMS, true, update_doc)],
        ),
        ("/_mget", mget_endpoints()),
        ("/{index}/_mget", mget_endpoints()),
        ("/_bulk", bulk_endpoints()),
        ("/{index}/_bulk", bulk_endpoints()),
        ("/_search", search_endpoints(false)),
        ("/{index}/_search", search_endpoints(false)),
        ("/_count", search_endpoints(true)),
        (
            "/_search/scroll",
            vec![
                endpoint(
                    M::GET,
                    &["scroll", "scroll_id", "rest_total_hits_as_int"],
                    true,
                    scroll,
                ),
                endpoint(
                    M::POST,
                    &["scroll", "scroll_id", "rest_total_hits_as_int"],
                    true,
                    scroll,
                ),
                endpoint(M::DELETE, &["scroll_id"], true, clear_scroll),
            ],
        ),
        (
            "/_search/scroll/{scroll_id}",
            vec![
                endpoint(M::GET, &["scroll", "rest_total_hits_as_int"], true, scroll),
                endpoint(M::POST, &["scroll", "rest_total_hits_as_int"], true, scroll),
                endpoint(M::DELETE, &[], true, clear_scroll),
            ],
        ),
        (
            "/{index}/_pit",
            vec![endpoint(
                M::POST,
                &[
                    "keep_alive",
                    "ignore_unavailable",
                    "expand_wildcards",
                    "allow_no_indices",
                    "preference",
                    "routing",
                    "allow_partial_search_results",
                ],
                true,
                open_pit,
            )],
        ),
        ("/_pit", vec![endpoint(M::DELETE, &[], true, close_pit)]),
        (
            "/{index}/_delete_by_query",
            vec![endpoint(M::POST, BY_QUERY_PARAMS, true, |p, q, b| {
                by_query(p, q, b, true)
            })],
        ),
        (
            "/{index}/_update_by_query",
            vec![endpoint(M::POST, BY_QUERY_PARAMS, true, |p, q, b| {
                by_query(p, q, b, false)
            })],
        ),
        (
            "/_field_caps",
            vec![
                endpoint(M::GET, FIELD_CAPS_PARAMS, true, field_caps),
                endpoint(M::POST, FIELD_CAPS_PARAMS, true, field_caps),
            ],
        ),
        (
            "/{index}/_field_caps",
            vec![
                endpoint(M::GET, FIELD_CAPS_PARAMS, true, field_caps),
                endpoint(M::POST, FIELD_CAPS_PARAMS, true, field_caps),
            ],
        ),
        ("/_msearch", msearch_endpoints()),
        ("/{index}/_msearch", msearch_endpoints()),
        ("/{index}/_count", search_endpoints(true)),
        ("/_refresh", refresh_endpoints()),
        ("/{index}/_refresh", refresh_endpoints()),
        (
            "/_mapping",
            vec![endpoint(M::GET, INDICES_OPTIONS, false, get_mapping)],
        ),
        (
            "/{index}/_mapping",
            vec![
                endpoint(M::GET, INDICES_OPTIONS, false, get_mapping),
                endpoint(M::PUT, PUT_MAPPING_PARAMS, true, put_mapping),
                endpoint(M::POST, PUT_MAPPING_PARAMS, true, put_mapping),
            ],
        ),
        ("/_settings", settings_endpoints()),
        ("/{index}/_settings", settings_endpoints()),
        (
            "/_cat/indices",
            vec![endpoint(M::GET, CAT_PARAMS, false, cat_indices)],
        ),
        (
            "/_cat/indices/{index}",
            vec![endpoint(M::GET, CAT_PARAMS, false, cat_indices)],
        ),
        (
            "/_aliases",
            vec![
                endpoint(
                    M::POST,
                    &["timeout", "master_timeout"],
                    true,
                    update_aliases,
                ),
                endpoint(M::GET, INDICES_OPTIONS, false, |p, q, _| {
                    get_aliases(p, q, false)
                }),
            ],
        ),
        ("/_alias", get_alias_endpoints()),
        ("/_alias/{name}", get_alias_endpoints()),
        ("/{index}/_alias", get_alias_endpoints()),
        ("/{index}/_alias/{name}", {
            let mut e = get_alias_endpoints();
            e.extend(alias_write_endpoints());
            e
        }),
        ("/{index}/_aliases/{name}", alias_write_endpoints()),
        (
            "/_index_template",
            vec![endpoint(
                M::GET,
                &["master_timeout", "local", "flat_settings"],
                false,
                |_, _, _| {
                    data(DataRequest::GetIndexTemplates {
                        names: Vec::new(),
                        exists: false,
                    })
                },
            )],
        ),
        ("/_index_template/{name}", template_endpoints()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_lines_become_items() {
        let body = b"{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n\
            {\"delete\":{\"_index\":\"a\",\"_id\":\"2\"}}\n\
            {\"create\":{}}\n{\"y\":2}\n\
            {\"update\":{\"_id\":\"3\",\"retry_on_conflict\":2}}\n{\"doc\":{\"z\":3}}\n\
            {\"delete\":{\"_index\":\"a\"}}\n";
        let items = parse_bulk(Some("dflt"), body).expect("parses");
        assert_eq!(items.len(), 5);
        match &items[0] {
            BulkItem::Write(w) => {
                assert_eq!(w.index, "a");
                assert_eq!(
                    w.write,
                    DocWrite::Index {
                        id: Some("1".into()),
                        source: b"{\"x\":1}".to_vec(),
                        create: false
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&items[2], BulkItem::Write(w) if w.index == "dflt" && w.write.op_name() == "create")
        );
        assert!(matches!(&items[3], BulkItem::Write(w) if w.retry_on_conflict == 2));
        assert!(matches!(&items[4], BulkItem::Invalid { op: "delete", .. }));
        // Found by the bulk_body fuzz target: an empty index name is refused for that item.
        let items =
            parse_bulk(None, b"{\"index\":{\"_index\":\"\",\"_id\":\"0\"}}\n{}\n").expect("parses");
        assert!(
            matches!(&items[0], BulkItem::Invalid { reason, .. } if reason.contains("must not be empty"))
        );
    }

    #[test]
    fn malformed_bulk_bodies_fail_with_the_line() {
        for (body, needle) in [
            (&b"{\"index\":{}}\n{}"[..], "terminated by a newline"),
            (b"nonsense\n", "line [1]"),
            (
                b"{\"index\":{\"_index\":\"a\"}}\n{}\n{\"frob\":{}}\n",
                "found [frob]",
            ),
            (b"{\"index\":{\"_index\":\"a\"}}\n", "no source line"),
            (b"{\"index\":{\"_id\":\"1\"}}\n{}\n", "index is missing"),
            (b"\n\n", "no requests added"),
            (
                b"{\"index\":{\"_index\":\"a\",\"bogus\":1}}\n{}\n",
                "unknown parameter [bogus]",
            ),
        ] {
            let e = parse_bulk(None, body).expect_err(needle);
            assert!(e.reason.contains(needle), "{} lacks {needle}", e.reason);
        }
    }
}
