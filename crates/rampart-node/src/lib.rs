//! A Rampart node: the home layout, first-start security auto-configuration, bootstrap checks,
//! the request pipeline, and starting and stopping the servers.
//!
//! This crate owns wiring and order: what happens at start, in which order, and what a failure
//! at each step tells the operator. Logic that can be tested on its own belongs in the library
//! crates it wires together.
#![forbid(unsafe_code)]

pub mod api_keys;
pub mod autoconfig;
pub mod bootstrap;
pub mod home;
pub mod keystore;
pub mod least_privilege;
pub mod network;
pub mod pipeline;
mod realms;
pub mod reset_password;
mod roles;
pub mod state;
pub mod tokens;
mod users;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rampart_config::fsutil::{PUBLIC_FILE_MODE, write_atomic};
use rampart_config::{SecureSettings, Settings, parse_byte_size, parse_time_value};

use crate::keystore::NodeKeystore;
use rampart_pki::{Layer, ReloadingServerConfig, build_server_config};
use rampart_rest::{HttpServer, HttpServerOptions, SecurityHeaders};
use rampart_security::{Authenticator, ReservedUserStore, SecretString};

use crate::autoconfig::{Decision, FirstStart};
use crate::bootstrap::Mode;
use crate::home::{DataLock, Home};
use crate::pipeline::{NodeIdentity, Pipeline};
use crate::state::NodeState;

/// Elasticsearch's minimum password length.
pub const MIN_PASSWORD_LENGTH: usize = 6;

/// Exit codes of `rampart start`, as documented in its `--help`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const REFUSED_ROOT: u8 = 77;
    pub const CONFIG: u8 = 78;
}

#[derive(Debug)]
pub struct StartError {
    pub exit_code: u8,
    pub message: String,
}

fn config_error(message: impl Into<String>) -> StartError {
    StartError {
        exit_code: exit::CONFIG,
        message: message.into(),
    }
}

