//! The `rampart` command: starts a node, and (as the issues land) manages certificates, the
//! keystore and users. It parses arguments and reports errors; the work happens in the library
//! crates, which is where it is tested.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rampart_keystore::cli::Command as KeystoreCommand;
use rampart_node::{StartOptions, exit};

mod certutil;
mod terminal;

const KEYSTORE_HELP: &str = "\
The keystore (config/rampart.keystore) holds secure settings: passwords and passphrases that
must not sit in rampart.yml. Passwords and values are read from a hidden prompt on a terminal,
or line by line from standard input otherwise; RAMPART_KEYSTORE_PASSPHRASE_FILE names a file
holding the keystore password.

Exit codes (as elasticsearch-keystore): 0 success, 1 `has-passwd` found no password, 64 usage
error (bad name, existing entry without -f), 65 no keystore, wrong password or damaged keystore,
74 I/O error, 78 the named setting is not in the keystore.";

const START_HELP: &str = "\
Exit codes:
  0   stopped cleanly (SIGTERM or SIGINT)
  1   failed while starting or running (the message says why)
  2   invalid command line
  77  refused to run as root
  78  invalid configuration, or bootstrap checks failed in production mode

On a first start with no xpack.security.* settings and an empty data directory, the node
generates a CA and certificates into config/certs/, turns on TLS, and prints the elastic
user's password (or takes ELASTIC_PASSWORD) with a ready curl command.";

#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    about = "Rampart: an Elasticsearch-compatible search and document store, secure by default"
)]
struct Cli {
    /// The node's home directory, holding config/, data/ and logs/.
    #[arg(
        long,
        global = true,
        env = "RAMPART_HOME",
        default_value = "rampart-home"
    )]
    home: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a node and serve until SIGTERM or SIGINT.
    #[command(after_help = START_HELP)]
    Start {
        /// Override a setting for this start, as in Elasticsearch: -E http.port=9201
        #[arg(short = 'E', value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Generate a CA, node certificates, CSRs and HTTP certificates.
    #[command(subcommand, after_help = certutil::CERTUTIL_HELP)]
    Certutil(Box<certutil::CertutilArgs>),
    /// Manage the file realm's users (config/users and config/users_roles).
    #[command(subcommand, after_help = USERS_HELP)]
    Users(UsersArgs),
    /// Manage the keystore of secure settings.
    #[command(subcommand, after_help = KEYSTORE_HELP)]
    Keystore(KeystoreArgs),
    /// Reset a reserved or native user's password through the running node.
    #[command(after_help = RESET_PASSWORD_HELP)]
    ResetPassword {
        /// The user whose password to reset, e.g. elastic
        #[arg(short = 'u', long)]
        username: String,
        /// Ask for the new password instead of generating one
        #[arg(short = 'i', long, conflicts_with = "auto")]
        interactive: bool,
        /// Generate a strong password and print it (the default)
        #[arg(short = 'a', long)]
        auto: bool,
        /// Do not ask for confirmation
        #[arg(short = 'b', long)]
        batch: bool,
        /// The node's address, e.g. https://localhost:9200 (default: this home's node)
        #[arg(long)]
        url: Option<String>,
        /// Print only the new password (with --auto)
        #[arg(short = 's', long)]
        silent: bool,
    },
}

const USERS_HELP: &str = "\
Edits config/users and config/users_roles in Elasticsearch's formats (bcrypt hashes); a running
node picks up the change within resource.reload.interval.high. Without -p, the password is asked
for on a terminal, or read as one line of standard input.

New hashes follow xpack.security.password_hashing.algorithm in config/rampart.yml (bcrypt by
default).

Exit codes: 0 success, 64 invalid name, password or unknown user, 74 the files could not be
written, 78 config/rampart.yml is invalid.";

