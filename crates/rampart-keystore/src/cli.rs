//! The `rampart keystore` commands, written against a [`Terminal`] so they can be tested
//! without one. Semantics follow `elasticsearch-keystore`.

use std::path::Path;

use zeroize::Zeroizing;

use crate::{Keystore, KeystoreError, validate_name};

/// Where a command reads secrets and answers from, and where it reports.
pub trait Terminal {
    /// True when a person is at the keyboard (prompts and confirmations make sense).
    fn is_interactive(&self) -> bool;
    /// Reads a secret: a hidden prompt on a terminal, else the next line of standard input.
    fn read_secret(&mut self, prompt: &str) -> Result<Zeroizing<String>, String>;
    /// Asks a yes/no question; only called when interactive.
    fn confirm(&mut self, question: &str) -> Result<bool, String>;
    fn print(&mut self, text: &str);
    /// Writes a value as it is (for `show` of a binary value).
    fn print_bytes(&mut self, bytes: &[u8]);
    fn warn(&mut self, text: &str);
    /// The keystore password from `RAMPART_KEYSTORE_PASSPHRASE_FILE`, if set.
    fn passphrase_from_file(&self) -> Result<Option<Zeroizing<String>>, String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Create {
        password: bool,
    },
    List,
    Add {
        names: Vec<String>,
        force: bool,
    },
    AddFile {
        name: String,
        file: std::path::PathBuf,
        force: bool,
    },
    Show {
        name: String,
    },
    Remove {
        names: Vec<String>,
    },
    Passwd,
    HasPasswd,
}

/// A command's failure and the process exit code that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub exit_code: u8,
    pub message: String,
}

impl From<KeystoreError> for CliError {
    fn from(e: KeystoreError) -> Self {
        // Elasticsearch's exit codes: data errors 65, usage 64, I/O 74.
        let exit_code = match e {
            KeystoreError::WrongPassword
            | KeystoreError::Damaged(_)
            | KeystoreError::NotFound(_) => 65,
            KeystoreError::InvalidName(_) => 64,
            KeystoreError::Io(_) => 74,
        };
        CliError {
            exit_code,
            message: e.to_string(),
        }
    }
}

fn usage(message: impl Into<String>) -> CliError {
    CliError {
        exit_code: 64,
        message: message.into(),
    }
}

/// A setting that is not in the keystore: Elasticsearch's CONFIG exit code.
fn missing(name: &str) -> CliError {
    CliError {
        exit_code: 78,
        message: format!("setting [{name}] does not exist in the keystore"),
    }
}

fn io(message: impl Into<String>) -> CliError {
    CliError {
        exit_code: 74,
        message: message.into(),
    }
}

const EMPTY_PASSWORD_WARNING: &str = "the keystore has no password: its contents are only \
    obfuscated, readable by anyone who can read the file. Protect it with `rampart keystore passwd`.";

/// The password of an existing keystore: from the passphrase file, a prompt, or standard input.
pub fn keystore_password(
    path: &Path,
    term: &mut dyn Terminal,
) -> Result<Zeroizing<String>, CliError> {
    if !Keystore::has_password_at(path)? {
        return Ok(Zeroizing::new(String::new()));
    }
    if let Some(pw) = term.passphrase_from_file().map_err(io)? {
        return Ok(pw);
    }
    term.read_secret("Enter password for the rampart keystore: ")
        .map_err(io)
}

fn new_password(term: &mut dyn Terminal) -> Result<Zeroizing<String>, CliError> {
    let first = term
        .read_secret("Enter new password for the rampart keystore (empty for no password): ")
        .map_err(io)?;
    if term.is_interactive() {
        let again = term
            .read_secret("Enter same password again: ")
            .map_err(io)?;
        if *first != *again {
            return Err(usage("the passwords do not match: nothing was changed"));
        }
    }
    if first.is_empty() {
        term.warn(EMPTY_PASSWORD_WARNING);
    }
    Ok(first)
}

fn open(path: &Path, term: &mut dyn Terminal) -> Result<(Keystore, Zeroizing<String>), CliError> {
    let password = keystore_password(path, term)?;
    let keystore = Keystore::load(path, password.as_bytes())?;
    Ok((keystore, password))
}

