//! Open search contexts: scrolls and points in time. Each holds a fixed view of its indices'
//! segments (so pages are consistent while writes go on), belongs to the identity that opened
//! it, and expires after its keep-alive unless used again.
//!
//! Ids are 128 random bits: knowing one must not be enough, so a context also answers only
//! its owner, and to anyone else it looks exactly like a missing one. Contexts live in memory
//! only; a restart closes them all, as in Elasticsearch.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rampart_action::EsError;

use crate::search::{SearchRequest, Target};
use crate::sort::SortValue;

/// At most this many contexts per node (Elasticsearch's `search.max_open_scroll_context`
/// default): each pins segment files and memory until it expires.
const MAX_OPEN_CONTEXTS: usize = 500;

/// At most this many per identity, so one user cannot take every slot from the others.
const MAX_CONTEXTS_PER_OWNER: usize = 100;

/// The longest keep-alive a client may ask for (`search.max_keep_alive`'s default).
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(24 * 3600);

pub(crate) enum Kind {
    Scroll {
        request: Box<SearchRequest>,
        /// The keys of the last hit served; `None` before the first page or after the last.
        last_keys: Option<Vec<SortValue>>,
        exhausted: bool,
    },
    PointInTime,
}

pub(crate) struct Context {
    pub owner: String,
    pub targets: Vec<Target>,
    pub kind: Kind,
    keep_alive: Duration,
    expires: Instant,
}

impl Context {
    pub(crate) fn new(owner: &str, targets: Vec<Target>, kind: Kind, keep_alive: Duration) -> Self {
        Context {
            owner: owner.to_string(),
            targets,
            kind,
            keep_alive,
            expires: Instant::now() + keep_alive,
        }
    }

    /// A use extends the life by the keep-alive given with it, or the last one.
    pub(crate) fn touch(&mut self, keep_alive: Option<Duration>) {
        if let Some(k) = keep_alive {
            self.keep_alive = k;
        }
        self.expires = Instant::now() + self.keep_alive;
    }
}

/// `keep_alive` / `scroll` as a duration, within the node's limit.
pub(crate) fn keep_alive(value: &str, name: &str) -> Result<Duration, EsError> {
    let d = rampart_config::parse_time_value(value).map_err(|e| {
        EsError::bad_request(format!("failed to parse [{name}] value [{value}]: {e}"))
    })?;
    if d > MAX_KEEP_ALIVE {
        return Err(EsError::bad_request(format!(
            "Keep alive for request ({value}) is too large. It must be less than (24h). This \
             limit can be set by changing the [search.max_keep_alive] cluster level setting."
        )));
    }
    if d.is_zero() {
        return Err(EsError::bad_request(format!(
            "[{name}] must be positive, got [{value}]"
        )));
    }
    Ok(d)
}

fn missing(id: &str) -> EsError {
    // Shortened: the id is a secret of its owner and must not end up in logs in full.
    let shown: String = id.chars().take(8).collect();
    EsError::new(
        404,
        "search_context_missing_exception",
        format!(
            "No search context found for id [{shown}…]: it expired, was closed, or belongs to \
             another user; open a new one"
        ),
    )
}

#[derive(Default)]
pub(crate) struct Contexts {
    open: Mutex<HashMap<String, Context>>,
}

