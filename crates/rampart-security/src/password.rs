//! Password hashing in Elasticsearch's formats (bcrypt by default; PBKDF2 and PBKDF2 over a
//! SHA-512 "stretch" as `xpack.security.password_hashing.algorithm` chooses), generation, and
//! the credential cache that keeps a slow hash off every request.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use subtle::ConstantTimeEq;

use crate::SecretString;

const PBKDF2_PREFIX: &str = "{PBKDF2}";
const PBKDF2_STRETCH_PREFIX: &str = "{PBKDF2_STRETCH}";
const PBKDF2_SALT_BYTES: usize = 32;
const PBKDF2_KEY_BYTES: usize = 32;
/// Shorter salts in a stored hash are refused, as Elasticsearch refuses them.
const PBKDF2_MIN_SALT_BYTES: usize = 8;
/// Iteration counts Elasticsearch offers; a stored hash outside them is not verified, so a
/// crafted hash cannot make a login run for hours.
const PBKDF2_ITERATIONS: &[u32] = &[1_000, 10_000, 50_000, 100_000, 500_000, 1_000_000];

/// `xpack.security.password_hashing.algorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Bcrypt { cost: u32 },
    Pbkdf2 { iterations: u32, stretch: bool },
}

impl Default for HashAlgorithm {
    /// Elasticsearch's default: bcrypt, cost 10.
    fn default() -> Self {
        HashAlgorithm::Bcrypt { cost: 10 }
    }
}

impl HashAlgorithm {
    /// Elasticsearch's names: `bcrypt`, `bcrypt4`..`bcrypt14`, `pbkdf2`, `pbkdf2_N`,
    /// `pbkdf2_stretch`, `pbkdf2_stretch_N` (N one of 1000, 10000, 50000, 100000, 500000,
    /// 1000000).
    pub fn parse(name: &str) -> Result<Self, String> {
        let name = name.trim().to_ascii_lowercase();
        let unknown = || {
            format!(
                "unknown [xpack.security.password_hashing.algorithm] [{name}]: use bcrypt, \
                 bcrypt4 to bcrypt14, pbkdf2, pbkdf2_stretch, or pbkdf2[_stretch]_N with N one of \
                 1000, 10000, 50000, 100000, 500000, 1000000"
            )
        };
        if let Some(cost) = name.strip_prefix("bcrypt") {
            let cost = if cost.is_empty() {
                10
            } else {
                cost.parse().map_err(|_| unknown())?
            };
            return if (4..=14).contains(&cost) {
                Ok(HashAlgorithm::Bcrypt { cost })
            } else {
                Err(unknown())
            };
        }
        let (rest, stretch) = match name.strip_prefix("pbkdf2_stretch") {
            Some(rest) => (rest, true),
            None => (name.strip_prefix("pbkdf2").ok_or_else(unknown)?, false),
        };
        let iterations = match rest {
            "" => 10_000,
            n => n
                .strip_prefix('_')
                .and_then(|n| n.parse().ok())
                .filter(|n| PBKDF2_ITERATIONS.contains(n))
                .ok_or_else(unknown)?,
        };
        Ok(HashAlgorithm::Pbkdf2 {
            iterations,
            stretch,
        })
    }

    /// Whether a stored hash was made by this algorithm's family (bcrypt or PBKDF2 of the
    /// same stretch).
    pub fn produced(&self, hash: &str) -> bool {
        match self {
            HashAlgorithm::Bcrypt { .. } => is_bcrypt(hash),
            HashAlgorithm::Pbkdf2 { stretch: true, .. } => hash.starts_with(PBKDF2_STRETCH_PREFIX),
            HashAlgorithm::Pbkdf2 { stretch: false, .. } => hash.starts_with(PBKDF2_PREFIX),
        }
    }
}

static ALGORITHM: OnceLock<HashAlgorithm> = OnceLock::new();

/// Sets the algorithm new hashes use, once, at start; later calls are ignored.
pub fn set_hash_algorithm(algorithm: HashAlgorithm) {
    let _ = ALGORITHM.set(algorithm);
}

pub fn hash_algorithm() -> HashAlgorithm {
    ALGORITHM.get().copied().unwrap_or_default()
}

fn is_bcrypt(hash: &str) -> bool {
    hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")
}

/// Hex of SHA-512: the "stretch" Elasticsearch applies before PBKDF2 in `{PBKDF2_STRETCH}`.
fn stretch(password: &str) -> zeroize::Zeroizing<String> {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, password.as_bytes());
    zeroize::Zeroizing::new(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// Hashes with the configured algorithm, in the form Elasticsearch writes.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    hash_password_with(password, hash_algorithm())
}