/// Opens the keystore, creating an unprotected one if there is none (as Elasticsearch's `add`
/// does; interactively it asks first). `None` when the person declined.
fn open_or_create(
    path: &Path,
    force: bool,
    term: &mut dyn Terminal,
) -> Result<Option<(Keystore, Zeroizing<String>)>, CliError> {
    if Keystore::exists(path) {
        return open(path, term).map(Some);
    }
    if term.is_interactive()
        && !force
        && !term
            .confirm("The rampart keystore does not exist. Do you want to create it?")
            .map_err(io)?
    {
        term.print("Exiting without creating keystore.");
        return Ok(None);
    }
    term.warn(EMPTY_PASSWORD_WARNING);
    Ok(Some((Keystore::new(false)?, Zeroizing::new(String::new()))))
}

fn may_overwrite(
    keystore: &Keystore,
    name: &str,
    force: bool,
    term: &mut dyn Terminal,
) -> Result<bool, CliError> {
    if !keystore.contains(name) || force {
        return Ok(true);
    }
    if term.is_interactive() {
        return term
            .confirm(&format!("Setting {name} already exists. Overwrite?"))
            .map_err(io);
    }
    Err(usage(format!(
        "setting [{name}] already exists in the keystore: use -f to overwrite it"
    )))
}

