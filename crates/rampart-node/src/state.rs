//! The node's persistent identity under `data/_state/`: its id and its cluster's UUID.

use std::path::Path;

use base64::Engine;
use rampart_config::fsutil::{PUBLIC_FILE_MODE, create_dir_durable, write_atomic};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeState {
    pub node_id: String,
    pub cluster_uuid: String,
}

fn random_id() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness: {e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl NodeState {
    /// Loads the state, creating it on a node's first start.
    pub fn load_or_create(data: &Path) -> Result<NodeState, String> {
        let dir = data.join("_state");
        let path = dir.join("node.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is damaged ({e}): restore it from a backup",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let state = NodeState {
                    node_id: random_id()?,
                    cluster_uuid: random_id()?,
                };
                create_dir_durable(&dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let json = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
                write_atomic(&path, &json, PUBLIC_FILE_MODE)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(state)
            }
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_across_starts() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = NodeState::load_or_create(dir.path()).expect("create");
        let again = NodeState::load_or_create(dir.path()).expect("load");
        assert_eq!(first, again);
        assert_eq!(first.cluster_uuid.len(), 22);
    }
}
