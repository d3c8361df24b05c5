//! Mappings in Elasticsearch's JSON shape: explicit definitions, dynamic mapping of new fields,
//! merging with conflict detection, limits, and the conversion of a document into the typed
//! values the search index holds.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rampart_action::EsError;
use serde_json::{Map, Value, json};

use crate::date::DateFormat;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    True,
    False,
    Strict,
}

impl Dynamic {
    fn parse(value: &Value, at: &str) -> Result<Self, EsError> {
        match value {
            Value::Bool(true) => Ok(Dynamic::True),
            Value::Bool(false) => Ok(Dynamic::False),
            Value::String(s) if s == "true" => Ok(Dynamic::True),
            Value::String(s) if s == "false" => Ok(Dynamic::False),
            Value::String(s) if s == "strict" => Ok(Dynamic::Strict),
            Value::String(s) if s == "runtime" => Err(mapper_parsing(format!(
                "[dynamic: runtime] on [{at}] is not supported: use true, false or strict"
            ))),
            other => Err(mapper_parsing(format!(
                "[dynamic] on [{at}] must be true, false or strict, got [{other}]"
            ))),
        }
    }

    fn to_json(self) -> Value {
        match self {
            Dynamic::True => json!(true),
            Dynamic::False => json!(false),
            Dynamic::Strict => json!("strict"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Keyword,
    Long,
    Integer,
    Short,
    Byte,
    Double,
    Float,
    HalfFloat,
    Boolean,
    Date,
    Ip,
    Object,
}

impl FieldKind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "text" => FieldKind::Text,
            "keyword" => FieldKind::Keyword,
            "long" => FieldKind::Long,
            "integer" => FieldKind::Integer,
            "short" => FieldKind::Short,
            "byte" => FieldKind::Byte,
            "double" => FieldKind::Double,
            "float" => FieldKind::Float,
            "half_float" => FieldKind::HalfFloat,
            "boolean" => FieldKind::Boolean,
            "date" => FieldKind::Date,
            "ip" => FieldKind::Ip,
            "object" => FieldKind::Object,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Keyword => "keyword",
            FieldKind::Long => "long",
            FieldKind::Integer => "integer",
            FieldKind::Short => "short",
            FieldKind::Byte => "byte",
            FieldKind::Double => "double",
            FieldKind::Float => "float",
            FieldKind::HalfFloat => "half_float",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Ip => "ip",
            FieldKind::Object => "object",
        }
    }

    /// Parameters a field of this kind accepts. Those Rampart does not act on (`store`, `norms`,
    /// `boost`, `meta`...) are kept and shown back, as they change nothing a user can observe
    /// beyond what Elasticsearch's defaults give.
    fn allowed_params(self) -> &'static [&'static str] {
        const NUMERIC: &[&str] = &[
            "index",
            "doc_values",
            "store",
            "null_value",
            "coerce",
            "ignore_malformed",
            "meta",
            "boost",
            "fields",
        ];
        match self {
            FieldKind::Text => &[
                "index",
                "store",
                "norms",
                "analyzer",
                "search_analyzer",
                "fields",
                "fielddata",
                "meta",
                "boost",
                "index_options",
                "position_increment_gap",
            ],
            FieldKind::Keyword => &[
                "index",
                "doc_values",
                "store",
                "null_value",
                "ignore_above",
                "meta",
                "boost",
                "fields",
                "eager_global_ordinals",
                "norms",
                "index_options",
                "split_queries_on_whitespace",
            ],
            FieldKind::Long
            | FieldKind::Integer
            | FieldKind::Short
            | FieldKind::Byte
            | FieldKind::Double
            | FieldKind::Float
            | FieldKind::HalfFloat => NUMERIC,
            FieldKind::Boolean => &[
                "index",
                "doc_values",
                "store",
                "null_value",
                "meta",
                "boost",
                "fields",
            ],
            FieldKind::Date => &[
                "index",
                "doc_values",
                "store",
                "null_value",
                "format",
                "locale",
                "ignore_malformed",
                "meta",
                "boost",
                "fields",
            ],
            FieldKind::Ip => &[
                "index",
                "doc_values",
                "store",
                "null_value",
                "ignore_malformed",
                "meta",
                "boost",
                "fields",
            ],
            FieldKind::Object => &["properties", "dynamic", "enabled", "subobjects"],
        }
    }
}

/// One field's mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub kind: FieldKind,
    /// Parameters as given, shown back by `GET _mapping` (without `type`, `fields`,
    /// `properties`).
    params: Map<String, Value>,
    /// Multi-fields (`message.keyword`).
    pub fields: BTreeMap<String, Field>,
    /// Sub-fields of an object.
    pub properties: BTreeMap<String, Field>,
    pub dynamic: Option<Dynamic>,
    pub indexed: bool,
    pub enabled: bool,
    pub ignore_above: Option<usize>,
    pub coerce: bool,
    pub ignore_malformed: bool,
    pub null_value: Option<Value>,
    pub date_format: Option<DateFormat>,
    /// Whether `type` was written explicitly (objects usually omit it).
    explicit_type: bool,
}

/// The search index addresses a field by its dotted path, where a backslash escapes and
/// control characters separate: a name holding them would address another field's data
/// (and slip past field-level security, which judges the name as written). Refused.
fn check_name_characters(name: &str) -> Result<(), EsError> {
    if name.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(mapper_parsing(format!(
            "field name [{}] must not contain a backslash or control characters: rename the \
             field",
            name.escape_debug()
        )));
    }
    Ok(())
}

