//! The keystore: Rampart's encrypted file of secure settings (`config/rampart.keystore`), the
//! counterpart of `elasticsearch.keystore`.
//!
//! Format (version 1), all integers big-endian:
//! ```text
//! "RAMPARTKS" | version u8 = 1 | kdf u8 = 1 (Argon2id) | m_cost u32 (KiB) | t_cost u32 | p u32
//! | salt [16] | has_password u8 | nonce [12] | ciphertext (AES-256-GCM, tag appended)
//! | sha256 [32] of everything before it
//! ```
//! The header up to the nonce is authenticated as associated data, so parameters cannot be
//! swapped. The trailing SHA-256 tells a damaged file (checksum mismatch) from a wrong password
//! (checksum fine, decryption fails). The plaintext is a JSON object of name → base64 value.
//!
//! This crate owns the file format and its entries. It must never leave a half-written keystore
//! (writes go through a temporary file, fsync and rename, mode 0600), and never keep a secret
//! in memory longer than needed: values and keys are zeroized.
#![forbid(unsafe_code)]

pub mod cli;

use std::collections::BTreeMap;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use rampart_config::fsutil::{SECRET_FILE_MODE, write_atomic};
use zeroize::Zeroizing;

pub const KEYSTORE_FILE: &str = "rampart.keystore";
const MAGIC: &[u8; 9] = b"RAMPARTKS";
const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
const HEADER_LEN: usize = MAGIC.len() + 1 + 1 + 4 + 4 + 4 + SALT_LEN + 1;

/// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const DEFAULT_KDF: KdfParams = KdfParams {
    m_cost_kib: 19 * 1024,
    t_cost: 2,
    lanes: 1,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KdfParams {
    m_cost_kib: u32,
    t_cost: u32,
    lanes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeystoreError {
    NotFound(String),
    WrongPassword,
    Damaged(String),
    Io(String),
    InvalidName(String),
}

impl std::fmt::Display for KeystoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeystoreError::NotFound(path) => write!(
                f,
                "no keystore at {path}: create one with `rampart keystore create`"
            ),
            KeystoreError::WrongPassword => f.write_str("the keystore password is incorrect"),
            KeystoreError::Damaged(why) => write!(
                f,
                "the keystore is damaged ({why}): restore it from a backup, or create a new one \
                 with `rampart keystore create` and add its settings again"
            ),
            KeystoreError::Io(e) => f.write_str(e),
            KeystoreError::InvalidName(name) => write!(
                f,
                "[{name}] is not a valid setting name: use letters, digits, '.', '_' and '-'"
            ),
        }
    }
}

impl std::error::Error for KeystoreError {}

/// The environment variable naming a file that holds the keystore password, for starts
/// without a terminal (services, containers, tests).
pub const PASSPHRASE_FILE_ENV: &str = "RAMPART_KEYSTORE_PASSPHRASE_FILE";

/// Reads the keystore password from the file named by [`PASSPHRASE_FILE_ENV`], if it is set;
/// a trailing newline is not part of the password.
pub fn passphrase_from_env_file() -> Result<Option<Zeroizing<String>>, String> {
    let Some(path) = std::env::var_os(PASSPHRASE_FILE_ENV) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)
        .map(Zeroizing::new)
        .map_err(|e| {
            format!(
                "cannot read the keystore password from {} ({PASSPHRASE_FILE_ENV}): {e}",
                std::path::Path::new(&path).display()
            )
        })?;
    Ok(Some(Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_string(),
    )))
}

/// Setting names as Elasticsearch accepts them in its keystore: `[A-Za-z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<(), KeystoreError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(KeystoreError::InvalidName(name.to_string()))
    }
}

/// The decrypted contents of a keystore.
pub struct Keystore {
    entries: BTreeMap<String, Zeroizing<Vec<u8>>>,
    has_password: bool,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only.
        f.debug_struct("Keystore")
            .field("entries", &self.entries.keys().collect::<Vec<_>>())
            .field("has_password", &self.has_password)
            .finish()
    }
}

fn derive_key(
    password: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let argon_params =
        argon2::Params::new(params.m_cost_kib, params.t_cost, params.lanes, Some(32)).map_err(
            |e| KeystoreError::Damaged(format!("invalid key derivation parameters: {e}")),
        )?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, salt, &mut key[..])
        .map_err(|e| KeystoreError::Damaged(format!("key derivation failed: {e}")))?;
    Ok(key)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn random<const N: usize>() -> Result<[u8; N], KeystoreError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| KeystoreError::Io(format!("no system randomness: {e}")))?;
    Ok(out)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(b)
}

/// The parts of a keystore file that need no password.
struct Header<'a> {
    kdf: KdfParams,
    salt: &'a [u8],
    has_password: bool,
    aad: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

