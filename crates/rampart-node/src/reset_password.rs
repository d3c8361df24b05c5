//! `rampart reset-password`: sets a reserved or native user's password through the running
//! node, as `elasticsearch-reset-password` does. The tool adds a temporary superuser to the
//! file realm (which the node re-reads within `resource.reload.interval.high`), calls
//! `POST /_security/user/{name}/_password` over HTTPS trusting `config/certs/http_ca.crt`,
//! and removes the temporary user whatever happens.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rampart_config::Settings;
use rampart_security::SecretString;
use rampart_security::file_realm::FileUsers;
use zeroize::Zeroizing;

use crate::home::Home;

/// A failure with the exit code `rampart reset-password --help` documents.
#[derive(Debug)]
pub struct ResetError {
    pub exit_code: u8,
    pub message: String,
}

pub mod exit {
    pub const USAGE: u8 = 64;
    /// The node refused the change (unknown user, a password too short, a file realm user).
    pub const REFUSED: u8 = 65;
    /// The node could not be reached or did not accept the temporary user in time.
    pub const UNAVAILABLE: u8 = 69;
    pub const IO: u8 = 74;
    pub const CONFIG: u8 = 78;
}

fn error(exit_code: u8, message: impl Into<String>) -> ResetError {
    ResetError {
        exit_code,
        message: message.into(),
    }
}

/// How long to wait for the node to re-read the file realm and accept the temporary user.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The temporary superuser in `config/users`; removed when dropped.
struct TemporaryUser {
    config: PathBuf,
    name: String,
    password: SecretString,
}

impl TemporaryUser {
    fn add(config: &Path) -> Result<TemporaryUser, ResetError> {
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix)
            .map_err(|e| error(exit::IO, format!("no system randomness: {e}")))?;
        let name = format!(
            "rampart_reset_{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let password = rampart_security::generate_password().map_err(|e| error(exit::IO, e))?;
        let (mut users, _) = FileUsers::load(config).map_err(|e| error(exit::IO, e))?;
        users
            .add_user(&name, &password, &["superuser".to_string()])
            .map_err(|e| error(exit::IO, e))?;
        users.save(config).map_err(|e| error(exit::IO, e))?;
        Ok(TemporaryUser {
            config: config.to_path_buf(),
            name,
            password,
        })
    }

    fn authorization(&self) -> Zeroizing<String> {
        let pair = Zeroizing::new(format!("{}:{}", self.name, self.password.expose()));
        Zeroizing::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
        ))
    }
}

impl Drop for TemporaryUser {
    fn drop(&mut self) {
        let removed = FileUsers::load(&self.config).and_then(|(mut users, _)| {
            users.remove_user(&self.name)?;
            users.save(&self.config)
        });
        if let Err(e) = removed {
            eprintln!(
                "WARNING: could not remove the temporary user [{}] from {}: {e}; remove it with \
                 `rampart users userdel {}`",
                self.name,
                self.config.display(),
                self.name
            );
        }
    }
}

/// The node's URL: `--url`, else the port the node wrote to `logs/http.ports`, else the first
/// port of `http.port`, on localhost, with https unless HTTP TLS is off.
fn node_url(settings: &Settings, home: &Home, url: Option<&str>) -> Result<String, ResetError> {
    if let Some(url) = url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let scheme = if settings.get_bool("xpack.security.http.ssl.enabled") {
        "https"
    } else {
        "http"
    };
    let from_ports_file = std::fs::read_to_string(home.logs.join("http.ports"))
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .and_then(|l| l.rsplit_once(':'))
                .and_then(|(_, p)| p.trim().parse::<u16>().ok())
        });
    let port = match from_ports_file {
        Some(port) => port,
        None => {
            let range = settings.get("http.port").unwrap_or_default();
            range
                .split('-')
                .next()
                .and_then(|p| p.trim().parse::<u16>().ok())
                .ok_or_else(|| error(exit::CONFIG, format!("[http.port] is not a port: {range}")))?
        }
    };
    Ok(format!("{scheme}://localhost:{port}"))
}

struct Target {
    https: bool,
    host: String,
    port: u16,
}

