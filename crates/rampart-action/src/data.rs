//! Actions on indices and documents: what the REST layer parses and the engine executes.

use serde_json::Value;

/// `refresh=` of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refresh {
    #[default]
    False,
    True,
    WaitFor,
}

/// `version_type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionType {
    #[default]
    Internal,
    External,
    ExternalGte,
}

/// Optimistic concurrency conditions of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteConditions {
    pub if_seq_no: Option<u64>,
    pub if_primary_term: Option<u64>,
    pub version: Option<u64>,
    pub version_type: VersionType,
}

/// `_source`, `_source_includes`, `_source_excludes` of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFilter {
    pub enabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

impl Default for SourceFilter {
    fn default() -> Self {
        SourceFilter {
            enabled: true,
            includes: Vec::new(),
            excludes: Vec::new(),
        }
    }
}

/// `ignore_unavailable`, `allow_no_indices`, `expand_wildcards`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicesOptions {
    pub ignore_unavailable: bool,
    pub allow_no_indices: bool,
    pub expand_open: bool,
    pub expand_hidden: bool,
    /// Wildcards match index names only, never aliases (index deletion).
    pub ignore_aliases: bool,
}

impl Default for IndicesOptions {
    fn default() -> Self {
        IndicesOptions {
            ignore_unavailable: false,
            allow_no_indices: true,
            expand_open: true,
            expand_hidden: false,
            ignore_aliases: false,
        }
    }
}

/// One write of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum DocWrite {
    /// `index` (or `create` when `create` is set): the whole source.
    Index {
        id: Option<String>,
        source: Vec<u8>,
        create: bool,
    },
    /// `_update`: a partial document or an upsert.
    Update {
        id: String,
        body: Value,
    },
    Delete {
        id: String,
    },
}

impl DocWrite {
    pub fn id(&self) -> Option<&str> {
        match self {
            DocWrite::Index { id, .. } => id.as_deref(),
            DocWrite::Update { id, .. } | DocWrite::Delete { id } => Some(id),
        }
    }

    /// The operation's name in bulk responses.
    pub fn op_name(&self) -> &'static str {
        match self {
            DocWrite::Index { create: true, .. } => "create",
            DocWrite::Index { .. } => "index",
            DocWrite::Update { .. } => "update",
            DocWrite::Delete { .. } => "delete",
        }
    }
}

/// A write addressed to an index, with its conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteItem {
    pub index: String,
    pub write: DocWrite,
    pub conditions: WriteConditions,
    pub routing: Option<String>,
    /// `_source` filtering of an update's `get` in the response.
    pub retry_on_conflict: u32,
}

/// One line pair of `_bulk`, or the line that could not be understood.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkItem {
    Write(WriteItem),
    /// An item whose action line was valid but which cannot run (for example a missing index
    /// name); reported in place, in Elasticsearch's per-item shape.
    Invalid {
        op: &'static str,
        index: String,
        id: Option<String>,
        reason: String,
    },
}

/// One document of `_mget`.
#[derive(Debug, Clone, PartialEq)]
pub struct MgetItem {
    pub index: String,
    pub id: String,
    pub source: SourceFilter,
}

/// `GET /_cat/indices`.
#[derive(Debug, Clone, PartialEq)]
pub struct CatIndicesRequest {
    pub indices: Vec<String>,
    pub options: IndicesOptions,
    /// `format=json` rather than a text table.
    pub json: bool,
    /// `v`: a header line.
    pub headers: bool,
    /// `h`: the columns, all when empty.
    pub columns: Vec<String>,
    /// `bytes`: `b`, `kb`, `mb`, `gb`, or human-readable when `None`.
    pub bytes_unit: Option<String>,
    /// `s`: sort keys, each `column` or `column:desc`.
    pub sort: Vec<String>,
    /// `health`: only indices of this health.
    pub health: Option<String>,
}

