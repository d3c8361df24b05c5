//! Query building blocks tantivy does not ship in the shape the DSL needs: term automata
//! (prefix, wildcard, regexp, fuzzy) confined to one path of a JSON field, and the `boosting`
//! query. They only match terms; which field a path may touch (field-level security) is
//! decided before they are built, never here.

use std::sync::Arc;

use tantivy::query::{
    AutomatonWeight, BooleanQuery, BoostQuery, ConstScoreQuery, EnableScoring, Occur, Query, Weight,
};
use tantivy::schema::Field;
use tantivy_fst::{Automaton, Regex};

/// Runs an automaton over the value part of the terms at one JSON path: a term key is the path,
/// a separator and a type byte, then the value, so the key must first spell out that prefix
/// exactly. Pruning on the prefix keeps the dictionary walk to the terms of this path.
#[derive(Debug)]
struct PathScoped<A> {
    prefix: Vec<u8>,
    inner: A,
}

#[derive(Clone)]
enum ScopedState<S> {
    InPrefix(usize),
    Inner(S),
    Dead,
}

impl<A: Automaton> Automaton for PathScoped<A>
where
    A::State: Clone,
{
    type State = ScopedState<A::State>;

    fn start(&self) -> Self::State {
        if self.prefix.is_empty() {
            ScopedState::Inner(self.inner.start())
        } else {
            ScopedState::InPrefix(0)
        }
    }

    fn is_match(&self, state: &Self::State) -> bool {
        matches!(state, ScopedState::Inner(s) if self.inner.is_match(s))
    }

    fn can_match(&self, state: &Self::State) -> bool {
        match state {
            ScopedState::InPrefix(_) => true,
            ScopedState::Inner(s) => self.inner.can_match(s),
            ScopedState::Dead => false,
        }
    }

    fn accept(&self, state: &Self::State, byte: u8) -> Self::State {
        match state {
            ScopedState::InPrefix(at) => {
                if self.prefix.get(*at) != Some(&byte) {
                    ScopedState::Dead
                } else if at + 1 == self.prefix.len() {
                    ScopedState::Inner(self.inner.start())
                } else {
                    ScopedState::InPrefix(at + 1)
                }
            }
            ScopedState::Inner(s) => ScopedState::Inner(self.inner.accept(s, byte)),
            ScopedState::Dead => ScopedState::Dead,
        }
    }
}

/// Levenshtein automaton adapter: the crate's DFA speaks states as `u32`.
struct Levenshtein(levenshtein_automata::DFA);

impl std::fmt::Debug for Levenshtein {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Levenshtein")
    }
}

impl Automaton for Levenshtein {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(
            self.0.distance(*state),
            levenshtein_automata::Distance::Exact(_)
        )
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != levenshtein_automata::SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

#[derive(Debug, Clone)]
enum TermMatcher {
    Regex(Arc<PathScoped<Regex>>),
    Fuzzy(Arc<PathScoped<Levenshtein>>),
}

/// Matches the documents holding any term of one JSON path that a pattern accepts. Scores are
/// constant, as Elasticsearch's multi-term queries are by default.
#[derive(Debug, Clone)]
pub(crate) struct PathTermsQuery {
    field: Field,
    matcher: TermMatcher,
}

impl PathTermsQuery {
    /// `path_prefix` is the serialized JSON path and type byte of the terms to match (see
    /// [`json_str_prefix`]); `pattern` is a regular expression over the whole value.
    pub(crate) fn regex(field: Field, path_prefix: Vec<u8>, pattern: &str) -> Result<Self, String> {
        if pattern.chars().count() > MAX_REGEX_CHARS {
            return Err(format!(
                "the regular expression is longer than {MAX_REGEX_CHARS} characters (the \
                 [index.max_regex_length] limit)"
            ));
        }
        let hir = regex_syntax::Parser::new()
            .parse(pattern)
            .map_err(|e| e.to_string())?;
        if expanded_size(&hir) > MAX_REGEX_SIZE {
            return Err(format!(
                "the regular expression is too complex once its repetitions are expanded \
                 (more than {MAX_REGEX_SIZE} units): use fewer or smaller counted repetitions"
            ));
        }
        let regex = Regex::new(pattern).map_err(|e| e.to_string())?;
        Ok(PathTermsQuery {
            field,
            matcher: TermMatcher::Regex(Arc::new(PathScoped {
                prefix: path_prefix,
                inner: regex,
            })),
        })
    }

