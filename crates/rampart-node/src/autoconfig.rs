//! First-start security auto-configuration, as Elasticsearch 8 does it: a CA, an HTTP and a
//! transport certificate in `config/certs/`, their passwords as secure settings, the security
//! block in `rampart.yml`, and an `elastic` password.

use std::fs::{self, DirBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use rampart_config::Settings;
use rampart_config::fsutil::{PUBLIC_FILE_MODE, SECRET_FILE_MODE, write_atomic};
use rampart_pki::{CertificateAuthority, KeyUsage, Validity, certificates_to_pem, write_pkcs12};
use rampart_security::{SecretString, generate_password};
use zeroize::Zeroizing;

use crate::home::{Home, is_empty_dir};
use crate::keystore::NodeKeystore;

pub const BEGIN_MARKER: &str = "# BEGIN SECURITY AUTO CONFIGURATION";
pub const END_MARKER: &str = "# END SECURITY AUTO CONFIGURATION";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Configure,
    /// Not configured, and the reason goes to the log.
    Skip(String),
    /// Starting would serve without the security the files on disk were meant to give: stop.
    Refuse(String),
}

/// Elasticsearch's rules: only a fresh node with no security settings configures itself.
pub fn decide(
    settings: &Settings,
    keystore: &NodeKeystore,
    home: &Home,
    data_was_empty: bool,
) -> Decision {
    if let Some(key) = settings.keys().find(|k| k.starts_with("xpack.security.")) {
        return Decision::Skip(format!(
            "security is configured explicitly ([{key}] in {})",
            settings.source_of(key)
        ));
    }
    // TLS material without any xpack.security.* setting to use it: an auto-configuration
    // interrupted after writing it, or material nobody wired up. Starting now would serve plain
    // HTTP, so fail closed, whatever else is true.
    let certs = home.config.join("certs");
    let keystore_entry = keystore
        .keystore
        .names()
        .find(|n| n.starts_with("xpack.security."))
        .map(str::to_string);
    if certs.exists() || keystore_entry.is_some() {
        let found = match &keystore_entry {
            Some(name) => format!("the keystore holds [{name}]"),
            None => format!("{} exists", certs.display()),
        };
        return Decision::Refuse(format!(
            "{found} but no xpack.security.* setting is configured, so this node would start \
             without TLS (an interrupted first start?): to let Rampart configure security again, \
             remove {} and the xpack.security.* entries of the keystore (`rampart keystore list`, \
             `rampart keystore remove NAME`); or configure xpack.security.* in rampart.yml to use them",
            certs.display(),
        ));
    }
    if !data_was_empty {
        return Decision::Skip(format!(
            "the data directory {} is not empty, so this node has run before without auto-configured security",
            home.data.display()
        ));
    }
    if !settings.get_list("discovery.seed_hosts").is_empty() {
        return Decision::Skip(
            "[discovery.seed_hosts] is set, so this node is meant to join an existing cluster; \
             configure its security like that cluster's"
                .to_string(),
        );
    }
    Decision::Configure
}

/// What the operator is told once, after the node is up.
#[derive(Debug)]
pub struct FirstStart {
    /// The generated password, or `None` when it came from `ELASTIC_PASSWORD`.
    pub generated_password: Option<SecretString>,
    pub password: SecretString,
    pub ca_fingerprint: String,
    pub ca_path: std::path::PathBuf,
}

fn random_password() -> Result<Zeroizing<String>, String> {
    Ok(Zeroizing::new(generate_password()?.expose().to_string()))
}