pub fn run(command: Command, path: &Path, term: &mut dyn Terminal) -> Result<(), CliError> {
    match command {
        Command::Create { password } => {
            if Keystore::exists(path)
                && !(term.is_interactive()
                    && term
                        .confirm("A rampart keystore already exists. Overwrite?")
                        .map_err(io)?)
            {
                return Err(usage(format!(
                    "a keystore already exists at {}: remove it first to create a new one",
                    path.display()
                )));
            }
            let pw = if password {
                new_password(term)?
            } else {
                term.warn(EMPTY_PASSWORD_WARNING);
                Zeroizing::new(String::new())
            };
            Keystore::new(!pw.is_empty())?.save(path, pw.as_bytes())?;
            term.print(&format!("Created rampart keystore in {}", path.display()));
        }
        Command::List => {
            let (keystore, _) = open(path, term)?;
            for name in keystore.names() {
                term.print(name);
            }
        }
        Command::Add { names, force } => {
            if names.is_empty() {
                return Err(usage("name the setting(s) to add"));
            }
            for name in &names {
                validate_name(name)?;
            }
            let Some((mut keystore, pw)) = open_or_create(path, force, term)? else {
                return Ok(());
            };
            for name in &names {
                if !may_overwrite(&keystore, name, force, term)? {
                    term.print("Exiting without modifying keystore.");
                    return Ok(());
                }
                let value = term
                    .read_secret(&format!("Enter value for {name}: "))
                    .map_err(io)?;
                keystore.set(name, Zeroizing::new(value.as_bytes().to_vec()))?;
            }
            keystore.save(path, pw.as_bytes())?;
        }
        Command::AddFile { name, file, force } => {
            validate_name(&name)?;
            let value = std::fs::read(&file)
                .map(Zeroizing::new)
                .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let Some((mut keystore, pw)) = open_or_create(path, force, term)? else {
                return Ok(());
            };
            if !may_overwrite(&keystore, &name, force, term)? {
                term.print("Exiting without modifying keystore.");
                return Ok(());
            }
            keystore.set(&name, value)?;
            keystore.save(path, pw.as_bytes())?;
        }
        Command::Show { name } => {
            let (keystore, _) = open(path, term)?;
            let value = keystore.get(&name).ok_or_else(|| missing(&name))?;
            match std::str::from_utf8(value) {
                Ok(text) => term.print(text),
                Err(_) => term.print_bytes(value),
            }
        }
        Command::Remove { names } => {
            let (mut keystore, pw) = open(path, term)?;
            for name in &names {
                if !keystore.remove(name) {
                    return Err(CliError {
                        message: format!("{}: nothing was removed", missing(name).message),
                        ..missing(name)
                    });
                }
            }
            keystore.save(path, pw.as_bytes())?;
        }
        Command::Passwd => {
            let (mut keystore, _) = open(path, term)?;
            let pw = new_password(term)?;
            keystore.set_has_password(!pw.is_empty());
            keystore.save(path, pw.as_bytes())?;
            term.print("Keystore password changed successfully.");
        }
        Command::HasPasswd => {
            if Keystore::has_password_at(path)? {
                term.print("Keystore is password-protected");
            } else {
                return Err(CliError {
                    exit_code: 1,
                    message: "Keystore is not password-protected".to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A scripted terminal: answers come from a queue, output is recorded.
    struct Script {
        interactive: bool,
        lines: VecDeque<String>,
        out: Vec<String>,
        warnings: Vec<String>,
    }

    impl Script {
        fn new(interactive: bool, lines: &[&str]) -> Self {
            Script {
                interactive,
                lines: lines.iter().map(|s| s.to_string()).collect(),
                out: Vec::new(),
                warnings: Vec::new(),
            }
        }
    }

    impl Terminal for Script {
        fn is_interactive(&self) -> bool {
            self.interactive
        }
        fn read_secret(&mut self, _prompt: &str) -> Result<Zeroizing<String>, String> {
            self.lines
                .pop_front()
                .map(Zeroizing::new)
                .ok_or_else(|| "end of input".to_string())
        }
        fn confirm(&mut self, _question: &str) -> Result<bool, String> {
            Ok(self.lines.pop_front().is_some_and(|l| l == "y"))
        }
        fn print(&mut self, text: &str) {
            self.out.push(text.to_string());
        }
        fn print_bytes(&mut self, bytes: &[u8]) {
            self.out.push(format!("{bytes:?}"));
        }
        fn warn(&mut self, text: &str) {
            self.warnings.push(text.to_string());
        }
        fn passphrase_from_file(&self) -> Result<Option<Zeroizing<String>>, String> {
            Ok(None)
        }
    }

    #[test]
    fn create_add_list_show_remove_passwd() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("rampart.keystore");
        let mut t = Script::new(false, &[]);
        run(Command::Create { password: false }, &path, &mut t).expect("create");
        assert!(t.warnings[0].contains("only obfuscated"));

        let mut t = Script::new(false, &["v1", "v2"]);
        run(
            Command::Add {
                names: vec!["a.one".into(), "a.two".into()],
                force: false,
            },
            &path,
            &mut t,
        )
        .expect("add");
        let mut t = Script::new(false, &["v3"]);
        let err = run(
            Command::Add {
                names: vec!["a.one".into()],
                force: false,
            },
            &path,
            &mut t,
        )
        .expect_err("exists");
        assert!(err.message.contains("-f"), "{err:?}");
        let mut t = Script::new(false, &["v3"]);
        run(
            Command::Add {
                names: vec!["a.one".into()],
                force: true,
            },
            &path,
            &mut t,
        )
        .expect("force");

        let mut t = Script::new(false, &[]);
        run(Command::List, &path, &mut t).expect("list");
        assert_eq!(t.out, ["a.one", "a.two", "keystore.seed"]);
        let mut t = Script::new(false, &[]);
        run(
            Command::Show {
                name: "a.one".into(),
            },
            &path,
            &mut t,
        )
        .expect("show");
        assert_eq!(t.out, ["v3"]);

        let mut t = Script::new(false, &["new-pw"]);
        run(Command::Passwd, &path, &mut t).expect("passwd");
        let mut t = Script::new(false, &[]);
        run(Command::HasPasswd, &path, &mut t).expect("has");
        let mut t = Script::new(false, &["wrong"]);
        assert_eq!(
            run(Command::List, &path, &mut t).map_err(|e| e.exit_code),
            Err(65)
        );
        let mut t = Script::new(false, &["new-pw"]);
        run(
            Command::Remove {
                names: vec!["a.two".into()],
            },
            &path,
            &mut t,
        )
        .expect("remove");
        let mut t = Script::new(false, &["new-pw"]);
        let err = run(
            Command::Remove {
                names: vec!["a.two".into()],
            },
            &path,
            &mut t,
        )
        .expect_err("gone");
        assert!(err.message.contains("does not exist"));
    }

    #[test]
    fn interactive_passwords_must_match_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("rampart.keystore");
        let mut t = Script::new(true, &["one", "two"]);
        assert!(run(Command::Create { password: true }, &path, &mut t).is_err());
        assert!(!path.exists(), "nothing written");
        let mut t = Script::new(false, &["x"]);
        let err = run(
            Command::Add {
                names: vec!["Bad Name".into()],
                force: false,
            },
            &path,
            &mut t,
        )
        .expect_err("name");
        assert!(err.message.contains("not a valid setting name"));
    }
}
