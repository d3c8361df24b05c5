//! Failed-login throttling (a Rampart extension): repeated failures from one address, or for one
//! user from one address, are refused for a while without checking the password at all.
//!
//! The policy never locks a user out everywhere: a user is only ever throttled together with the
//! address the failures came from, so an attacker elsewhere cannot lock the real user out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures of one user from one address before that pair is refused.
    pub max_user_failures: u32,
    /// Failures from one address (any users) before the address is refused.
    pub max_address_failures: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// How long a refusal lasts.
    pub lockout: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            max_user_failures: 5,
            max_address_failures: 50,
            window: Duration::from_secs(300),
            lockout: Duration::from_secs(60),
        }
    }
}

/// An address as throttling sees it: IPv6 by its /64, since one host usually holds a whole /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    Source::V6Prefix(prefix)
                }
            },
        }
    }
}

/// Fixed-size keys: a username is remembered as its SHA-256, so a flood of huge usernames cannot
/// grow memory beyond the entry limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(Source),
    UserAtAddress([u8; 32], Source),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    first_failure: Instant,
    locked_until: Option<Instant>,
}

/// Entries kept at most; beyond, expired ones are pruned and then the oldest dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct Throttle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<Key, Entry>>,
    /// False while no failure is recorded: then every request skips the lock and the hashing.
    any_failures: AtomicBool,
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Throttle {
        Throttle {
            policy,
            entries: Mutex::new(HashMap::new()),
            any_failures: AtomicBool::new(false),
        }
    }

    fn user_key(username: &str, address: IpAddr) -> Key {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, username.as_bytes());
        let mut user = [0u8; 32];
        user.copy_from_slice(digest.as_ref());
        Key::UserAtAddress(user, address.into())
    }

    fn keys(username: Option<&str>, address: IpAddr) -> Vec<Key> {
        let mut keys = vec![Key::Address(address.into())];
        if let Some(user) = username {
            keys.push(Self::user_key(user, address));
        }
        keys
    }

    /// `Err(retry_after)` while refused.
    pub fn check(&self, username: Option<&str>, address: IpAddr) -> Result<(), Duration> {
        if !self.any_failures.load(Ordering::Acquire) {
            return Ok(());
        }
        let now = Instant::now();
        let entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        let retry_after = Self::keys(username, address)
            .iter()
            .filter_map(|k| entries.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match retry_after {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, username: Option<&str>, address: IpAddr) {
        let now = Instant::now();
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.any_failures.store(true, Ordering::Release);
        if entries.len() >= MAX_ENTRIES {
            let (window, lockout) = (self.policy.window, self.policy.lockout);
            entries.retain(|_, e| {
                now.duration_since(e.first_failure) < window + lockout
                    || e.locked_until.is_some_and(|u| u > now)
            });
            if entries.len() >= MAX_ENTRIES {
                // Still full: drop the oldest tenth, never the whole table (which would lift
                // every lockout at once).
                let mut ages: Vec<(Instant, Key)> = entries
                    .iter()
                    .map(|(k, e)| (e.first_failure, k.clone()))
                    .collect();
                ages.sort_unstable_by_key(|(t, _)| *t);
                for (_, key) in ages.into_iter().take(MAX_ENTRIES / 10) {
                    entries.remove(&key);
                }
            }
        }
        for key in Self::keys(username, address) {
            let limit = match key {
                Key::Address(_) => self.policy.max_address_failures,
                Key::UserAtAddress(..) => self.policy.max_user_failures,
            };
            let entry = entries.entry(key).or_insert(Entry {
                failures: 0,
                first_failure: now,
                locked_until: None,
            });
            if now.duration_since(entry.first_failure) >= self.policy.window
                || entry.locked_until.is_some_and(|u| u <= now)
            {
                *entry = Entry {
                    failures: 0,
                    first_failure: now,
                    locked_until: None,
                };
            }
            entry.failures += 1;
            if entry.failures >= limit {
                entry.locked_until = Some(now + self.policy.lockout);
            }
        }
    }

    /// A success clears that user's record at that address (not the address's own).
    pub fn record_success(&self, username: &str, address: IpAddr) {
        if !self.any_failures.load(Ordering::Acquire) {
            return;
        }
        let mut entries = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.remove(&Self::user_key(username, address));
        if entries.is_empty() {
            self.any_failures.store(false, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            max_user_failures: 3,
            max_address_failures: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_millis(200),
        }
    }

    #[test]
    fn a_user_is_throttled_only_at_the_failing_address_and_recovers() {
        let t = Throttle::new(policy());
        let here: IpAddr = "192.0.2.1".parse().expect("ip");
        let there: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            assert!(t.check(Some("jdoe"), here).is_ok());
            t.record_failure(Some("jdoe"), here);
        }
        assert!(
            t.check(Some("jdoe"), here).is_err(),
            "locked at this address"
        );
        assert!(t.check(Some("jdoe"), there).is_ok(), "not elsewhere");
        assert!(
            t.check(Some("other"), here).is_ok(),
            "other users at this address"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(t.check(Some("jdoe"), here).is_ok(), "the lockout ends");
    }

    #[test]
    fn an_address_spraying_many_users_is_throttled() {
        let t = Throttle::new(policy());
        let here: IpAddr = "192.0.2.1".parse().expect("ip");
        for i in 0..10 {
            t.record_failure(Some(&format!("user{i}")), here);
        }
        assert!(t.check(Some("fresh"), here).is_err());
        assert!(t.check(None, "192.0.2.9".parse().expect("ip")).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let t = Throttle::new(policy());
        for i in 0..10u16 {
            let ip: IpAddr = format!("2001:db8::{i:x}").parse().expect("ip");
            t.record_failure(Some(&format!("user{i}")), ip);
        }
        assert!(
            t.check(None, "2001:db8::ffff".parse().expect("ip"))
                .is_err()
        );
        assert!(t.check(None, "2001:db8:1::1".parse().expect("ip")).is_ok());
    }

    #[test]
    fn success_clears_the_pair() {
        let t = Throttle::new(policy());
        let here: IpAddr = "192.0.2.1".parse().expect("ip");
        t.record_failure(Some("jdoe"), here);
        t.record_failure(Some("jdoe"), here);
        t.record_success("jdoe", here);
        t.record_failure(Some("jdoe"), here);
        assert!(
            t.check(Some("jdoe"), here).is_ok(),
            "count restarted after a success"
        );
    }
}
