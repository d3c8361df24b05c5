//! `query_string` and `simple_query_string`: the two query types whose body is a small query
//! language of its own. This module reads that language and rewrites it into ordinary query
//! DSL (`bool`, `match`, `match_phrase`, `range`, `prefix`, `wildcard`, `regexp`, `exists`,
//! `match_all`, `match_none`), which the query builder in `search.rs` then runs like any other
//! query.
//!
//! It owns the syntax only: tokenizing, Lucene's clause rules, the body's parameters and the
//! syntax errors. It must never build tantivy queries itself, never read mappings (field names
//! and patterns are resolved by the caller's `expand_fields`) and never consult field-level
//! security: the builder applies that to the DSL this module returns, so a query written here
//! can never reach a field the same query written as DSL could not.
//!
//! `query_string` operators follow Lucene's classic parser rather than boolean precedence
//! (see [`LuceneParser`]): `a OR b AND c` requires `b` and `c`, as in Elasticsearch.
//!
//! The input is untrusted text, so nothing here may panic, recurse without a bound, or take
//! more than linear time in the length of the query (times the number of expanded fields).
//!
//! Where the two languages differ from each other:
//! - `query_string` fails on a syntax error with `query_shard_exception`, even when `lenient`
//!   is true: Elasticsearch's `lenient` only forgives values of the wrong type for a field,
//!   which is the builder's business, not broken syntax.
//! - `simple_query_string` never fails on its query text: whatever it cannot read (an unclosed
//!   parenthesis or quote, an operator with nothing after it) is skipped.
//!
//! Boosts survive only on `match` and `match_phrase`: the other forms the builder accepts carry
//! no boost, so a boost on a range, prefix, wildcard, regexp or exists clause is dropped.

use rampart_action::EsError;
use serde_json::{Map, Value, json};

/// How deeply parenthesised groups may nest. Real queries stay far below this; the limit
/// exists so that hostile input cannot exhaust the stack here or in the builder.
const MAX_DEPTH: usize = 20;

/// How tall the translated tree may grow. `simple_query_string` nests a new `bool` each time
/// the operator changes (`a+b|c+d|…`), so its height is bounded separately from parentheses.
/// Three JSON levels per bool level keep the result well inside the 128 levels a JSON parser
/// accepts, should the translated query ever be serialized and read back.
const MAX_HEIGHT: usize = 24;

/// The pseudo-field whose value names a field that must exist (`_exists_:title`).
const EXISTS_FIELD: &str = "_exists_";

/// Translates the body of a `query_string` (`simple == false`) or `simple_query_string`
/// (`simple == true`) query into query DSL. `expand_fields` maps a field name or pattern
/// (`title`, `title*`, `*`) to the concrete field paths it stands for.
pub(crate) fn translate(
    body: &Value,
    simple: bool,
    expand_fields: &dyn Fn(&str) -> Vec<String>,
) -> Result<Value, EsError> {
    let name = if simple {
        "simple_query_string"
    } else {
        "query_string"
    };
    let Value::Object(map) = body else {
        return Err(parsing(format!("[{name}] query must be an object")));
    };
    let options = Options::read(name, simple, map)?;

    let explicit_fields = options.fields.as_ref().filter(|f| !f.is_empty());
    let entries = match explicit_fields {
        Some(fields) => fields.clone(),
        None => vec![(options.default_field.clone(), 1.0)],
    };
    let default_is_all = entries.len() == 1 && entries.iter().all(|(f, _)| f == "*");
    let mut default_fields: Vec<(String, f64)> = Vec::new();
    for (pattern, boost) in &entries {
        for field in expand_fields(pattern) {
            if !default_fields.iter().any(|(known, _)| *known == field) {
                default_fields.push((field, *boost));
            }
        }
    }

    let ast = if simple {
        SimpleParser::new(&options).parse()
    } else if options.escape {
        literal_words(&options)
    } else {
        let ranges_on_default = explicit_fields.is_none();
        LuceneParser::new(&options, ranges_on_default)
            .parse()
            .map_err(|message| {
                EsError::new(
                    400,
                    "query_shard_exception",
                    format!("Failed to parse query [{}]: {message}", options.query),
                )
            })?
    };

    let renderer = Renderer {
        expand_fields,
        default_fields,
        default_is_all,
        operator: if options.and { "and" } else { "or" },
    };
    let Some((mut query, from_clauses)) = renderer.render(&ast, options.boost) else {
        // Nothing searchable was left (an empty query, or only ignored characters).
        return Ok(json!({"match_none": {}}));
    };
    if let Some(minimum) = &options.minimum_should_match
        && from_clauses
        && let Some(Value::Object(clauses)) = query.get_mut("bool")
    {
        clauses.insert("minimum_should_match".into(), minimum.clone());
    }
    Ok(query)
}

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(400, "parsing_exception", reason)
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// The edit distance of a fuzzy term.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fuzz {
    Auto,
    Edits(u8),
}

impl Fuzz {
    /// `~N` as written: fractions are truncated and anything beyond two edits is two, the most
    /// a fuzzy term query can express.
    fn from_number(n: f64) -> Fuzz {
        Fuzz::Edits(n.clamp(0.0, 2.0) as u8)
    }

    fn to_json(self) -> Value {
        match self {
            Fuzz::Auto => json!("AUTO"),
            Fuzz::Edits(n) => json!(n),
        }
    }
}

/// The body of either query, read and checked.
struct Options {
    query: String,
    /// `fields`, each with its boost; `None` when the body has none.
    fields: Option<Vec<(String, f64)>>,
    default_field: String,
    /// `default_operator` is AND.
    and: bool,
    boost: f64,
    minimum_should_match: Option<Value>,
    allow_leading_wildcard: bool,
    fuzziness: Fuzz,
    phrase_slop: u32,
    escape: bool,
    /// `simple_query_string` operators that are enabled.
    flags: u32,
}

mod flag {
    pub const AND: u32 = 1;
    pub const NOT: u32 = 1 << 1;
    pub const OR: u32 = 1 << 2;
    pub const PREFIX: u32 = 1 << 3;
    pub const PHRASE: u32 = 1 << 4;
    pub const PRECEDENCE: u32 = 1 << 5;
    pub const ESCAPE: u32 = 1 << 6;
    pub const WHITESPACE: u32 = 1 << 7;
    pub const FUZZY: u32 = 1 << 8;
    /// `~N` after a phrase; Elasticsearch calls it both NEAR and SLOP.
    pub const NEAR: u32 = 1 << 9;
    pub const ALL: u32 = (1 << 10) - 1;
}

/// Parameters Elasticsearch accepts that change nothing in the translation: they tune
/// analysis, scoring or execution, which the builder owns, or have no counterpart here.
const IGNORED_QUERY_STRING: &[&str] = &[
    "_name",
    "analyze_wildcard",
    "analyzer",
    "auto_generate_synonyms_phrase_query",
    "enable_position_increments",
    "fuzzy_max_expansions",
    "fuzzy_prefix_length",
    "fuzzy_rewrite",
    "fuzzy_transpositions",
    "lenient",
    "max_determinized_states",
    "quote_analyzer",
    "quote_field_suffix",
    "rewrite",
    "tie_breaker",
    "time_zone",
];

const IGNORED_SIMPLE: &[&str] = &[
    "_name",
    "analyze_wildcard",
    "analyzer",
    "auto_generate_synonyms_phrase_query",
    "fuzzy_max_expansions",
    "fuzzy_prefix_length",
    "fuzzy_transpositions",
    "lenient",
    "quote_field_suffix",
];

impl Options {
    fn read(name: &str, simple: bool, map: &Map<String, Value>) -> Result<Options, EsError> {
        let mut options = Options {
            query: String::new(),
            fields: None,
            default_field: "*".into(),
            and: false,
            boost: 1.0,
            minimum_should_match: None,
            allow_leading_wildcard: true,
            fuzziness: Fuzz::Auto,
            phrase_slop: 0,
            escape: false,
            flags: flag::ALL,
        };
        let ignored = if simple {
            IGNORED_SIMPLE
        } else {
            IGNORED_QUERY_STRING
        };
        let mut query = None;
        for (key, value) in map {
            match key.as_str() {
                "query" => {
                    query = Some(scalar_text(value).ok_or_else(|| {
                        parsing(format!("[{name}] [query] must be a string, got [{value}]"))
                    })?);
                }
                "fields" => options.fields = Some(read_fields(name, value)?),
                "default_operator" => {
                    options.and = match scalar_text(value).map(|s| s.to_ascii_lowercase()) {
                        Some(op) if op == "and" => true,
                        Some(op) if op == "or" => false,
                        _ => {
                            return Err(EsError::bad_request(format!(
                                "[{name}] [default_operator] must be AND or OR, got [{value}]"
                            )));
                        }
                    };
                }
                "boost" => options.boost = read_number(name, key, value)?,
                "minimum_should_match" => {
                    // The builder checks the value: it reads it the same way for every bool.
                    if !value.is_null() {
                        options.minimum_should_match = Some(value.clone());
                    }
                }
                "default_field" if !simple => {
                    options.default_field = scalar_text(value).ok_or_else(|| {
                        parsing(format!("[{name}] [default_field] must be a string"))
                    })?;
                }
                "allow_leading_wildcard" if !simple => {
                    options.allow_leading_wildcard = read_bool(name, key, value)?;
                }
                "escape" if !simple => options.escape = read_bool(name, key, value)?,
                "fuzziness" if !simple => options.fuzziness = read_fuzziness(name, value)?,
                "phrase_slop" if !simple => {
                    let slop = read_number(name, key, value)?;
                    options.phrase_slop = slop.clamp(0.0, f64::from(u32::MAX)) as u32;
                }
                "type" if !simple => {
                    let kind = scalar_text(value).unwrap_or_default().to_ascii_lowercase();
                    // Both only change how per-field scores add up; the translation
                    // approximates either as a disjunction over the fields.
                    if kind != "best_fields" && kind != "most_fields" {
                        return Err(parsing(format!(
                            "[{name}] [type] [{kind}] is not supported: use best_fields or \
                             most_fields"
                        )));
                    }
                }
                "flags" if simple => options.flags = read_flags(value)?,
                other if ignored.contains(&other) => {}
                other if simple => {
                    return Err(parsing(format!("[{name}] unsupported field [{other}]")));
                }
                other => {
                    return Err(parsing(format!(
                        "[{name}] query does not support [{other}]"
                    )));
                }
            }
        }
        options.query = match query {
            Some(query) => query,
            None if simple => return Err(parsing(format!("[{name}] query text missing"))),
            None => return Err(parsing(format!("[{name}] requires a [query]"))),
        };
        Ok(options)
    }
}

