//! Secure settings: values that Elasticsearch keeps in its keystore (passwords, passphrases),
//! held in memory for the node, zeroized on drop.
//!
//! They come from `config/rampart.keystore`. Before the keystore existed, auto-configuration
//! kept its secrets in `config/secure-settings.json`; [`SecureSettings::load_interim`] reads that
//! file once so the node can migrate it into the keystore and delete it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub const INTERIM_SECURE_SETTINGS_FILE: &str = "secure-settings.json";

#[derive(Default)]
pub struct SecureSettings {
    values: BTreeMap<String, Zeroizing<String>>,
}

impl std::fmt::Debug for SecureSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: values never reach a log.
        f.debug_set().entries(self.values.keys()).finish()
    }
}

#[derive(Debug)]
pub struct SecureSettingsError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for SecureSettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for SecureSettingsError {}

impl SecureSettings {
    /// Reads the interim file of earlier versions from `config_dir`; a missing file means none.
    pub fn load_interim(config_dir: &Path) -> Result<SecureSettings, SecureSettingsError> {
        let path = config_dir.join(INTERIM_SECURE_SETTINGS_FILE);
        let text = match std::fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SecureSettings::default());
            }
            Err(e) => {
                return Err(SecureSettingsError {
                    path,
                    message: format!("cannot read: {e}"),
                });
            }
        };
        let map: BTreeMap<String, String> =
            serde_json::from_slice(&text).map_err(|e| SecureSettingsError {
                path: path.clone(),
                // Line and column only: serde's own message may quote a secret value.
                message: format!(
                    "not a valid secure settings file (a JSON object of strings; the problem is at \
                     line {}, column {}): restore it from a backup, or remove it and the \
                     certificates it unlocks under config/certs/",
                    e.line(),
                    e.column()
                ),
            })?;
        let values = map
            .into_iter()
            .map(|(k, v)| (k, Zeroizing::new(v)))
            .collect();
        Ok(SecureSettings { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.as_str())
    }

    pub fn insert(&mut self, name: &str, value: Zeroizing<String>) {
        self.values.insert(name.to_string(), value);
    }

    /// Every name and value, for moving them elsewhere (the keystore).
    pub fn into_entries(self) -> impl Iterator<Item = (String, Zeroizing<String>)> {
        self.values.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_interim_file_and_never_debug_prints_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(INTERIM_SECURE_SETTINGS_FILE),
            r#"{"xpack.security.http.ssl.keystore.secure_password": "s3cret"}"#,
        )
        .expect("write");
        let loaded = SecureSettings::load_interim(dir.path()).expect("load");
        assert_eq!(
            loaded.get("xpack.security.http.ssl.keystore.secure_password"),
            Some("s3cret")
        );
        assert!(!format!("{loaded:?}").contains("s3cret"));
    }

    #[test]
    fn a_damaged_file_is_reported_without_its_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(INTERIM_SECURE_SETTINGS_FILE),
            r#"{"bootstrap.password": 123456}"#,
        )
        .expect("write");
        let err = SecureSettings::load_interim(dir.path())
            .expect_err("damaged")
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("123456"), "{err}");
    }
}