fn failure(message: impl Into<String>) -> StartError {
    StartError {
        exit_code: exit::FAILURE,
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
pub struct StartOptions {
    pub home: PathBuf,
    /// `-E key=value` arguments.
    pub overrides: Vec<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn init_logging(home: &Home, cluster_name: &str) -> Result<(), StartError> {
    use std::os::unix::fs::OpenOptionsExt;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, fmt};

    let path = home.logs.join(format!("{cluster_name}.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(&path)
        .map_err(|e| failure(format!("cannot open the log file {}: {e}", path.display())))?;
    let filter = EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr).with_target(false))
        .with(
            fmt::layer()
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .with_target(false),
        )
        .try_init();
    Ok(())
}

/// Starts a node and serves until SIGTERM or SIGINT.
pub fn start(options: StartOptions) -> Result<(), StartError> {
    // Absolute, so the paths printed and logged work from any directory.
    let root = std::path::absolute(&options.home).map_err(|e| {
        failure(format!(
            "cannot resolve the home directory {}: {e}",
            options.home.display()
        ))
    })?;
    let home = Home::new(root);
    let settings = Settings::load(&home.config_file(), &options.overrides, &env)
        .map_err(|e| config_error(e.to_string()))?;
    rampart_security::set_hash_algorithm(
        rampart_security::HashAlgorithm::parse(
            &settings
                .get("xpack.security.password_hashing.algorithm")
                .unwrap_or_default(),
        )
        .map_err(config_error)?,
    );

    let is_root = rustix::process::geteuid().is_root();
    let root_allowed =
        bootstrap::check_not_root(is_root, env(bootstrap::ALLOW_ROOT_ENV).as_deref()).map_err(
            |message| StartError {
                exit_code: exit::REFUSED_ROOT,
                message,
            },
        )?;

    let env_password = match env("ELASTIC_PASSWORD") {
        Some(pw) if pw.chars().count() < MIN_PASSWORD_LENGTH => {
            return Err(config_error(format!(
                "ELASTIC_PASSWORD is too short: passwords must be at least \
                 {MIN_PASSWORD_LENGTH} characters long"
            )));
        }
        other => other.map(SecretString::new),
    };

    let home = home.with_settings(&settings);
    let data_was_empty = autoconfig::data_is_empty(&home).map_err(failure)?;
    home.create_dirs().map_err(failure)?;
    let _data_lock = DataLock::acquire(&home.data).map_err(failure)?;
    let cluster_name = settings.get("cluster.name").unwrap_or_default();
    init_logging(&home, &cluster_name)?;
    if root_allowed {
        tracing::warn!(
            "running as root because {} is set: never do this outside a disposable test machine",
            bootstrap::ALLOW_ROOT_ENV
        );
    }
    tracing::info!(
        "starting Rampart {} in {} (data: {}, logs: {})",
        env!("CARGO_PKG_VERSION"),
        home.root.display(),
        home.data.display(),
        home.logs.display()
    );

    let http_addrs = network::bind_addresses(&settings, "http").map_err(config_error)?;
    let transport_addrs = network::bind_addresses(&settings, "transport").map_err(config_error)?;
    // Bind before auto-configuring, so the printed connection line names the real port.
    let std_listeners =
        network::bind_range(&settings, "http.port", &http_addrs).map_err(failure)?;
    let bound: Vec<SocketAddr> = std_listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();

    let mut keystore = NodeKeystore::open(&home.config).map_err(config_error)?;
    keystore
        .migrate_interim_file(&home.config)
        .map_err(failure)?;
    keystore.validate().map_err(config_error)?;
    // As in Elasticsearch: ELASTIC_PASSWORD, else the keystore's bootstrap.password, sets the
    // elastic user's first password.
    let initial_password = env_password.or_else(|| {
        keystore
            .keystore
            .get_str("bootstrap.password")
            .map(SecretString::from)
    });

    let first_start = match autoconfig::decide(&settings, &keystore, &home, data_was_empty) {
        Decision::Configure => {
            tracing::info!(
                "first start: auto-configuring security (certificates, TLS, elastic password)"
            );
            Some(
                autoconfig::configure(&home, &http_addrs, initial_password.clone(), &mut keystore)
                    .map_err(failure)?,
            )
        }
        Decision::Skip(reason) => {
            tracing::info!("security auto-configuration skipped: {reason}");
            None
        }
        Decision::Refuse(reason) => return Err(config_error(reason)),
    };
    let settings = if first_start.is_some() {
        Settings::load(&home.config_file(), &options.overrides, &env)
            .map_err(|e| config_error(e.to_string()))?
    } else {
        settings
    };
    let secure: Arc<SecureSettings> = Arc::new(keystore.secure_settings());
    drop(keystore);
    let security_enabled = settings.get_bool("xpack.security.enabled");

    let reserved = ReservedUserStore::open(&home.data.join("_security")).map_err(failure)?;
    if let Some(first) = &first_start {
        reserved
            .set_password("elastic", &first.password)
            .map_err(failure)?;
        print_first_start(first, &bound);
    } else if security_enabled && reserved.password_hash("elastic").is_none() {
        match &initial_password {
            Some(pw) => {
                reserved.set_password("elastic", pw).map_err(failure)?;
                tracing::info!(
                    "set the elastic user's password from ELASTIC_PASSWORD or bootstrap.password"
                );
            }
            None => tracing::warn!(
                "the elastic user has no password, so nobody can log in: restart once with \
                 ELASTIC_PASSWORD set, or `rampart keystore add bootstrap.password`"
            ),
        }
    }

    let (mode, why) = bootstrap::mode(network::is_loopback_only(&transport_addrs), &settings);
    let failures = bootstrap::run_checks(&settings, &bootstrap::SystemFacts::read());
    match mode {
        Mode::Production => {
            tracing::info!("production mode: {why}");
            if !failures.is_empty() {
                let list: Vec<String> = failures
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        format!("[{}/{}] {}: {}", i + 1, failures.len(), f.check, f.message)
                    })
                    .collect();
                return Err(config_error(format!(
                    "bootstrap checks failed, so the node refuses to start in production mode:\n{}",
                    list.join("\n")
                )));
            }
        }
        Mode::Development => {
            tracing::info!("development mode: {why}");
            for f in &failures {
                tracing::warn!(
                    "bootstrap check [{}] would fail in production mode: {}",
                    f.check,
                    f.message
                );
            }
        }
    }

    let http_tls = tls_layer(&settings, &secure, &home, Layer::Http)?;
    let transport_tls = tls_layer(&settings, &secure, &home, Layer::Transport)?;
    if !security_enabled {
        tracing::warn!(
            "SECURITY IS DISABLED ([xpack.security.enabled: false]): anyone who can reach this node \
             can read and change everything"
        );
    }
    if http_tls.is_none() {
        tracing::warn!(
            "HTTP TLS IS DISABLED ([xpack.security.http.ssl.enabled: false]): passwords and data cross \
             the network in clear text"
        );
    }

    let state = NodeState::load_or_create(&home.data).map_err(failure)?;
    let identity = NodeIdentity {
        node_id: state.node_id.clone(),
        node_name: settings
            .get("node.name")
            .unwrap_or_else(autoconfig::hostname),
        cluster_name,
        cluster_uuid: state.cluster_uuid,
    };
    let authenticator = if security_enabled {
        let file_realm =
            Arc::new(rampart_security::FileRealm::open(&home.config).map_err(config_error)?);
        let native_realm = Arc::new(
            rampart_security::NativeRealm::open(&home.data.join("_security")).map_err(failure)?,
        );
        let api_keys = Arc::new(
            rampart_security::ApiKeyStore::open(&home.data.join("_security")).map_err(failure)?,
        );
        let mut authenticator =
            Authenticator::new(Arc::new(reserved), Some(file_realm), Some(native_realm))
                .map_err(failure)?
                .with_realms(realms::realm_configs(&settings).map_err(config_error)?)
                .map_err(config_error)?
                .with_api_keys(api_keys);
        tracing::info!(
            "realm chain: reserved, {}",
            authenticator
                .realm_chain()
                .iter()
                .map(|r| format!("{}/{}", r.realm_type, r.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if settings.get_bool("xpack.security.authc.token.enabled") {
            let timeout = parse_time_value(
                &settings
                    .get("xpack.security.authc.token.timeout")
                    .unwrap_or_default(),
            )
            .map_err(config_error)?;
            // Elasticsearch's bounds for the setting.
            if timeout < std::time::Duration::from_secs(1)
                || timeout > std::time::Duration::from_secs(3600)
            {
                return Err(config_error(
                    "[xpack.security.authc.token.timeout] must be between 1s and 1h",
                ));
            }
            let tokens = rampart_security::TokenStore::open(&home.data.join("_security"), timeout)
                .map_err(failure)?;
            authenticator = authenticator.with_tokens(Arc::new(tokens));
        }
        Some(Arc::new(authenticator))
    } else {
        None
    };
    let throttle = if settings.get_bool("rampart.security.authc.throttle.enabled") {
        let number = |key: &str| -> Result<u32, StartError> {
            settings
                .get(key)
                .unwrap_or_default()
                .parse()
                .map_err(|_| config_error(format!("[{key}] must be a whole number")))
        };
        let time = |key: &str| {
            parse_time_value(&settings.get(key).unwrap_or_default()).map_err(config_error)
        };
        Some(rampart_security::Throttle::new(
            rampart_security::ThrottlePolicy {
                max_user_failures: number("rampart.security.authc.throttle.max_user_failures")?,
                max_address_failures: number(
                    "rampart.security.authc.throttle.max_address_failures",
                )?,
                window: time("rampart.security.authc.throttle.window")?,
                lockout: time("rampart.security.authc.throttle.lockout")?,
            },
        ))
    } else {
        None
    };
    let auto_create_index = rampart_engine::AutoCreate::parse(
        &settings.get("action.auto_create_index").unwrap_or_default(),
    )
    .map_err(config_error)?;
    let engine = rampart_engine::Engine::open(
        &home.data,
        rampart_engine::EngineOptions {
            auto_create_index,
            destructive_requires_name: settings.get_bool("action.destructive_requires_name"),
        },
    )
    .map_err(|e| failure(format!("cannot open the indices: {}", e.reason)))?;
    let anonymous_roles = settings.get_list("xpack.security.authc.anonymous.roles");
    let anonymous = (security_enabled && !anonymous_roles.is_empty()).then(|| {
        let access = rampart_security::AnonymousAccess {
            username: settings
                .get("xpack.security.authc.anonymous.username")
                .unwrap_or_default(),
            roles: anonymous_roles,
            authz_exception: settings.get_bool("xpack.security.authc.anonymous.authz_exception"),
        };
        tracing::warn!(
            "anonymous access is on: requests without credentials act as [{}] with roles [{}]",
            access.username,
            access.roles.join(",")
        );
        access
    });
    let role_store = if security_enabled {
        Some(Arc::new(
            rampart_security::RoleStore::open(Some(&home.config), &home.data.join("_security"))
                .map_err(failure)?,
        ))
    } else {
        None
    };
    let mut pipeline = Pipeline::new(
        authenticator.clone(),
        throttle,
        identity,
        Arc::clone(&engine),
    )
    .with_anonymous(anonymous);
    if let Some(roles) = &role_store {
        pipeline = pipeline.with_authorizer(Arc::new(rampart_security::Authorizer::new(
            Arc::clone(roles),
        )));
    }
    let pipeline = Arc::new(pipeline);
    if let Some(authenticator) = &authenticator {
        warn_about_superuser_applications(&home, authenticator);
    }

    let max_content_length =
        parse_byte_size(&settings.get("http.max_content_length").unwrap_or_default())
            .map_err(config_error)?;
    let options = HttpServerOptions {
        security_headers: SecurityHeaders::from_settings(&settings, http_tls.is_some())
            .map_err(config_error)?,
        tls: http_tls.clone(),
        max_content_length: usize::try_from(max_content_length).unwrap_or(usize::MAX),
    };
    let reload_interval = if settings.get_bool("resource.reload.enabled") {
        Some(
            parse_time_value(
                &settings
                    .get("resource.reload.interval.high")
                    .unwrap_or_default(),
            )
            .map_err(config_error)?,
        )
    } else {
        None
    };
    let portsfile = settings
        .get_bool("node.portsfile")
        .then(|| home.logs.join("http.ports"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rampart")
        .build()
        .map_err(|e| failure(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let mut listeners = Vec::new();
        for l in std_listeners {
            l.set_nonblocking(true)
                .map_err(|e| failure(format!("cannot configure the HTTP socket: {e}")))?;
            listeners.push(
                tokio::net::TcpListener::from_std(l)
                    .map_err(|e| failure(format!("cannot register the HTTP socket: {e}")))?,
            );
        }
        if let Some(interval) = reload_interval {
            for tls in [&http_tls, &transport_tls].into_iter().flatten() {
                tls.spawn_watcher(interval);
            }
            if let Some(authenticator) = authenticator {
                // config/users and users_roles are re-read when they change, as the certificates.
                tokio::spawn(async move {
                    let mut ticker = tokio::time::interval(interval);
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        ticker.tick().await;
                        let authenticator = Arc::clone(&authenticator);
                        let roles = role_store.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            authenticator.reload_file_realm();
                            if let Some(roles) = roles {
                                roles.reload_if_changed();
                            }
                        })
                        .await;
                    }
                });
            }
        }
        // Listen for SIGTERM before anyone can learn the port: a supervisor that stops the node
        // as soon as it answers must get a clean shutdown, not the default signal action.
        let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
        if let Some(path) = &portsfile {
            let text: String = bound.iter().map(|a| format!("{a}\n")).collect();
            write_atomic(path, text.as_bytes(), PUBLIC_FILE_MODE)
                .map_err(|e| failure(format!("cannot write {}: {e}", path.display())))?;
        }
        tracing::info!(
            "started: {} on {} ({} mode)",
            if options.tls.is_some() {
                "HTTPS"
            } else {
                "HTTP"
            },
            bound
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            match mode {
                Mode::Production => "production",
                Mode::Development => "development",
            }
        );
        HttpServer::new(listeners, options, pipeline)
            .run(shutdown_signal(terminate))
            .await;
        // Every acknowledged write is already durable; this makes it searchable at once on
        // the next start, with nothing to replay.
        let closing = Arc::clone(&engine);
        let _ = tokio::task::spawn_blocking(move || closing.close()).await;
        if let Some(path) = &portsfile {
            let _ = std::fs::remove_file(path);
        }
        tracing::info!("stopped");
        Ok::<(), StartError>(())
    })?;
    // Do not wait for stray blocking tasks (a bcrypt in flight) longer than needed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(())
}

/// Logs a warning for each application that holds `superuser` (see `least_privilege`).
fn warn_about_superuser_applications(home: &Home, authenticator: &Authenticator) {
    let empty = serde_json::json!({});
    let mut users: Vec<(String, Vec<String>, serde_json::Value)> = Vec::new();
    if let Ok((file_users, _)) = rampart_security::file_realm::FileUsers::load(&home.config) {
        for name in file_users.users.keys() {
            let roles = file_users.roles.get(name).cloned().unwrap_or_default();
            users.push((name.clone(), roles, empty.clone()));
        }
    }
    if let Some(native) = authenticator.native_realm() {
        for (name, user) in native.all() {
            users.push((name, user.roles, user.metadata));
        }
    }
    for warning in least_privilege::superuser_warnings(
        users.iter().map(|(n, r, m)| (n.as_str(), r.as_slice(), m)),
    ) {
        tracing::warn!("{warning}");
    }
}

fn tls_layer(
    settings: &Settings,
    secure: &Arc<SecureSettings>,
    home: &Home,
    layer: Layer,
) -> Result<Option<Arc<ReloadingServerConfig>>, StartError> {
    if !settings.get_bool(&format!("xpack.security.{}.ssl.enabled", layer.name())) {
        return Ok(None);
    }
    let (settings, secure, config_dir) =
        (settings.clone(), Arc::clone(secure), home.config.clone());
    ReloadingServerConfig::new(layer.name(), move || {
        build_server_config(&settings, &secure, layer, &config_dir)
    })
    .map(|c| Some(Arc::new(c)))
    .map_err(|e| config_error(e.to_string()))
}

async fn shutdown_signal(terminate: std::io::Result<tokio::signal::unix::Signal>) {
    match terminate {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => tracing::info!("received SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT: stopping"),
        },
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM ({e}); stop the node with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("received SIGINT: stopping");
        }
    }
}

/// Printed once to standard output, never to the log file.
fn print_first_start(first: &FirstStart, bound: &[SocketAddr]) {
    let host = match bound
        .iter()
        .find(|a| a.ip().is_loopback() || a.ip().is_unspecified())
    {
        Some(a) => format!("localhost:{}", a.port()),
        None => bound.first().map(|a| a.to_string()).unwrap_or_default(),
    };
    let rule = "-".repeat(78);
    let password_lines = match &first.generated_password {
        Some(pw) => format!(
            "Password for the elastic user (shown only this once; keep it safe):\n  {}",
            pw.expose()
        ),
        None => {
            "Password for the elastic user: the one given in ELASTIC_PASSWORD or the keystore's \
                 bootstrap.password"
                .to_string()
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{rule}\n\
         Rampart security features have been automatically configured!\n\
         Authentication is enabled and cluster connections are encrypted.\n\n\
         {password_lines}\n\n\
         HTTP CA certificate SHA-256 fingerprint:\n  {}\n\n\
         Connect with curl (it asks for the password):\n  curl --cacert {} -u elastic https://{host}/\n\
         {rule}",
        first.ca_fingerprint,
        first.ca_path.display(),
    );
    let _ = out.flush();
}
