//! The home layout: `config/`, `data/`, `logs/`, as in an Elasticsearch distribution.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rampart_config::Settings;

pub const CONFIG_FILE: &str = "rampart.yml";
/// Held locked while a node runs; its presence alone does not make a data directory "used".
pub const LOCK_FILE: &str = "node.lock";

#[derive(Debug, Clone)]
pub struct Home {
    pub root: PathBuf,
    pub config: PathBuf,
    pub data: PathBuf,
    pub logs: PathBuf,
}

impl Home {
    /// The layout before settings are read: `path.data` and `path.logs` may move data and logs.
    pub fn new(root: PathBuf) -> Home {
        Home {
            config: root.join("config"),
            data: root.join("data"),
            logs: root.join("logs"),
            root,
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join(CONFIG_FILE)
    }

    /// Applies `path.data` and `path.logs` (relative paths are relative to the home).
    pub fn with_settings(mut self, settings: &Settings) -> Home {
        let resolve = |p: String| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                self.root.join(p)
            }
        };
        if let Some(data) = settings.get("path.data") {
            self.data = resolve(data);
        }
        if let Some(logs) = settings.get("path.logs") {
            self.logs = resolve(logs);
        }
        self
    }

    /// Creates the directories: config and data owner-only, since they hold keys and hashes.
    pub fn create_dirs(&self) -> Result<(), String> {
        for (dir, mode) in [
            (&self.config, 0o700),
            (&self.data, 0o700),
            (&self.logs, 0o750),
        ] {
            DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(())
    }
}

/// True when `dir` is missing or holds nothing but `ignoring`: the "fresh node" test of
/// auto-configuration.
pub fn is_empty_dir(dir: &Path, ignoring: &[&str]) -> Result<bool, String> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .all(|e| ignoring.iter().any(|name| e.file_name() == *name))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}

/// An exclusive lock on the data directory, held for the node's life, so two nodes never
/// share one data directory.
#[derive(Debug)]
pub struct DataLock {
    _file: fs::File,
}

impl DataLock {
    pub fn acquire(data: &Path) -> Result<DataLock, String> {
        let path = data.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |_| {
                format!(
                    "another Rampart node is already using the data directory {}: stop it, or give \
                     this node its own --home or path.data",
                    data.display()
                )
            },
        )?;
        Ok(DataLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_data_dir_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = DataLock::acquire(dir.path()).expect("first");
        let err = DataLock::acquire(dir.path()).expect_err("second");
        assert!(err.contains("already using"), "{err}");
        drop(first);
        DataLock::acquire(dir.path()).expect("after release");
    }

    #[test]
    fn path_settings_move_data_and_logs() {
        let s =
            Settings::from_pairs(&[("path.data", "/var/lib/x"), ("path.logs", "l")]).expect("s");
        let home = Home::new(PathBuf::from("/opt/r")).with_settings(&s);
        assert_eq!(home.data, PathBuf::from("/var/lib/x"));
        assert_eq!(home.logs, PathBuf::from("/opt/r/l"));
    }
}