fn parse_url(url: &str) -> Result<Target, ResetError> {
    let bad = || {
        error(
            exit::USAGE,
            format!("--url [{url}] is not a URL such as https://localhost:9200"),
        )
    };
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad());
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h.to_string(), p.parse().map_err(|_| bad())?)
        }
        _ => (authority.to_string(), if https { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(Target { https, host, port })
}

/// Sends one request and returns the status and body.
async fn send(
    target: &Target,
    tls: Option<&Arc<rustls::ClientConfig>>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Vec<u8>), String> {
    let address = (
        target.host.trim_start_matches('[').trim_end_matches(']'),
        target.port,
    );
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
    macro_rules! exchange {
        ($io:expr) => {{
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new($io))
                .await
                .map_err(|e| format!("HTTP handshake failed: {e}"))?;
            tokio::spawn(connection);
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("the request failed: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the response failed: {e}"))?
                .to_bytes();
            Ok((status, body.to_vec()))
        }};
    }
    match tls {
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from(
                target
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            )
            .map_err(|e| format!("[{}] is not a host name: {e}", target.host))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {} failed: {e}", target.host))?;
            exchange!(stream)
        }
        None => exchange!(tcp),
    }
}

/// Resets `username`'s password to `password`, or to a generated one when `None`; returns the
/// new password.
pub fn reset_password(
    home_dir: &Path,
    username: &str,
    password: Option<SecretString>,
    url: Option<&str>,
) -> Result<SecretString, ResetError> {
    let root = std::path::absolute(home_dir).map_err(|e| {
        error(
            exit::USAGE,
            format!("cannot resolve {}: {e}", home_dir.display()),
        )
    })?;
    let home = Home::new(root);
    let env = |name: &str| std::env::var(name).ok();
    let settings = Settings::load(&home.config_file(), &[], &env)
        .map_err(|e| error(exit::CONFIG, e.to_string()))?;
    if !settings.get_bool("xpack.security.enabled") {
        return Err(error(
            exit::CONFIG,
            "security is disabled ([xpack.security.enabled: false]): there are no passwords to reset",
        ));
    }
    let url = node_url(&settings, &home, url)?;
    let target = parse_url(&url)?;
    let tls = if target.https {
        let ca = home.config.join("certs/http_ca.crt");
        Some(rampart_pki::client_config_trusting(&ca).map_err(|e| {
            error(
                exit::CONFIG,
                format!(
                    "cannot trust the node's certificate: {e} (it is written on the first start)"
                ),
            )
        })?)
    } else {
        None
    };
    let password = match password {
        Some(p) => p,
        None => rampart_security::generate_password().map_err(|e| error(exit::IO, e))?,
    };
    let body = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({ "password": password.expose() }))
            .map_err(|e| error(exit::IO, e.to_string()))?,
    );
    let path = format!(
        "/_security/user/{}/_password",
        percent_encode_segment(username)
    );

    let temporary = TemporaryUser::add(&home.config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| error(exit::IO, format!("cannot start: {e}")))?;
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    let outcome = runtime.block_on(async {
        loop {
            let request = hyper::Request::post(&path)
                .header("host", format!("{}:{}", target.host, target.port))
                .header("content-type", "application/json")
                .header("authorization", temporary.authorization().as_str())
                .body(Full::new(Bytes::copy_from_slice(&body)))
                .map_err(|e| error(exit::IO, e.to_string()))?;
            match send(&target, tls.as_ref(), request).await {
                // The node has not re-read config/users yet.
                Ok((401, _)) if Instant::now() < deadline => {}
                Ok((200, _)) => return Ok(()),
                Ok((401, _)) => {
                    return Err(error(
                        exit::UNAVAILABLE,
                        format!(
                            "the node at {url} did not accept the temporary file-realm user \
                             within {}s: is it running from {}?",
                            ACCEPT_TIMEOUT.as_secs(),
                            home.root.display()
                        ),
                    ));
                }
                Ok((status, response)) => {
                    let reason = serde_json::from_slice::<serde_json::Value>(&response)
                        .ok()
                        .and_then(|v| {
                            v["error"]["reason"]
                                .as_str()
                                .or(v["error"].as_str())
                                .map(str::to_string)
                        })
                        .unwrap_or_else(|| String::from_utf8_lossy(&response).into_owned());
                    return Err(error(
                        exit::REFUSED,
                        format!("the node refused to reset the password of [{username}] ({status}): {reason}"),
                    ));
                }
                Err(e) if e.starts_with("cannot connect") => {
                    return Err(error(
                        exit::UNAVAILABLE,
                        format!("{e}: start the node first, or give its address with --url"),
                    ));
                }
                Err(e) => return Err(error(exit::UNAVAILABLE, e)),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    drop(temporary);
    outcome.map(|()| password)
}

fn percent_encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names() {
        let t = parse_url("https://localhost:9201").expect("url");
        assert!(t.https && t.host == "localhost" && t.port == 9201);
        let t = parse_url("http://[::1]:9200/").expect("url");
        assert!(!t.https && t.host == "[::1]" && t.port == 9200);
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("https://:9200").is_err());
        assert_eq!(percent_encode_segment("a b/c"), "a%20b%2Fc");
    }
}
