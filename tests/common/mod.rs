//! Shared harness for end-to-end tests: a real `rampart` process in a temporary home on an
//! ephemeral loopback port, and real clients (curl, openssl, Python) talking to it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const ALLOW_ROOT_ENV: &str = "RAMPART_ALLOW_ROOT";
pub const ALLOW_ROOT_VALUE: &str = "I-understand-running-as-root-is-unsafe";

pub fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

pub fn rampart_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// A command for `rampart` with the root override only when this test process is root.
pub fn rampart(home: &Path) -> Command {
    let mut cmd = Command::new(rampart_bin());
    cmd.arg("--home").arg(home);
    cmd.env_remove("ELASTIC_PASSWORD")
        .env_remove(ALLOW_ROOT_ENV)
        .env_remove("RAMPART_HOME");
    if running_as_root() {
        cmd.env(ALLOW_ROOT_ENV, ALLOW_ROOT_VALUE);
    }
    cmd
}

pub struct Node {
    pub home: PathBuf,
    child: Option<Child>,
    pub port: u16,
}

impl Node {
    /// Starts a node with `-E` settings and extra environment, waiting until it serves.
    pub fn start(home: &Path, settings: &[&str], env: &[(&str, &str)]) -> Node {
        let mut cmd = rampart(home);
        cmd.arg("start")
            .arg("-E")
            .arg("http.port=0")
            .arg("-E")
            .arg("node.portsfile=true");
        for s in settings {
            cmd.arg("-E").arg(s);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        std::fs::create_dir_all(home).expect("home");
        // A node killed with SIGKILL leaves its ports file behind: never read a stale port.
        let _ = std::fs::remove_file(home.join("logs/http.ports"));
        let stdout = std::fs::File::create(home.join("stdout.txt")).expect("stdout file");
        let stderr = std::fs::File::create(home.join("stderr.txt")).expect("stderr file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn rampart");
        let mut node = Node {
            home: home.to_path_buf(),
            child: Some(child),
            port: 0,
        };
        node.port = node.wait_for_port();
        node
    }

    fn wait_for_port(&mut self) -> u16 {
        let ports = self.home.join("logs/http.ports");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ports)
                && let Some(line) = text.lines().next()
                && let Some((_, port)) = line.rsplit_once(':')
            {
                return port.parse().expect("port");
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("wait"))
            {
                panic!(
                    "rampart exited with {status} before serving:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rampart did not start:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.home.join("stdout.txt")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.join("stderr.txt")).unwrap_or_default()
    }

    /// The elastic password printed on a first start.
    pub fn printed_password(&self) -> String {
        let out = self.stdout();
        let mut lines = out.lines();
        lines
            .find(|l| l.starts_with("Password for the elastic user"))
            .unwrap_or_else(|| panic!("no password printed:\n{out}"));
        lines.next().expect("password line").trim().to_string()
    }

    pub fn ca(&self) -> PathBuf {
        self.home.join("config/certs/http_ca.crt")
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("rampart did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `rampart start` expecting it to exit on its own; returns its output.
pub fn start_expecting_exit(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rampart kept running but was expected to exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

pub struct CurlResponse {
    pub exit_code: i32,
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl CurlResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Runs curl with `args`, capturing status, headers and body.
pub fn curl(args: &[&str]) -> CurlResponse {
    let dir = tempfile::tempdir().expect("tmp");
    let headers_path = dir.path().join("headers");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "-", "-D"])
        .arg(&headers_path)
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    CurlResponse {
        exit_code: out.status.code().unwrap_or(-1),
        status: status.trim().parse().unwrap_or(0),
        headers: std::fs::read_to_string(&headers_path).unwrap_or_default(),
        body: body.to_string(),
    }
}

/// The Python interpreter of the test venv (made by scripts/test).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("RAMPART_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        venv.exists(),
        "no Python venv at {}: run scripts/test, which creates it with the official clients",
        venv.display()
    );
    venv
}

pub fn python_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(name)
}

/// The SHA-256 fingerprint (lowercase hex) of the certificate a fresh TLS connection is served.
pub fn served_fingerprint(port: u16) -> Option<String> {
    let script = format!(
        "echo | openssl s_client -connect 127.0.0.1:{port} -servername localhost 2>/dev/null \
         | openssl x509 -noout -fingerprint -sha256"
    );
    let out = Command::new("sh").arg("-c").arg(script).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (_, hex) = text.trim().split_once('=')?;
    Some(hex.replace(':', "").to_lowercase())
}

pub fn file_fingerprint(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .expect("openssl x509");
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .split_once('=')
        .expect("fingerprint")
        .1
        .replace(':', "")
        .to_lowercase()
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs openssl in `dir` with `args`, failing the test with its stderr on error.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    run_ok(Command::new("openssl").current_dir(dir).args(args))
}

/// A P-256 key `<name>.key` and a certificate `<name>.crt` made by openssl in `dir`: self-signed
/// when `ca` is `None`, else signed by the `ca` pair of the same folder. `extension` is one
/// X.509 v3 extension line such as `subjectAltName=DNS:localhost`.
pub fn openssl_certificate(dir: &Path, name: &str, ca: Option<&str>, extension: &str) -> PathBuf {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let subject = format!("/CN={name}");
    match ca {
        None => {
            let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subject];
            args.extend(ec);
            args.extend(["-addext", extension, "-keyout", &key, "-out", &crt]);
            openssl(dir, &args);
        }
        Some(ca) => {
            let csr = format!("{name}.csr");
            let mut args = vec!["req", "-subj", &subject];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr]);
            openssl(dir, &args);
            let ext_file = format!("{name}.ext");
            std::fs::write(dir.join(&ext_file), extension).expect("extension file");
            let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_crt,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &ext_file,
                    "-out",
                    &crt,
                ],
            );
        }
    }
    dir.join(crt)
}

/// A GET through curl that trusts `ca` and authenticates as `userpass` (`user:password`).
pub fn curl_as(ca: &Path, userpass: &str, url: &str) -> CurlResponse {
    curl(&[
        "--cacert",
        ca.to_str().expect("utf8 path"),
        "-u",
        userpass,
        url,
    ])
}

/// Runs `rampart --home HOME ARGS` with `input` on standard input and extra environment.
pub fn rampart_with_input(home: &Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    use std::io::Write;
    let mut cmd = rampart(home);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rampart");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// A request with a JSON body as `userpass`, trusting the node's CA.
#[allow(dead_code)]
pub fn request(method: &str, node: &Node, userpass: &str, path: &str, body: &str) -> CurlResponse {
    let ca = node.ca();
    curl(&[
        "--cacert",
        ca.to_str().expect("utf8"),
        "-u",
        userpass,
        "-X",
        method,
        "-H",
        "content-type: application/json",
        "--data-binary",
        body,
        &node.url(path),
    ])
}

/// Runs `tests/python/SCRIPT URL CA ELASTIC_PASSWORD` against a first-started node and checks
/// that it printed "ok".
#[allow(dead_code)]
pub fn python_script_passes(node: &Node, script: &str) {
    let out = run_ok(
        std::process::Command::new(python())
            .arg(python_script(script))
            .arg(node.url(""))
            .arg(node.ca())
            .arg(node.printed_password()),
    );
    assert_eq!(out.trim(), "ok", "{script}");
}
