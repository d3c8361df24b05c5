//! Password hashing (bcrypt, as Elasticsearch's default), generation, and the credential cache
//! that keeps a slow hash off every request.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use crate::SecretString;

/// Elasticsearch's default `xpack.security.authc.password_hashing.algorithm`: bcrypt, cost 10.
const BCRYPT_COST: u32 = 10;

/// Hashes in the `$2a$` form Elasticsearch writes.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    bcrypt::hash_with_result(password.expose(), BCRYPT_COST)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Verifies against a stored hash; unknown hash formats never verify.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
        bcrypt::verify(password.expose(), hash).unwrap_or(false)
    } else {
        tracing::warn!("a stored password hash has an unsupported format and cannot be verified");
        false
    }
}

/// A strong random password: 20 characters from a 64-symbol alphabet (120 bits), safe to paste
/// into a shell or a YAML file without quoting.
pub fn generate_password() -> Result<SecretString, String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = zeroize::Zeroizing::new([0u8; 20]);
    getrandom::fill(&mut bytes[..]).map_err(|e| format!("no system randomness: {e}"))?;
    // 256 is a multiple of 64, so masking to 6 bits is unbiased.
    let password: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 0x3f)] as char)
        .collect();
    Ok(SecretString::new(password))
}

struct CacheEntry {
    digest: [u8; 32],
    stored_at: Instant,
}

/// Remembers a keyed digest of credentials that verified, so repeated requests skip bcrypt.
/// The key is random per process; a cache hit is compared in constant time.
pub struct CredentialCache {
    key: aws_lc_rs::hmac::Key,
    ttl: Duration,
    max_entries: usize,
    entries: RwLock<HashMap<String, CacheEntry>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache").finish_non_exhaustive()
    }
}

impl CredentialCache {
    /// Elasticsearch's realm cache defaults: 20 minutes, 100,000 users.
    pub fn new() -> Result<Self, String> {
        Self::with_limits(Duration::from_secs(20 * 60), 100_000)
    }

    pub fn with_limits(ttl: Duration, max_entries: usize) -> Result<Self, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = aws_lc_rs::hmac::Key::generate(aws_lc_rs::hmac::HMAC_SHA256, &rng)
            .map_err(|_| "no system randomness for the credential cache".to_string())?;
        Ok(CredentialCache {
            key,
            ttl,
            max_entries,
            entries: RwLock::new(HashMap::new()),
        })
    }

    /// Binds the stored hash into the digest: once a password changes, credentials remembered
    /// against the old hash can never match again, even if a slow verification of the old
    /// password finishes after the change.
    fn digest(&self, username: &str, password: &SecretString, stored_hash: &str) -> [u8; 32] {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.key);
        for part in [username.as_bytes(), stored_hash.as_bytes()] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        ctx.update(password.expose().as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// True when these exact credentials verified recently against `stored_hash`, the user's
    /// current hash.
    pub fn matches(&self, username: &str, password: &SecretString, stored_hash: &str) -> bool {
        let digest = self.digest(username, password, stored_hash);
        let entries = match self.entries.read() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.get(username).is_some_and(|entry| {
            entry.stored_at.elapsed() < self.ttl && bool::from(entry.digest.ct_eq(&digest))
        })
    }

    pub fn remember(&self, username: &str, password: &SecretString, stored_hash: &str) {
        let digest = self.digest(username, password, stored_hash);
        let mut entries = match self.entries.write() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, e| e.stored_at.elapsed() < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(
            username.to_string(),
            CacheEntry {
                digest,
                stored_at: Instant::now(),
            },
        );
    }

    /// Forgets every user: after a realm's users changed underneath.
    pub fn clear(&self) {
        let mut entries = match self.entries.write() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.clear();
    }

    pub fn invalidate(&self, username: &str) {
        let mut entries = match self.entries.write() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_round_trip_in_elasticsearch_form() {
        let pw = SecretString::from("correct horse");
        let hash = hash_password(&pw).expect("hash");
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert!(verify_password(&pw, &hash));
        assert!(!verify_password(&SecretString::from("wrong"), &hash));
        assert!(!verify_password(&pw, "{PLAIN}correct horse"));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password().expect("pw");
        let b = generate_password().expect("pw");
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn cache_matches_only_the_remembered_credentials_and_expires() {
        let cache = CredentialCache::new().expect("cache");
        let pw = SecretString::from("secret");
        assert!(!cache.matches("elastic", &pw, "h1"));
        cache.remember("elastic", &pw, "h1");
        assert!(cache.matches("elastic", &pw, "h1"));
        assert!(!cache.matches("elastic", &SecretString::from("secreT"), "h1"));
        assert!(!cache.matches("other", &pw, "h1"));
        assert!(
            !cache.matches("elastic", &pw, "h2"),
            "a changed hash never matches"
        );
        cache.invalidate("elastic");
        assert!(!cache.matches("elastic", &pw, "h1"));

        let short = CredentialCache::with_limits(Duration::from_millis(0), 10).expect("cache");
        short.remember("elastic", &pw, "h1");
        assert!(
            !short.matches("elastic", &pw, "h1"),
            "expired entries do not match"
        );
    }
}