#[derive(Debug, Subcommand)]
enum UsersArgs {
    /// Add a user.
    Useradd {
        name: String,
        #[arg(short = 'p', long = "password")]
        password: Option<String>,
        /// Roles, comma-separated.
        #[arg(short = 'r', long = "roles", value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Remove a user.
    Userdel { name: String },
    /// Change a user's password.
    Passwd {
        name: String,
        #[arg(short = 'p', long = "password")]
        password: Option<String>,
    },
    /// Add (-a) or remove (-r) roles of a user.
    Roles {
        name: String,
        #[arg(short = 'a', long = "add", value_delimiter = ',')]
        add: Vec<String>,
        #[arg(short = 'r', long = "remove", value_delimiter = ',')]
        remove: Vec<String>,
    },
    /// List users and their roles (or one user's).
    List { name: Option<String> },
}

#[derive(Debug, Subcommand)]
enum KeystoreArgs {
    /// Create a new keystore (with -p, protected by a password).
    Create {
        /// Protect the keystore with a password.
        #[arg(short = 'p', long = "password")]
        password: bool,
    },
    /// List the names of the settings in the keystore.
    List,
    /// Add string settings; values are prompted for, or read from standard input one per line.
    Add {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Overwrite existing settings (and create the keystore without asking).
        #[arg(short = 'f', long = "force")]
        force: bool,
        /// Read values from standard input even on a terminal.
        #[arg(short = 'x', long = "stdin")]
        stdin: bool,
    },
    /// Add a setting whose value is the content of a file.
    AddFile {
        name: String,
        file: PathBuf,
        #[arg(short = 'f', long = "force")]
        force: bool,
    },
    /// Print a setting's value.
    Show { name: String },
    /// Remove settings.
    Remove {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Change the keystore password (empty for none).
    Passwd,
    /// Exit 0 if the keystore is password-protected, 1 if not.
    HasPasswd,
}

fn keystore(home: &std::path::Path, args: KeystoreArgs) -> ExitCode {
    let home = match std::path::absolute(home) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rampart: cannot resolve {}: {e}", home.display());
            return ExitCode::from(exit::FAILURE);
        }
    };
    let config = home.join("config");
    // Only commands that may create the keystore create its directory.
    let creates = matches!(
        args,
        KeystoreArgs::Create { .. } | KeystoreArgs::Add { .. } | KeystoreArgs::AddFile { .. }
    );
    if creates && let Err(e) = rampart_config::fsutil::create_dir_durable(&config) {
        eprintln!("rampart: cannot create {}: {e}", config.display());
        return ExitCode::from(74);
    }
    let force_stdin = matches!(args, KeystoreArgs::Add { stdin: true, .. });
    let command = match args {
        KeystoreArgs::Create { password } => KeystoreCommand::Create { password },
        KeystoreArgs::List => KeystoreCommand::List,
        // Values come from standard input whenever it is not a terminal; -x only forces it.
        KeystoreArgs::Add {
            names,
            force,
            stdin: _,
        } => KeystoreCommand::Add { names, force },
        KeystoreArgs::AddFile { name, file, force } => {
            KeystoreCommand::AddFile { name, file, force }
        }
        KeystoreArgs::Show { name } => KeystoreCommand::Show { name },
        KeystoreArgs::Remove { names } => KeystoreCommand::Remove { names },
        KeystoreArgs::Passwd => KeystoreCommand::Passwd,
        KeystoreArgs::HasPasswd => KeystoreCommand::HasPasswd,
    };
    let mut terminal = terminal::StdTerminal::new(force_stdin);
    match rampart_keystore::cli::run(
        command,
        &config.join(rampart_keystore::KEYSTORE_FILE),
        &mut terminal,
    ) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("rampart: {}", e.message);
            ExitCode::from(e.exit_code)
        }
    }
}

fn users(home: &std::path::Path, args: UsersArgs) -> Result<(), (u8, String)> {
    use rampart_keystore::cli::Terminal;
    use rampart_security::SecretString;
    use rampart_security::file_realm::FileUsers;
    let config = std::path::absolute(home)
        .map_err(|e| (74, format!("cannot resolve {}: {e}", home.display())))?
        .join("config");
    let usage = |e: String| (64u8, e);
    // New hashes follow the node's xpack.security.password_hashing.algorithm, as
    // elasticsearch-users does.
    let env = |name: &str| std::env::var(name).ok();
    let settings = rampart_config::Settings::load(&config.join("rampart.yml"), &[], &env)
        .map_err(|e| (78, e.to_string()))?;
    rampart_security::set_hash_algorithm(
        rampart_security::HashAlgorithm::parse(
            &settings
                .get("xpack.security.password_hashing.algorithm")
                .unwrap_or_default(),
        )
        .map_err(|e| (78, e))?,
    );
    let (mut users, problems) = FileUsers::load(&config).map_err(|e| (74, e))?;
    for problem in problems {
        eprintln!("WARNING: {problem}");
    }
    let password = |given: Option<String>, name: &str| -> Result<SecretString, (u8, String)> {
        if let Some(pw) = given {
            return Ok(SecretString::new(pw));
        }
        let mut terminal = terminal::StdTerminal::new(false);
        let pw = terminal
            .read_secret(&format!("Enter new password for {name}: "))
            .map_err(|e| (64, e))?;
        if terminal.is_interactive() {
            let again = terminal
                .read_secret("Retype new password: ")
                .map_err(|e| (64, e))?;
            if *again != *pw {
                return Err((64, "the passwords do not match".to_string()));
            }
        }
        Ok(SecretString::new(pw.to_string()))
    };
    match args {
        UsersArgs::Useradd {
            name,
            password: given,
            roles,
        } => {
            rampart_security::file_realm::validate_username(&name).map_err(usage)?;
            let pw = password(given, &name)?;
            users.add_user(&name, &pw, &roles).map_err(usage)?;
        }
        UsersArgs::Userdel { name } => users.remove_user(&name).map_err(usage)?,
        UsersArgs::Passwd {
            name,
            password: given,
        } => {
            if !users.users.contains_key(&name) {
                return Err(usage(format!(
                    "user [{name}] does not exist in the file realm"
                )));
            }
            let pw = password(given, &name)?;
            users.set_password(&name, &pw).map_err(usage)?;
        }
        UsersArgs::Roles { name, add, remove } => {
            users.change_roles(&name, &add, &remove).map_err(usage)?
        }
        UsersArgs::List { name } => {
            if let Some(name) = &name
                && !users.users.contains_key(name)
            {
                return Err(usage(format!(
                    "user [{name}] does not exist in the file realm"
                )));
            }
            for user in users
                .users
                .keys()
                .filter(|u| name.as_ref().is_none_or(|n| n == *u))
            {
                let roles = users
                    .roles
                    .get(user)
                    .map(|r| r.join(","))
                    .unwrap_or_else(|| "-".to_string());
                println!("{user:<15}: {roles}");
            }
            return Ok(());
        }
    }
    rampart_config::fsutil::create_dir_durable(&config)
        .map_err(|e| (74, format!("cannot create {}: {e}", config.display())))?;
    users.save(&config).map_err(|e| (74, e))
}

