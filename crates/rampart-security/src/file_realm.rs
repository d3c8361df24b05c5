//! The file realm: `config/users` (`username:hash`) and `config/users_roles`
//! (`role:user1,user2`) in Elasticsearch's exact formats, reloaded when they change, and the
//! edits behind `rampart users`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use rampart_config::fsutil::{SECRET_FILE_MODE, write_atomic};

use crate::{RESERVED_USERS, SecretString, hash_password};

pub const USERS_FILE: &str = "users";
pub const USERS_ROLES_FILE: &str = "users_roles";

/// Elasticsearch's rule: 1 to 507 printable Basic Latin characters, no leading or trailing
/// whitespace. `:` is excluded too, since it separates fields in both files.
pub fn validate_username(name: &str) -> Result<(), String> {
    let printable = name.chars().all(|c| (' '..='~').contains(&c) && c != ':');
    if name.is_empty() || name.len() > 507 || !printable || name.trim() != name {
        return Err(format!(
            "invalid username [{name}]: use 1 to 507 printable ASCII characters other than ':', \
             without leading or trailing spaces"
        ));
    }
    if RESERVED_USERS.iter().any(|(reserved, _)| *reserved == name) {
        return Err(format!(
            "invalid username [{name}]: it is a reserved user; choose another name"
        ));
    }
    Ok(())
}

pub fn validate_role_name(name: &str) -> Result<(), String> {
    let printable = name
        .chars()
        .all(|c| (' '..='~').contains(&c) && c != ':' && c != ',');
    if name.is_empty() || name.len() > 507 || !printable || name.trim() != name {
        return Err(format!(
            "invalid role name [{name}]: use 1 to 507 printable ASCII characters other than ':' and ','"
        ));
    }
    Ok(())
}

/// The two files, parsed.
#[derive(Default, Clone, PartialEq, Eq)]
pub struct FileUsers {
    /// username → password hash.
    pub users: BTreeMap<String, String>,
    /// username → roles.
    pub roles: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for FileUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: hashes never reach a log line.
        f.debug_struct("FileUsers")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("roles", &self.roles)
            .finish()
    }
}

fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

impl FileUsers {
    /// Parses both files; bad lines are skipped and reported, as Elasticsearch does.
    pub fn parse(users: &str, users_roles: &str) -> (FileUsers, Vec<String>) {
        let mut out = FileUsers::default();
        let mut problems = Vec::new();
        for (line_no, line) in content_lines(users) {
            match line.split_once(':') {
                Some((name, hash)) if validate_username(name).is_ok() && !hash.is_empty() => {
                    out.users.insert(name.to_string(), hash.to_string());
                }
                _ => problems.push(format!(
                    "{USERS_FILE} line {line_no} is not `username:hash` with a valid username; skipped"
                )),
            }
        }
        for (line_no, line) in content_lines(users_roles) {
            match line.split_once(':') {
                Some((role, names)) if validate_role_name(role).is_ok() => {
                    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        let roles = out.roles.entry(name.to_string()).or_default();
                        if !roles.iter().any(|r| r == role) {
                            roles.push(role.to_string());
                        }
                    }
                }
                _ => problems.push(format!(
                    "{USERS_ROLES_FILE} line {line_no} is not `role:user1,user2`; skipped"
                )),
            }
        }
        (out, problems)
    }

    pub fn render_users(&self) -> String {
        self.users
            .iter()
            .map(|(name, hash)| format!("{name}:{hash}\n"))
            .collect()
    }

    /// `role:user1,user2` lines, roles and users sorted, as elasticsearch-users writes them.
    pub fn render_users_roles(&self) -> String {
        let mut by_role: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (user, roles) in &self.roles {
            for role in roles {
                by_role.entry(role).or_default().push(user);
            }
        }
        by_role
            .iter()
            .map(|(role, users)| format!("{role}:{}\n", users.join(",")))
            .collect()
    }

    pub fn load(config_dir: &Path) -> Result<(FileUsers, Vec<String>), String> {
        let read = |name: &str| match std::fs::read_to_string(config_dir.join(name)) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(format!(
                "cannot read {}: {e}",
                config_dir.join(name).display()
            )),
        };
        Ok(FileUsers::parse(
            &read(USERS_FILE)?,
            &read(USERS_ROLES_FILE)?,
        ))
    }

    /// Writes both files atomically, owner-only (they hold password hashes).
    pub fn save(&self, config_dir: &Path) -> Result<(), String> {
        for (name, text) in [
            (USERS_FILE, self.render_users()),
            (USERS_ROLES_FILE, self.render_users_roles()),
        ] {
            let path = config_dir.join(name);
            write_atomic(&path, text.as_bytes(), SECRET_FILE_MODE)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    pub fn add_user(
        &mut self,
        name: &str,
        password: &SecretString,
        roles: &[String],
    ) -> Result<(), String> {
        validate_username(name)?;
        if self.users.contains_key(name) {
            return Err(format!(
                "user [{name}] already exists: change its password with `rampart users passwd {name}`"
            ));
        }
        for role in roles {
            validate_role_name(role)?;
        }
        check_password(password)?;
        self.users
            .insert(name.to_string(), hash_password(password)?);
        if !roles.is_empty() {
            self.roles.insert(name.to_string(), roles.to_vec());
        }
        Ok(())
    }

    pub fn remove_user(&mut self, name: &str) -> Result<(), String> {
        if self.users.remove(name).is_none() {
            return Err(format!("user [{name}] does not exist in the file realm"));
        }
        self.roles.remove(name);
        Ok(())
    }

    pub fn set_password(&mut self, name: &str, password: &SecretString) -> Result<(), String> {
        check_password(password)?;
        let hash = self
            .users
            .get_mut(name)
            .ok_or_else(|| format!("user [{name}] does not exist in the file realm"))?;
        *hash = hash_password(password)?;
        Ok(())
    }

    pub fn change_roles(
        &mut self,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<(), String> {
        if !self.users.contains_key(name) {
            return Err(format!("user [{name}] does not exist in the file realm"));
        }
        for role in add {
            validate_role_name(role)?;
        }
        let roles = self.roles.entry(name.to_string()).or_default();
        roles.retain(|r| !remove.contains(r));
        for role in add {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        if roles.is_empty() {
            self.roles.remove(name);
        }
        Ok(())
    }
}

/// Elasticsearch's minimum password length.
pub fn check_password(password: &SecretString) -> Result<(), String> {
    if password.expose().chars().count() < 6 {
        return Err("passwords must be at least 6 characters long".to_string());
    }
    Ok(())
}

/// SHA-256 of a file's content, `None` when it cannot be read: how config files are watched.
pub(crate) fn digest(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|bytes| {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    })
}

/// The file realm as the node uses it: the parsed files, re-read when their content changes.
pub struct FileRealm {
    config_dir: PathBuf,
    state: RwLock<FileUsers>,
    seen: Mutex<[Option<[u8; 32]>; 2]>,
}

impl std::fmt::Debug for FileRealm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRealm")
            .field("config_dir", &self.config_dir)
            .finish_non_exhaustive()
    }
}