fn parse_header(bytes: &[u8]) -> Result<Header<'_>, KeystoreError> {
    let min = HEADER_LEN + NONCE_LEN + AES_256_GCM.tag_len() + CHECKSUM_LEN;
    if bytes.len() < min || &bytes[..MAGIC.len()] != MAGIC {
        return Err(KeystoreError::Damaged("not a Rampart keystore".to_string()));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if sha256(body) != checksum {
        return Err(KeystoreError::Damaged("checksum mismatch".to_string()));
    }
    let mut at = MAGIC.len();
    let version = body[at];
    if version != VERSION {
        return Err(KeystoreError::Damaged(format!(
            "format version {version} is not supported by this Rampart (it reads version {VERSION})"
        )));
    }
    at += 1;
    if body[at] != KDF_ARGON2ID {
        return Err(KeystoreError::Damaged(format!(
            "unknown key derivation [{}]",
            body[at]
        )));
    }
    at += 1;
    let kdf = KdfParams {
        m_cost_kib: read_u32(body, at),
        t_cost: read_u32(body, at + 4),
        lanes: read_u32(body, at + 8),
    };
    // A crafted header must not make the reader allocate gigabytes or spin for minutes.
    if kdf.m_cost_kib > 256 * 1024 || kdf.t_cost > 16 || kdf.lanes > 8 {
        return Err(KeystoreError::Damaged(
            "its key derivation parameters are out of range".to_string(),
        ));
    }
    at += 12;
    let salt = &body[at..at + SALT_LEN];
    at += SALT_LEN;
    let has_password = body[at] != 0;
    at += 1;
    debug_assert_eq!(at, HEADER_LEN);
    Ok(Header {
        kdf,
        salt,
        has_password,
        aad: &body[..HEADER_LEN],
        nonce: &body[HEADER_LEN..HEADER_LEN + NONCE_LEN],
        ciphertext: &body[HEADER_LEN + NONCE_LEN..],
    })
}

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            KeystoreError::NotFound(path.display().to_string())
        } else {
            KeystoreError::Io(format!("cannot read {}: {e}", path.display()))
        }
    })
}

fn decode_entries(plaintext: &[u8]) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, KeystoreError> {
    let map: BTreeMap<String, String> = serde_json::from_slice(plaintext)
        .map_err(|_| KeystoreError::Damaged("its contents do not decode".to_string()))?;
    let mut entries = BTreeMap::new();
    for (name, value) in map {
        let value = Zeroizing::new(value);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.as_bytes())
            .map_err(|_| KeystoreError::Damaged(format!("entry [{name}] does not decode")))?;
        entries.insert(name, Zeroizing::new(decoded));
    }
    Ok(entries)
}

/// Entry points for the fuzz targets in `fuzz/`. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a keystore file's header (with a valid checksum appended, so the fuzzer gets past
    /// it) and decodes `data` as a decrypted payload.
    pub fn keystore_file(data: &[u8]) {
        let mut file = data.to_vec();
        file.extend_from_slice(&super::sha256(data));
        let _ = super::parse_header(&file);
        let _ = super::decode_entries(data);
    }
}