pub fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Generates and writes everything; `http_addrs` are the addresses HTTP will bind.
/// `initial_password` is `ELASTIC_PASSWORD` or the keystore's `bootstrap.password`, if any.
pub fn configure(
    home: &Home,
    http_addrs: &[IpAddr],
    initial_password: Option<SecretString>,
    keystore: &mut NodeKeystore,
) -> Result<FirstStart, String> {
    let host = hostname();
    let mut dns = vec!["localhost".to_string()];
    if !host.is_empty() && host != "localhost" {
        dns.push(host.clone());
    }
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    let mut add_ip = |ip: IpAddr| {
        if !ip.is_unspecified() && !ips.contains(&ip) {
            ips.push(ip);
        }
    };
    for ip in http_addrs {
        add_ip(*ip);
    }
    // A wildcard bind serves every interface: name the host's own addresses too.
    if http_addrs.iter().any(IpAddr::is_unspecified)
        && let Ok(addrs) = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), 0))
    {
        for a in addrs {
            add_ip(a.ip());
        }
    }

    let gen_err =
        |what: &str, e: rampart_pki::GenerationError| format!("cannot generate the {what}: {e}");
    let http_ca = CertificateAuthority::generate(
        "Rampart security auto-configuration HTTP CA",
        Validity { days: 1095 },
    )
    .map_err(|e| gen_err("HTTP CA", e))?;
    let http_cert = http_ca
        .issue(&host, &dns, &ips, KeyUsage::Server, Validity { days: 730 })
        .map_err(|e| gen_err("HTTP certificate", e))?;
    let transport_ca = CertificateAuthority::generate(
        "Rampart security auto-configuration transport CA",
        Validity { days: 1095 },
    )
    .map_err(|e| gen_err("transport CA", e))?;
    let transport_cert = transport_ca
        .issue(
            &host,
            &dns,
            &ips,
            KeyUsage::ServerAndClient,
            Validity { days: 730 },
        )
        .map_err(|e| gen_err("transport certificate", e))?;

    let http_password = random_password()?;
    let transport_password = random_password()?;
    let http_p12 = write_pkcs12(
        "http",
        &http_cert.key_pkcs8,
        &[http_cert.certificate.clone(), http_ca.certificate().clone()],
        &[("http_ca", http_ca.certificate().clone())],
        &http_password,
    )?;
    let transport_p12 = write_pkcs12(
        "transport",
        &transport_cert.key_pkcs8,
        &[
            transport_cert.certificate.clone(),
            transport_ca.certificate().clone(),
        ],
        &[("transport_ca", transport_ca.certificate().clone())],
        &transport_password,
    )?;

    // Certificates go into a temporary directory renamed into place, so a crash leaves either
    // no config/certs or a complete one.
    let certs = home.config.join("certs");
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce).map_err(|e| e.to_string())?;
    let staging = home.config.join(format!(
        ".certs.tmp-{}",
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let write_err = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
    remove_stale_staging(&home.config);
    DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(|e| write_err(&staging, e))?;
    let staged = (|| {
        let ca_pem = certificates_to_pem(&[http_ca.certificate().clone()]);
        for (name, bytes, mode) in [
            ("http_ca.crt", ca_pem.as_bytes(), PUBLIC_FILE_MODE),
            ("http.p12", &http_p12[..], SECRET_FILE_MODE),
            ("transport.p12", &transport_p12[..], SECRET_FILE_MODE),
        ] {
            let path = staging.join(name);
            write_atomic(&path, bytes, mode).map_err(|e| write_err(&path, e))?;
        }
        Ok::<(), String>(())
    })();
    const GENERATED: [&str; 3] = [
        "xpack.security.http.ssl.keystore.secure_password",
        "xpack.security.transport.ssl.keystore.secure_password",
        "xpack.security.transport.ssl.truststore.secure_password",
    ];
    let installed = staged.and_then(|()| {
        keystore.set(GENERATED[0], &http_password)?;
        keystore.set(GENERATED[1], &transport_password)?;
        keystore.set(GENERATED[2], &transport_password)?;
        keystore.save()?;
        fs::rename(&staging, &certs).map_err(|e| {
            // Take the passwords back out, so the next start is a clean first start.
            for name in GENERATED {
                keystore.keystore.remove(name);
            }
            let _ = keystore.save();
            write_err(&certs, e)
        })
    });
    if let Err(e) = installed {
        // Private keys must not linger in a staging directory nobody looks at.
        let _ = fs::remove_dir_all(&staging);
        return Err(e);
    }
    fs::File::open(&home.config)
        .and_then(|d| d.sync_all())
        .map_err(|e| write_err(&home.config, e))?;

    append_security_block(&home.config_file())?;

    let (password, generated_password) = match initial_password {
        Some(pw) => (pw, None),
        None => {
            let pw = generate_password()?;
            (pw.clone(), Some(pw))
        }
    };
    Ok(FirstStart {
        generated_password,
        password,
        ca_fingerprint: rampart_pki::sha256_fingerprint(http_ca.certificate()),
        ca_path: certs.join("http_ca.crt"),
    })
}

/// Removes staging directories a crashed first start left behind: they hold private keys.
fn remove_stale_staging(config_dir: &Path) {
    let Ok(entries) = fs::read_dir(config_dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".certs.tmp-")
        {
            tracing::warn!(
                "removing {}, left by an interrupted first start",
                entry.path().display()
            );
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn append_security_block(config_file: &Path) -> Result<(), String> {
    let existing = match fs::read_to_string(config_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", config_file.display())),
    };
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "\n{BEGIN_MARKER}\n\
         #\n\
         # Written by `rampart start` on its first start: security on, TLS for clients (HTTP) and\n\
         # between nodes (transport), with certificates in config/certs/. Their passwords are secure\n\
         # settings. Edit with care; remove this block and config/certs/ only together.\n\
         #\n\
         xpack.security.enabled: true\n\
         xpack.security.http.ssl:\n  \
           enabled: true\n  \
           keystore.path: certs/http.p12\n\
         xpack.security.transport.ssl:\n  \
           enabled: true\n  \
           verification_mode: certificate\n  \
           keystore.path: certs/transport.p12\n  \
           truststore.path: certs/transport.p12\n\
         {END_MARKER}\n"
    ));
    write_atomic(config_file, text.as_bytes(), PUBLIC_FILE_MODE)
        .map_err(|e| format!("cannot write {}: {e}", config_file.display()))
}

/// True when the data directory holds nothing yet but a lock left by a start that failed early.
pub fn data_is_empty(home: &Home) -> Result<bool, String> {
    is_empty_dir(&home.data, &[crate::home::LOCK_FILE])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fresh_node_without_security_settings_configures_itself() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = Home::new(dir.path().to_path_buf());
        let none = Settings::from_pairs(&[]).expect("s");
        let mut ks = NodeKeystore::open(&home.config).expect("keystore");
        assert_eq!(decide(&none, &ks, &home, true), Decision::Configure);
        assert!(
            matches!(decide(&none, &ks, &home, false), Decision::Skip(r) if r.contains("not empty"))
        );
        let explicit = Settings::from_pairs(&[("xpack.security.enabled", "false")]).expect("s");
        assert!(matches!(
            decide(&explicit, &ks, &home, true),
            Decision::Skip(r) if r.contains("xpack.security.enabled")
        ));
        ks.set("xpack.security.http.ssl.keystore.secure_password", "x")
            .expect("set");
        assert!(
            matches!(decide(&none, &ks, &home, true), Decision::Refuse(r) if r.contains("the keystore holds")),
            "TLS passwords with no TLS configured fail closed"
        );
        let ks = NodeKeystore::open(&home.config).expect("keystore");
        fs::create_dir_all(home.config.join("certs")).expect("mkdir");
        assert!(
            matches!(decide(&none, &ks, &home, true), Decision::Refuse(r) if r.contains("without TLS")),
            "an interrupted first start fails closed"
        );
    }

    #[test]
    fn configure_writes_certs_secrets_and_a_loadable_security_block() {
        let dir = tempfile::tempdir().expect("tmp");
        let home = Home::new(dir.path().to_path_buf());
        home.create_dirs().expect("dirs");
        fs::write(home.config_file(), "cluster.name: kept\n").expect("yml");
        let mut ks = NodeKeystore::open(&home.config).expect("keystore");
        let first =
            configure(&home, &[IpAddr::V4(Ipv4Addr::LOCALHOST)], None, &mut ks).expect("configure");
        assert!(first.generated_password.is_some());
        assert_eq!(first.ca_fingerprint.len(), 64);
        let settings =
            Settings::load(&home.config_file(), &[], &|_| None).expect("still valid yaml");
        assert_eq!(settings.get("cluster.name").as_deref(), Some("kept"));
        assert!(settings.get_bool("xpack.security.http.ssl.enabled"));
        let reopened = NodeKeystore::open(&home.config).expect("keystore on disk");
        reopened.validate().expect("only known secure settings");
        let secure = reopened.secure_settings();
        for layer in [rampart_pki::Layer::Http, rampart_pki::Layer::Transport] {
            rampart_pki::build_server_config(&settings, &secure, layer, &home.config)
                .unwrap_or_else(|e| panic!("{layer:?}: {e}"));
        }
        use std::os::unix::fs::PermissionsExt;
        for secret in ["certs/http.p12", "certs/transport.p12", "rampart.keystore"] {
            let mode = fs::metadata(home.config.join(secret))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{secret}");
        }
        let leftovers: Vec<_> = fs::read_dir(&home.config)
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