pub fn mapper_parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "mapper_parsing_exception", reason)
}

fn conflict(reason: impl Into<String>) -> EsError {
    EsError::bad_request(reason)
}

impl Field {
    fn new(kind: FieldKind) -> Self {
        Field {
            kind,
            params: Map::new(),
            fields: BTreeMap::new(),
            properties: BTreeMap::new(),
            dynamic: None,
            indexed: true,
            enabled: true,
            ignore_above: None,
            coerce: true,
            ignore_malformed: false,
            null_value: None,
            date_format: (kind == FieldKind::Date).then(DateFormat::default_format),
            explicit_type: kind != FieldKind::Object,
        }
    }

    fn object() -> Self {
        Field::new(FieldKind::Object)
    }

    /// The mapping Elasticsearch gives a new string: text with a `keyword` sub-field.
    fn dynamic_text() -> Self {
        let mut keyword = Field::new(FieldKind::Keyword);
        keyword.ignore_above = Some(256);
        keyword.params.insert("ignore_above".into(), json!(256));
        let mut text = Field::new(FieldKind::Text);
        text.fields.insert("keyword".into(), keyword);
        text
    }

    fn parse(name: &str, definition: &Value, depth: usize) -> Result<Self, EsError> {
        if name.is_empty() {
            return Err(mapper_parsing("field name cannot be an empty string"));
        }
        check_name_characters(name)?;
        if name.trim().is_empty() {
            return Err(mapper_parsing(format!(
                "field name cannot contain only whitespace: [{name}]"
            )));
        }
        if depth > 100 {
            return Err(mapper_parsing(format!(
                "the mapping of [{name}] is nested too deeply"
            )));
        }
        let Value::Object(definition) = definition else {
            return Err(mapper_parsing(format!(
                "Expected map for property [fields] on field [{name}] but got a {}",
                json_kind(definition)
            )));
        };
        let kind = match definition.get("type") {
            None => FieldKind::Object,
            Some(Value::String(t)) => match FieldKind::parse(t) {
                Some(kind) => kind,
                None if t == "nested" => {
                    return Err(mapper_parsing(format!(
                        "[type: nested] on field [{name}] is not supported yet: map it as an object"
                    )));
                }
                None => {
                    return Err(mapper_parsing(format!(
                        "No handler for type [{t}] declared on field [{name}]"
                    )));
                }
            },
            Some(other) => {
                return Err(mapper_parsing(format!(
                    "[type] on field [{name}] must be a string, got [{other}]"
                )));
            }
        };
        let mut field = Field::new(kind);
        field.explicit_type = definition.contains_key("type");
        let allowed = kind.allowed_params();
        for (key, value) in definition {
            if key == "type" {
                continue;
            }
            if !allowed.contains(&key.as_str()) {
                return Err(mapper_parsing(format!(
                    "unknown parameter [{key}] on mapper [{name}] of type [{}]",
                    kind.name()
                )));
            }
            match key.as_str() {
                "properties" => {
                    let Value::Object(properties) = value else {
                        return Err(mapper_parsing(format!(
                            "[properties] of [{name}] must be an object"
                        )));
                    };
                    for (child, definition) in properties {
                        let parsed = Field::parse(child, definition, depth + 1)?;
                        insert_dotted(&mut field.properties, child, parsed)?;
                    }
                }
                "fields" => {
                    let Value::Object(fields) = value else {
                        return Err(mapper_parsing(format!(
                            "[fields] of [{name}] must be an object"
                        )));
                    };
                    for (child, definition) in fields {
                        let parsed = Field::parse(child, definition, depth + 1)?;
                        if parsed.kind == FieldKind::Object {
                            return Err(mapper_parsing(format!(
                                "multi-field [{name}.{child}] must have a type other than object"
                            )));
                        }
                        if child.contains('.') {
                            return Err(mapper_parsing(format!(
                                "Field name [{child}] which is a multi field of [{name}] cannot \
                                 contain '.'"
                            )));
                        }
                        field.fields.insert(child.clone(), parsed);
                    }
                }
                "dynamic" => field.dynamic = Some(Dynamic::parse(value, name)?),
                "enabled" => field.enabled = bool_param(value, key, name)?,
                "index" => field.indexed = bool_param(value, key, name)?,
                "coerce" => field.coerce = bool_param(value, key, name)?,
                "ignore_malformed" => field.ignore_malformed = bool_param(value, key, name)?,
                "ignore_above" => {
                    let n = value
                        .as_u64()
                        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| {
                            mapper_parsing(format!(
                                "[ignore_above] on [{name}] must be a non-negative integer"
                            ))
                        })?;
                    field.ignore_above = Some(usize::try_from(n).unwrap_or(usize::MAX));
                }
                "format" => {
                    let spec = value.as_str().ok_or_else(|| {
                        mapper_parsing(format!("[format] on [{name}] must be a string"))
                    })?;
                    field.date_format = Some(DateFormat::parse(spec).map_err(|e| {
                        mapper_parsing(format!("Invalid format [{spec}] on [{name}]: {e}"))
                    })?);
                }
                "analyzer" | "search_analyzer" => match value.as_str() {
                    Some("standard" | "default") => {}
                    _ => {
                        return Err(mapper_parsing(format!(
                            "[{key}: {value}] on [{name}] is not supported: Rampart analyses \
                             text with the standard analyzer"
                        )));
                    }
                },
                "null_value" => field.null_value = Some(value.clone()),
                "subobjects" if value != &json!(true) => {
                    return Err(mapper_parsing(format!(
                        "[subobjects: {value}] on [{name}] is not supported"
                    )));
                }
                _ => {}
            }
            if !matches!(key.as_str(), "properties" | "fields" | "dynamic") {
                field.params.insert(key.clone(), value.clone());
            }
        }
        if let Some(null_value) = field.null_value.clone() {
            field
                .convert(name, "mapping", &null_value, &mut |_, _| {})
                .map_err(|_| {
                    mapper_parsing(format!(
                        "Failed to parse mapping: [null_value] [{null_value}] of [{name}] is \
                         not a valid {}",
                        kind.name()
                    ))
                })?;
        }
        Ok(field)
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        if self.explicit_type || self.kind != FieldKind::Object {
            out.insert("type".into(), json!(self.kind.name()));
        }
        if let Some(dynamic) = self.dynamic {
            out.insert("dynamic".into(), dynamic.to_json());
        }
        for (k, v) in &self.params {
            out.insert(k.clone(), v.clone());
        }
        if !self.fields.is_empty() {
            out.insert(
                "fields".into(),
                Value::Object(
                    self.fields
                        .iter()
                        .map(|(k, f)| (k.clone(), f.to_json()))
                        .collect(),
                ),
            );
        }
        if self.kind == FieldKind::Object && !self.properties.is_empty() {
            out.insert("properties".into(), properties_json(&self.properties));
        }
        Value::Object(out)
    }

    /// Counts this field, its multi-fields and its sub-fields, as `total_fields.limit` does.
    fn count(&self) -> usize {
        1 + self.fields.values().map(Field::count).sum::<usize>()
            + self.properties.values().map(Field::count).sum::<usize>()
    }

    fn depth(&self) -> usize {
        if self.kind == FieldKind::Object {
            1 + self
                .properties
                .values()
                .map(Field::depth)
                .max()
                .unwrap_or(0)
        } else {
            0
        }
    }

    /// Merges `other` (a later definition of the same field) into this one.
    fn merge(&mut self, path: &str, other: &Field) -> Result<(), EsError> {
        if self.kind != other.kind {
            return Err(conflict(format!(
                "mapper [{path}] cannot be changed from type [{}] to [{}]",
                self.kind.name(),
                other.kind.name()
            )));
        }
        // Parameters Elasticsearch lets a mapping update change.
        const UPDATABLE: &[&str] = &["ignore_above", "meta", "boost", "enabled"];
        for (key, value) in &other.params {
            match self.params.get(key) {
                Some(existing) if existing == value => {}
                _ if UPDATABLE.contains(&key.as_str()) && key != "enabled" => {}
                existing => {
                    return Err(conflict(format!(
                        "Mapper for [{path}] conflicts with existing mapper:\n\tCannot update \
                         parameter [{key}] from [{}] to [{value}]",
                        existing.map_or("default".to_string(), Value::to_string)
                    )));
                }
            }
        }
        for (key, existing) in &self.params {
            if !other.params.contains_key(key) && !UPDATABLE.contains(&key.as_str()) {
                return Err(conflict(format!(
                    "Mapper for [{path}] conflicts with existing mapper:\n\tCannot update \
                     parameter [{key}] from [{existing}] to [default]"
                )));
            }
        }
        self.params = other.params.clone();
        self.ignore_above = other.ignore_above;
        if other.dynamic.is_some() {
            self.dynamic = other.dynamic;
        }
        for (name, field) in &other.fields {
            match self.fields.get_mut(name) {
                Some(existing) => existing.merge(&format!("{path}.{name}"), field)?,
                None => {
                    self.fields.insert(name.clone(), field.clone());
                }
            }
        }
        merge_properties(&mut self.properties, path, &other.properties)
    }

    /// Converts one JSON value of this field into index values, calling `emit` for each
    /// (a path relative to this field's own and the value).
    fn convert(
        &self,
        path: &str,
        id: &str,
        value: &Value,
        emit: &mut dyn FnMut(Option<&str>, IndexValue),
    ) -> Result<(), EsError> {
        let value = match (value, &self.null_value) {
            (Value::Null, Some(null_value)) => null_value,
            (Value::Null, None) => return Ok(()),
            (v, _) => v,
        };
        if let Value::Array(items) = value {
            for item in items {
                self.convert(path, id, item, emit)?;
            }
            return Ok(());
        }
        if value.is_object() {
            return Err(self.malformed(path, id, value));
        }
        let converted = match self.kind {
            FieldKind::Text => Some(IndexValue::Text(scalar_string(value))),
            FieldKind::Keyword => {
                let s = scalar_string(value);
                match self.ignore_above {
                    Some(limit) if s.chars().count() > limit => None,
                    _ => Some(IndexValue::Keyword(s)),
                }
            }
            FieldKind::Long | FieldKind::Integer | FieldKind::Short | FieldKind::Byte => {
                let (min, max) = match self.kind {
                    FieldKind::Integer => (i64::from(i32::MIN), i64::from(i32::MAX)),
                    FieldKind::Short => (i64::from(i16::MIN), i64::from(i16::MAX)),
                    FieldKind::Byte => (i64::from(i8::MIN), i64::from(i8::MAX)),
                    _ => (i64::MIN, i64::MAX),
                };
                self.integer(value, min, max).map(IndexValue::I64)
            }
            FieldKind::Double | FieldKind::Float | FieldKind::HalfFloat => {
                let f = match value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) if self.coerce => s.trim().parse::<f64>().ok(),
                    _ => None,
                }
                .filter(|f| f.is_finite());
                match (f, self.kind) {
                    (Some(f), FieldKind::Double) => Some(IndexValue::F64(f)),
                    (Some(f), _) => {
                        let single = f as f32;
                        single
                            .is_finite()
                            .then_some(IndexValue::F64(f64::from(single)))
                    }
                    (None, _) => None,
                }
            }
            FieldKind::Boolean => match value {
                Value::Bool(b) => Some(IndexValue::Bool(*b)),
                Value::String(s) if s == "true" => Some(IndexValue::Bool(true)),
                Value::String(s) if s == "false" || s.is_empty() => Some(IndexValue::Bool(false)),
                _ => None,
            },
            FieldKind::Date => {
                let format = self
                    .date_format
                    .clone()
                    .unwrap_or_else(DateFormat::default_format);
                match value {
                    Value::String(s) => format.parse_str(s),
                    Value::Number(n) => n.as_f64().and_then(|f| format.parse_number(f)),
                    _ => None,
                }
                .map(IndexValue::Date)
            }
            FieldKind::Ip => value
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok())
                .map(|ip| {
                    IndexValue::Ip(match ip {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                        IpAddr::V6(v6) => v6,
                    })
                }),
            FieldKind::Object => {
                return Err(mapper_parsing(format!(
                    "object mapping for [{path}] tried to parse field [{path}] as object, but \
                     found a concrete value"
                )));
            }
        };
        match converted {
            Some(v) => {
                if self.indexed || self.kind != FieldKind::Text {
                    emit(None, v);
                }
            }
            None if self.kind == FieldKind::Keyword => {}
            None if self.ignore_malformed => return Ok(()),
            None => return Err(self.malformed(path, id, value)),
        }
        for (name, sub) in &self.fields {
            let sub_path = format!("{path}.{name}");
            sub.convert(&sub_path, id, value, &mut |_, v| emit(Some(name), v))?;
        }
        Ok(())
    }

    fn integer(&self, value: &Value, min: i64, max: i64) -> Option<i64> {
        let n = match value {
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && (self.coerce || f.fract() == 0.0))
                    .filter(|f| *f >= i64::MIN as f64 && *f <= i64::MAX as f64)
                    .map(|f| f.trunc() as i64)
            }),
            Value::String(s) if self.coerce => {
                let s = s.trim();
                s.parse::<i64>().ok().or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && *f >= i64::MIN as f64 && *f <= i64::MAX as f64)
                        .map(|f| f.trunc() as i64)
                })
            }
            _ => None,
        }?;
        (min..=max).contains(&n).then_some(n)
    }

    fn malformed(&self, path: &str, id: &str, value: &Value) -> EsError {
        let preview: String = match value {
            Value::String(s) => s.chars().take(20).collect(),
            other => other.to_string().chars().take(20).collect(),
        };
        mapper_parsing(format!(
            "failed to parse field [{path}] of type [{}] in document with id '{id}'. Preview of \
             field's value: '{preview}'",
            self.kind.name()
        ))
    }
}

