//! Rampart's settings: the registry of every setting a node understands, under Elasticsearch's
//! names, and the loading of `config/rampart.yml`, `-E key=value` overrides and `${ENV}`
//! placeholders into one validated [`Settings`] value.
//!
//! This crate owns what a setting is called, what values it accepts and where a value came from,
//! so that every error can name the key, the file and the fix.
//!
//! It must never accept a secret (a password or passphrase) from plain YAML or the command line
//! where Elasticsearch requires the keystore: such a value is refused with the command that
//! stores it properly.
#![forbid(unsafe_code)]

pub mod fsutil;
mod registry;
mod secure;
mod time;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use registry::{
    Kind, SettingDef, lookup, nearest, parse_byte_size, parse_port_range, registry,
};
pub use secure::{INTERIM_SECURE_SETTINGS_FILE, SecureSettings, SecureSettingsError};
pub use time::parse_time_value;

/// Where a setting's value came from, so errors can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    CommandLine,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "{}", path.display()),
            Source::CommandLine => f.write_str("the command line (-E)"),
            Source::Default => f.write_str("the built-in defaults"),
        }
    }
}

/// A raw setting value: a scalar or a list, exactly as Elasticsearch flattens YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Scalar(String),
    List(Vec<String>),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Scalar(s) => s.clone(),
            Value::List(items) => format!("[{}]", items.join(", ")),
        }
    }
}

#[derive(Debug)]
pub enum ConfigError {
    UnknownSetting {
        key: String,
        source: Source,
        suggestion: Option<&'static str>,
    },
    InvalidValue {
        key: String,
        value: String,
        source: Source,
        reason: String,
    },
    SecureSettingInPlainText {
        key: String,
        source: Source,
        keystore_name: String,
    },
    DuplicateKey {
        key: String,
        source: Source,
    },
    UnresolvedPlaceholder {
        key: String,
        variable: String,
        source: Source,
    },
    Syntax {
        source: Source,
        message: String,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    BadOverride {
        argument: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownSetting {
                key,
                source,
                suggestion,
            } => {
                write!(f, "unknown setting [{key}] in {source}")?;
                match suggestion {
                    Some(near) => write!(f, ": did you mean [{near}]?"),
                    None => write!(
                        f,
                        ": remove it, or see the settings list in the README for the names Rampart understands"
                    ),
                }
            }
            ConfigError::InvalidValue {
                key,
                value,
                source,
                reason,
            } => write!(
                f,
                "invalid value [{value}] for setting [{key}] in {source}: {reason}"
            ),
            ConfigError::SecureSettingInPlainText {
                key,
                source,
                keystore_name,
            } => write!(
                f,
                "setting [{key}] in {source} holds a secret and must not be given in plain text: \
                 remove it there and store it in the keystore with \
                 `rampart keystore add {keystore_name}`"
            ),
            ConfigError::DuplicateKey { key, source } => write!(
                f,
                "setting [{key}] is given more than once in {source} (as nested and as dotted keys?): keep one"
            ),
            ConfigError::UnresolvedPlaceholder {
                key,
                variable,
                source,
            } => write!(
                f,
                "setting [{key}] in {source} refers to the environment variable [{variable}], which is not set: \
                 set it, or give a default as ${{{variable}:default}}"
            ),
            ConfigError::Syntax { source, message } => {
                write!(f, "cannot parse {source}: {message}")
            }
            ConfigError::Io { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ConfigError::BadOverride { argument } => write!(
                f,
                "invalid -E argument [{argument}]: expected -E key=value, e.g. -E http.port=9200"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
struct Entry {
    value: Value,
    source: Source,
}

/// Validated settings of one node start: every key is known and every value parses.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    entries: BTreeMap<String, Entry>,
}

impl Settings {
    /// Loads `file` (if it exists) and applies `overrides` (`key=value` strings) on top.
    /// `env` resolves `${VAR}` placeholders; pass `|name| std::env::var(name).ok()` in production.
    pub fn load(
        file: &Path,
        overrides: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => {
                return Err(ConfigError::Io {
                    path: file.to_path_buf(),
                    error,
                });
            }
        };
        let mut settings = Settings::parse(&text, Source::File(file.to_path_buf()), env)?;
        for argument in overrides {
            let (key, value) =
                argument
                    .split_once('=')
                    .ok_or_else(|| ConfigError::BadOverride {
                        argument: argument.clone(),
                    })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(ConfigError::BadOverride {
                    argument: argument.clone(),
                });
            }
            // A later -E wins over the file and over an earlier -E, as in Elasticsearch.
            settings.entries.remove(key);
            settings.insert(
                key.to_string(),
                Value::Scalar(value.to_string()),
                Source::CommandLine,
                env,
            )?;
        }
        Ok(settings)
    }

    /// Settings from elasticsearch.yml text; `source` is what errors name.
    pub fn parse(
        text: &str,
        source: Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        for (key, value) in yaml::flatten(text, &source)? {
            settings.insert(key, value, source.clone(), env)?;
        }
        Ok(settings)
    }

    /// Settings from `key=value` pairs only; for tests and tools.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        for (key, value) in pairs {
            settings.insert(
                key.to_string(),
                Value::Scalar(value.to_string()),
                Source::CommandLine,
                &|_| None,
            )?;
        }
        Ok(settings)
    }