impl Keystore {
    /// A new, empty keystore with a random `keystore.seed`, as Elasticsearch creates.
    pub fn new(has_password: bool) -> Result<Keystore, KeystoreError> {
        let seed: [u8; 20] = random()?;
        let seed = base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed);
        let mut entries = BTreeMap::new();
        entries.insert(
            "keystore.seed".to_string(),
            Zeroizing::new(seed.into_bytes()),
        );
        Ok(Keystore {
            entries,
            has_password,
        })
    }

    /// Whether the keystore at `path` is protected by a password (no password needed to ask).
    pub fn has_password_at(path: &Path) -> Result<bool, KeystoreError> {
        let bytes = read_file(path)?;
        Ok(parse_header(&bytes)?.has_password)
    }

    pub fn exists(path: &Path) -> bool {
        path.exists()
    }

    pub fn load(path: &Path, password: &[u8]) -> Result<Keystore, KeystoreError> {
        let bytes = read_file(path)?;
        let header = parse_header(&bytes)?;
        let key = derive_key(password, header.salt, header.kdf)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &key[..])
            .map_err(|_| KeystoreError::Damaged("unusable key".to_string()))?;
        let key = LessSafeKey::new(unbound);
        let nonce = Nonce::try_assume_unique_for_key(header.nonce)
            .map_err(|_| KeystoreError::Damaged("bad nonce".to_string()))?;
        let mut buffer = Zeroizing::new(header.ciphertext.to_vec());
        let plaintext = key
            .open_in_place(nonce, Aad::from(header.aad), &mut buffer)
            .map_err(|_| KeystoreError::WrongPassword)?;
        let entries = decode_entries(plaintext)?;
        Ok(Keystore {
            entries,
            has_password: header.has_password,
        })
    }

    /// Encrypts and writes atomically (temp file, fsync, rename), owner-only.
    pub fn save(&self, path: &Path, password: &[u8]) -> Result<(), KeystoreError> {
        let map: BTreeMap<&str, Zeroizing<String>> = self
            .entries
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&v[..])),
                )
            })
            .collect();
        let plain: BTreeMap<&str, &str> = map.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Sized up front (entries, base64, JSON punctuation and the tag), so growing the
        // buffer never leaves unzeroized copies of the plaintext behind.
        let estimate = plain
            .iter()
            .map(|(k, v)| k.len() + v.len() + 8)
            .sum::<usize>()
            + 2
            + AES_256_GCM.tag_len();
        let mut buffer = Zeroizing::new(Vec::with_capacity(estimate));
        serde_json::to_writer(&mut *buffer, &plain)
            .map_err(|e| KeystoreError::Io(e.to_string()))?;

        let salt: [u8; SALT_LEN] = random()?;
        let nonce_bytes: [u8; NONCE_LEN] = random()?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + buffer.len() + 64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&DEFAULT_KDF.m_cost_kib.to_be_bytes());
        out.extend_from_slice(&DEFAULT_KDF.t_cost.to_be_bytes());
        out.extend_from_slice(&DEFAULT_KDF.lanes.to_be_bytes());
        out.extend_from_slice(&salt);
        out.push(u8::from(!password.is_empty()));
        let key = derive_key(password, &salt, DEFAULT_KDF)?;
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &key[..])
                .map_err(|_| KeystoreError::Io("unusable key".to_string()))?,
        );
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        key.seal_in_place_append_tag(nonce, Aad::from(&out[..HEADER_LEN]), &mut *buffer)
            .map_err(|_| KeystoreError::Io("encryption failed".to_string()))?;
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buffer);
        let checksum = sha256(&out);
        out.extend_from_slice(&checksum);
        write_atomic(path, &out, SECRET_FILE_MODE)
            .map_err(|e| KeystoreError::Io(format!("cannot write {}: {e}", path.display())))
    }

    pub fn has_password(&self) -> bool {
        self.has_password
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries.get(name).map(|v| &v[..])
    }

    /// The value as UTF-8 text, for string settings.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn set(&mut self, name: &str, value: Zeroizing<Vec<u8>>) -> Result<(), KeystoreError> {
        validate_name(name)?;
        self.entries.insert(name.to_string(), value);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// Marks whether the next save is password-protected (for `passwd`).
    pub fn set_has_password(&mut self, has_password: bool) {
        self.has_password = has_password;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(s.as_bytes().to_vec())
    }

    #[test]
    fn round_trip_with_and_without_password() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(KEYSTORE_FILE);
        for password in [&b""[..], b"correct horse"] {
            let mut ks = Keystore::new(!password.is_empty()).expect("new");
            ks.set("bootstrap.password", value("s3cret")).expect("set");
            ks.save(&path, password).expect("save");
            assert_eq!(Keystore::has_password_at(&path), Ok(!password.is_empty()));
            let loaded = Keystore::load(&path, password).expect("load");
            assert_eq!(loaded.get_str("bootstrap.password"), Some("s3cret"));
            assert!(loaded.contains("keystore.seed"));
            let raw = std::fs::read(&path).expect("raw");
            assert!(!raw.windows(6).any(|w| w == b"s3cret"), "encrypted at rest");
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn wrong_password_and_damage_are_told_apart() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(KEYSTORE_FILE);
        let mut ks = Keystore::new(true).expect("new");
        ks.set("a.b", value("v")).expect("set");
        ks.save(&path, b"pw").expect("save");
        assert_eq!(
            Keystore::load(&path, b"nope").map(|_| ()),
            Err(KeystoreError::WrongPassword)
        );
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        std::fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            Keystore::load(&path, b"pw"),
            Err(KeystoreError::Damaged(_))
        ));
        std::fs::write(&path, b"short").expect("write");
        assert!(matches!(
            Keystore::load(&path, b"pw"),
            Err(KeystoreError::Damaged(_))
        ));
        assert!(matches!(
            Keystore::load(&dir.path().join("missing"), b""),
            Err(KeystoreError::NotFound(_))
        ));
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("xpack.security.http.ssl.keystore.secure_password").is_ok());
        assert!(validate_name("s3.client.default.access_key").is_ok());
        assert!(validate_name("S3.Key_1").is_ok());
        for bad in ["", "has space", "slash/", "colon:x"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_shows_names_only() {
        let mut ks = Keystore::new(false).expect("new");
        ks.set("a.b", value("topsecret")).expect("set");
        assert!(!format!("{ks:?}").contains("topsecret"));
    }
}
