//! End to end: the file realm through `rampart users`, a running node, and files changed under it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn users(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    rampart(home)
        .arg("users")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("spawn")
}

fn users_ok(home: &std::path::Path, args: &[&str]) -> String {
    let out = users(home, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls until `check` holds, for at most `seconds`.
fn eventually(seconds: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn users_cli_writes_elasticsearch_formats_that_an_independent_bcrypt_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    users_ok(
        home,
        &[
            "useradd",
            "app_optimize",
            "-p",
            "optimize-pw",
            "-r",
            "optimize_writer,viewer",
        ],
    );
    let users_file = std::fs::read_to_string(home.join("config/users")).expect("users");
    let (name, hash) = users_file.trim().split_once(':').expect("name:hash");
    assert_eq!(name, "app_optimize");
    assert!(hash.starts_with("$2a$10$"), "{hash}");
    let verified = run_ok(
        Command::new(python())
            .arg(python_script("bcrypt_verify.py"))
            .arg("optimize-pw")
            .arg(hash),
    );
    assert_eq!(verified.trim(), "ok");
    assert_eq!(
        std::fs::read_to_string(home.join("config/users_roles")).expect("roles"),
        "optimize_writer:app_optimize\nviewer:app_optimize\n"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in ["config/users", "config/users_roles"] {
        assert_eq!(
            std::fs::metadata(home.join(f))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o600,
            "{f}"
        );
    }
    assert_eq!(
        users_ok(home, &["list"]),
        "app_optimize   : optimize_writer,viewer\n"
    );
    users_ok(
        home,
        &[
            "roles",
            "app_optimize",
            "-r",
            "viewer",
            "-a",
            "monitoring_user",
        ],
    );
    assert_eq!(
        users_ok(home, &["list", "app_optimize"]),
        "app_optimize   : monitoring_user,optimize_writer\n"
    );

    for (args, needle) in [
        (vec!["useradd", "elastic", "-p", "whatever-pw"], "reserved"),
        (vec!["useradd", "short", "-p", "12345"], "at least 6"),
        (
            vec!["useradd", "app_optimize", "-p", "another-pw"],
            "already exists",
        ),
        (vec!["userdel", "ghost"], "does not exist"),
    ] {
        let out = users(home, &args);
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
}

#[test]
fn file_users_authenticate_and_changes_apply_without_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    users_ok(
        home,
        &[
            "useradd",
            "admin_file",
            "-p",
            "admin-file-pw",
            "-r",
            "superuser",
        ],
    );
    users_ok(
        home,
        &[
            "useradd",
            "nobody_much",
            "-p",
            "nobody-pw",
            "-r",
            "no_such_role",
        ],
    );
    let node = Node::start(home, &["resource.reload.interval.high=1s"], &[]);
    let ca = node.ca();

    let root = curl_as(&ca, "admin_file:admin-file-pw", &node.url("/"));
    assert_eq!(root.status, 200, "{}", root.body);
    let me = curl_as(
        &ca,
        "admin_file:admin-file-pw",
        &node.url("/_security/_authenticate"),
    );
    assert_eq!(
        me.json(),
        serde_json::json!({"username": "admin_file", "roles": ["superuser"], "full_name": null,
            "email": null, "metadata": {}, "enabled": true,
            "authentication_realm": {"name": "default_file", "type": "file"},
            "lookup_realm": {"name": "default_file", "type": "file"}, "authentication_type": "realm"})
    );
    // A role that grants nothing: authenticated, asks who it is, but may not do more.
    let denied = curl_as(&ca, "nobody_much:nobody-pw", &node.url("/"));
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert_eq!(
        denied.json()["error"]["reason"],
        "action [cluster:monitor/main] is unauthorized for user [nobody_much] with effective roles [no_such_role], this action is granted by the cluster privileges [all,monitor,manage]"
    );
    assert_eq!(
        curl_as(
            &ca,
            "nobody_much:nobody-pw",
            &node.url("/_security/_authenticate")
        )
        .status,
        200
    );

    let elastic = curl_as(
        &ca,
        &format!("elastic:{}", node.printed_password()),
        &node.url("/_security/_authenticate"),
    );
    let cleared = curl(&[
        "--cacert",
        ca.to_str().expect("utf8"),
        "-u",
        &format!("elastic:{}", node.printed_password()),
        "-X",
        "POST",
        &node.url("/_security/realm/default_file,default_native/_clear_cache?usernames=admin_file"),
    ]);
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.json()["_nodes"]["successful"], 1);
    assert_eq!(
        curl_as(&ca, "admin_file:admin-file-pw", &node.url("/")).status,
        200,
        "still authenticates"
    );
    assert_eq!(elastic.json()["authentication_realm"]["type"], "reserved");
    assert_eq!(elastic.json()["metadata"]["_reserved"], true);

    // Changes to the files apply to the running node, and the credential cache forgets.
    users_ok(home, &["passwd", "admin_file", "-p", "rotated-pw-2"]);
    eventually(10, "the new password working", || {
        curl_as(&ca, "admin_file:rotated-pw-2", &node.url("/")).status == 200
    });
    assert_eq!(
        curl_as(&ca, "admin_file:admin-file-pw", &node.url("/")).status,
        401,
        "old password"
    );
    users_ok(home, &["userdel", "admin_file"]);
    eventually(10, "the removed user being refused", || {
        curl_as(&ca, "admin_file:rotated-pw-2", &node.url("/")).status == 401
    });
}

fn pbkdf2(args: &[&str]) -> String {
    run_ok(
        std::process::Command::new(python())
            .arg(python_script("pbkdf2.py"))
            .args(args),
    )
    .trim()
    .to_string()
}

#[test]
fn pbkdf2_hashes_are_read_and_written_in_elasticsearch_form() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    let config = home.join("config");
    std::fs::create_dir_all(&config).expect("config");
    // Hashes made by Python's hashlib, as Elasticsearch makes them.
    let plain = pbkdf2(&["hash", "plain-pbkdf2-pw", "plain", "10000"]);
    let stretched = pbkdf2(&["hash", "stretched-pw", "stretch", "1000"]);
    std::fs::write(
        config.join("users"),
        format!("pbkdf2_user:{plain}\nstretch_user:{stretched}\n"),
    )
    .expect("users");
    std::fs::write(
        config.join("users_roles"),
        "superuser:pbkdf2_user,stretch_user\n",
    )
    .expect("users_roles");
    let node = Node::start(home, &[], &[]);
    let ca = node.ca();
    for (userpass, status) in [
        ("pbkdf2_user:plain-pbkdf2-pw", 200),
        ("stretch_user:stretched-pw", 200),
        ("pbkdf2_user:wrong-password", 401),
        ("stretch_user:plain-pbkdf2-pw", 401),
    ] {
        let response = curl_as(&ca, userpass, &node.url("/"));
        assert_eq!(response.status, status, "{userpass}: {}", response.body);
    }
    drop(node);

    // The CLI hashes with the configured algorithm; an independent implementation verifies.
    let cli_home = dir.path().join("cli");
    std::fs::create_dir_all(cli_home.join("config")).expect("config");
    std::fs::write(
        cli_home.join("config/rampart.yml"),
        "xpack.security.password_hashing.algorithm: pbkdf2_stretch_1000\n",
    )
    .expect("yml");
    users_ok(&cli_home, &["useradd", "hashed", "-p", "cli-pbkdf2-pw"]);
    let line = std::fs::read_to_string(cli_home.join("config/users")).expect("users");
    let hash = line
        .trim()
        .strip_prefix("hashed:")
        .expect("user line")
        .to_string();
    assert!(hash.starts_with("{PBKDF2_STRETCH}1000$"), "{hash}");
    assert_eq!(pbkdf2(&["verify", "cli-pbkdf2-pw", &hash]), "ok");
    assert_eq!(pbkdf2(&["verify", "another-password", &hash]), "mismatch");
    std::fs::write(
        cli_home.join("config/rampart.yml"),
        "xpack.security.password_hashing.algorithm: md5\n",
    )
    .expect("yml");
    let refused = users(&cli_home, &["useradd", "other", "-p", "cli-pbkdf2-pw"]);
    assert_eq!(refused.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("password_hashing.algorithm"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn the_least_privilege_recipe_works_and_superuser_applications_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path();
    std::fs::create_dir_all(home.join("config")).expect("config");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/roles.yml");
    std::fs::copy(&example, home.join("config/roles.yml")).expect("copy the example");
    users_ok(
        home,
        &[
            "useradd",
            "optimize",
            "-p",
            "optimize-password",
            "-r",
            "optimize",
        ],
    );
    users_ok(
        home,
        &[
            "useradd",
            "camunda_app",
            "-p",
            "camunda-password",
            "-r",
            "superuser",
        ],
    );
    let node = Node::start(home, &[], &[]);
    let stderr = node.stderr();
    assert!(
        stderr.contains("user [camunda_app] looks like an application"),
        "{stderr}"
    );
    assert!(!stderr.contains("user [optimize] looks like"), "{stderr}");
    let elastic = format!("elastic:{}", node.printed_password());
    let ca = node.ca();
    let put = curl(&[
        "--cacert",
        ca.to_str().expect("utf8"),
        "-u",
        &elastic,
        "-X",
        "PUT",
        "-H",
        "content-type: application/json",
        "--data-binary",
        r#"{"name":"kept"}"#,
        &node.url("/customers/_doc/1?refresh=true"),
    ]);
    assert_eq!(put.status, 201, "{}", put.body);
    let out = run_ok(
        std::process::Command::new(python())
            .arg(python_script("optimize_recipe.py"))
            .arg(node.url(""))
            .arg(&ca),
    );
    assert_eq!(out.trim(), "ok");
}
