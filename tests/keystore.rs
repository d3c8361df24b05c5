//! End to end: `rampart keystore` as a real process fed through standard input, and a node that
//! reads its secure settings from the keystore.

mod common;

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::*;

/// Runs `rampart keystore ARGS` with `input` on standard input.
fn keystore(home: &std::path::Path, args: &[&str], input: &str, env: &[(&str, &str)]) -> Output {
    let args: Vec<&str> = std::iter::once("keystore")
        .chain(args.iter().copied())
        .collect();
    rampart_with_input(home, &args, input, env)
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_keystore_cli_round_trips_and_refuses_wrong_passwords_and_damage() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    let created = keystore(home, &["create", "-p"], "first-pw\n", &[]);
    assert!(created.status.success(), "{}", text(&created));
    let path = home.join("config/rampart.keystore");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777,
        0o600
    );

    let added = keystore(
        home,
        &["add", "s3.client.default.secret_key", "bootstrap.password"],
        "first-pw\nvalue-one\nvalue-two\n",
        &[],
    );
    assert!(added.status.success(), "{}", text(&added));
    let raw = std::fs::read(&path).expect("raw");
    assert!(
        !raw.windows(9).any(|w| w == b"value-one"),
        "encrypted at rest"
    );

    let listed = keystore(home, &["list"], "first-pw\n", &[]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "bootstrap.password\nkeystore.seed\ns3.client.default.secret_key\n"
    );
    let shown = keystore(home, &["show", "bootstrap.password"], "first-pw\n", &[]);
    assert_eq!(String::from_utf8_lossy(&shown.stdout), "value-two\n");
    assert_eq!(
        keystore(home, &["has-passwd"], "", &[]).status.code(),
        Some(0)
    );
    let missing = keystore(home, &["show", "no.such.setting"], "first-pw\n", &[]);
    assert_eq!(missing.status.code(), Some(78), "{}", text(&missing));

    let pwfile = home.join("pw.txt");
    std::fs::write(&pwfile, "first-pw\n").expect("pw file");
    let via_file = keystore(
        home,
        &["list"],
        "",
        &[(
            "RAMPART_KEYSTORE_PASSPHRASE_FILE",
            pwfile.to_str().expect("utf8"),
        )],
    );
    assert!(via_file.status.success(), "{}", text(&via_file));

    let wrong = keystore(home, &["list"], "not-the-pw\n", &[]);
    assert_eq!(wrong.status.code(), Some(65), "{}", text(&wrong));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password is incorrect"));

    let exists = keystore(home, &["add", "bootstrap.password"], "first-pw\nnew\n", &[]);
    assert_eq!(exists.status.code(), Some(64), "{}", text(&exists));
    assert!(String::from_utf8_lossy(&exists.stderr).contains("-f"));

    let changed = keystore(home, &["passwd"], "first-pw\n\n", &[]);
    assert!(changed.status.success(), "{}", text(&changed));
    assert!(String::from_utf8_lossy(&changed.stderr).contains("only obfuscated"));
    assert_eq!(
        keystore(home, &["has-passwd"], "", &[]).status.code(),
        Some(1)
    );

    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).expect("write");
    let damaged = keystore(home, &["list"], "", &[]);
    assert_eq!(damaged.status.code(), Some(65), "{}", text(&damaged));
    assert!(String::from_utf8_lossy(&damaged.stderr).contains("damaged"));
}

#[test]
fn a_write_killed_at_any_moment_leaves_a_whole_keystore() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    assert!(keystore(home, &["create"], "", &[]).status.success());
    for round in 0..25u64 {
        let mut child = rampart(home)
            .args(["keystore", "add", "-f", "bootstrap.password"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("value-{round}\n").as_bytes())
            .expect("write");
        drop(stdin);
        // Kill at staggered moments: before, during and after the key derivation and the write.
        std::thread::sleep(Duration::from_millis(round * 4));
        let _ = child.kill();
        let _ = child.wait();
        let listed = keystore(home, &["list"], "", &[]);
        assert!(listed.status.success(), "round {round}: {}", text(&listed));
        // Whatever survived is a whole keystore: the old one, or one a round fully wrote.
        if String::from_utf8_lossy(&listed.stdout).contains("bootstrap.password") {
            let shown = keystore(home, &["show", "bootstrap.password"], "", &[]);
            let value = String::from_utf8_lossy(&shown.stdout)
                .trim_end()
                .to_string();
            let written: Vec<String> = (0..=round).map(|r| format!("value-{r}")).collect();
            assert!(
                written.contains(&value),
                "round {round}: unexpected value {value:?}"
            );
        }
    }
}

