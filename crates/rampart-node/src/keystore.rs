//! The node's side of the keystore: opening it at start (password from
//! `RAMPART_KEYSTORE_PASSPHRASE_FILE` or a terminal prompt), migrating the interim secure
//! settings file of earlier versions, and checking that every entry is a setting Rampart knows.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use rampart_config::{INTERIM_SECURE_SETTINGS_FILE, SecureSettings};
use rampart_keystore::{KEYSTORE_FILE, Keystore, passphrase_from_env_file};
use zeroize::Zeroizing;

/// The open keystore and what it takes to save it again.
pub struct NodeKeystore {
    pub keystore: Keystore,
    password: Zeroizing<String>,
    path: PathBuf,
}

impl std::fmt::Debug for NodeKeystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeystore")
            .field("path", &self.path)
            .field("keystore", &self.keystore)
            .finish_non_exhaustive()
    }
}

impl NodeKeystore {
    pub fn open(config_dir: &Path) -> Result<NodeKeystore, String> {
        let path = config_dir.join(KEYSTORE_FILE);
        if !Keystore::exists(&path) {
            return Ok(NodeKeystore {
                keystore: Keystore::new(false).map_err(|e| e.to_string())?,
                password: Zeroizing::new(String::new()),
                path,
            });
        }
        let has_password = Keystore::has_password_at(&path).map_err(|e| e.to_string())?;
        let password = if !has_password {
            Zeroizing::new(String::new())
        } else if let Some(pw) = passphrase_from_env_file()? {
            pw
        } else if std::io::stdin().is_terminal() {
            rpassword::prompt_password("Enter password for the rampart keystore: ")
                .map(Zeroizing::new)
                .map_err(|e| format!("cannot read the keystore password: {e}"))?
        } else {
            return Err(format!(
                "the keystore {} is password-protected and there is no terminal to ask for the \
                 password: put it in a file readable only by this user and set \
                 {}=/path/to/that/file",
                path.display(),
                rampart_keystore::PASSPHRASE_FILE_ENV
            ));
        };
        let keystore = Keystore::load(&path, password.as_bytes())
            .map_err(|e| format!("cannot open the keystore {}: {e}", path.display()))?;
        if !has_password && std::env::var_os(rampart_keystore::PASSPHRASE_FILE_ENV).is_some() {
            tracing::warn!(
                "{} is set, but the keystore {} has no password: its contents are only obfuscated. \
                 Protect it with `rampart keystore passwd`",
                rampart_keystore::PASSPHRASE_FILE_ENV,
                path.display()
            );
        } else if !has_password {
            tracing::info!(
                "the keystore has no password, so its contents are obfuscated rather than protected: \
                 set one with `rampart keystore passwd`"
            );
        }
        Ok(NodeKeystore {
            keystore,
            password,
            path,
        })
    }

    pub fn save(&mut self) -> Result<(), String> {
        self.keystore
            .save(&self.path, self.password.as_bytes())
            .map_err(|e| format!("cannot write the keystore {}: {e}", self.path.display()))
    }

    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.keystore
            .set(name, Zeroizing::new(value.as_bytes().to_vec()))
            .map_err(|e| e.to_string())
    }

    /// Moves the secrets of `config/secure-settings.json` (written by earlier versions) into the
    /// keystore and deletes that file. Entries already in the keystore win.
    pub fn migrate_interim_file(&mut self, config_dir: &Path) -> Result<(), String> {
        let interim = config_dir.join(INTERIM_SECURE_SETTINGS_FILE);
        if !interim.exists() {
            return Ok(());
        }
        let values = SecureSettings::load_interim(config_dir).map_err(|e| e.to_string())?;
        let mut moved = Vec::new();
        for (name, value) in values.into_entries() {
            if !self.keystore.contains(&name) {
                self.set(&name, &value)?;
                moved.push(name);
            }
        }
        self.save()?;
        std::fs::remove_file(&interim)
            .map_err(|e| format!("cannot remove {}: {e}", interim.display()))?;
        tracing::info!(
            "moved {} secure setting(s) from {} into the keystore {}",
            moved.len(),
            interim.display(),
            self.path.display()
        );
        Ok(())
    }

    /// Every entry must be a secure setting Rampart knows, as Elasticsearch insists.
    pub fn validate(&self) -> Result<(), String> {
        for name in self.keystore.names() {
            if name == "keystore.seed" {
                continue;
            }
            let known = rampart_config::lookup(name)
                .and_then(|def| def.keystore_only())
                .is_some_and(|secure_name| secure_name == name);
            if !known {
                let hint = rampart_config::nearest(name)
                    .map(|n| format!(" (did you mean [{n}]?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "the keystore holds [{name}], which is not a secure setting Rampart knows{hint}: \
                     remove it with `rampart keystore remove {name}`"
                ));
            }
        }
        Ok(())
    }

    /// The string entries, as the TLS layers and realms read them.
    pub fn secure_settings(&self) -> SecureSettings {
        let mut secure = SecureSettings::default();
        for name in self.keystore.names() {
            if let Some(value) = self.keystore.get_str(name) {
                secure.insert(name, Zeroizing::new(value.to_string()));
            }
        }
        secure
    }
}