fn scalar_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn bool_param(value: &Value, key: &str, field: &str) -> Result<bool, EsError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(mapper_parsing(format!(
            "Failed to parse mapping: [{key}] on [{field}] must be true or false, got [{other}]"
        ))),
    }
}

/// `"a.b": {...}` in `properties` means object `a` with field `b`.
fn insert_dotted(
    properties: &mut BTreeMap<String, Field>,
    name: &str,
    field: Field,
) -> Result<(), EsError> {
    match name.split_once('.') {
        None => match properties.get_mut(name) {
            Some(existing) => existing.merge(name, &field),
            None => {
                properties.insert(name.to_string(), field);
                Ok(())
            }
        },
        Some((head, rest)) => {
            if head.is_empty() || rest.is_empty() {
                return Err(mapper_parsing(format!(
                    "field name [{name}] must not start or end with a dot, or contain '..'"
                )));
            }
            let parent = properties
                .entry(head.to_string())
                .or_insert_with(Field::object);
            if parent.kind != FieldKind::Object {
                return Err(conflict(format!(
                    "mapper [{head}] of type [{}] cannot have sub-field [{rest}]",
                    parent.kind.name()
                )));
            }
            insert_dotted(&mut parent.properties, rest, field)
        }
    }
}

fn merge_properties(
    mine: &mut BTreeMap<String, Field>,
    path: &str,
    theirs: &BTreeMap<String, Field>,
) -> Result<(), EsError> {
    for (name, field) in theirs {
        let child_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        match mine.get_mut(name) {
            Some(existing) => existing.merge(&child_path, field)?,
            None => {
                mine.insert(name.clone(), field.clone());
            }
        }
    }
    Ok(())
}