/// Index and document operations.
#[derive(Debug, Clone, PartialEq)]
pub enum DataRequest {
    CreateIndex {
        index: String,
        body: Value,
    },
    DeleteIndex {
        indices: Vec<String>,
        options: IndicesOptions,
    },
    GetIndex {
        indices: Vec<String>,
        options: IndicesOptions,
    },
    IndexExists {
        indices: Vec<String>,
        options: IndicesOptions,
    },
    GetMapping {
        indices: Vec<String>,
        options: IndicesOptions,
    },
    PutMapping {
        indices: Vec<String>,
        body: Value,
        options: IndicesOptions,
    },
    GetSettings {
        indices: Vec<String>,
        options: IndicesOptions,
        flat: bool,
        include_defaults: bool,
    },
    PutSettings {
        indices: Vec<String>,
        body: Value,
        options: IndicesOptions,
    },
    Refresh {
        indices: Vec<String>,
        options: IndicesOptions,
    },
    CatIndices(CatIndicesRequest),
    UpdateAliases {
        /// Every index the actions name, for authorization.
        indices: Vec<String>,
        body: Value,
    },
    GetAliases {
        indices: Vec<String>,
        names: Vec<String>,
        options: IndicesOptions,
        exists: bool,
    },
    PutIndexTemplate {
        name: String,
        body: Value,
        create: bool,
    },
    GetIndexTemplates {
        names: Vec<String>,
        exists: bool,
    },
    DeleteIndexTemplate {
        name: String,
    },
    Write {
        item: WriteItem,
        refresh: Refresh,
        source: SourceFilter,
    },
    Bulk {
        items: Vec<BulkItem>,
        /// The indices the items name, for authorization.
        indices: Vec<String>,
        refresh: Refresh,
    },
    Get {
        index: String,
        id: String,
        source: SourceFilter,
        /// `GET /{index}/_source/{id}`: the source alone.
        source_only: bool,
        realtime: bool,
        head: bool,
    },
    Mget {
        items: Vec<MgetItem>,
        indices: Vec<String>,
    },
    Search {
        indices: Vec<String>,
        options: IndicesOptions,
        body: Value,
        count_only: bool,
        /// `scroll=1m`: keep the search open and page through it.
        scroll: Option<String>,
        /// Who searches: scrolls and points in time serve only the identity that opened them.
        owner: String,
    },
    /// `_search/scroll`: the next page of a scroll.
    Scroll {
        scroll_id: String,
        keep_alive: Option<String>,
        owner: String,
    },
    /// `DELETE /_search/scroll`: closes scrolls (with `all`, every scroll of the caller).
    ClearScroll {
        scroll_ids: Vec<String>,
        all: bool,
        owner: String,
    },
    /// `POST /{index}/_pit`: a point in time over the indices as they are now.
    OpenPit {
        indices: Vec<String>,
        options: IndicesOptions,
        keep_alive: String,
        owner: String,
    },
    /// `DELETE /_pit`.
    ClosePit {
        id: String,
        owner: String,
    },
    /// `_delete_by_query` and `_update_by_query` (the latter with a partial `doc`, no scripts).
    ByQuery {
        indices: Vec<String>,
        options: IndicesOptions,
        body: Value,
        delete: bool,
        /// `conflicts=proceed`: count version conflicts instead of stopping at the first.
        proceed_on_conflict: bool,
        refresh: bool,
        max_docs: Option<u64>,
    },
    /// `_field_caps`: which fields the indices map, with their types.
    FieldCaps {
        indices: Vec<String>,
        options: IndicesOptions,
        fields: Vec<String>,
    },
    /// `_msearch`: searches answered one by one, each failure in its place.
    Msearch {
        searches: Vec<MsearchItem>,
        /// Every index expression the searches name, for authorization and audit.
        indices: Vec<String>,
        /// Who searches: a search in it may use the caller's point in time.
        owner: String,
    },
}

/// One search of `_msearch`.
#[derive(Debug, Clone, PartialEq)]
pub struct MsearchItem {
    pub indices: Vec<String>,
    pub options: IndicesOptions,
    pub body: Value,
}

impl DocWrite {
    /// The action a write is authorized as: a create is `index:op_type/create`, which the
    /// `create_doc` privilege grants without allowing overwrites.
    pub fn authorization_action(&self) -> &'static str {
        match self {
            // An auto-generated id always creates.
            DocWrite::Index { create: true, .. } | DocWrite::Index { id: None, .. } => {
                "indices:data/write/index:op_type/create"
            }
            DocWrite::Index { .. } => "indices:data/write/index",
            DocWrite::Update { .. } => "indices:data/write/update",
            DocWrite::Delete { .. } => "indices:data/write/delete",
        }
    }
}