#[test]
fn a_node_reads_its_secrets_from_the_keystore() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    // bootstrap.password sets the elastic password on the first start, as in Elasticsearch.
    let added = keystore(
        home,
        &["add", "-f", "bootstrap.password"],
        "from-the-keystore\n",
        &[],
    );
    assert!(added.status.success(), "{}", text(&added));
    let node = Node::start(home, &[], &[]);
    assert!(!node.stdout().contains("from-the-keystore"), "never echoed");
    let ca = node.ca();
    let ok = curl_as(&ca, "elastic:from-the-keystore", &node.url("/"));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(!home.join("config/secure-settings.json").exists());
    assert_eq!(node.stop().code(), Some(0));

    // Protect the keystore: a start without a terminal now needs the passphrase file.
    let protected = keystore(home, &["passwd"], "node-ks-pw\n", &[]);
    assert!(protected.status.success(), "{}", text(&protected));
    let mut cmd = rampart(home);
    cmd.args(["start", "-E", "http.port=0"]);
    let refused = start_expecting_exit(cmd);
    assert_eq!(refused.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("RAMPART_KEYSTORE_PASSPHRASE_FILE"));

    let pwfile = home.join("ks-pw");
    std::fs::write(&pwfile, "node-ks-pw\n").expect("write");
    let node = Node::start(
        home,
        &[],
        &[(
            "RAMPART_KEYSTORE_PASSPHRASE_FILE",
            pwfile.to_str().expect("utf8"),
        )],
    );
    let ok = curl_as(&ca, "elastic:from-the-keystore", &node.url("/"));
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[test]
fn unknown_keystore_entries_stop_the_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    let added = keystore(
        home,
        &[
            "add",
            "-f",
            "xpack.security.http.ssl.keystore.secure_pasword",
        ],
        "x\n",
        &[],
    );
    assert!(added.status.success(), "{}", text(&added));
    let mut cmd = rampart(home);
    cmd.args(["start", "-E", "http.port=0"]);
    let out = start_expecting_exit(cmd);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("[xpack.security.http.ssl.keystore.secure_pasword]"),
        "{err}"
    );
    assert!(
        err.contains("did you mean [xpack.security.http.ssl.keystore.secure_password]"),
        "{err}"
    );
    assert!(err.contains("rampart keystore remove"), "{err}");
}

#[test]
fn the_interim_secure_settings_file_is_migrated_into_the_keystore() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    let node = Node::start(home, &[], &[]);
    let password = node.printed_password();
    assert_eq!(node.stop().code(), Some(0));
    // Recreate what an earlier version left: the secrets in config/secure-settings.json, no keystore.
    let mut interim = serde_json::Map::new();
    for name in [
        "xpack.security.http.ssl.keystore.secure_password",
        "xpack.security.transport.ssl.keystore.secure_password",
        "xpack.security.transport.ssl.truststore.secure_password",
    ] {
        let shown = run_ok(rampart(home).args(["keystore", "show", name]));
        interim.insert(
            name.to_string(),
            serde_json::Value::String(shown.trim_end().to_string()),
        );
    }
    std::fs::write(
        home.join("config/secure-settings.json"),
        serde_json::to_vec(&interim).expect("json"),
    )
    .expect("write");
    std::fs::remove_file(home.join("config/rampart.keystore")).expect("rm");

    let node = Node::start(home, &[], &[]);
    assert!(
        !home.join("config/secure-settings.json").exists(),
        "migrated and removed"
    );
    assert!(home.join("config/rampart.keystore").exists());
    assert!(
        node.stderr().contains("into the keystore"),
        "{}",
        node.stderr()
    );
    let ca = node.ca();
    let ok = curl_as(&ca, &format!("elastic:{password}"), &node.url("/"));
    assert_eq!(ok.status, 200, "{}", ok.body);
}

#[test]
fn on_a_terminal_the_keystore_password_is_asked_for_and_not_echoed() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    let created = keystore(home, &["create", "-p"], "tty-pw-123\n", &[]);
    assert!(created.status.success(), "{}", text(&created));
    let steps = serde_json::json!([["Enter password for the rampart keystore", "tty-pw-123"]]);
    std::fs::write(home.join("steps.json"), steps.to_string()).expect("steps");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(python_script("drive_tty.py"))
        .arg(home)
        .arg(home.join("steps.json"))
        .arg("--")
        .arg(rampart_bin())
        .arg("--home")
        .arg(home)
        .args(["keystore", "list"]);
    cmd.env_remove("RAMPART_KEYSTORE_PASSPHRASE_FILE");
    let out = run_ok(&mut cmd);
    assert!(out.contains("keystore.seed"), "{out}");
    assert!(
        !out.contains("tty-pw-123"),
        "the password is not echoed: {out}"
    );
}