    fn insert(
        &mut self,
        key: String,
        value: Value,
        source: Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let def = registry::lookup(&key).ok_or_else(|| ConfigError::UnknownSetting {
            suggestion: registry::nearest(&key),
            key: key.clone(),
            source: source.clone(),
        })?;
        // Before anything looks at the value, so no error about it can ever echo a secret.
        if let Some(keystore_name) = def.keystore_only() {
            return Err(ConfigError::SecureSettingInPlainText {
                key,
                source,
                keystore_name: keystore_name.to_string(),
            });
        }
        let value = match value {
            Value::Scalar(s) => Value::Scalar(resolve_placeholders(&key, &s, &source, env)?),
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|s| resolve_placeholders(&key, s, &source, env))
                    .collect::<Result<_, _>>()?,
            ),
        };
        def.kind
            .validate(&value)
            .map_err(|reason| ConfigError::InvalidValue {
                key: key.clone(),
                value: value.describe(),
                source: source.clone(),
                reason,
            })?;
        if self.entries.contains_key(&key) {
            return Err(ConfigError::DuplicateKey { key, source });
        }
        self.entries.insert(key, Entry { value, source });
        Ok(())
    }

    /// True when the setting was given explicitly (file or -E), not defaulted.
    pub fn is_set(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Every explicitly given key, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Where an explicitly set key came from.
    pub fn source_of(&self, key: &str) -> Source {
        self.entries
            .get(key)
            .map(|e| e.source.clone())
            .unwrap_or(Source::Default)
    }

    /// The scalar value of a setting: the given one or the registry default.
    /// Panics in debug builds if `key` is not registered, since that is a programming error.
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(entry) = self.entries.get(key) {
            return Some(match &entry.value {
                Value::Scalar(s) => s.clone(),
                Value::List(items) => items.join(","),
            });
        }
        let def = registry::lookup(key);
        debug_assert!(def.is_some(), "setting [{key}] is not registered");
        def.and_then(|d| d.default).map(str::to_string)
    }

    /// A list setting: YAML sequences, or comma-separated scalars as Elasticsearch accepts.
    pub fn get_list(&self, key: &str) -> Vec<String> {
        match self.entries.get(key).map(|e| &e.value) {
            Some(Value::List(items)) => items.clone(),
            Some(Value::Scalar(s)) => split_list(s),
            None => self.get(key).map(|s| split_list(&s)).unwrap_or_default(),
        }
    }

    pub fn get_bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| v == "true")
    }

    /// Overlays `other`'s explicit entries on top of these (used to apply a generated block).
    pub fn with_overlay(mut self, other: &Settings) -> Settings {
        for (key, entry) in &other.entries {
            self.entries.insert(key.clone(), entry.clone());
        }
        self
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Replaces `${VAR}` and `${VAR:default}` with environment values, as elasticsearch.yml does.
fn resolve_placeholders(
    key: &str,
    value: &str,
    source: &Source,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(ConfigError::InvalidValue {
                key: key.to_string(),
                value: value.to_string(),
                source: source.clone(),
                reason: "unterminated ${...} placeholder: close it with }".to_string(),
            });
        };
        let inner = &after[..end];
        let (name, default) = match inner.split_once(':') {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match env(name).or_else(|| default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(ConfigError::UnresolvedPlaceholder {
                    key: key.to_string(),
                    variable: name.to_string(),
                    source: source.clone(),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_yaml(text: &str, overrides: &[&str]) -> Result<Settings, ConfigError> {
        let dir = std::env::temp_dir().join(format!(
            "rampart-config-test-{}-{}",
            std::process::id(),
            text.len() + overrides.len() * 1000
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join(format!("rampart-{:x}.yml", fxhash(text)));
        std::fs::write(&file, text).expect("write");
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let env = |name: &str| match name {
            "NODE_NAME" => Some("from-env".to_string()),
            _ => None,
        };
        let result = Settings::load(&file, &overrides, &env);
        let _ = std::fs::remove_file(&file);
        result
    }

    fn fxhash(s: &str) -> u64 {
        s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        })
    }

    #[test]
    fn nested_and_dotted_keys_flatten_to_the_same_names() {
        let s = load_yaml(
            "cluster.name: prod\nxpack:\n  security:\n    http.ssl:\n      enabled: false\n",
            &[],
        )
        .expect("valid");
        assert_eq!(s.get("cluster.name").as_deref(), Some("prod"));
        assert!(!s.get_bool("xpack.security.http.ssl.enabled"));
        assert!(s.is_set("xpack.security.http.ssl.enabled"));
    }

    #[test]
    fn defaults_apply_when_unset() {
        let s = load_yaml("", &[]).expect("valid");
        assert_eq!(s.get("cluster.name").as_deref(), Some("rampart"));
        assert_eq!(s.get("http.port").as_deref(), Some("9200-9300"));
        assert!(!s.is_set("cluster.name"));
    }

    #[test]
    fn env_placeholders_resolve_with_defaults() {
        let s = load_yaml(
            "node.name: ${NODE_NAME}\ncluster.name: ${MISSING:fallback}\n",
            &[],
        )
        .expect("valid");
        assert_eq!(s.get("node.name").as_deref(), Some("from-env"));
        assert_eq!(s.get("cluster.name").as_deref(), Some("fallback"));
        let err = load_yaml("node.name: ${NOT_SET_ANYWHERE}\n", &[]).expect_err("unresolved");
        assert!(err.to_string().contains("NOT_SET_ANYWHERE"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_file_and_nearest_known_key() {
        let err = load_yaml("xpack.security.http.key: server.key\n", &[]).expect_err("unknown");
        let msg = err.to_string();
        assert!(msg.contains("[xpack.security.http.key]"), "{msg}");
        assert!(msg.contains("rampart-"), "names the file: {msg}");
        assert!(
            msg.contains("did you mean [xpack.security.http.ssl.key]"),
            "{msg}"
        );
        let err = load_yaml("", &["htp.port=9200"]).expect_err("unknown");
        assert!(
            err.to_string().contains("did you mean [http.port]"),
            "{err}"
        );
        assert!(err.to_string().contains("command line"), "{err}");
    }

    #[test]
    fn secrets_in_plain_yaml_are_refused_with_the_keystore_command() {
        let err = load_yaml("xpack.security.http.ssl.keystore.password: hunter2\n", &[])
            .expect_err("secret");
        let msg = err.to_string();
        assert!(
            msg.contains("rampart keystore add xpack.security.http.ssl.keystore.secure_password"),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "never echo the secret: {msg}");
        let err = load_yaml("bootstrap.password: hunter2\n", &[]).expect_err("secret");
        assert!(
            err.to_string()
                .contains("rampart keystore add bootstrap.password")
        );
    }

    #[test]
    fn overrides_win_over_the_file() {
        let s =
            load_yaml("http.port: 9201\n", &["http.port=9999", "node.name=a=b"]).expect("valid");
        assert_eq!(s.get("http.port").as_deref(), Some("9999"));
        assert_eq!(s.get("node.name").as_deref(), Some("a=b"));
        assert_eq!(s.source_of("http.port"), Source::CommandLine);
        let err = load_yaml("", &["novalue"]).expect_err("bad");
        assert!(err.to_string().contains("-E key=value"));
    }

    #[test]
    fn invalid_values_are_refused_with_the_reason() {
        for (yaml, needle) in [
            ("http.port: 70000\n", "http.port"),
            ("http.port: 9300-9200\n", "range"),
            ("xpack.security.enabled: yes\n", "true or false"),
            (
                "xpack.security.http.ssl.client_authentication: sometimes\n",
                "none, optional, required",
            ),
            (
                "xpack.security.http.ssl.supported_protocols: [TLSv1.1]\n",
                "TLSv1.2",
            ),
            ("resource.reload.interval.high: 5 parsecs\n", "time unit"),
            ("discovery.type: multi\n", "single-node"),
        ] {
            let err = load_yaml(yaml, &[]).expect_err(yaml);
            assert!(err.to_string().contains(needle), "{yaml}: {err}");
        }
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = load_yaml("http.port: 1\nhttp:\n  port: 2\n", &[]).expect_err("dup");
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn lists_accept_sequences_and_commas() {
        let s = load_yaml(
            "xpack.security.http.ssl.supported_protocols: [TLSv1.3, TLSv1.2]\nxpack.security.transport.ssl.supported_protocols: TLSv1.3,TLSv1.2\n",
            &[],
        )
        .expect("valid");
        assert_eq!(
            s.get_list("xpack.security.http.ssl.supported_protocols"),
            vec!["TLSv1.3", "TLSv1.2"]
        );
        assert_eq!(
            s.get_list("xpack.security.transport.ssl.supported_protocols"),
            vec!["TLSv1.3", "TLSv1.2"]
        );
    }

    #[test]
    fn yaml_syntax_errors_name_the_file() {
        let err = load_yaml("http.port: [unclosed\n", &[]).expect_err("syntax");
        assert!(err.to_string().contains("cannot parse"), "{err}");
    }
}