impl DataRequest {
    /// Actions judged by cluster privileges although they live under `indices:` (templates).
    pub fn is_cluster_level(&self) -> bool {
        matches!(
            self,
            DataRequest::PutIndexTemplate { .. }
                | DataRequest::GetIndexTemplates { .. }
                | DataRequest::DeleteIndexTemplate { .. }
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            DataRequest::CreateIndex { .. } => "indices:admin/create",
            DataRequest::DeleteIndex { .. } => "indices:admin/delete",
            DataRequest::GetIndex { .. } | DataRequest::IndexExists { .. } => "indices:admin/get",
            DataRequest::GetMapping { .. } => "indices:admin/mappings/get",
            DataRequest::PutMapping { .. } => "indices:admin/mapping/put",
            DataRequest::GetSettings { .. } => "indices:monitor/settings/get",
            // Document counts and sizes are statistics: the index privilege `monitor`.
            DataRequest::CatIndices(_) => "indices:monitor/stats",
            DataRequest::PutSettings { .. } => "indices:admin/settings/update",
            DataRequest::Refresh { .. } => "indices:admin/refresh",
            DataRequest::UpdateAliases { .. } => "indices:admin/aliases",
            DataRequest::GetAliases { .. } => "indices:admin/aliases/get",
            DataRequest::PutIndexTemplate { .. } => "indices:admin/index_template/put",
            DataRequest::GetIndexTemplates { .. } => "indices:admin/index_template/get",
            DataRequest::DeleteIndexTemplate { .. } => "indices:admin/index_template/delete",
            DataRequest::Write { item, .. } => match item.write {
                DocWrite::Index { .. } => "indices:data/write/index",
                DocWrite::Update { .. } => "indices:data/write/update",
                DocWrite::Delete { .. } => "indices:data/write/delete",
            },
            DataRequest::Bulk { .. } => "indices:data/write/bulk",
            DataRequest::Get { .. } => "indices:data/read/get",
            DataRequest::Mget { .. } => "indices:data/read/mget",
            DataRequest::Search { .. } | DataRequest::Msearch { .. } => "indices:data/read/search",
            DataRequest::Scroll { .. } => "indices:data/read/scroll",
            DataRequest::ClearScroll { .. } => "indices:data/read/scroll/clear",
            DataRequest::OpenPit { .. } => "indices:data/read/open_point_in_time",
            DataRequest::ClosePit { .. } => "indices:data/read/close_point_in_time",
            DataRequest::ByQuery { delete: true, .. } => "indices:data/write/delete/byquery",
            DataRequest::ByQuery { delete: false, .. } => "indices:data/write/update/byquery",
            DataRequest::FieldCaps { .. } => "indices:data/read/field_caps",
        }
    }

    /// Records who asks, for the requests that open or use a search context (a scroll or a
    /// point in time belongs to the identity that opened it).
    pub fn set_owner(&mut self, who: &str) {
        match self {
            DataRequest::Search { owner, .. }
            | DataRequest::Scroll { owner, .. }
            | DataRequest::ClearScroll { owner, .. }
            | DataRequest::OpenPit { owner, .. }
            | DataRequest::ClosePit { owner, .. }
            | DataRequest::Msearch { owner, .. } => *owner = who.to_string(),
            _ => {}
        }
    }

    pub fn indices(&self) -> &[String] {
        match self {
            DataRequest::CreateIndex { index, .. } | DataRequest::Get { index, .. } => {
                std::slice::from_ref(index)
            }
            DataRequest::Write { item, .. } => std::slice::from_ref(&item.index),
            DataRequest::DeleteIndex { indices, .. }
            | DataRequest::GetIndex { indices, .. }
            | DataRequest::IndexExists { indices, .. }
            | DataRequest::GetMapping { indices, .. }
            | DataRequest::PutMapping { indices, .. }
            | DataRequest::GetSettings { indices, .. }
            | DataRequest::PutSettings { indices, .. }
            | DataRequest::Refresh { indices, .. }
            | DataRequest::CatIndices(CatIndicesRequest { indices, .. })
            | DataRequest::UpdateAliases { indices, .. }
            | DataRequest::GetAliases { indices, .. }
            | DataRequest::Bulk { indices, .. }
            | DataRequest::Mget { indices, .. }
            | DataRequest::Search { indices, .. }
            | DataRequest::Msearch { indices, .. }
            | DataRequest::OpenPit { indices, .. }
            | DataRequest::ByQuery { indices, .. }
            | DataRequest::FieldCaps { indices, .. } => indices,
            // A search context carries the indices it was opened on.
            DataRequest::Scroll { .. }
            | DataRequest::ClearScroll { .. }
            | DataRequest::ClosePit { .. } => &[],
            // Templates are cluster-level objects.
            DataRequest::PutIndexTemplate { .. }
            | DataRequest::GetIndexTemplates { .. }
            | DataRequest::DeleteIndexTemplate { .. } => &[],
        }
    }
}