/// A JSON scalar as the text Elasticsearch would read from it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn read_number(name: &str, key: &str, value: &Value) -> Result<f64, EsError> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|n| n.is_finite()).ok_or_else(|| {
        EsError::bad_request(format!("[{name}] [{key}] must be a number, got [{value}]"))
    })
}

fn read_bool(name: &str, key: &str, value: &Value) -> Result<bool, EsError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(EsError::bad_request(format!(
            "[{name}] [{key}] must be true or false, got [{value}]"
        ))),
    }
}

fn read_fuzziness(name: &str, value: &Value) -> Result<Fuzz, EsError> {
    let text = scalar_text(value).unwrap_or_default();
    if text.to_ascii_uppercase().starts_with("AUTO") {
        return Ok(Fuzz::Auto);
    }
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(Fuzz::from_number(n)),
        _ => Err(EsError::bad_request(format!(
            "[{name}] [fuzziness] must be AUTO or a number of edits, got [{value}]"
        ))),
    }
}

/// `fields`: names or patterns, each optionally `^boost`.
fn read_fields(name: &str, value: &Value) -> Result<Vec<(String, f64)>, EsError> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::String(_) => vec![value],
        _ => {
            return Err(parsing(format!(
                "[{name}] [fields] must be an array of field names"
            )));
        }
    };
    let mut fields = Vec::new();
    for item in items {
        let Some(entry) = item.as_str() else {
            return Err(parsing(format!(
                "[{name}] [fields] must hold strings, got [{item}]"
            )));
        };
        let (field, boost) = match entry.rsplit_once('^') {
            Some((field, boost)) => {
                let boost = boost
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|b| b.is_finite() && *b >= 0.0)
                    .ok_or_else(|| {
                        EsError::bad_request(format!(
                            "[{name}] the boost in [fields] entry [{entry}] is not a number"
                        ))
                    })?;
                (field, boost)
            }
            None => (entry, 1.0),
        };
        let field = field.trim();
        if !field.is_empty() {
            fields.push((field.to_string(), boost));
        }
    }
    Ok(fields)
}

/// `flags`: `ALL`, `NONE`, a `|`-separated list of operator names, or the bit mask itself.
fn read_flags(value: &Value) -> Result<u32, EsError> {
    if let Some(n) = value.as_i64() {
        // -1 is how the bit mask spells ALL.
        return Ok(if n < 0 {
            flag::ALL
        } else {
            u32::try_from(n).unwrap_or(flag::ALL) & flag::ALL
        });
    }
    let Some(text) = value.as_str() else {
        return Err(EsError::bad_request(format!(
            "[simple_query_string] [flags] must be a string, got [{value}]"
        )));
    };
    if text.trim().is_empty() {
        return Ok(flag::ALL);
    }
    let mut flags = 0;
    for part in text.split('|').map(str::trim).filter(|p| !p.is_empty()) {
        flags |= match part.to_ascii_uppercase().as_str() {
            "ALL" => flag::ALL,
            "NONE" => 0,
            "AND" => flag::AND,
            "OR" => flag::OR,
            "NOT" => flag::NOT,
            "PREFIX" => flag::PREFIX,
            "PHRASE" => flag::PHRASE,
            "PRECEDENCE" => flag::PRECEDENCE,
            "ESCAPE" => flag::ESCAPE,
            "WHITESPACE" => flag::WHITESPACE,
            "FUZZY" => flag::FUZZY,
            "NEAR" | "SLOP" => flag::NEAR,
            _ => {
                return Err(EsError::bad_request(format!(
                    "Unknown simple_query_string flag [{part}]"
                )));
            }
        };
    }
    Ok(flags)
}

// ---------------------------------------------------------------------------------------------
// The parsed query
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occur {
    Must,
    Should,
    MustNot,
}

/// A parsed query, before fields are expanded.
#[derive(Debug)]
enum Ast {
    /// A clause that searches for nothing (an empty phrase): dropped from its bool, as
    /// Elasticsearch drops clauses that analyze to nothing.
    Empty,
    Bool {
        clauses: Vec<(Occur, Ast)>,
        boost: f64,
    },
    Leaf {
        /// `None`: the default fields.
        field: Option<String>,
        kind: Leaf,
        boost: f64,
    },
}

#[derive(Debug)]
enum Leaf {
    Text(String),
    Phrase {
        text: String,
        slop: u32,
    },
    Fuzzy {
        text: String,
        fuzziness: Fuzz,
    },
    Prefix(String),
    /// A pattern in the `wildcard` query's syntax: literal `*`, `?` and `\` are escaped.
    Wildcard(String),
    Regexp(String),
    Range {
        lower: Option<(String, bool)>,
        upper: Option<(String, bool)>,
    },
    /// `*` alone: everything, or everything that has the field.
    Star,
}

/// Text with the escape state of each character, so that `\*` stays a literal star.
type Chars = Vec<(char, bool)>;

fn plain(chars: &[(char, bool)]) -> String {
    chars.iter().map(|(c, _)| *c).collect()
}

fn is_wild(c: char, escaped: bool) -> bool {
    !escaped && (c == '*' || c == '?')
}

/// A word as a leaf: a prefix when its only wildcard is one trailing `*`, a wildcard pattern
/// when it has others, otherwise text.
fn word_leaf(chars: &[(char, bool)]) -> Leaf {
    if !chars.iter().any(|&(c, e)| is_wild(c, e)) {
        return Leaf::Text(plain(chars));
    }
    if chars.iter().all(|&(c, e)| c == '*' && !e) {
        return Leaf::Star;
    }
    if let Some((&('*', false), head)) = chars.split_last()
        && !head.iter().any(|&(c, e)| is_wild(c, e))
    {
        return Leaf::Prefix(plain(head));
    }
    let mut pattern = String::new();
    for &(c, escaped) in chars {
        if escaped && matches!(c, '*' | '?' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    Leaf::Wildcard(pattern)
}

/// `escape: true`: every character is literal, so the query is just words.
fn literal_words(options: &Options) -> Ast {
    let occur = if options.and {
        Occur::Must
    } else {
        Occur::Should
    };
    let clauses = options
        .query
        .split_whitespace()
        .map(|word| {
            (
                occur,
                Ast::Leaf {
                    field: None,
                    kind: Leaf::Text(word.to_string()),
                    boost: 1.0,
                },
            )
        })
        .collect();
    Ast::Bool {
        clauses,
        boost: 1.0,
    }
}

// ---------------------------------------------------------------------------------------------
// query_string: tokens
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Plus,
    Minus,
    Colon,
    Boost(f64),
    /// `~` with its number, if any.
    Tilde(Option<f64>),
    Word(Chars),
    Quoted(String),
    Regex(String),
    Range(RangeTok),
}

#[derive(Debug, Clone, PartialEq)]
struct RangeTok {
    lower: String,
    upper: String,
    lower_inclusive: bool,
    upper_inclusive: bool,
}

/// A token with the character positions it spans, for error messages.
#[derive(Debug)]
struct Spanned {
    tok: Tok,
    start: usize,
    end: usize,
}

/// Characters that end a word unless escaped. `+` and `-` do not: `wi-fi` is one word.
fn ends_word(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '(' | ')' | ':' | '^' | '[' | ']' | '"' | '{' | '}' | '~' | '/' | '!'
        )
}

