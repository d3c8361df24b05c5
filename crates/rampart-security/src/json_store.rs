//! A small durable store: one JSON file, owner-only, replaced atomically. Changes are applied
//! to a copy, written and fsynced, and only then made visible, so nothing is acknowledged that a
//! crash could lose and a failed write changes nothing.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use rampart_config::fsutil::{SECRET_FILE_MODE, create_dir_durable, write_atomic};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::RealmError;

pub(crate) struct JsonStore<T> {
    path: PathBuf,
    value: RwLock<T>,
}

impl<T> std::fmt::Debug for JsonStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path only: stores hold hashes.
        f.debug_struct("JsonStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T: Serialize + DeserializeOwned + Clone + Default> JsonStore<T> {
    /// Opens `path`; a missing file is an empty store.
    pub(crate) fn open(path: PathBuf) -> Result<Self, String> {
        let value = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is damaged ({e}): restore it from a backup",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(JsonStore {
            path,
            value: RwLock::new(value),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        match self.value.read() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Applies `change` to a copy, writes it durably, then makes it visible.
    pub(crate) fn update<R>(
        &self,
        change: impl FnOnce(&mut T) -> Result<R, String>,
    ) -> Result<R, RealmError> {
        let mut value = match self.value.write() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = value.clone();
        let result = change(&mut next).map_err(RealmError::Invalid)?;
        let json =
            serde_json::to_vec_pretty(&next).map_err(|e| RealmError::Storage(e.to_string()))?;
        if let Some(dir) = self.path.parent() {
            create_dir_durable(dir).map_err(|e| {
                RealmError::Storage(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        write_atomic(&self.path, &json, SECRET_FILE_MODE).map_err(|e| {
            RealmError::Storage(format!("cannot write {}: {e}", self.path.display()))
        })?;
        *value = next;
        Ok(result)
    }
}