const RESET_PASSWORD_HELP: &str = "\
Runs against the node of --home (which must be running): a temporary superuser is added to the
file realm, the password is changed with POST /_security/user/{name}/_password over HTTPS
(trusting config/certs/http_ca.crt), and the temporary user is removed. File realm users are
changed with `rampart users passwd` instead.

Exit codes: 0 success, 64 usage, 65 the node refused the change, 69 the node is not reachable
or did not accept the temporary user, 74 config/users could not be written, 78 configuration
error.";

fn reset_password(
    home: &std::path::Path,
    username: &str,
    interactive: bool,
    batch: bool,
    url: Option<&str>,
    silent: bool,
) -> Result<(), (u8, String)> {
    use rampart_keystore::cli::Terminal;
    let mut terminal = terminal::StdTerminal::new(false);
    if !batch && terminal.is_interactive() {
        let question = if interactive {
            format!(
                "This tool will reset the password of the [{username}] user. You will be prompted to enter the password.\nPlease confirm that you would like to continue"
            )
        } else {
            format!(
                "This tool will reset the password of the [{username}] user to an autogenerated value.\nThe password will be printed in the console.\nPlease confirm that you would like to continue"
            )
        };
        if !terminal.confirm(&question).map_err(|e| (64, e))? {
            return Err((64, "cancelled: nothing was changed".to_string()));
        }
    }
    let password = if interactive {
        let first = terminal
            .read_secret(&format!("Enter password for [{username}]: "))
            .map_err(|e| (64, e))?;
        if terminal.is_interactive() {
            let again = terminal
                .read_secret(&format!("Re-enter password for [{username}]: "))
                .map_err(|e| (64, e))?;
            if *again != *first {
                return Err((
                    64,
                    "the passwords do not match: nothing was changed".to_string(),
                ));
            }
        }
        Some(rampart_security::SecretString::new(first.to_string()))
    } else {
        None
    };
    let new_password =
        rampart_node::reset_password::reset_password(home, username, password.clone(), url)
            .map_err(|e| (e.exit_code, e.message))?;
    if password.is_some() {
        if !silent {
            println!("Password for the [{username}] user successfully reset.");
        }
    } else if silent {
        println!("{}", new_password.expose());
    } else {
        println!(
            "Password for the [{username}] user successfully reset.\nNew value: {}",
            new_password.expose()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Users(args) => match users(&cli.home, args) {
            Ok(()) => ExitCode::from(exit::OK),
            Err((code, message)) => {
                eprintln!("rampart: {message}");
                ExitCode::from(code)
            }
        },
        Command::Keystore(args) => keystore(&cli.home, args),
        Command::ResetPassword {
            username,
            interactive,
            auto: _,
            batch,
            url,
            silent,
        } => match reset_password(
            &cli.home,
            &username,
            interactive,
            batch,
            url.as_deref(),
            silent,
        ) {
            Ok(()) => ExitCode::from(exit::OK),
            Err((code, message)) => {
                eprintln!("rampart: {message}");
                ExitCode::from(code)
            }
        },
        Command::Certutil(args) => match certutil::run(*args) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(e) => {
                eprintln!("rampart: {}", e.message);
                ExitCode::from(e.exit_code)
            }
        },
        Command::Start { settings } => {
            match rampart_node::start(StartOptions {
                home: cli.home,
                overrides: settings,
            }) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(e) => {
                    // Once logging runs, the log reaches both stderr and the log file.
                    if tracing::dispatcher::has_been_set() {
                        tracing::error!("{}", e.message);
                    } else {
                        eprintln!("rampart: {}", e.message);
                    }
                    ExitCode::from(e.exit_code)
                }
            }
        }
    }
}