struct Lexer<'a> {
    chars: &'a [char],
    at: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn tokens(mut self) -> Result<Vec<Spanned>, String> {
        let mut out = Vec::new();
        loop {
            while self.peek().is_some_and(char::is_whitespace) {
                self.at += 1;
            }
            let start = self.at;
            let Some(c) = self.peek() else {
                return Ok(out);
            };
            let tok = match c {
                '(' => self.single(Tok::LParen),
                ')' => self.single(Tok::RParen),
                ':' => self.single(Tok::Colon),
                '+' | '-' | '!' => {
                    self.at += 1;
                    match self.peek() {
                        None => {
                            return Err(format!(
                                "[{c}] at position {start} has no clause after it"
                            ));
                        }
                        // A lone sign between spaces is a word of its own that analysis would
                        // reduce to nothing, so it is dropped rather than refused.
                        Some(next) if next.is_whitespace() => continue,
                        Some(_) => match c {
                            '+' => Tok::Plus,
                            '-' => Tok::Minus,
                            _ => Tok::Not,
                        },
                    }
                }
                '^' => {
                    self.at += 1;
                    match self.number() {
                        Some(n) => Tok::Boost(n),
                        None => {
                            return Err(format!(
                                "[^] at position {start} must be followed by a number"
                            ));
                        }
                    }
                }
                '~' => {
                    self.at += 1;
                    Tok::Tilde(self.number())
                }
                '"' => Tok::Quoted(self.quoted()?),
                '/' => Tok::Regex(self.regex()?),
                '[' | '{' => Tok::Range(self.range()?),
                ']' | '}' => {
                    return Err(format!(
                        "[{c}] at position {start} closes a range that was never opened"
                    ));
                }
                _ => {
                    let word = self.word()?;
                    if word.iter().all(|(_, escaped)| !escaped) {
                        match plain(&word).as_str() {
                            "AND" | "&&" => Tok::And,
                            "OR" | "||" => Tok::Or,
                            "NOT" => Tok::Not,
                            _ => Tok::Word(word),
                        }
                    } else {
                        Tok::Word(word)
                    }
                }
            };
            out.push(Spanned {
                tok,
                start,
                end: self.at,
            });
        }
    }

    fn single(&mut self, tok: Tok) -> Tok {
        self.at += 1;
        tok
    }

    /// Digits with an optional fraction, as `^` and `~` take them.
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        if self.peek() == Some('.')
            && self
                .chars
                .get(self.at + 1)
                .is_some_and(|c| c.is_ascii_digit())
        {
            self.at += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.at += 1;
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        text.parse().ok()
    }

    fn word(&mut self) -> Result<Chars, String> {
        let mut word = Vec::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                let Some(&next) = self.chars.get(self.at + 1) else {
                    return Err(format!(
                        "the escape character at position {} has nothing to escape",
                        self.at
                    ));
                };
                word.push((next, true));
                self.at += 2;
            } else if ends_word(c) {
                break;
            } else {
                word.push((c, false));
                self.at += 1;
            }
        }
        Ok(word)
    }

    fn quoted(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    self.at += 1;
                    return Ok(text);
                }
                '\\' => {
                    if let Some(&next) = self.chars.get(self.at + 1) {
                        text.push(next);
                    }
                    self.at += 2;
                }
                _ => {
                    text.push(c);
                    self.at += 1;
                }
            }
        }
        Err(format!("the quote at position {start} is never closed"))
    }

    fn regex(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        let mut pattern = String::new();
        while let Some(c) = self.peek() {
            match c {
                '/' => {
                    self.at += 1;
                    return Ok(pattern);
                }
                '\\' => {
                    match self.chars.get(self.at + 1) {
                        // `\/` only exists to keep the slash from ending the expression.
                        Some('/') => pattern.push('/'),
                        Some(&next) => {
                            pattern.push('\\');
                            pattern.push(next);
                        }
                        None => pattern.push('\\'),
                    }
                    self.at += 2;
                }
                _ => {
                    pattern.push(c);
                    self.at += 1;
                }
            }
        }
        Err(format!(
            "the regular expression starting at position {start} is never closed"
        ))
    }

    /// `[a TO b]`, `{a TO b}` or a mix, each bound a word or a quoted string.
    fn range(&mut self) -> Result<RangeTok, String> {
        let start = self.at;
        let lower_inclusive = self.chars.get(start) == Some(&'[');
        self.at += 1;
        let unclosed = || format!("the range starting at position {start} is never closed");
        let lower = self.bound().ok_or_else(unclosed)?;
        let to_at = self.skip_space();
        match self.bound() {
            Some((to, false)) if to == "TO" => {}
            _ => {
                return Err(format!(
                    "the range starting at position {start} needs [TO] at position {to_at}"
                ));
            }
        }
        let upper_at = self.skip_space();
        let upper = self.bound().ok_or_else(unclosed)?;
        let end_at = self.skip_space();
        let upper_inclusive = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            Some(_) => {
                return Err(format!(
                    "the range starting at position {start} must end with ] or }} at position \
                     {end_at}"
                ));
            }
            None => return Err(unclosed()),
        };
        if upper.0.is_empty() && !upper.1 {
            return Err(format!(
                "the range starting at position {start} has no upper bound at position \
                 {upper_at}"
            ));
        }
        self.at += 1;
        Ok(RangeTok {
            lower: lower.0,
            upper: upper.0,
            lower_inclusive,
            upper_inclusive,
        })
    }

    fn skip_space(&mut self) -> usize {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        self.at
    }

    /// One bound of a range and whether it was quoted; `None` at the end of the query.
    fn bound(&mut self) -> Option<(String, bool)> {
        self.skip_space();
        match self.peek()? {
            '"' => self.quoted().ok().map(|text| (text, true)),
            _ => {
                let mut text = String::new();
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || c == ']' || c == '}' {
                        break;
                    }
                    if c == '\\' {
                        if let Some(&next) = self.chars.get(self.at + 1) {
                            text.push(next);
                        }
                        self.at += 2;
                    } else {
                        text.push(c);
                        self.at += 1;
                    }
                }
                Some((text, false))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// query_string: clauses
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conj {
    None,
    And,
    Or,
}

/// Lucene's classic query syntax. Operators do not have the usual precedence: each clause
/// gets an occurrence (must, should, must not) from its own modifier, the conjunction before
/// it and the default operator, and an AND or OR may also change the clause before it. So
/// `a OR b AND c` requires `b` and `c` and only prefers `a`, exactly as Elasticsearch answers.
struct LuceneParser<'a> {
    options: &'a Options,
    /// Whether `>10` on the default fields is a range: Elasticsearch only reads comparison
    /// operators when the query has one default field rather than a `fields` list.
    ranges_on_default: bool,
    chars: Vec<char>,
    toks: Vec<Spanned>,
    at: usize,
}

impl<'a> LuceneParser<'a> {
    fn new(options: &'a Options, ranges_on_default: bool) -> Self {
        LuceneParser {
            options,
            ranges_on_default,
            chars: options.query.chars().collect(),
            toks: Vec::new(),
            at: 0,
        }
    }

    fn parse(mut self) -> Result<Ast, String> {
        self.toks = Lexer {
            chars: &self.chars,
            at: 0,
        }
        .tokens()?;
        let clauses = self.clauses(None, 0)?;
        if let Some(extra) = self.toks.get(self.at) {
            return Err(format!(
                "{} at position {} closes a group that was never opened",
                self.describe(extra),
                extra.start
            ));
        }
        Ok(Ast::Bool {
            clauses,
            boost: 1.0,
        })
    }

    fn describe(&self, tok: &Spanned) -> String {
        let text: String = self
            .chars
            .get(tok.start..tok.end)
            .unwrap_or_default()
            .iter()
            .collect();
        format!("[{text}]")
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    /// A sequence of clauses, up to a `)` or the end of the query.
    fn clauses(&mut self, field: Option<&str>, depth: usize) -> Result<Vec<(Occur, Ast)>, String> {
        let mut clauses: Vec<(Occur, Ast)> = Vec::new();
        while let Some(tok) = self.toks.get(self.at)
            && tok.tok != Tok::RParen
        {
            let mut last_operator = None;
            let conj = match tok.tok {
                Tok::And | Tok::Or if clauses.is_empty() => {
                    return Err(format!(
                        "{} at position {} has no clause before it",
                        self.describe(tok),
                        tok.start
                    ));
                }
                Tok::And => Conj::And,
                Tok::Or => Conj::Or,
                _ => Conj::None,
            };
            if conj != Conj::None {
                last_operator = Some(self.at);
                self.at += 1;
            }
            let modifier = match self.peek() {
                Some(Tok::Plus) => Some(Occur::Must),
                Some(Tok::Minus | Tok::Not) => Some(Occur::MustNot),
                _ => None,
            };
            if modifier.is_some() {
                last_operator = Some(self.at);
                self.at += 1;
            }
            if let Some(op) = last_operator
                && matches!(
                    self.peek(),
                    None | Some(
                        Tok::RParen | Tok::And | Tok::Or | Tok::Plus | Tok::Minus | Tok::Not
                    )
                )
                && let Some(op) = self.toks.get(op)
            {
                return Err(format!(
                    "{} at position {} has no clause after it",
                    self.describe(op),
                    op.start
                ));
            }
            let clause = self.clause(field, depth)?;
            add_clause(&mut clauses, conj, modifier, clause, self.options.and);
        }
        Ok(clauses)
    }

    /// One clause: `field:value` or a value on the current field.
    fn clause(&mut self, field: Option<&str>, depth: usize) -> Result<Ast, String> {
        if let Some(Spanned {
            tok: Tok::Word(name),
            start,
            ..
        }) = self.toks.get(self.at)
            && matches!(self.toks.get(self.at + 1).map(|t| &t.tok), Some(Tok::Colon))
        {
            let name = plain(name);
            let start = *start;
            self.at += 2;
            if !matches!(
                self.peek(),
                Some(Tok::Word(_) | Tok::Quoted(_) | Tok::Regex(_) | Tok::Range(_) | Tok::LParen)
            ) {
                return Err(format!("[{name}:] at position {start} has no value"));
            }
            return self.value(Some(&name), depth);
        }
        self.value(field, depth)
    }

    fn value(&mut self, field: Option<&str>, depth: usize) -> Result<Ast, String> {
        let Some(tok) = self.toks.get(self.at) else {
            return Err("the query ends where a clause was expected".into());
        };
        let start = tok.start;
        let field_name = field.map(str::to_string);
        self.at += 1;
        match tok.tok.clone() {
            Tok::LParen => {
                if depth >= MAX_DEPTH {
                    return Err(format!(
                        "the group at position {start} is nested more than {MAX_DEPTH} levels deep"
                    ));
                }
                let clauses = self.clauses(field, depth + 1)?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(format!("the [(] at position {start} is never closed"));
                }
                if clauses.is_empty() {
                    return Err(format!("the group at position {start} is empty"));
                }
                self.at += 1;
                let (tilde, boost) = self.suffixes()?;
                if let Some((at, _)) = tilde {
                    return Err(format!("[~] at position {at} cannot follow a group"));
                }
                Ok(Ast::Bool { clauses, boost })
            }
            Tok::Range(range) => {
                let (tilde, boost) = self.suffixes()?;
                if let Some((at, _)) = tilde {
                    return Err(format!("[~] at position {at} cannot follow a range"));
                }
                let bound =
                    |value: String, inclusive: bool| (value != "*").then_some((value, inclusive));
                Ok(Ast::Leaf {
                    field: field_name,
                    kind: Leaf::Range {
                        lower: bound(range.lower, range.lower_inclusive),
                        upper: bound(range.upper, range.upper_inclusive),
                    },
                    boost,
                })
            }
            Tok::Quoted(text) => {
                let (tilde, boost) = self.suffixes()?;
                if text.trim().is_empty() {
                    return Ok(Ast::Empty);
                }
                let slop = match tilde {
                    Some((_, Some(n))) => n.clamp(0.0, f64::from(u32::MAX)) as u32,
                    _ => self.options.phrase_slop,
                };
                Ok(Ast::Leaf {
                    field: field_name,
                    kind: Leaf::Phrase { text, slop },
                    boost,
                })
            }
            Tok::Regex(pattern) => {
                let (_, boost) = self.suffixes()?;
                Ok(Ast::Leaf {
                    field: field_name,
                    kind: Leaf::Regexp(pattern),
                    boost,
                })
            }
            Tok::Word(word) => {
                let (tilde, boost) = self.suffixes()?;
                let kind = self.word(field.is_some(), &word, tilde.map(|(_, n)| n), start)?;
                Ok(Ast::Leaf {
                    field: field_name,
                    kind,
                    boost,
                })
            }
            _ => Err(format!(
                "{} at position {start} is not where a clause can start",
                self.describe(tok)
            )),
        }
    }

    /// What a word means: text, fuzzy text, a one-sided range, a prefix or a wildcard.
    fn word(
        &self,
        explicit_field: bool,
        word: &[(char, bool)],
        tilde: Option<Option<f64>>,
        start: usize,
    ) -> Result<Leaf, String> {
        let wild = word.iter().any(|&(c, e)| is_wild(c, e));
        if !wild {
            if let Some(fuzz) = tilde {
                let fuzziness = fuzz.map_or(self.options.fuzziness, Fuzz::from_number);
                let text = plain(word);
                return Ok(if fuzziness == Fuzz::Edits(0) {
                    Leaf::Text(text)
                } else {
                    Leaf::Fuzzy { text, fuzziness }
                });
            }
            if (explicit_field || self.ranges_on_default)
                && let Some(range) = comparison(word)
            {
                return Ok(range);
            }
            return Ok(Leaf::Text(plain(word)));
        }
        let leaf = word_leaf(word);
        if let Leaf::Wildcard(_) = leaf
            && !self.options.allow_leading_wildcard
            && word.first().is_some_and(|&(c, e)| is_wild(c, e))
        {
            return Err(format!(
                "the word at position {start} starts with a wildcard, which \
                 [allow_leading_wildcard] forbids"
            ));
        }
        Ok(leaf)
    }

    /// `^N` and `~` / `~N` after a value, in either order: the `~` with its position and
    /// number, and the boost.
    #[allow(clippy::type_complexity)]
    fn suffixes(&mut self) -> Result<(Option<(usize, Option<f64>)>, f64), String> {
        let mut tilde = None;
        let mut boost = None;
        while let Some(tok) = self.toks.get(self.at) {
            match tok.tok {
                Tok::Tilde(n) if tilde.is_none() => tilde = Some((tok.start, n)),
                Tok::Boost(b) if boost.is_none() => boost = Some(b),
                _ => break,
            }
            self.at += 1;
        }
        Ok((tilde, boost.unwrap_or(1.0)))
    }
}

/// `>10`, `>=10`, `<10`, `<=10`: a range open on one side, when the sign is not escaped.
fn comparison(word: &[(char, bool)]) -> Option<Leaf> {
    let (&(sign, false), rest) = word.split_first()? else {
        return None;
    };
    if (sign != '>' && sign != '<') || rest.is_empty() {
        return None;
    }
    let (inclusive, value) = match rest.split_first() {
        Some((&('=', false), value)) if !value.is_empty() => (true, plain(value)),
        _ => (false, plain(rest)),
    };
    let bound = (value != "*").then_some((value, inclusive));
    Some(if sign == '>' {
        Leaf::Range {
            lower: bound,
            upper: None,
        }
    } else {
        Leaf::Range {
            lower: None,
            upper: bound,
        }
    })
}

/// Adds a clause the way Lucene's classic parser does: the conjunction may first change the
/// clause before it, then the modifier, conjunction and default operator decide this one.
fn add_clause(
    clauses: &mut Vec<(Occur, Ast)>,
    conj: Conj,
    modifier: Option<Occur>,
    clause: Ast,
    and_default: bool,
) {
    if let Some((previous, _)) = clauses.last_mut()
        && *previous != Occur::MustNot
    {
        if conj == Conj::And {
            *previous = Occur::Must;
        } else if conj == Conj::Or && and_default {
            *previous = Occur::Should;
        }
    }
    let occur = if modifier == Some(Occur::MustNot) {
        Occur::MustNot
    } else if and_default {
        // With AND as default, an explicit OR makes both sides optional, even a `+` clause.
        if conj == Conj::Or {
            Occur::Should
        } else {
            Occur::Must
        }
    } else if modifier == Some(Occur::Must) || conj == Conj::And {
        Occur::Must
    } else {
        Occur::Should
    };
    clauses.push((occur, clause));
}

// ---------------------------------------------------------------------------------------------
// simple_query_string
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
}