fn properties_json(properties: &BTreeMap<String, Field>) -> Value {
    Value::Object(
        properties
            .iter()
            .map(|(k, f)| (k.clone(), f.to_json()))
            .collect(),
    )
}

/// A value as the search index holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// Analysed full text.
    Text(String),
    Keyword(String),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// Epoch milliseconds.
    Date(i64),
    Ip(std::net::Ipv6Addr),
}

/// Limits that apply when a mapping grows.
#[derive(Debug, Clone, Copy)]
pub struct MappingLimits {
    pub total_fields: usize,
    pub depth: usize,
}

impl Default for MappingLimits {
    fn default() -> Self {
        MappingLimits {
            total_fields: 1000,
            depth: 20,
        }
    }
}

/// An index's mappings.
#[derive(Debug, Clone, PartialEq)]
pub struct Mappings {
    pub root: Field,
    pub date_detection: bool,
    pub numeric_detection: bool,
    pub dynamic_date_formats: Vec<DateFormat>,
    /// `_meta`, `_source`, `_routing`: kept and shown back.
    extra: Map<String, Value>,
}

impl Default for Mappings {
    fn default() -> Self {
        Mappings {
            root: Field::object(),
            date_detection: true,
            numeric_detection: false,
            dynamic_date_formats: default_dynamic_date_formats(),
            extra: Map::new(),
        }
    }
}