    /// Terms within `distance` edits of `value` (transpositions count as one edit, as in
    /// Elasticsearch's default), sharing its first `prefix_length` characters.
    pub(crate) fn fuzzy(
        field: Field,
        path_prefix: Vec<u8>,
        value: &str,
        distance: u8,
        prefix_length: usize,
        transpositions: bool,
    ) -> Result<Self, String> {
        let split = value
            .char_indices()
            .nth(prefix_length)
            .map_or(value.len(), |(at, _)| at);
        let (fixed, rest) = value.split_at(split);
        // The automaton's construction grows with the term's length times its distinct
        // characters: an untrusted term must stay short.
        if rest.chars().count() > MAX_FUZZY_TERM_CHARS {
            return Err(format!(
                "a fuzzy term may hold at most {MAX_FUZZY_TERM_CHARS} characters after its \
                 prefix"
            ));
        }
        let mut prefix = path_prefix;
        prefix.extend_from_slice(fixed.as_bytes());
        let dfa = levenshtein_builder(distance.min(2), transpositions).build_dfa(rest);
        Ok(TermMatcher::Fuzzy(Arc::new(PathScoped {
            prefix,
            inner: Levenshtein(dfa),
        }))
        .into_query(field))
    }
}

/// Longest fuzzy term accepted (Lucene refuses long terms for the same reason).
const MAX_FUZZY_TERM_CHARS: usize = 255;

/// Building a Levenshtein builder costs milliseconds: one per (distance, transpositions),
/// shared by every query.
fn levenshtein_builder(
    distance: u8,
    transpositions: bool,
) -> &'static levenshtein_automata::LevenshteinAutomatonBuilder {
    use std::sync::OnceLock;
    static BUILDERS: [[OnceLock<levenshtein_automata::LevenshteinAutomatonBuilder>; 2]; 3] = [
        [OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new()],
    ];
    let d = distance.min(2);
    BUILDERS[usize::from(d)][usize::from(transpositions)]
        .get_or_init(|| levenshtein_automata::LevenshteinAutomatonBuilder::new(d, transpositions))
}

/// Longest regular expression accepted (Elasticsearch's `index.max_regex_length` default).
const MAX_REGEX_CHARS: usize = 1000;

/// The budget of a pattern's size once counted repetitions are expanded. Every state of the
/// DFA the term walk builds keeps a set of the compiled program's instructions, so the
/// program must stay small for the (capped) states to stay small: `(a?){100000}` is refused
/// here instead of eating memory.
const MAX_REGEX_SIZE: u64 = 4000;

/// A pattern's size with repetitions expanded: literals count their bytes, classes their
/// ranges, a repetition its body times its largest count.
fn expanded_size(hir: &regex_syntax::hir::Hir) -> u64 {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(l) => l.0.len() as u64,
        HirKind::Class(Class::Unicode(c)) => c.ranges().len() as u64,
        HirKind::Class(Class::Bytes(c)) => c.ranges().len() as u64,
        HirKind::Repetition(r) => {
            let count = u64::from(r.max.unwrap_or(r.min.saturating_add(1)).max(1));
            expanded_size(&r.sub).saturating_mul(count)
        }
        HirKind::Capture(c) => expanded_size(&c.sub),
        HirKind::Concat(items) | HirKind::Alternation(items) => items
            .iter()
            .map(expanded_size)
            .fold(0u64, u64::saturating_add),
    }
}

impl TermMatcher {
    fn into_query(self, field: Field) -> PathTermsQuery {
        PathTermsQuery {
            field,
            matcher: self,
        }
    }
}

impl Query for PathTermsQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(match &self.matcher {
            TermMatcher::Regex(a) => Box::new(AutomatonWeight::<PathScoped<Regex>>::new(
                self.field,
                Arc::clone(a),
            )),
            TermMatcher::Fuzzy(a) => Box::new(AutomatonWeight::<PathScoped<Levenshtein>>::new(
                self.field,
                Arc::clone(a),
            )),
        })
    }
}

/// The key prefix of string terms at `path` in a JSON field.
pub(crate) fn json_str_prefix(field: Field, path: &str) -> Vec<u8> {
    let mut term = tantivy::Term::from_field_json_path(field, path, true);
    term.append_type_and_str("");
    term.serialized_value_bytes().to_vec()
}

/// Escapes a literal for the regular expressions of [`PathTermsQuery::regex`].
pub(crate) fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        // Exactly the meta characters: escaping others, such as `<`, makes them assertions.
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Elasticsearch's wildcard pattern (`*` any run, `?` one character, `\` escapes) as a regular
/// expression.
pub(crate) fn wildcard_regex(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push_str(&regex_literal(&next.to_string()));
                }
            }
            other => out.push_str(&regex_literal(&other.to_string())),
        }
    }
    out
}