impl Op {
    fn occur(self) -> Occur {
        match self {
            Op::And => Occur::Must,
            Op::Or => Occur::Should,
        }
    }
}

/// The query being built at one level of parentheses.
#[derive(Default)]
struct Level {
    /// The query so far and its height.
    top: Option<(Ast, usize)>,
    /// The operator `top` was built with at this level, when it is a bool built here.
    top_op: Option<Op>,
    /// An explicit `+` or `|` waiting for its right-hand side.
    pending: Option<Op>,
    /// `-` signs seen immediately before the next clause.
    nots: usize,
}

/// The forgiving syntax: it reads left to right, joins each clause to what came before with
/// the pending operator (or the default one), and skips whatever it cannot make sense of.
struct SimpleParser {
    chars: Vec<char>,
    flags: u32,
    default_op: Op,
    /// For each `(` the position of its `)`, found once so that unclosed parentheses cost
    /// linear rather than quadratic time.
    closing: Vec<Option<usize>>,
}

impl SimpleParser {
    fn new(options: &Options) -> Self {
        let chars: Vec<char> = options.query.chars().collect();
        let flags = options.flags;
        let mut closing = vec![None; chars.len()];
        if flags & flag::PRECEDENCE != 0 {
            let mut open = Vec::new();
            let mut i = 0;
            while i < chars.len() {
                match chars[i] {
                    '\\' if flags & flag::ESCAPE != 0 => i += 1,
                    '(' => open.push(i),
                    ')' => {
                        if let Some(start) = open.pop()
                            && let Some(slot) = closing.get_mut(start)
                        {
                            *slot = Some(i);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        SimpleParser {
            chars,
            flags,
            default_op: if options.and { Op::And } else { Op::Or },
            closing,
        }
    }

    fn on(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    fn parse(&self) -> Ast {
        self.level(0, self.chars.len(), 0)
            .map_or(Ast::Empty, |(ast, _)| ast)
    }

    fn ends_token(&self, c: char) -> bool {
        (c.is_whitespace() && self.on(flag::WHITESPACE))
            || (c == '"' && self.on(flag::PHRASE))
            || (c == '|' && self.on(flag::OR))
            || (c == '+' && self.on(flag::AND))
            || ((c == '(' || c == ')') && self.on(flag::PRECEDENCE))
    }

    /// Parses `chars[start..end]`.
    fn level(&self, start: usize, end: usize, depth: usize) -> Option<(Ast, usize)> {
        let mut level = Level::default();
        let mut i = start;
        while i < end {
            let c = self.chars[i];
            if c == '(' && self.on(flag::PRECEDENCE) {
                match self.closing.get(i).copied().flatten() {
                    Some(close) if close < end && depth < MAX_DEPTH => {
                        if close == i + 1 {
                            // `()` holds nothing to join, so an operator before it is moot.
                            level.pending = None;
                        } else if let Some((sub, height)) = self.level(i + 1, close, depth + 1) {
                            self.push(&mut level, sub, height);
                        }
                        i = close + 1;
                    }
                    // Unclosed, or too deep: the parenthesis is ignored, its content is not.
                    _ => i += 1,
                }
            } else if c == '"' && self.on(flag::PHRASE) {
                i = self.phrase(i, end, &mut level);
            } else if c == '+' && self.on(flag::AND) {
                if level.pending.is_none() && level.top.is_some() {
                    level.pending = Some(Op::And);
                }
                i += 1;
            } else if c == '|' && self.on(flag::OR) {
                if level.pending.is_none() && level.top.is_some() {
                    level.pending = Some(Op::Or);
                }
                i += 1;
            } else if c == '-' && self.on(flag::NOT) {
                level.nots += 1;
                i += 1;
                // The count must survive until the clause it negates.
                continue;
            } else if (c.is_whitespace() && self.on(flag::WHITESPACE))
                || (c == ')' && self.on(flag::PRECEDENCE))
            {
                // A `)` here closes nothing: it is ignored.
                i += 1;
            } else {
                i = self.token(i, end, &mut level);
            }
            level.nots = 0;
        }
        level.top
    }

    fn phrase(&self, open: usize, end: usize, level: &mut Level) -> usize {
        let mut text = String::new();
        let mut i = open + 1;
        let mut close = None;
        while i < end {
            let c = self.chars[i];
            if c == '\\' && self.on(flag::ESCAPE) {
                if let Some(&next) = self.chars.get(i + 1).filter(|_| i + 1 < end) {
                    text.push(next);
                }
                i += 2;
            } else if c == '"' {
                close = Some(i);
                break;
            } else {
                text.push(c);
                i += 1;
            }
        }
        let Some(close) = close else {
            // An unclosed quote is ignored; the words after it are still read.
            return open + 1;
        };
        i = close + 1;
        let mut slop = 0;
        if self.on(flag::NEAR) && i < end && self.chars[i] == '~' {
            let digits_start = i + 1;
            i = digits_start;
            while i < end && !self.ends_token(self.chars[i]) {
                i += 1;
            }
            let digits: String = self.chars[digits_start..i].iter().collect();
            slop = digits
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map_or(0, |n| n.clamp(0.0, f64::from(u32::MAX)) as u32);
        }
        if !text.trim().is_empty() {
            self.push(
                level,
                Ast::Leaf {
                    field: None,
                    kind: Leaf::Phrase { text, slop },
                    boost: 1.0,
                },
                1,
            );
        }
        i
    }

    fn token(&self, start: usize, end: usize, level: &mut Level) -> usize {
        let mut word: Chars = Vec::new();
        let mut fuzzy = None;
        let mut i = start;
        while i < end {
            let c = self.chars[i];
            if c == '\\' && self.on(flag::ESCAPE) {
                if i + 1 < end {
                    word.push((self.chars[i + 1], true));
                }
                i += 2;
            } else if self.ends_token(c) {
                break;
            } else if c == '~' && self.on(flag::FUZZY) && !word.is_empty() {
                let digits_start = i + 1;
                i = digits_start;
                while i < end && !self.ends_token(self.chars[i]) {
                    i += 1;
                }
                fuzzy = Some(self.chars[digits_start..i].iter().collect::<String>());
                break;
            } else {
                word.push((c, false));
                i += 1;
            }
        }
        // Every call must consume something, or the caller would spin.
        let next = i.max(start + 1);
        if word.is_empty() {
            return next;
        }
        let kind = if let Some(digits) = fuzzy {
            // `word~` without a usable number is just the word, as in Elasticsearch.
            let edits = digits
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 1.0);
            match edits {
                Some(n) => Leaf::Fuzzy {
                    text: plain(&word),
                    fuzziness: Fuzz::from_number(n),
                },
                None => Leaf::Text(plain(&word)),
            }
        } else if self.on(flag::PREFIX) && word.last() == Some(&('*', false)) {
            let mut head = word.as_slice();
            while let Some((&('*', false), rest)) = head.split_last() {
                head = rest;
            }
            if head.is_empty() {
                Leaf::Star
            } else {
                Leaf::Prefix(plain(head))
            }
        } else {
            Leaf::Text(plain(&word))
        };
        self.push(
            level,
            Ast::Leaf {
                field: None,
                kind,
                boost: 1.0,
            },
            1,
        );
        next
    }

    /// Joins a clause to the level's query with the pending or default operator. A clause
    /// that would make the tree taller than [`MAX_HEIGHT`] is dropped, as unreadable input is.
    fn push(&self, level: &mut Level, clause: Ast, height: usize) {
        let op = level.pending.take().unwrap_or(self.default_op);
        let (clause, height) = if level.nots % 2 == 1 {
            let negated = Ast::Bool {
                clauses: vec![(Occur::MustNot, clause)],
                boost: 1.0,
            };
            (negated, height + 1)
        } else {
            (clause, height)
        };
        let (top, top_height) = match level.top.take() {
            None if height <= MAX_HEIGHT => {
                level.top_op = None;
                level.top = Some((clause, height));
                return;
            }
            None => return,
            Some(top) => top,
        };
        level.top = Some(match top {
            // Same operator as the bool built here: one flat bool, not a chain.
            Ast::Bool { mut clauses, boost } if level.top_op == Some(op) && height < MAX_HEIGHT => {
                clauses.push((op.occur(), clause));
                (Ast::Bool { clauses, boost }, top_height.max(height + 1))
            }
            top if top_height.max(height) < MAX_HEIGHT => {
                level.top_op = Some(op);
                let joined = Ast::Bool {
                    clauses: vec![(op.occur(), top), (op.occur(), clause)],
                    boost: 1.0,
                };
                (joined, top_height.max(height) + 1)
            }
            top => (top, top_height),
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

struct Renderer<'a> {
    expand_fields: &'a dyn Fn(&str) -> Vec<String>,
    default_fields: Vec<(String, f64)>,
    default_is_all: bool,
    operator: &'static str,
}

impl Renderer<'_> {
    /// The DSL for `ast` with every boost multiplied by `boost`, and whether it is a `bool`
    /// made of the query's own clauses (the one `minimum_should_match` applies to), as opposed
    /// to a single clause or the disjunction over fields of one term. `None`: nothing to
    /// search.
    fn render(&self, ast: &Ast, boost: f64) -> Option<(Value, bool)> {
        match ast {
            Ast::Empty => None,
            Ast::Leaf {
                field,
                kind,
                boost: own,
            } => Some((self.leaf(field.as_deref(), kind, boost * own), false)),
            Ast::Bool {
                clauses,
                boost: own,
            } => {
                let boost = boost * own;
                let mut parts: Vec<(Occur, (Value, bool))> = clauses
                    .iter()
                    .filter_map(|(occur, clause)| {
                        self.render(clause, boost).map(|part| (*occur, part))
                    })
                    .collect();
                if parts.len() == 1 && parts.iter().all(|(occur, _)| *occur != Occur::MustNot) {
                    return parts.pop().map(|(_, part)| part);
                }
                if parts.is_empty() {
                    return None;
                }
                let (mut must, mut should, mut must_not) = (Vec::new(), Vec::new(), Vec::new());
                for (occur, (part, _)) in parts {
                    match occur {
                        Occur::Must => must.push(part),
                        Occur::Should => should.push(part),
                        Occur::MustNot => must_not.push(part),
                    }
                }
                if must.is_empty() && should.is_empty() {
                    // Only exclusions: they exclude from everything, not from nothing.
                    must.push(json!({"match_all": {}}));
                }
                let mut bool_query = Map::new();
                for (key, list) in [("must", must), ("should", should), ("must_not", must_not)] {
                    if !list.is_empty() {
                        bool_query.insert(key.into(), Value::Array(list));
                    }
                }
                Some((json!({ "bool": bool_query }), true))
            }
        }
    }

    fn leaf(&self, field: Option<&str>, kind: &Leaf, boost: f64) -> Value {
        if field == Some(EXISTS_FIELD) {
            return self.exists(kind);
        }
        let named;
        let (fields, all): (&[(String, f64)], bool) = match field {
            None => (&self.default_fields, self.default_is_all),
            Some(name) => {
                named = (self.expand_fields)(name)
                    .into_iter()
                    .map(|f| (f, 1.0))
                    .collect::<Vec<_>>();
                (&named, name == "*")
            }
        };
        if matches!(kind, Leaf::Star) && all {
            return json!({"match_all": {}});
        }
        disjunction(
            fields
                .iter()
                .map(|(name, field_boost)| self.single(name, kind, boost * field_boost))
                .collect(),
        )
    }

    /// `_exists_:title`, `_exists_:title*`: the value names the fields.
    fn exists(&self, kind: &Leaf) -> Value {
        let pattern = match kind {
            Leaf::Text(text) | Leaf::Phrase { text, .. } | Leaf::Fuzzy { text, .. } => text.clone(),
            Leaf::Prefix(prefix) => format!("{prefix}*"),
            Leaf::Wildcard(pattern) => pattern.clone(),
            Leaf::Star => "*".into(),
            Leaf::Regexp(_) | Leaf::Range { .. } => return json!({"match_none": {}}),
        };
        disjunction(
            (self.expand_fields)(&pattern)
                .into_iter()
                .map(|field| json!({"exists": {"field": field}}))
                .collect(),
        )
    }

    fn single(&self, field: &str, kind: &Leaf, boost: f64) -> Value {
        let with_boost = |mut body: Map<String, Value>| {
            if (boost - 1.0).abs() > f64::EPSILON {
                // The builder reads boosts as f32; anything larger means the same there.
                body.insert("boost".into(), json!(boost.min(f64::from(f32::MAX))));
            }
            Value::Object(body)
        };
        let one = |query: &str, body: Value| {
            let mut inner = Map::new();
            inner.insert(field.to_string(), body);
            let mut outer = Map::new();
            outer.insert(query.to_string(), Value::Object(inner));
            Value::Object(outer)
        };
        match kind {
            Leaf::Text(text) => {
                let mut body = Map::new();
                body.insert("query".into(), json!(text));
                body.insert("operator".into(), json!(self.operator));
                one("match", with_boost(body))
            }
            Leaf::Fuzzy { text, fuzziness } => {
                let mut body = Map::new();
                body.insert("query".into(), json!(text));
                body.insert("operator".into(), json!(self.operator));
                body.insert("fuzziness".into(), fuzziness.to_json());
                one("match", with_boost(body))
            }
            Leaf::Phrase { text, slop } => {
                let mut body = Map::new();
                body.insert("query".into(), json!(text));
                if *slop > 0 {
                    body.insert("slop".into(), json!(slop));
                }
                one("match_phrase", with_boost(body))
            }
            Leaf::Prefix(prefix) => one("prefix", json!({ "value": prefix })),
            Leaf::Wildcard(pattern) => one("wildcard", json!({ "value": pattern })),
            Leaf::Regexp(pattern) => one("regexp", json!({ "value": pattern })),
            Leaf::Star
            | Leaf::Range {
                lower: None,
                upper: None,
            } => json!({"exists": {"field": field}}),
            Leaf::Range { lower, upper } => {
                let mut body = Map::new();
                if let Some((value, inclusive)) = lower {
                    body.insert(if *inclusive { "gte" } else { "gt" }.into(), json!(value));
                }
                if let Some((value, inclusive)) = upper {
                    body.insert(if *inclusive { "lte" } else { "lt" }.into(), json!(value));
                }
                one("range", Value::Object(body))
            }
        }
    }
}

/// One clause per field: none matches nothing, one is itself, more are alternatives.
fn disjunction(mut per_field: Vec<Value>) -> Value {
    match per_field.len() {
        0 => json!({"match_none": {}}),
        1 => per_field.pop().unwrap_or_else(|| json!({"match_none": {}})),
        _ => json!({"bool": {"should": per_field}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPPED: [&str; 4] = ["title", "body", "age", "date"];

    /// Test mapping: patterns match the four mapped fields; concrete names pass through.
    fn expand(pattern: &str) -> Vec<String> {
        if !pattern.contains('*') {
            return vec![pattern.to_string()];
        }
        MAPPED
            .iter()
            .filter(|f| glob(pattern, f))
            .map(|f| f.to_string())
            .collect()
    }

    fn glob(pattern: &str, name: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == name,
            Some((head, tail)) => {
                name.len() >= head.len()
                    && name.starts_with(head)
                    && (0..=name.len() - head.len()).any(|skip| {
                        name.is_char_boundary(head.len() + skip)
                            && glob(tail, &name[head.len() + skip..])
                    })
            }
        }
    }

    fn run(body: Value, simple: bool) -> Result<Value, EsError> {
        translate(&body, simple, &expand)
    }

    /// `query_string` on the default field `body`, OR as default operator.
    fn qs(query: &str) -> Value {
        run(json!({"query": query, "default_field": "body"}), false).expect("translates")
    }

    fn qs_and(query: &str) -> Value {
        run(
            json!({"query": query, "default_field": "body", "default_operator": "and"}),
            false,
        )
        .expect("translates")
    }

    fn qs_err(query: &str) -> EsError {
        run(json!({"query": query, "default_field": "body"}), false).expect_err("a syntax error")
    }

    fn sqs(query: &str) -> Value {
        run(json!({"query": query, "fields": ["body"]}), true).expect("translates")
    }

    fn sqs_flags(query: &str, flags: &str) -> Value {
        run(
            json!({"query": query, "fields": ["body"], "flags": flags}),
            true,
        )
        .expect("translates")
    }

    fn m(field: &str, text: &str) -> Value {
        json!({"match": {field: {"query": text, "operator": "or"}}})
    }

    fn ma(field: &str, text: &str) -> Value {
        json!({"match": {field: {"query": text, "operator": "and"}}})
    }

    fn not(clause: Value) -> Value {
        json!({"bool": {"must": [{"match_all": {}}], "must_not": [clause]}})
    }

    // --- query_string: terms, fields and phrases -------------------------------------------

    #[test]
    fn a_bare_term_searches_the_default_field() {
        assert_eq!(qs("quick"), m("body", "quick"));
        assert_eq!(
            qs("wi-fi"),
            m("body", "wi-fi"),
            "a dash inside a word is part of it"
        );
    }

    #[test]
    fn terms_combine_with_the_default_operator() {
        assert_eq!(
            qs("quick fox"),
            json!({"bool": {"should": [m("body", "quick"), m("body", "fox")]}})
        );
        assert_eq!(
            qs_and("quick fox"),
            json!({"bool": {"must": [ma("body", "quick"), ma("body", "fox")]}})
        );
        let lower = run(
            json!({"query": "a b", "default_field": "body", "default_operator": "And"}),
            false,
        )
        .expect("case-insensitive");
        assert_eq!(lower, qs_and("a b"));
    }

    #[test]
    fn field_value_and_phrases() {
        assert_eq!(qs("title:quick"), m("title", "quick"));
        assert_eq!(qs("title : quick"), m("title", "quick"));
        assert_eq!(
            qs("title:\"quick fox\""),
            json!({"match_phrase": {"title": {"query": "quick fox"}}})
        );
        assert_eq!(
            qs("\"quick fox\"~2"),
            json!({"match_phrase": {"body": {"query": "quick fox", "slop": 2}}})
        );
        assert_eq!(
            qs("\"say \\\"hi\\\"\""),
            json!({"match_phrase": {"body": {"query": "say \"hi\""}}})
        );
        let slop = run(
            json!({"query": "\"a b\"", "default_field": "body", "phrase_slop": 3}),
            false,
        )
        .expect("translates");
        assert_eq!(
            slop,
            json!({"match_phrase": {"body": {"query": "a b", "slop": 3}}})
        );
        assert_eq!(
            qs("\"\""),
            json!({"match_none": {}}),
            "an empty phrase is nothing"
        );
    }

    #[test]
    fn a_field_applies_to_its_group() {
        assert_eq!(
            qs("title:(quick OR brown)"),
            json!({"bool": {"should": [m("title", "quick"), m("title", "brown")]}})
        );
        assert_eq!(
            qs("title:(quick body:fox)"),
            json!({"bool": {"should": [m("title", "quick"), m("body", "fox")]}}),
            "a field inside the group wins"
        );
    }

    #[test]
    fn several_fields_make_a_disjunction_per_term() {
        let all = run(json!({"query": "quick"}), false).expect("translates");
        assert_eq!(
            all,
            json!({"bool": {"should": [
                m("title", "quick"), m("body", "quick"), m("age", "quick"), m("date", "quick")
            ]}}),
            "the default field is *"
        );
        let boosted = run(
            json!({"query": "quick^3 fox", "fields": ["title^2", "body"]}),
            false,
        )
        .expect("translates");
        assert_eq!(
            boosted,
            json!({"bool": {"should": [
                {"bool": {"should": [
                    {"match": {"title": {"query": "quick", "operator": "or", "boost": 6.0}}},
                    {"match": {"body": {"query": "quick", "operator": "or", "boost": 3.0}}}
                ]}},
                {"bool": {"should": [
                    {"match": {"title": {"query": "fox", "operator": "or", "boost": 2.0}}},
                    m("body", "fox")
                ]}}
            ]}})
        );
        let pattern =
            run(json!({"query": "t*:quick OR x", "fields": ["b*"]}), false).expect("translates");
        assert_eq!(
            pattern,
            json!({"bool": {"should": [m("title", "quick"), m("body", "x")]}})
        );
        let none =
            run(json!({"query": "quick", "fields": ["nothing*"]}), false).expect("translates");
        assert_eq!(
            none,
            json!({"match_none": {}}),
            "a pattern that matches no field"
        );
    }

    // --- query_string: operators and precedence ---------------------------------------------

    #[test]
    fn and_takes_the_clause_before_it_as_lucene_does() {
        // Lucene's classic rules: AND makes both neighbours required, OR leaves `a` optional.
        assert_eq!(
            qs("a OR b AND c"),
            json!({"bool": {"must": [m("body", "b"), m("body", "c")], "should": [m("body", "a")]}})
        );
        assert_eq!(
            qs("a AND b OR c"),
            json!({"bool": {"must": [m("body", "a"), m("body", "b")], "should": [m("body", "c")]}})
        );
        assert_eq!(
            qs("a && b || c"),
            qs("a AND b OR c"),
            "&& and || are AND and OR"
        );
        assert_eq!(
            qs("a and b"),
            json!({"bool": {"should": [
                m("body", "a"), m("body", "and"), m("body", "b")
            ]}}),
            "only upper-case operators are operators"
        );
    }

    #[test]
    fn with_and_as_default_an_or_makes_both_sides_optional() {
        assert_eq!(
            qs_and("a b OR c"),
            json!({"bool": {"must": [ma("body", "a")], "should": [ma("body", "b"), ma("body", "c")]}})
        );
        assert_eq!(
            qs_and("a b -c"),
            json!({"bool": {"must": [ma("body", "a"), ma("body", "b")], "must_not": [ma("body", "c")]}})
        );
    }

    #[test]
    fn modifiers() {
        assert_eq!(
            qs("+a -b c"),
            json!({"bool": {"must": [m("body", "a")], "should": [m("body", "c")], "must_not": [m("body", "b")]}})
        );
        assert_eq!(qs("+a"), m("body", "a"));
        assert_eq!(
            qs("a AND NOT b"),
            json!({"bool": {"must": [m("body", "a")], "must_not": [m("body", "b")]}})
        );
        assert_eq!(
            qs("a !b"),
            json!({"bool": {"should": [m("body", "a")], "must_not": [m("body", "b")]}})
        );
        assert_eq!(
            qs("a + b"),
            json!({"bool": {"should": [m("body", "a"), m("body", "b")]}}),
            "a sign standing alone is dropped"
        );
    }

    #[test]
    fn only_negative_clauses_exclude_from_everything() {
        assert_eq!(qs("NOT a"), not(m("body", "a")));
        assert_eq!(qs("!a"), not(m("body", "a")));
        assert_eq!(
            qs("-a -b"),
            json!({"bool": {"must": [{"match_all": {}}], "must_not": [m("body", "a"), m("body", "b")]}})
        );
        assert_eq!(
            qs("a OR (-b)"),
            json!({"bool": {"should": [m("body", "a"), not(m("body", "b"))]}}),
            "inside a group too"
        );
    }

    #[test]
    fn nested_groups() {
        assert_eq!(
            qs("(a OR (b AND c)) AND d"),
            json!({"bool": {"must": [
                {"bool": {"should": [
                    m("body", "a"),
                    {"bool": {"must": [m("body", "b"), m("body", "c")]}}
                ]}},
                m("body", "d")
            ]}})
        );
        assert_eq!(qs("((a))"), m("body", "a"));
        assert_eq!(
            qs("title:(a b)^2"),
            json!({"bool": {"should": [
                {"match": {"title": {"query": "a", "operator": "or", "boost": 2.0}}},
                {"match": {"title": {"query": "b", "operator": "or", "boost": 2.0}}}
            ]}})
        );
    }

    // --- query_string: ranges, wildcards, regexps, fuzziness, boosts ------------------------

    #[test]
    fn ranges() {
        assert_eq!(
            qs("age:[10 TO 20]"),
            json!({"range": {"age": {"gte": "10", "lte": "20"}}})
        );
        assert_eq!(
            qs("age:{10 TO 20]"),
            json!({"range": {"age": {"gt": "10", "lte": "20"}}})
        );
        assert_eq!(
            qs("age:[10 TO 20}"),
            json!({"range": {"age": {"gte": "10", "lt": "20"}}})
        );
        assert_eq!(
            qs("age:[10 TO *]"),
            json!({"range": {"age": {"gte": "10"}}})
        );
        assert_eq!(
            qs("date:{* TO 2020-01-01}"),
            json!({"range": {"date": {"lt": "2020-01-01"}}})
        );
        assert_eq!(qs("age:[* TO *]"), json!({"exists": {"field": "age"}}));
        assert_eq!(
            qs("title:[\"a b\" TO c]"),
            json!({"range": {"title": {"gte": "a b", "lte": "c"}}})
        );
        assert_eq!(
            qs("age:[-5 TO 5]"),
            json!({"range": {"age": {"gte": "-5", "lte": "5"}}})
        );
        assert_eq!(qs("age:>=10"), json!({"range": {"age": {"gte": "10"}}}));
        assert_eq!(qs("age:>10"), json!({"range": {"age": {"gt": "10"}}}));
        assert_eq!(qs("age:<=10"), json!({"range": {"age": {"lte": "10"}}}));
        assert_eq!(qs("age:<10"), json!({"range": {"age": {"lt": "10"}}}));
        assert_eq!(
            qs("age:(>=10 AND <20)"),
            json!({"bool": {"must": [
                {"range": {"age": {"gte": "10"}}},
                {"range": {"age": {"lt": "20"}}}
            ]}})
        );
        assert_eq!(qs("age:\\>10"), m("age", ">10"), "an escaped sign is text");
        let listed = run(json!({"query": ">10", "fields": ["age"]}), false).expect("translates");
        assert_eq!(listed, m("age", ">10"), "no comparison on a fields list");
    }

    #[test]
    fn wildcards_and_prefixes() {
        assert_eq!(qs("qui*"), json!({"prefix": {"body": {"value": "qui"}}}));
        assert_eq!(
            qs("qu?ck"),
            json!({"wildcard": {"body": {"value": "qu?ck"}}})
        );
        assert_eq!(qs("*ick"), json!({"wildcard": {"body": {"value": "*ick"}}}));
        assert_eq!(qs("q*i*"), json!({"wildcard": {"body": {"value": "q*i*"}}}));
        assert_eq!(
            qs("te\\*st*"),
            json!({"prefix": {"body": {"value": "te*st"}}})
        );
        assert_eq!(
            qs("a\\*b?"),
            json!({"wildcard": {"body": {"value": "a\\*b?"}}})
        );
        assert_eq!(
            qs("title:qu*"),
            json!({"prefix": {"title": {"value": "qu"}}})
        );
        let strict = run(
            json!({"query": "*ick", "default_field": "body", "allow_leading_wildcard": false}),
            false,
        )
        .expect_err("leading wildcard");
        assert_eq!(strict.error_type, "query_shard_exception");
    }

    #[test]
    fn stars_match_everything_or_what_has_the_field() {
        assert_eq!(
            run(json!({"query": "*"}), false).expect("ok"),
            json!({"match_all": {}})
        );
        assert_eq!(qs("*:*"), json!({"match_all": {}}));
        assert_eq!(qs("title:*"), json!({"exists": {"field": "title"}}));
        assert_eq!(
            qs("*"),
            json!({"exists": {"field": "body"}}),
            "on a named default field"
        );
        assert_eq!(qs("\\*"), m("body", "*"), "an escaped star is text");
    }

    #[test]
    fn exists() {
        assert_eq!(qs("_exists_:title"), json!({"exists": {"field": "title"}}));
        assert_eq!(
            qs("_exists_:t*"),
            json!({"exists": {"field": "title"}}),
            "a pattern names the fields"
        );
        assert_eq!(
            qs("a -_exists_:title"),
            json!({"bool": {"should": [m("body", "a")], "must_not": [{"exists": {"field": "title"}}]}})
        );
    }

    #[test]
    fn regexps() {
        assert_eq!(
            qs("/jo.*n/"),
            json!({"regexp": {"body": {"value": "jo.*n"}}})
        );
        assert_eq!(
            qs("title:/a\\/b/"),
            json!({"regexp": {"title": {"value": "a/b"}}})
        );
        assert_eq!(qs("/a\\d/"), json!({"regexp": {"body": {"value": "a\\d"}}}));
    }

    #[test]
    fn fuzziness_and_boosts() {
        assert_eq!(
            qs("quick~"),
            json!({"match": {"body": {"query": "quick", "operator": "or", "fuzziness": "AUTO"}}})
        );
        assert_eq!(
            qs("quick~1"),
            json!({"match": {"body": {"query": "quick", "operator": "or", "fuzziness": 1}}})
        );
        assert_eq!(
            qs("quick~5"),
            json!({"match": {"body": {"query": "quick", "operator": "or", "fuzziness": 2}}})
        );
        assert_eq!(
            qs("quick~0"),
            m("body", "quick"),
            "no edits is the word itself"
        );
        assert_eq!(
            qs("quick~1^2"),
            json!({"match": {"body": {"query": "quick", "operator": "or", "fuzziness": 1, "boost": 2.0}}})
        );
        assert_eq!(
            qs("quick^2.5"),
            json!({"match": {"body": {"query": "quick", "operator": "or", "boost": 2.5}}})
        );
        assert_eq!(
            qs("\"a b\"~1^3"),
            json!({"match_phrase": {"body": {"query": "a b", "slop": 1, "boost": 3.0}}})
        );
        let fixed = run(
            json!({"query": "quick~", "default_field": "body", "fuzziness": 1}),
            false,
        )
        .expect("translates");
        assert_eq!(
            fixed,
            json!({"match": {"body": {"query": "quick", "operator": "or", "fuzziness": 1}}})
        );
        let top = run(
            json!({"query": "a b^2", "default_field": "body", "boost": 2}),
            false,
        )
        .expect("translates");
        assert_eq!(
            top,
            json!({"bool": {"should": [
                {"match": {"body": {"query": "a", "operator": "or", "boost": 2.0}}},
                {"match": {"body": {"query": "b", "operator": "or", "boost": 4.0}}}
            ]}})
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(qs("a\\:b"), m("body", "a:b"));
        assert_eq!(qs("\\(1\\+1\\)\\=2"), m("body", "(1+1)=2"));
        assert_eq!(qs("foo\\/bar"), m("body", "foo/bar"));
        assert_eq!(qs("c\\\\d"), m("body", "c\\d"));
        assert_eq!(qs("\\-a"), m("body", "-a"));
        assert_eq!(
            qs("\\AND"),
            m("body", "AND"),
            "an escaped operator is a word"
        );
        assert_eq!(
            qs("\\[x\\] \\{y\\}"),
            json!({"bool": {"should": [m("body", "[x]"), m("body", "{y}")]}})
        );
        assert_eq!(
            qs("a\\~1 b\\^2 c\\!"),
            json!({"bool": {"should": [
                m("body", "a~1"), m("body", "b^2"), m("body", "c!")
            ]}})
        );
        assert_eq!(
            qs("x\\&\\&y \\|\\| \\<z\\>"),
            json!({"bool": {"should": [
                m("body", "x&&y"), m("body", "||"), m("body", "<z>")
            ]}})
        );
        assert_eq!(
            qs("ti\\*:x"),
            m("title", "x"),
            "an escaped star in a field is a pattern"
        );
        let literal = run(
            json!({"query": "a:(b [c", "default_field": "body", "escape": true}),
            false,
        )
        .expect("escape");
        assert_eq!(
            literal,
            json!({"bool": {"should": [m("body", "a:(b"), m("body", "[c")]}})
        );
    }

    #[test]
    fn minimum_should_match_applies_to_the_top_clauses() {
        let three = run(
            json!({"query": "a b c", "default_field": "body", "minimum_should_match": 2}),
            false,
        )
        .expect("translates");
        assert_eq!(
            three,
            json!({"bool": {"should": [m("body", "a"), m("body", "b"), m("body", "c")], "minimum_should_match": 2}})
        );
        let one = run(
            json!({"query": "a", "fields": ["title", "body"], "minimum_should_match": "100%"}),
            false,
        )
        .expect("translates");
        assert_eq!(
            one,
            json!({"bool": {"should": [m("title", "a"), m("body", "a")]}}),
            "not on the disjunction over fields of one term"
        );
    }

    #[test]
    fn empty_queries_match_nothing() {
        assert_eq!(qs(""), json!({"match_none": {}}));
        assert_eq!(qs("   "), json!({"match_none": {}}));
    }

    // --- query_string: errors --------------------------------------------------------------

    #[test]
    fn syntax_errors_name_the_position() {
        for (query, expected) in [
            ("(a", "the [(] at position 0 is never closed"),
            (
                "a)",
                "[)] at position 1 closes a group that was never opened",
            ),
            ("\"a b", "the quote at position 0 is never closed"),
            ("a AND", "[AND] at position 2 has no clause after it"),
            ("OR a", "[OR] at position 0 has no clause before it"),
            ("a AND OR b", "[AND] at position 2 has no clause after it"),
            ("NOT", "[NOT] at position 0 has no clause after it"),
            ("a -", "[-] at position 2 has no clause after it"),
            ("title:", "[title:] at position 0 has no value"),
            ("title: AND b", "[title:] at position 0 has no value"),
            ("a^", "[^] at position 1 must be followed by a number"),
            ("^2", "[^2] at position 0 is not where a clause can start"),
            (
                "[a TO b",
                "the range starting at position 0 is never closed",
            ),
            (
                "x:[a b]",
                "the range starting at position 2 needs [TO] at position 5",
            ),
            (
                "x:[a TO ]",
                "the range starting at position 2 has no upper bound at position 8",
            ),
            (
                "a]",
                "[]] at position 1 closes a range that was never opened",
            ),
            (
                "a\\",
                "the escape character at position 1 has nothing to escape",
            ),
            (
                "/ab",
                "the regular expression starting at position 0 is never closed",
            ),
            (
                "a/b",
                "the regular expression starting at position 1 is never closed",
            ),
            ("a:b:c", "[:] at position 3 is not where a clause can start"),
            ("()", "the group at position 0 is empty"),
            ("(a)~2", "[~] at position 3 cannot follow a group"),
        ] {
            let e = qs_err(query);
            assert_eq!(e.status, 400, "{query}");
            assert_eq!(e.error_type, "query_shard_exception", "{query}");
            assert_eq!(
                e.reason,
                format!("Failed to parse query [{query}]: {expected}"),
                "{query}"
            );
        }
        let lenient = run(json!({"query": "(a", "lenient": true}), false)
            .expect_err("lenient does not forgive syntax");
        assert_eq!(lenient.error_type, "query_shard_exception");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        let e = qs_err(&deep);
        assert!(
            e.reason.contains("nested more than 20 levels"),
            "{}",
            e.reason
        );
        let fine = format!("{}a{}", "(".repeat(20), ")".repeat(20));
        assert_eq!(qs(&fine), m("body", "a"));
    }

    #[test]
    fn body_errors() {
        let missing = run(json!({"default_field": "body"}), false).expect_err("no query");
        assert_eq!(missing.error_type, "parsing_exception");
        assert_eq!(missing.reason, "[query_string] requires a [query]");
        let missing = run(json!({}), true).expect_err("no query");
        assert_eq!(missing.reason, "[simple_query_string] query text missing");
        let unknown = run(json!({"query": "a", "nope": 1}), false).expect_err("unknown");
        assert_eq!(
            unknown.reason,
            "[query_string] query does not support [nope]"
        );
        let unknown = run(json!({"query": "a", "default_field": "x"}), true).expect_err("unknown");
        assert_eq!(
            unknown.reason,
            "[simple_query_string] unsupported field [default_field]"
        );
        assert!(run(json!({"query": "a", "default_operator": "xor"}), false).is_err());
        assert!(run(json!({"query": "a", "fields": ["title^x"]}), false).is_err());
        assert!(run(json!({"query": "a", "fields": "title"}), false).is_ok());
        assert!(run(json!({"query": "a", "type": "cross_fields"}), false).is_err());
        assert!(run(json!({"query": "a", "flags": "PREFIX|BOGUS"}), true).is_err());
        assert!(run(json!("a"), false).is_err());
        let accepted = run(
            json!({"query": "a", "default_field": "body", "lenient": true, "analyze_wildcard": true,
                   "type": "best_fields", "time_zone": "+01:00", "_name": "n"}),
            false,
        )
        .expect("accepted and ignored");
        assert_eq!(accepted, m("body", "a"));
    }

    // --- simple_query_string ---------------------------------------------------------------

    #[test]
    fn simple_terms_and_operators() {
        assert_eq!(sqs("a"), m("body", "a"));
        assert_eq!(
            sqs("a b"),
            json!({"bool": {"should": [m("body", "a"), m("body", "b")]}})
        );
        assert_eq!(
            sqs("a + b"),
            json!({"bool": {"must": [m("body", "a"), m("body", "b")]}})
        );
        assert_eq!(
            sqs("a|b|c"),
            json!({"bool": {"should": [m("body", "a"), m("body", "b"), m("body", "c")]}}),
            "one operator repeated makes one flat bool"
        );
        assert_eq!(
            sqs("a | b + c"),
            json!({"bool": {"must": [
                {"bool": {"should": [m("body", "a"), m("body", "b")]}},
                m("body", "c")
            ]}}),
            "left to right, no precedence"
        );
        let and = run(
            json!({"query": "a b", "fields": ["body"], "default_operator": "AND"}),
            true,
        )
        .expect("translates");
        assert_eq!(
            and,
            json!({"bool": {"must": [ma("body", "a"), ma("body", "b")]}})
        );
    }

    #[test]
    fn simple_not_is_or_not_with_or_as_default() {
        assert_eq!(
            sqs("a -b"),
            json!({"bool": {"should": [m("body", "a"), not(m("body", "b"))]}})
        );
        let and = run(
            json!({"query": "a -b", "fields": ["body"], "default_operator": "and"}),
            true,
        )
        .expect("translates");
        assert_eq!(
            and,
            json!({"bool": {"must": [ma("body", "a"), not(ma("body", "b"))]}})
        );
        assert_eq!(sqs("-a"), not(m("body", "a")));
        assert_eq!(sqs("--a"), m("body", "a"), "two negations cancel");
        assert_eq!(
            sqs("- a"),
            m("body", "a"),
            "a sign apart from its word is dropped"
        );
    }

    #[test]
    fn simple_phrases_prefixes_fuzziness_and_groups() {
        assert_eq!(
            sqs("\"quick fox\"~2"),
            json!({"match_phrase": {"body": {"query": "quick fox", "slop": 2}}})
        );
        assert_eq!(
            sqs("\"quick fox\""),
            json!({"match_phrase": {"body": {"query": "quick fox"}}})
        );
        assert_eq!(sqs("qui*"), json!({"prefix": {"body": {"value": "qui"}}}));
        assert_eq!(
            sqs("quick~1"),
            json!({"match": {"body": {"query": "quick", "operator": "or", "fuzziness": 1}}})
        );
        assert_eq!(sqs("quick~"), m("body", "quick"), "no number, no fuzziness");
        assert_eq!(
            sqs("(a | b) + c"),
            json!({"bool": {"must": [
                {"bool": {"should": [m("body", "a"), m("body", "b")]}},
                m("body", "c")
            ]}})
        );
        assert_eq!(sqs("a\\+b"), m("body", "a+b"));
        assert_eq!(
            sqs("a\\*"),
            m("body", "a*"),
            "an escaped star is not a prefix"
        );
        assert_eq!(sqs("wi-fi"), m("body", "wi-fi"));
        assert_eq!(
            run(json!({"query": "*"}), true).expect("ok"),
            json!({"match_all": {}})
        );
        assert_eq!(sqs("*"), json!({"exists": {"field": "body"}}));
    }

    #[test]
    fn simple_skips_what_it_cannot_read() {
        assert_eq!(
            sqs("(a b"),
            json!({"bool": {"should": [m("body", "a"), m("body", "b")]}})
        );
        assert_eq!(
            sqs("\"a b"),
            json!({"bool": {"should": [m("body", "a"), m("body", "b")]}})
        );
        assert_eq!(sqs("a)"), m("body", "a"));
        assert_eq!(sqs("()"), json!({"match_none": {}}));
        assert_eq!(sqs("+"), json!({"match_none": {}}));
        assert_eq!(sqs("a |"), m("body", "a"));
        assert_eq!(sqs("| a"), m("body", "a"));
        assert_eq!(sqs(""), json!({"match_none": {}}));
        assert_eq!(sqs("a\\"), m("body", "a"));
    }

    #[test]
    fn simple_flags_disable_operators() {
        assert_eq!(sqs_flags("a -b \"c\"", "NONE"), m("body", "a -b \"c\""));
        let some = "AND|OR|WHITESPACE";
        assert_eq!(sqs_flags("qui*", some), m("body", "qui*"), "PREFIX off");
        assert_eq!(
            sqs_flags("\"a b\"", some),
            json!({"bool": {"should": [m("body", "\"a"), m("body", "b\"")]}}),
            "PHRASE off"
        );
        assert_eq!(sqs_flags("-a", some), m("body", "-a"), "NOT off");
        assert_eq!(sqs_flags("(a)", some), m("body", "(a)"), "PRECEDENCE off");
        assert_eq!(sqs_flags("a~2", some), m("body", "a~2"), "FUZZY off");
        assert_eq!(
            sqs_flags("a\\+b", some),
            json!({"bool": {"must": [m("body", "a\\"), m("body", "b")]}}),
            "ESCAPE off: the + is an operator"
        );
        assert_eq!(
            sqs_flags("a~2", "fuzzy|whitespace"),
            json!({"match": {"body": {"query": "a", "operator": "or", "fuzziness": 2}}}),
            "names are case-insensitive"
        );
        let numeric = run(
            json!({"query": "qui*", "fields": ["body"], "flags": 0}),
            true,
        )
        .expect("a bit mask");
        assert_eq!(numeric, m("body", "qui*"));
        let all = run(
            json!({"query": "qui*", "fields": ["body"], "flags": -1}),
            true,
        )
        .expect("a bit mask");
        assert_eq!(all, json!({"prefix": {"body": {"value": "qui"}}}));
    }

    #[test]
    fn simple_fields_boost_and_minimum_should_match() {
        let body = json!({
            "query": "a b",
            "fields": ["title^2", "body"],
            "minimum_should_match": "-1",
            "boost": 1.5
        });
        assert_eq!(
            run(body, true).expect("translates"),
            json!({"bool": {
                "should": [
                    {"bool": {"should": [
                        {"match": {"title": {"query": "a", "operator": "or", "boost": 3.0}}},
                        {"match": {"body": {"query": "a", "operator": "or", "boost": 1.5}}}
                    ]}},
                    {"bool": {"should": [
                        {"match": {"title": {"query": "b", "operator": "or", "boost": 3.0}}},
                        {"match": {"body": {"query": "b", "operator": "or", "boost": 1.5}}}
                    ]}}
                ],
                "minimum_should_match": "-1"
            }})
        );
    }

    #[test]
    fn simple_chains_are_bounded() {
        let long = "a+b|".repeat(5_000);
        let out = run(json!({"query": long, "fields": ["body"]}), true).expect("translates");
        // Each bool level is three JSON levels: the query, its clauses and their list.
        assert!(height(&out) <= 3 * MAX_HEIGHT, "height {}", height(&out));
        let deep = format!("{}a{}", "(".repeat(5_000), ")".repeat(5_000));
        assert_eq!(sqs(&deep), m("body", "a"));
    }

    // --- robustness -----------------------------------------------------------------------

    fn height(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(height).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(height).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Asserts that `v` only uses the DSL forms the builder is promised.
    fn assert_allowed(v: &Value) {
        let Value::Object(outer) = v else {
            panic!("not an object: {v}");
        };
        assert_eq!(outer.len(), 1, "{v}");
        let (kind, body) = outer.iter().next().expect("one entry");
        let single = |allowed: &[&str]| {
            let Value::Object(fields) = body else {
                panic!("{v}");
            };
            assert_eq!(fields.len(), 1, "{v}");
            let (_, inner) = fields.iter().next().expect("one field");
            let Value::Object(inner) = inner else {
                panic!("{v}");
            };
            for key in inner.keys() {
                assert!(allowed.contains(&key.as_str()), "{key} in {v}");
            }
        };
        match kind.as_str() {
            "match_all" | "match_none" => assert_eq!(body, &json!({})),
            "bool" => {
                let Value::Object(clauses) = body else {
                    panic!("{v}");
                };
                for (key, value) in clauses {
                    match key.as_str() {
                        "must" | "should" | "must_not" | "filter" => {
                            for clause in value.as_array().expect("a list") {
                                assert_allowed(clause);
                            }
                        }
                        "minimum_should_match" => {}
                        other => panic!("{other} in {v}"),
                    }
                }
            }
            "match" => single(&["query", "operator", "fuzziness", "boost"]),
            "match_phrase" => single(&["query", "slop", "boost"]),
            "range" => single(&["gte", "gt", "lte", "lt"]),
            "prefix" | "wildcard" | "regexp" => single(&["value"]),
            "exists" => assert!(body["field"].is_string(), "{v}"),
            other => panic!("{other} in {v}"),
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A fixed xorshift generator: reproducible without a dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> =
            "ab AND OR NOT TO && || ! + - | ( ) [ ] { } \" ~ ^ * ? : \\ / > < = \
                                   _exists_ title body 1 2.5 é 字 \t\n"
                .chars()
                .collect();
        let bodies = [
            json!({"default_field": "body"}),
            json!({}),
            json!({"fields": ["title^2", "b*"], "default_operator": "and", "minimum_should_match": 1}),
        ];
        for round in 0..600 {
            let len = (next() % 40) as usize;
            let query: String = if round % 3 == 0 {
                let bytes: Vec<u8> = (0..len).map(|_| (next() & 0xFF) as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            for extra in &bodies {
                let mut body = extra.clone();
                body["query"] = json!(query);
                for simple in [false, true] {
                    if simple && body.get("default_field").is_some() {
                        continue;
                    }
                    match translate(&body, simple, &expand) {
                        Ok(out) => assert_allowed(&out),
                        Err(e) => {
                            assert!(
                                !simple,
                                "simple_query_string failed on [{query}]: {}",
                                e.reason
                            );
                            assert_eq!(e.status, 400);
                            assert_eq!(e.error_type, "query_shard_exception", "[{query}]");
                        }
                    }
                }
            }
        }
    }
}