fn default_dynamic_date_formats() -> Vec<DateFormat> {
    [
        "strict_date_optional_time",
        "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z",
    ]
    .iter()
    .filter_map(|f| DateFormat::parse(f).ok())
    .collect()
}

/// The parsed result of one document: `(path, value)` pairs, in document order.
pub type IndexedFields = Vec<(String, IndexValue)>;

impl Mappings {
    pub fn parse(value: &Value) -> Result<Self, EsError> {
        let Value::Object(map) = value else {
            return Err(mapper_parsing(
                "the mapping definition must be a JSON object",
            ));
        };
        let mut mappings = Mappings::default();
        let mut unsupported = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "properties" => {
                    let Value::Object(properties) = value else {
                        return Err(mapper_parsing("[properties] must be an object"));
                    };
                    for (name, definition) in properties {
                        let field = Field::parse(name, definition, 1)?;
                        insert_dotted(&mut mappings.root.properties, name, field)?;
                    }
                }
                "dynamic" => mappings.root.dynamic = Some(Dynamic::parse(value, "_doc")?),
                "date_detection" => {
                    mappings.date_detection = bool_param(value, key, "_doc")?;
                }
                "numeric_detection" => {
                    mappings.numeric_detection = bool_param(value, key, "_doc")?;
                }
                "dynamic_date_formats" => {
                    let Value::Array(items) = value else {
                        return Err(mapper_parsing("[dynamic_date_formats] must be an array"));
                    };
                    mappings.dynamic_date_formats = items
                        .iter()
                        .map(|f| {
                            f.as_str()
                                .ok_or_else(|| {
                                    mapper_parsing("[dynamic_date_formats] must hold strings")
                                })
                                .and_then(|s| {
                                    DateFormat::parse(s).map_err(|e| {
                                        mapper_parsing(format!("Invalid format [{s}]: {e}"))
                                    })
                                })
                        })
                        .collect::<Result<_, _>>()?;
                }
                "_meta" | "_routing" => {
                    mappings.extra.insert(key.clone(), value.clone());
                }
                "_source" => {
                    if value.get("enabled") == Some(&json!(false)) {
                        return Err(mapper_parsing(
                            "[_source: {enabled: false}] is not supported: the source is the \
                             document store's record",
                        ));
                    }
                    mappings.extra.insert(key.clone(), value.clone());
                }
                "dynamic_templates" if value.as_array().is_some_and(Vec::is_empty) => {}
                _ => unsupported.push(format!("{key} : {value}")),
            }
        }
        if !unsupported.is_empty() {
            return Err(mapper_parsing(format!(
                "Root mapping definition has unsupported parameters:  [{}]",
                unsupported.join("] [")
            )));
        }
        Ok(mappings)
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(dynamic) = self.root.dynamic {
            out.insert("dynamic".into(), dynamic.to_json());
        }
        if !self.date_detection {
            out.insert("date_detection".into(), json!(false));
        }
        if self.numeric_detection {
            out.insert("numeric_detection".into(), json!(true));
        }
        for (k, v) in &self.extra {
            out.insert(k.clone(), v.clone());
        }
        if !self.root.properties.is_empty() {
            out.insert("properties".into(), properties_json(&self.root.properties));
        }
        Value::Object(out)
    }

    pub fn field_count(&self) -> usize {
        self.root.properties.values().map(Field::count).sum()
    }

    /// Merges a mapping update (from `PUT _mapping`, a template or dynamic mapping), checking
    /// conflicts and limits; `self` is unchanged on error.
    pub fn merged(&self, update: &Mappings, limits: MappingLimits) -> Result<Mappings, EsError> {
        let mut merged = self.clone();
        merge_properties(&mut merged.root.properties, "", &update.root.properties)?;
        if update.root.dynamic.is_some() {
            merged.root.dynamic = update.root.dynamic;
        }
        merged.date_detection = update.date_detection;
        merged.numeric_detection = update.numeric_detection;
        merged.dynamic_date_formats = update.dynamic_date_formats.clone();
        for (k, v) in &update.extra {
            merged.extra.insert(k.clone(), v.clone());
        }
        merged.check_limits(limits, self.field_count())?;
        Ok(merged)
    }

    fn check_limits(&self, limits: MappingLimits, before: usize) -> Result<(), EsError> {
        let count = self.field_count();
        if count > limits.total_fields && count > before {
            return Err(EsError::bad_request(format!(
                "Limit of total fields [{}] has been exceeded while adding new fields [{}]",
                limits.total_fields,
                count - before
            )));
        }
        let depth = self.root.depth();
        if depth > limits.depth {
            return Err(EsError::bad_request(format!(
                "Limit of mapping depth [{}] has been exceeded due to object nesting of depth [{depth}]",
                limits.depth
            )));
        }
        Ok(())
    }

    /// Parses a document against these mappings. Returns its index values and, when dynamic
    /// mapping added fields, the grown mappings (which the caller must persist before the
    /// document).
    pub fn parse_document(
        &self,
        id: &str,
        source: &Value,
        limits: MappingLimits,
    ) -> Result<(IndexedFields, Option<Mappings>), EsError> {
        let Value::Object(map) = source else {
            return Err(mapper_parsing(
                "failed to parse: the document source must be a JSON object",
            ));
        };
        let mut additions: Vec<(String, Field)> = Vec::new();
        let mut values = Vec::new();
        let mut walker = Walker {
            mappings: self,
            id,
            additions: &mut additions,
            values: &mut values,
        };
        walker.object(
            &self.root,
            "",
            map,
            self.root.dynamic.unwrap_or(Dynamic::True),
        )?;
        if additions.is_empty() {
            return Ok((values, None));
        }
        let mut grown = self.clone();
        for (path, field) in additions {
            insert_dotted(&mut grown.root.properties, &path, field)?;
        }
        grown.check_limits(limits, self.field_count())?;
        // Convert again with the grown mappings so every value went through its final mapping.
        let (values, again) = grown.parse_document(id, source, limits)?;
        debug_assert!(again.is_none());
        Ok((values, Some(grown)))
    }

    /// Every field by full path with its type name, objects included, multi-fields as
    /// `parent.sub`.
    pub fn leaf_fields(&self) -> Vec<(String, &'static str)> {
        fn walk(field: &Field, path: &str, out: &mut Vec<(String, &'static str)>) {
            for (name, child) in &field.properties {
                let p = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                out.push((p.clone(), child.kind.name()));
                for (sub, multi) in &child.fields {
                    out.push((format!("{p}.{sub}"), multi.kind.name()));
                }
                walk(child, &p, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.root, "", &mut out);
        out
    }

    /// The fields a `query_string` field name or pattern reaches: itself when it has no `*`,
    /// else the text and keyword fields it matches, at most 1024 (Elasticsearch's field
    /// expansion limit).
    pub fn expand_word_fields(&self, pattern: &str) -> Vec<String> {
        if !pattern.contains('*') {
            return vec![pattern.to_string()];
        }
        self.leaf_fields()
            .into_iter()
            .filter(|(path, kind)| {
                matches!(*kind, "text" | "keyword") && crate::names::glob_match(pattern, path)
            })
            .map(|(path, _)| path)
            .take(1024)
            .collect()
    }

    /// The mapping of a field by its full path (`user.name`, `message.keyword`).
    pub fn field(&self, path: &str) -> Option<&Field> {
        let mut current = &self.root;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            if let Some(child) = current.properties.get(part) {
                current = child;
            } else if let Some(sub) = current.fields.get(part)
                && parts.peek().is_none()
            {
                return Some(sub);
            } else {
                return None;
            }
        }
        Some(current)
    }
}

struct Walker<'a> {
    mappings: &'a Mappings,
    id: &'a str,
    additions: &'a mut Vec<(String, Field)>,
    values: &'a mut IndexedFields,
}