impl Contexts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prune(open: &mut HashMap<String, Context>) {
        let now = Instant::now();
        open.retain(|_, c| c.expires > now);
    }

    pub(crate) fn open(&self, context: Context) -> Result<String, EsError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| EsError::new(500, "exception", format!("no randomness: {e}")))?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut open = self.lock();
        Self::prune(&mut open);
        let mine = open.values().filter(|c| c.owner == context.owner).count();
        if mine >= MAX_CONTEXTS_PER_OWNER {
            return Err(EsError::new(
                429,
                "exception",
                format!(
                    "you hold {mine} open scrolls and points in time, the most one user may: \
                     close those you no longer need (DELETE /_search/scroll, DELETE /_pit)"
                ),
            ));
        }
        if open.len() >= MAX_OPEN_CONTEXTS {
            return Err(EsError::new(
                429,
                "exception",
                format!(
                    "Trying to create too many search contexts. Must be less than or equal to: \
                     [{MAX_OPEN_CONTEXTS}]: close scrolls and points in time you no longer need \
                     (DELETE /_search/scroll, DELETE /_pit) or use shorter keep-alives"
                ),
            ));
        }
        open.insert(id.clone(), context);
        Ok(id)
    }

    /// Takes a context out to use it alone (a scroll page); put it back with [`Self::put`].
    pub(crate) fn take(&self, id: &str, owner: &str) -> Result<Context, EsError> {
        let mut open = self.lock();
        Self::prune(&mut open);
        match open.get(id) {
            Some(c) if c.owner == owner => open.remove(id).ok_or_else(|| missing(id)),
            _ => Err(missing(id)),
        }
    }

    pub(crate) fn put(&self, id: String, context: Context) {
        self.lock().insert(id, context);
    }

    /// Closes every context that reads an index being deleted: its data must stop being served.
    pub(crate) fn forget_index(&self, uuid: &str) {
        self.lock()
            .retain(|_, c| !c.targets.iter().any(|t| t.index.uuid == uuid));
    }

    /// A point in time's indices for one search, extending its life.
    pub(crate) fn use_pit(
        &self,
        id: &str,
        owner: &str,
        keep_alive: Option<Duration>,
    ) -> Result<Vec<Target>, EsError> {
        let mut open = self.lock();
        Self::prune(&mut open);
        match open.get_mut(id) {
            Some(c) if c.owner == owner && matches!(c.kind, Kind::PointInTime) => {
                c.touch(keep_alive);
                Ok(c.targets.clone())
            }
            _ => Err(missing(id)),
        }
    }

    /// Closes the caller's contexts among `ids` (all of theirs of that kind when `ids` is
    /// `None`); returns how many were freed.
    pub(crate) fn close(&self, ids: Option<&[String]>, owner: &str, pit: bool) -> usize {
        let mut open = self.lock();
        Self::prune(&mut open);
        let before = open.len();
        open.retain(|id, c| {
            let kind_matches = matches!(c.kind, Kind::PointInTime) == pit;
            let named = ids.is_none_or(|ids| ids.iter().any(|i| i == id));
            !(kind_matches && named && c.owner == owner)
        });
        before - open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_can_use_or_close_a_context() {
        let contexts = Contexts::default();
        let id = contexts
            .open(Context::new(
                "native/alice",
                Vec::new(),
                Kind::PointInTime,
                Duration::from_secs(60),
            ))
            .expect("test setup");
        let err = contexts
            .use_pit(&id, "native/bob", None)
            .map(|_| ())
            .expect_err("refused");
        assert_eq!(err.status, 404);
        assert_eq!(
            contexts.close(Some(std::slice::from_ref(&id)), "native/bob", true),
            0
        );
        assert!(contexts.use_pit(&id, "native/alice", None).is_ok());
        assert_eq!(
            contexts.close(Some(std::slice::from_ref(&id)), "native/alice", true),
            1
        );
        assert!(contexts.use_pit(&id, "native/alice", None).is_err());
    }

    #[test]
    fn one_owner_cannot_take_every_slot() {
        let contexts = Contexts::default();
        let open = |owner: &str| {
            contexts.open(Context::new(
                owner,
                Vec::new(),
                Kind::PointInTime,
                Duration::from_secs(60),
            ))
        };
        for _ in 0..MAX_CONTEXTS_PER_OWNER {
            assert!(open("greedy").is_ok());
        }
        assert_eq!(
            open("greedy").map(|_| ()).expect_err("over quota").status,
            429
        );
        assert!(open("someone else").is_ok());
    }

    #[test]
    fn contexts_expire() {
        let contexts = Contexts::default();
        let id = contexts
            .open(Context::new(
                "o",
                Vec::new(),
                Kind::PointInTime,
                Duration::from_millis(1),
            ))
            .expect("test setup");
        std::thread::sleep(Duration::from_millis(5));
        assert!(contexts.use_pit(&id, "o", None).is_err());
    }

    #[test]
    fn keep_alive_limits() {
        assert_eq!(
            keep_alive("1m", "scroll").expect("test setup"),
            Duration::from_secs(60)
        );
        assert!(keep_alive("2d", "scroll").is_err());
        assert!(keep_alive("soon", "scroll").is_err());
    }
}