impl FileRealm {
    pub fn open(config_dir: &Path) -> Result<FileRealm, String> {
        let seen = [
            digest(&config_dir.join(USERS_FILE)),
            digest(&config_dir.join(USERS_ROLES_FILE)),
        ];
        let (users, problems) = FileUsers::load(config_dir)?;
        for problem in problems {
            tracing::warn!("file realm: {problem}");
        }
        Ok(FileRealm {
            config_dir: config_dir.to_path_buf(),
            state: RwLock::new(users),
            seen: Mutex::new(seen),
        })
    }

    /// Re-reads the files if their content changed; true when the users changed.
    pub fn reload_if_changed(&self) -> bool {
        let now = [
            digest(&self.config_dir.join(USERS_FILE)),
            digest(&self.config_dir.join(USERS_ROLES_FILE)),
        ];
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *seen == now {
            return false;
        }
        *seen = now;
        match FileUsers::load(&self.config_dir) {
            Ok((users, problems)) => {
                for problem in problems {
                    tracing::warn!("file realm: {problem}");
                }
                let mut state = match self.state.write() {
                    Ok(s) => s,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let changed = *state != users;
                *state = users;
                if changed {
                    tracing::info!("file realm: reloaded users and users_roles");
                }
                changed
            }
            Err(e) => {
                tracing::error!("file realm: {e}; the previous users stay in effect");
                false
            }
        }
    }

    /// The user's password hash and roles.
    pub fn lookup(&self, username: &str) -> Option<(String, Vec<String>)> {
        let state = match self.state.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let hash = state.users.get(username)?.clone();
        Some((hash, state.roles.get(username).cloned().unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_password;

    #[test]
    fn parses_and_renders_elasticsearch_formats() {
        let users = "# comment\njdoe:$2a$10$abcdefghijklmnopqrstuuJ5iGQXtQmVf0WwA2bXrBF1Fq6LqYB7S\n\nbad line\nelastic:$2a$10$x\n";
        let roles = "admin:jdoe\nviewer:jdoe,ghost\nbroken\n";
        let (parsed, problems) = FileUsers::parse(users, roles);
        assert_eq!(parsed.users.keys().collect::<Vec<_>>(), ["jdoe"]);
        assert_eq!(parsed.roles["jdoe"], ["admin", "viewer"]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert_eq!(
            parsed.render_users_roles(),
            "admin:jdoe\nviewer:ghost,jdoe\n"
        );
    }

    #[test]
    fn edits_validate_and_hash() {
        let mut users = FileUsers::default();
        let pw = SecretString::from("s3cret-pw");
        users
            .add_user("app_optimize", &pw, &["optimize_writer".to_string()])
            .expect("add");
        assert!(verify_password(&pw, &users.users["app_optimize"]));
        assert!(users.users["app_optimize"].starts_with("$2a$"));
        assert!(users.add_user("app_optimize", &pw, &[]).is_err(), "exists");
        assert!(users.add_user("elastic", &pw, &[]).is_err(), "reserved");
        assert!(users.add_user(" padded", &pw, &[]).is_err());
        assert!(
            users
                .add_user("short", &SecretString::from("12345"), &[])
                .is_err()
        );
        users
            .change_roles(
                "app_optimize",
                &["viewer".to_string()],
                &["optimize_writer".to_string()],
            )
            .expect("roles");
        assert_eq!(users.roles["app_optimize"], ["viewer"]);
        users.remove_user("app_optimize").expect("remove");
        assert!(users.users.is_empty() && users.roles.is_empty());
        assert!(!format!("{users:?}").contains("$2a$"));
    }

    #[test]
    fn the_realm_reloads_changed_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let realm = FileRealm::open(dir.path()).expect("open");
        assert!(realm.lookup("jdoe").is_none());
        let mut users = FileUsers::default();
        users
            .add_user(
                "jdoe",
                &SecretString::from("s3cret-pw"),
                &["viewer".to_string()],
            )
            .expect("add");
        users.save(dir.path()).expect("save");
        assert!(realm.reload_if_changed());
        assert_eq!(realm.lookup("jdoe").expect("user").1, ["viewer"]);
        assert!(!realm.reload_if_changed(), "unchanged");
    }
}