impl Walker<'_> {
    fn object(
        &mut self,
        mapping: &Field,
        path: &str,
        map: &Map<String, Value>,
        inherited: Dynamic,
    ) -> Result<(), EsError> {
        if !mapping.enabled {
            return Ok(());
        }
        let dynamic = mapping.dynamic.unwrap_or(inherited);
        for (name, value) in map {
            if name.is_empty() || name.trim().is_empty() {
                return Err(mapper_parsing(format!(
                    "field name cannot be an empty string or only whitespace (in [{}])",
                    if path.is_empty() { "_doc" } else { path }
                )));
            }
            if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
                return Err(mapper_parsing(format!(
                    "field name [{name}] cannot start or end with a dot, or contain '..'"
                )));
            }
            check_name_characters(name)?;
            if let Some((head, rest)) = name.split_once('.') {
                let mut inner = Map::new();
                inner.insert(rest.to_string(), value.clone());
                let mut outer = Map::new();
                outer.insert(head.to_string(), Value::Object(inner));
                self.object(mapping, path, &outer, inherited)?;
                continue;
            }
            if name.starts_with('_') && path.is_empty() && is_metadata_field(name) {
                return Err(mapper_parsing(format!(
                    "Field [{name}] is a metadata field and cannot be added inside a document. \
                     Use the index API request parameters."
                )));
            }
            let full = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let known = mapping.properties.get(name).cloned().or_else(|| {
                self.additions
                    .iter()
                    .find(|(p, _)| *p == full)
                    .map(|(_, f)| f.clone())
            });
            let field = match known {
                Some(field) => field,
                None => match dynamic {
                    Dynamic::False => continue,
                    Dynamic::Strict => {
                        return Err(EsError::new(
                            400,
                            "strict_dynamic_mapping_exception",
                            format!(
                                "[{}] mapping set to strict, dynamic introduction of [{name}] \
                                 within [{}] is not allowed",
                                if path.is_empty() { "_doc" } else { path },
                                if path.is_empty() { "_doc" } else { path }
                            ),
                        ));
                    }
                    Dynamic::True => match self.infer(value) {
                        Some(field) => {
                            self.additions.push((full.clone(), field.clone()));
                            field
                        }
                        // null or an empty array: nothing to infer from yet.
                        None => continue,
                    },
                },
            };
            self.value(&field, &full, value, dynamic)?;
        }
        Ok(())
    }

    fn value(
        &mut self,
        field: &Field,
        path: &str,
        value: &Value,
        dynamic: Dynamic,
    ) -> Result<(), EsError> {
        if field.kind == FieldKind::Object {
            return match value {
                Value::Object(map) => self.object(field, path, map, dynamic),
                Value::Array(items) => {
                    for item in items {
                        self.value(field, path, item, dynamic)?;
                    }
                    Ok(())
                }
                Value::Null => Ok(()),
                _ => Err(mapper_parsing(format!(
                    "object mapping for [{path}] tried to parse field [{path}] as object, but \
                     found a concrete value"
                ))),
            };
        }
        let values = &mut *self.values;
        field.convert(path, self.id, value, &mut |sub, v| {
            let p = match sub {
                Some(sub) => format!("{path}.{sub}"),
                None => path.to_string(),
            };
            values.push((p, v));
        })
    }

    fn infer(&self, value: &Value) -> Option<Field> {
        Some(match value {
            Value::Null => return None,
            Value::Array(items) => return items.iter().find_map(|v| self.infer(v)),
            Value::Object(_) => Field::object(),
            Value::Bool(_) => Field::new(FieldKind::Boolean),
            Value::Number(n) if n.is_i64() => Field::new(FieldKind::Long),
            Value::Number(_) => Field::new(FieldKind::Float),
            Value::String(s) => {
                if self.mappings.date_detection
                    && (s.contains('-') || s.contains('/'))
                    && let Some(format) = self
                        .mappings
                        .dynamic_date_formats
                        .iter()
                        .find(|f| f.parse_str(s).is_some())
                {
                    let mut field = Field::new(FieldKind::Date);
                    if format.spec() != "strict_date_optional_time" {
                        field.params.insert("format".into(), json!(format.spec()));
                        field.date_format = Some(format.clone());
                    }
                    field
                } else if self.mappings.numeric_detection && s.trim().parse::<i64>().is_ok() {
                    Field::new(FieldKind::Long)
                } else if self.mappings.numeric_detection && s.trim().parse::<f64>().is_ok() {
                    Field::new(FieldKind::Float)
                } else {
                    Field::dynamic_text()
                }
            }
        })
    }
}

