//! Certificate reloading: the files behind a TLS configuration are polled, and a valid change
//! replaces the configuration used by new connections; an invalid one keeps the old.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::ServerConfig;

use crate::tls::{BuiltServerConfig, TlsError, sha256};

type Builder = dyn Fn() -> Result<BuiltServerConfig, TlsError> + Send + Sync;

/// Content digests of the watched files; `None` for a file that could not be read.
type Fingerprints = Vec<(PathBuf, Option<[u8; 32]>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    Unchanged,
    Reloaded,
    /// The files changed but do not form a valid configuration; the old one stays in use.
    Rejected(TlsError),
}

pub struct ReloadingServerConfig {
    layer: &'static str,
    current: RwLock<Arc<ServerConfig>>,
    build: Box<Builder>,
    seen: Mutex<Fingerprints>,
}

impl std::fmt::Debug for ReloadingServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingServerConfig")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

fn fingerprint(files: &[PathBuf]) -> Fingerprints {
    files
        .iter()
        .map(|path| (path.clone(), std::fs::read(path).ok().map(|b| sha256(&b))))
        .collect()
}

/// What a build read, in the same form as a fingerprint of the disk.
fn as_read(built: &BuiltServerConfig) -> Fingerprints {
    built
        .files
        .iter()
        .map(|(path, digest)| (path.clone(), Some(*digest)))
        .collect()
}

impl ReloadingServerConfig {
    /// Builds the initial configuration; an error here stops the node's start.
    pub fn new(
        layer: &'static str,
        build: impl Fn() -> Result<BuiltServerConfig, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let built = build()?;
        Ok(ReloadingServerConfig {
            layer,
            // What was read, not what is on disk now: a file replaced in between is then seen
            // as a change on the next poll instead of being missed.
            seen: Mutex::new(as_read(&built)),
            current: RwLock::new(built.config),
            build: Box::new(build),
        })
    }

    /// The configuration a new connection should use.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the watched files and swaps the configuration if they changed into a valid one.
    pub fn check_for_changes(&self) -> ReloadOutcome {
        let mut seen = match self.seen.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let files: Vec<PathBuf> = seen.iter().map(|(p, _)| p.clone()).collect();
        let now = fingerprint(&files);
        if now == *seen {
            return ReloadOutcome::Unchanged;
        }
        // Remember what was seen either way, so one bad edit is reported once, not every poll.
        *seen = now;
        match (self.build)() {
            Ok(built) => {
                *seen = as_read(&built);
                match self.current.write() {
                    Ok(mut guard) => *guard = built.config,
                    Err(poisoned) => *poisoned.into_inner() = built.config,
                }
                tracing::info!(
                    "reloaded the {} layer's TLS material from {}",
                    self.layer,
                    files
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                ReloadOutcome::Reloaded
            }
            Err(error) => {
                tracing::error!(
                    "the {} layer's TLS material changed on disk but cannot be used, so the previous \
                     material stays in use: {error}",
                    self.layer
                );
                ReloadOutcome::Rejected(error)
            }
        }
    }

    /// Polls every `interval` until the runtime stops.
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let this = Arc::clone(&this);
                // File reads and key parsing are blocking work.
                let _ = tokio::task::spawn_blocking(move || this.check_for_changes()).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        CertificateAuthority, KeyUsage, Layer, Validity, build_server_config, write_pkcs12,
    };
    use rampart_config::{SecureSettings, Settings};

    fn write_p12(path: &std::path::Path, ca: &CertificateAuthority, name: &str) {
        let leaf = ca
            .issue(
                name,
                &[name.to_string()],
                &[],
                KeyUsage::Server,
                Validity::default(),
            )
            .expect("leaf");
        let bytes =
            write_pkcs12("http", &leaf.key_pkcs8, &[leaf.certificate], &[], "").expect("p12");
        std::fs::write(path, &*bytes).expect("write");
    }

    #[test]
    fn valid_changes_swap_and_invalid_ones_keep_the_old_config() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = CertificateAuthority::generate("ca", Validity::default()).expect("ca");
        let p12 = dir.path().join("http.p12");
        write_p12(&p12, &ca, "one");
        let config_dir = dir.path().to_path_buf();
        let reloading = ReloadingServerConfig::new("http", move || {
            let s = Settings::from_pairs(&[("xpack.security.http.ssl.keystore.path", "http.p12")])
                .expect("settings");
            build_server_config(&s, &SecureSettings::default(), Layer::Http, &config_dir)
        })
        .expect("initial");
        let first = reloading.current();
        assert_eq!(reloading.check_for_changes(), ReloadOutcome::Unchanged);

        write_p12(&p12, &ca, "two");
        assert_eq!(reloading.check_for_changes(), ReloadOutcome::Reloaded);
        let second = reloading.current();
        assert!(!Arc::ptr_eq(&first, &second));

        std::fs::write(&p12, b"garbage").expect("break it");
        let outcome = reloading.check_for_changes();
        assert!(
            matches!(&outcome, ReloadOutcome::Rejected(e) if e.0.contains("http.p12")),
            "{outcome:?}"
        );
        assert!(Arc::ptr_eq(&second, &reloading.current()));
        assert_eq!(
            reloading.check_for_changes(),
            ReloadOutcome::Unchanged,
            "reported once"
        );
    }
}