/// `boosting`: the positive query's matches, scored down by `negative_boost` where the
/// negative query also matches. Split into two disjoint halves so each keeps the positive
/// query's own score: the negative part contributes nothing but the filter.
pub(crate) fn boosting(
    positive: Box<dyn Query>,
    negative: Box<dyn Query>,
    negative_boost: f32,
) -> Box<dyn Query> {
    let untouched = BooleanQuery::new(vec![
        (Occur::Must, positive.box_clone()),
        (Occur::MustNot, negative.box_clone()),
    ]);
    let demoted = BooleanQuery::new(vec![
        (Occur::Must, positive),
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(negative, 0.0)) as Box<dyn Query>,
        ),
    ]);
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(untouched) as Box<dyn Query>),
        (
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(demoted), negative_boost)),
        ),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::Count;
    use tantivy::schema::{STRING, Schema};
    use tantivy::{Index, TantivyDocument};

    fn index_with(values: &[&str]) -> (Index, Field, Field) {
        let mut schema = Schema::builder();
        let kw = schema.add_json_field("kw", STRING);
        let other = schema.add_json_field("other", STRING);
        let index = Index::create_in_ram(schema.build());
        let mut writer: tantivy::IndexWriter = index.writer(15_000_000).expect("test setup");
        for v in values {
            let mut doc = TantivyDocument::default();
            doc.add_object(
                kw,
                [(
                    "user".to_string(),
                    tantivy::schema::OwnedValue::Str((*v).to_string()),
                )]
                .into_iter()
                .collect(),
            );
            // The same value under another path must never match a query on `user`.
            doc.add_object(
                kw,
                [(
                    "use".to_string(),
                    tantivy::schema::OwnedValue::Str(format!("r{v}")),
                )]
                .into_iter()
                .collect(),
            );
            writer.add_document(doc).expect("test setup");
        }
        writer.commit().expect("test setup");
        (index, kw, other)
    }

    fn count(index: &Index, query: &dyn Query) -> usize {
        index
            .reader()
            .expect("test setup")
            .searcher()
            .search(query, &Count)
            .expect("test setup")
    }

    #[test]
    fn regex_is_confined_to_its_path() {
        let (index, kw, _) = index_with(&["kimchy", "kimberly", "bob"]);
        let prefix = json_str_prefix(kw, "user");
        let q = PathTermsQuery::regex(kw, prefix.clone(), "kim.*").expect("test setup");
        assert_eq!(count(&index, &q), 2);
        let q = PathTermsQuery::regex(kw, prefix.clone(), ".*").expect("test setup");
        assert_eq!(count(&index, &q), 3);
        let q = PathTermsQuery::regex(kw, prefix, &wildcard_regex("?ob")).expect("test setup");
        assert_eq!(count(&index, &q), 1);
        // "use" holds "rkimchy": a pattern on "use" must not see "user"'s terms and vice versa.
        let q = PathTermsQuery::regex(kw, json_str_prefix(kw, "use"), "kim.*").expect("test setup");
        assert_eq!(count(&index, &q), 0);
    }

    #[test]
    fn fuzzy_counts_edits_after_the_fixed_prefix() {
        let (index, kw, _) = index_with(&["kimchy", "kimchi", "kinchy", "bob"]);
        let prefix = json_str_prefix(kw, "user");
        assert_eq!(
            count(
                &index,
                &PathTermsQuery::fuzzy(kw, prefix.clone(), "kimchy", 1, 0, true).expect("fuzzy")
            ),
            3
        );
        assert_eq!(
            count(
                &index,
                &PathTermsQuery::fuzzy(kw, prefix.clone(), "kimchy", 0, 0, true).expect("fuzzy")
            ),
            1
        );
        // With the first three characters fixed, "kinchy" is out.
        assert_eq!(
            count(
                &index,
                &PathTermsQuery::fuzzy(kw, prefix, "kimchy", 1, 3, true).expect("fuzzy")
            ),
            2
        );
    }

    #[test]
    fn hostile_patterns_are_refused_not_compiled() {
        let (_, kw, _) = index_with(&[]);
        let prefix = json_str_prefix(kw, "user");
        assert!(PathTermsQuery::regex(kw, prefix.clone(), "(?:a?){200000}").is_err());
        assert!(PathTermsQuery::regex(kw, prefix.clone(), &"a".repeat(1001)).is_err());
        assert!(PathTermsQuery::fuzzy(kw, prefix.clone(), &"é".repeat(300), 2, 0, true).is_err());
        let html = format!("{}.*", regex_literal("<html"));
        assert!(PathTermsQuery::regex(kw, prefix, &html).is_ok());
    }

    #[test]
    fn wildcard_and_literals_escape_regex_syntax() {
        assert_eq!(wildcard_regex("a*b?c"), "a.*b.c");
        assert_eq!(wildcard_regex("a.b\\*"), "a\\.b\\*");
        assert_eq!(regex_literal("1+1"), "1\\+1");
    }
}