fn is_metadata_field(name: &str) -> bool {
    matches!(
        name,
        "_id"
            | "_index"
            | "_source"
            | "_routing"
            | "_seq_no"
            | "_primary_term"
            | "_version"
            | "_ignored"
            | "_field_names"
            | "_tier"
            | "_doc_count"
            | "_data_stream_timestamp"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(doc: Value) -> Result<(IndexedFields, Option<Mappings>), EsError> {
        Mappings::default().parse_document("1", &doc, MappingLimits::default())
    }

    #[test]
    fn names_that_would_address_other_fields_are_refused() {
        let limits = MappingLimits::default();
        for doc in [
            json!({"sec\\ret": "x"}),
            json!({"a\u{1}b": 1}),
            json!({"o": {"x\ny": 1}}),
        ] {
            assert!(
                Mappings::default()
                    .parse_document("1", &doc, limits)
                    .is_err(),
                "{doc}"
            );
        }
        assert!(
            Mappings::parse(&json!({"properties": {"sec\\ret": {"type": "keyword"}}})).is_err()
        );
        assert!(Mappings::parse(&json!({"properties": {"t": {"type": "text", "fields": {"k\\w": {"type": "keyword"}}}}})).is_err());
    }

    #[test]
    fn dynamic_mapping_follows_elasticsearch() {
        let (values, grown) = parse(json!({
            "message": "Hello World", "count": 3, "ratio": 0.5, "ok": true,
            "@timestamp": "2024-01-02T03:04:05Z", "user": {"name": "kim"}, "nothing": null,
            "tags": ["a", "b"], "id.nested": 7,
        }))
        .expect("parses");
        let grown = grown.expect("new fields");
        assert_eq!(
            grown.to_json(),
            json!({"properties": {
                "@timestamp": {"type": "date"},
                "count": {"type": "long"},
                "id": {"properties": {"nested": {"type": "long"}}},
                "message": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
                "ok": {"type": "boolean"},
                "ratio": {"type": "float"},
                "tags": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
                "user": {"properties": {"name": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}}},
            }})
        );
        assert!(values.contains(&("message".into(), IndexValue::Text("Hello World".into()))));
        assert!(values.contains(&(
            "message.keyword".into(),
            IndexValue::Keyword("Hello World".into())
        )));
        assert!(values.contains(&("count".into(), IndexValue::I64(3))));
        assert!(values.contains(&("@timestamp".into(), IndexValue::Date(1_704_164_645_000))));
        assert!(values.contains(&("id.nested".into(), IndexValue::I64(7))));
        assert!(values.contains(&("tags.keyword".into(), IndexValue::Keyword("b".into()))));
    }

    #[test]
    fn explicit_types_coerce_and_reject() {
        let mappings = Mappings::parse(&json!({"dynamic": "strict", "properties": {
            "n": {"type": "integer"}, "s": {"type": "keyword", "ignore_above": 3},
            "d": {"type": "date", "format": "yyyy/MM/dd"}, "ip": {"type": "ip"},
            "b": {"type": "byte", "coerce": false},
        }}))
        .expect("valid");
        let limits = MappingLimits::default();
        let (values, grown) = mappings
            .parse_document(
                "x",
                &json!({"n": "12", "s": ["abcd", "ab"], "d": "2020/01/02", "ip": "10.0.0.1"}),
                limits,
            )
            .expect("parses");
        assert!(grown.is_none());
        assert_eq!(
            values,
            vec![
                ("n".into(), IndexValue::I64(12)),
                ("s".into(), IndexValue::Keyword("ab".into())),
                ("d".into(), IndexValue::Date(1_577_923_200_000)),
                (
                    "ip".into(),
                    IndexValue::Ip(
                        "10.0.0.1"
                            .parse::<std::net::Ipv4Addr>()
                            .expect("ip")
                            .to_ipv6_mapped()
                    )
                ),
            ]
        );
        let e = mappings
            .parse_document("x", &json!({"n": 3_000_000_000i64}), limits)
            .expect_err("out of range");
        assert_eq!(e.error_type, "mapper_parsing_exception");
        assert!(e.reason.contains("[n] of type [integer]"), "{}", e.reason);
        let e = mappings
            .parse_document("x", &json!({"b": "1"}), limits)
            .expect_err("no coercion");
        assert!(e.reason.contains("[b]"), "{}", e.reason);
        let e = mappings
            .parse_document("x", &json!({"other": 1}), limits)
            .expect_err("strict");
        assert_eq!(e.error_type, "strict_dynamic_mapping_exception");
        let e = mappings
            .parse_document("x", &json!({"_id": "1"}), limits)
            .expect_err("metadata");
        assert!(e.reason.contains("metadata field"));
    }

    #[test]
    fn bad_mappings_are_named() {
        for (mapping, needle) in [
            (
                json!({"properties": {"a": {"type": "strang"}}}),
                "No handler for type [strang]",
            ),
            (
                json!({"properties": {"a": {"type": "keyword", "foo": 1}}}),
                "unknown parameter [foo]",
            ),
            (
                json!({"_doc": {"properties": {}}}),
                "Root mapping definition has unsupported parameters",
            ),
            (
                json!({"properties": {"d": {"type": "date", "format": "yyyy EEE"}}}),
                "Invalid format",
            ),
            (
                json!({"properties": {"n": {"type": "long", "null_value": "x"}}}),
                "null_value",
            ),
        ] {
            let e = Mappings::parse(&mapping).expect_err("invalid");
            assert!(e.reason.contains(needle), "{} lacks {needle}", e.reason);
        }
    }

    #[test]
    fn merges_detect_conflicts_and_limits() {
        let base = Mappings::parse(&json!({"properties": {"a": {"type": "long"}}})).expect("ok");
        let update =
            Mappings::parse(&json!({"properties": {"a": {"type": "keyword"}}})).expect("ok");
        let e = base
            .merged(&update, MappingLimits::default())
            .expect_err("conflict");
        assert!(
            e.reason
                .contains("cannot be changed from type [long] to [keyword]")
        );
        let add = Mappings::parse(
            &json!({"properties": {"b": {"type": "keyword"}, "c": {"type": "long"}}}),
        )
        .expect("ok");
        let limits = MappingLimits {
            total_fields: 2,
            depth: 20,
        };
        let e = base.merged(&add, limits).expect_err("limit");
        assert!(
            e.reason.contains("Limit of total fields [2]"),
            "{}",
            e.reason
        );
        let merged = base.merged(&add, MappingLimits::default()).expect("merges");
        assert_eq!(merged.field_count(), 3);
        let e = Mappings::default()
            .parse_document(
                "1",
                &json!({"a": {"b": {"c": 1}}}),
                MappingLimits {
                    total_fields: 100,
                    depth: 2,
                },
            )
            .expect_err("depth");
        assert!(
            e.reason.contains("Limit of mapping depth [2]"),
            "{}",
            e.reason
        );
        let e = Mappings::default()
            .parse_document(
                "1",
                &json!({"a": 1, "b": 2}),
                MappingLimits {
                    total_fields: 1,
                    depth: 20,
                },
            )
            .expect_err("fields");
        assert!(
            e.reason.contains("Limit of total fields [1]"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn object_and_value_clashes_are_errors() {
        let (_, grown) = parse(json!({"a": {"b": 1}})).expect("ok");
        let grown = grown.expect("grown");
        let e = grown
            .parse_document("1", &json!({"a": 5}), MappingLimits::default())
            .expect_err("object given a value");
        assert!(e.reason.contains("tried to parse field [a] as object"));
        let e = grown
            .parse_document(
                "1",
                &json!({"a": {"b": {"c": 1}}}),
                MappingLimits::default(),
            )
            .expect_err("value given an object");
        assert!(
            e.reason
                .contains("failed to parse field [a.b] of type [long]"),
            "{}",
            e.reason
        );
    }
}