pub fn hash_password_with(
    password: &SecretString,
    algorithm: HashAlgorithm,
) -> Result<String, String> {
    match algorithm {
        HashAlgorithm::Bcrypt { cost } => bcrypt::hash_with_result(password.expose(), cost)
            .map(|h| h.format_for_version(bcrypt::Version::TwoA))
            .map_err(|e| format!("cannot hash password: {e}")),
        HashAlgorithm::Pbkdf2 {
            iterations,
            stretch: stretched,
        } => {
            let mut salt = [0u8; PBKDF2_SALT_BYTES];
            getrandom::fill(&mut salt).map_err(|e| format!("no system randomness: {e}"))?;
            let input = if stretched {
                stretch(password.expose())
            } else {
                zeroize::Zeroizing::new(password.expose().to_string())
            };
            let mut key = [0u8; PBKDF2_KEY_BYTES];
            let rounds = NonZeroU32::new(iterations).ok_or("zero PBKDF2 iterations")?;
            aws_lc_rs::pbkdf2::derive(
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
                rounds,
                &salt,
                input.as_bytes(),
                &mut key,
            );
            let b64 = base64::engine::general_purpose::STANDARD;
            let prefix = if stretched {
                PBKDF2_STRETCH_PREFIX
            } else {
                PBKDF2_PREFIX
            };
            Ok(format!(
                "{prefix}{iterations}${}${}",
                b64.encode(salt),
                b64.encode(key)
            ))
        }
    }
}

fn verify_pbkdf2(password: &str, rest: &str) -> Option<bool> {
    let mut parts = rest.splitn(3, '$');
    let iterations: u32 = parts.next()?.parse().ok()?;
    if !PBKDF2_ITERATIONS.contains(&iterations) {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt = b64.decode(parts.next()?).ok()?;
    let expected = b64.decode(parts.next()?).ok()?;
    // Keys of whole HMAC-SHA512 blocks' worth, as Elasticsearch derives the length.
    if salt.len() < PBKDF2_MIN_SALT_BYTES || expected.is_empty() || expected.len() > 512 {
        return None;
    }
    Some(
        aws_lc_rs::pbkdf2::verify(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512,
            NonZeroU32::new(iterations)?,
            &salt,
            password.as_bytes(),
            &expected,
        )
        .is_ok(),
    )
}

/// Verifies against a stored hash in any form Elasticsearch writes (bcrypt `$2a$`/`$2b$`/
/// `$2y$`, `{PBKDF2}`, `{PBKDF2_STRETCH}`); an unknown or malformed hash never verifies.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    let verified = if is_bcrypt(hash) {
        Some(bcrypt::verify(password.expose(), hash).unwrap_or(false))
    } else if let Some(rest) = hash.strip_prefix(PBKDF2_STRETCH_PREFIX) {
        verify_pbkdf2(&stretch(password.expose()), rest)
    } else if let Some(rest) = hash.strip_prefix(PBKDF2_PREFIX) {
        verify_pbkdf2(password.expose(), rest)
    } else {
        None
    };
    verified.unwrap_or_else(|| {
        tracing::warn!("a stored password hash has an unsupported format and cannot be verified");
        false
    })
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
        if self.ttl.is_zero() || self.max_entries == 0 {
            // `cache.ttl: 0` (or no room): the realm does not cache.
            return;
        }
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
    fn pbkdf2_forms_round_trip_and_are_bounded() {
        let pw = SecretString::from("pbkdf2-pw");
        for name in ["pbkdf2_1000", "pbkdf2_stretch_1000"] {
            let algorithm = HashAlgorithm::parse(name).expect("known");
            let hash = hash_password_with(&pw, algorithm).expect("hash");
            assert!(algorithm.produced(&hash), "{hash}");
            assert!(verify_password(&pw, &hash), "{name}");
            assert!(!verify_password(&SecretString::from("other"), &hash));
        }
        // A hash Elasticsearch's stretch variant would make: PBKDF2 over hex(SHA-512(pw)).
        let stretched = hash_password_with(
            &SecretString::new(stretch("pbkdf2-pw").to_string()),
            HashAlgorithm::parse("pbkdf2_1000").expect("known"),
        )
        .expect("hash")
        .replacen("{PBKDF2}", "{PBKDF2_STRETCH}", 1);
        assert!(verify_password(&pw, &stretched));
        assert!(
            !verify_password(&pw, "{PBKDF2}7$c2FsdHNhbHQ=$AAAA"),
            "odd iteration count"
        );
        assert!(
            !verify_password(&pw, "{PBKDF2}1000$c2FsdA==$AAAA"),
            "short salt"
        );
        assert!(!verify_password(&pw, "{PBKDF2}garbage"));
        for bad in ["md5", "bcrypt3", "bcrypt15", "pbkdf2_7", "pbkdf2_stretch_x"] {
            assert!(HashAlgorithm::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            HashAlgorithm::parse("PBKDF2_STRETCH").expect("known"),
            HashAlgorithm::Pbkdf2 {
                iterations: 10_000,
                stretch: true
            }
        );
        assert_eq!(
            HashAlgorithm::parse("bcrypt12").expect("known"),
            HashAlgorithm::Bcrypt { cost: 12 }
        );
    }

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
