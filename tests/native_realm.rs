//! End to end: the native realm's REST API through the official Python client, and durability of
//! acknowledged changes across a SIGKILL.

mod common;

use common::*;

#[test]
fn the_official_client_manages_native_users() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    python_script_passes(&node, "native_users.py");
}

#[test]
fn an_acknowledged_user_survives_sigkill_and_bad_requests_are_named() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    let elastic = format!("elastic:{}", node.printed_password());
    let put = request(
        "PUT",
        &node,
        &elastic,
        "/_security/user/shipper",
        r#"{"password":"shipper-pw","roles":["superuser"]}"#,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.json(), serde_json::json!({"created": true}));
    use std::os::unix::fs::PermissionsExt;
    let store = dir.path().join("data/_security/native-users.json");
    assert_eq!(
        std::fs::metadata(&store)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        !std::fs::read_to_string(&store)
            .expect("store")
            .contains("shipper-pw")
    );

    // SIGKILL right after the acknowledgement: the user is there after a restart.
    drop(node);
    let node = Node::start(dir.path(), &[], &[]);
    let ca = node.ca();
    assert_eq!(
        curl_as(&ca, "shipper:shipper-pw", &node.url("/")).status,
        200
    );

    for (body, needle) in [
        (r#"{"password":"shipper-pw"}"#, "[roles] is required"),
        (
            r#"{"password":"shipper-pw","roles":["superuser"],"colour":"blue"}"#,
            "unexpected field [colour]",
        ),
        (
            r#"{"password":"shipper-pw","roles":"superuser"}"#,
            "[roles] must be an array",
        ),
        ("not json", "failed to parse"),
    ] {
        let r = request("PUT", &node, &elastic, "/_security/user/other", body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(
            r.json()["error"]["reason"]
                .as_str()
                .expect("reason")
                .contains(needle),
            "{body}: {}",
            r.body
        );
    }
    // A user without privileges may change only its own password.
    let put = request(
        "PUT",
        &node,
        &elastic,
        "/_security/user/plain",
        r#"{"password":"plain-pw-1","roles":[]}"#,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let other = request(
        "POST",
        &node,
        "plain:plain-pw-1",
        "/_security/user/shipper/_password",
        r#"{"password":"hijacked"}"#,
    );
    assert_eq!(other.status, 403, "{}", other.body);
    let own = request(
        "POST",
        &node,
        "plain:plain-pw-1",
        "/_security/user/_password",
        r#"{"password":"plain-pw-2"}"#,
    );
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(
        curl_as(
            &ca,
            "plain:plain-pw-2",
            &node.url("/_security/_authenticate")
        )
        .status,
        200
    );
}

#[test]
fn api_keys_through_the_official_client() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    python_script_passes(&node, "api_keys.py");
    let store =
        std::fs::read_to_string(dir.path().join("data/_security/api-keys.json")).expect("store");
    assert!(store.contains("\"optimize\""), "stored durably");
    // A bad key and a malformed header both get 401 with the ApiKey challenge.
    let ca = node.ca();
    let bad = curl(&[
        "--cacert",
        ca.to_str().expect("utf8"),
        "-H",
        "Authorization: ApiKey Zm9vOmJhcg==",
        &node.url("/"),
    ]);
    assert_eq!(bad.status, 401);
    assert!(
        bad.headers.contains("www-authenticate: ApiKey"),
        "{}",
        bad.headers
    );
    assert!(
        bad.json()["error"]["reason"]
            .as_str()
            .expect("reason")
            .contains("unable to authenticate with provided credentials")
    );
}

#[test]
fn the_official_client_gets_refreshes_and_invalidates_tokens() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    python_script_passes(&node, "tokens.py");
}

#[test]
fn tokens_expire_after_the_configured_timeout() {
    let dir = tempfile::tempdir().expect("tmp");
    // Any xpack.security.* setting turns first-start auto-configuration off, so configure
    // first and shorten the timeout on the second start.
    let first = Node::start(dir.path(), &[], &[]);
    let elastic = format!("elastic:{}", first.printed_password());
    assert!(first.stop().success());
    let node = Node::start(dir.path(), &["xpack.security.authc.token.timeout=2s"], &[]);
    let granted = request(
        "POST",
        &node,
        &elastic,
        "/_security/oauth2/token",
        r#"{"grant_type":"client_credentials"}"#,
    );
    assert_eq!(granted.status, 200, "{}", granted.body);
    assert_eq!(granted.json()["expires_in"], 2);
    let token = granted.json()["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    let ca = node.ca();
    let with_token = || {
        curl(&[
            "--cacert",
            ca.to_str().expect("utf8"),
            "-H",
            &format!("Authorization: Bearer {token}"),
            &node.url("/_security/_authenticate"),
        ])
    };
    assert_eq!(with_token().status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let expired = with_token();
    assert_eq!(expired.status, 401, "{}", expired.body);
    assert!(
        expired
            .header("www-authenticate")
            .is_some_and(|h| h.contains("Basic")),
        "{:?}",
        expired.body
    );
    assert!(!expired.body.contains(&token), "the token is never echoed");
}

#[test]
fn run_as_carries_both_identities_and_is_refused_without_the_privilege() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    let elastic = format!("elastic:{}", node.printed_password());
    for (name, roles) in [("kim", r#"["viewer"]"#), ("lee", r#"[]"#)] {
        let put = request(
            "PUT",
            &node,
            &elastic,
            &format!("/_security/user/{name}"),
            &format!(r#"{{"password":"{name}-password","roles":{roles}}}"#),
        );
        assert_eq!(put.status, 200, "{}", put.body);
    }
    let ca = node.ca();
    let as_user = |userpass: &str, target: &str, path: &str| {
        curl(&[
            "--cacert",
            ca.to_str().expect("utf8"),
            "-u",
            userpass,
            "-H",
            &format!("es-security-runas-user: {target}"),
            &node.url(path),
        ])
    };
    let me = as_user(&elastic, "kim", "/_security/_authenticate");
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(me["username"], "kim");
    assert_eq!(me["roles"], serde_json::json!(["viewer"]));
    assert_eq!(me["authentication_realm"]["name"], "reserved");
    assert_eq!(me["lookup_realm"]["name"], "default_native");
    // The action is judged with the target's roles: viewer may monitor, not manage users.
    assert_eq!(as_user(&elastic, "kim", "/").status, 200);
    let users = as_user(&elastic, "kim", "/_security/user");
    assert_eq!(users.status, 403, "{}", users.body);
    assert!(
        users
            .body
            .contains("for user [elastic] run as [kim] with effective roles [viewer]"),
        "{}",
        users.body
    );
    // Only run_as holders may use the header.
    let denied = as_user("lee:lee-password", "elastic", "/_security/_authenticate");
    assert_eq!(denied.status, 403, "{}", denied.body);
    assert!(
        denied
            .body
            .contains("user [lee] is unauthorized to run as [elastic]"),
        "{}",
        denied.body
    );
    // A user that does not exist is refused in the same words: no probing for names.
    let ghost = as_user(&elastic, "ghost", "/_security/_authenticate");
    assert_eq!(ghost.status, 403, "{}", ghost.body);
    assert!(
        ghost
            .body
            .contains("user [elastic] is unauthorized to run as [ghost]"),
        "{}",
        ghost.body
    );
}

#[test]
fn anonymous_access_is_off_by_default_and_follows_its_settings() {
    let dir = tempfile::tempdir().expect("tmp");
    let first = Node::start(dir.path(), &[], &[]);
    let ca = first.ca();
    let bare =
        |node: &Node, path: &str| curl(&["--cacert", ca.to_str().expect("utf8"), &node.url(path)]);
    assert_eq!(bare(&first, "/").status, 401);
    assert!(first.stop().success());

    let node = Node::start(
        dir.path(),
        &[
            "xpack.security.authc.anonymous.username=guest",
            "xpack.security.authc.anonymous.roles=superuser",
        ],
        &[],
    );
    let who = bare(&node, "/_security/_authenticate");
    assert_eq!(who.status, 200, "{}", who.body);
    assert_eq!(who.json()["username"], "guest");
    assert_eq!(who.json()["authentication_type"], "anonymous");
    assert_eq!(
        who.json()["authentication_realm"],
        serde_json::json!({"name": "__anonymous", "type": "anonymous"})
    );
    assert_eq!(bare(&node, "/").status, 200);
    assert!(node.stop().success());

    // A role that grants nothing: denied, as 401 with a challenge when authz_exception is off.
    let node = Node::start(
        dir.path(),
        &[
            "xpack.security.authc.anonymous.roles=no_such_role",
            "xpack.security.authc.anonymous.authz_exception=false",
        ],
        &[],
    );
    let denied = bare(&node, "/");
    assert_eq!(denied.status, 401, "{}", denied.body);
    assert!(denied.header("www-authenticate").is_some());
    assert_eq!(
        bare(&node, "/_security/_authenticate").json()["username"],
        "_anonymous"
    );
    assert!(node.stop().success());
    let node = Node::start(
        dir.path(),
        &["xpack.security.authc.anonymous.roles=no_such_role"],
        &[],
    );
    assert_eq!(bare(&node, "/").status, 403);
}

#[test]
fn configured_realms_name_and_order_the_chain() {
    let dir = tempfile::tempdir().expect("tmp");
    let first = Node::start(dir.path(), &[], &[]);
    let elastic = format!("elastic:{}", first.printed_password());
    let put = request(
        "PUT",
        &first,
        &elastic,
        "/_security/user/pat",
        r#"{"password":"pat-password","roles":["superuser"]}"#,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    assert!(first.stop().success());
    let node = Node::start(
        dir.path(),
        &[
            "xpack.security.authc.realms.native.people.order=0",
            "xpack.security.authc.realms.native.people.cache.ttl=0",
        ],
        &[],
    );
    let ca = node.ca();
    let me = curl_as(
        &ca,
        "pat:pat-password",
        &node.url("/_security/_authenticate"),
    );
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        me.json()["authentication_realm"],
        serde_json::json!({"name": "people", "type": "native"})
    );
    let cleared = request(
        "POST",
        &node,
        &elastic,
        "/_security/realm/people/_clear_cache",
        "",
    );
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert!(node.stop().success());

    // A realm type Rampart does not have stops the start with the setting named.
    let out = start_expecting_exit({
        let mut cmd = rampart(dir.path());
        cmd.args([
            "start",
            "-E",
            "xpack.security.authc.realms.ldap.corp.order=1",
        ]);
        cmd
    });
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("realm type [ldap] is not supported"),
        "{stderr}"
    );
}

#[test]
fn reset_password_changes_passwords_through_the_running_node() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &["resource.reload.interval.high=1s"], &[]);
    let old = format!("elastic:{}", node.printed_password());
    let ca = node.ca();
    let reset = |args: &[&str], input: &str| rampart_with_input(dir.path(), args, input, &[]);

    let out = reset(&["reset-password", "-u", "elastic", "--batch"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let new = stdout
        .lines()
        .find_map(|l| l.strip_prefix("New value: "))
        .unwrap_or_else(|| panic!("no new value in {stdout}"))
        .trim()
        .to_string();
    assert_eq!(
        curl_as(&ca, &format!("elastic:{new}"), &node.url("/")).status,
        200
    );
    assert_eq!(curl_as(&ca, &old, &node.url("/")).status, 401);
    let users = std::fs::read_to_string(dir.path().join("config/users")).unwrap_or_default();
    assert!(
        !users.contains("rampart_reset_"),
        "the temporary user stays: {users}"
    );

    // A native user, with a chosen password read from standard input.
    let put = request(
        "PUT",
        &node,
        &format!("elastic:{new}"),
        "/_security/user/shipper",
        r#"{"password":"shipper-pw1","roles":[]}"#,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let out = reset(
        &["reset-password", "-u", "shipper", "-i", "-b", "-s"],
        "shipper-pw2\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        curl_as(
            &ca,
            "shipper:shipper-pw2",
            &node.url("/_security/_authenticate")
        )
        .status,
        200
    );

    let out = reset(&["reset-password", "-u", "nobody_here", "-b"], "");
    assert_eq!(
        out.status.code(),
        Some(65),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(node);
    let out = reset(&["reset-password", "-u", "elastic", "-b"], "");
    assert_eq!(
        out.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("start the node first"), "{stderr}");
}

#[test]
fn roles_grant_exactly_their_privileges_through_the_official_client() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    python_script_passes(&node, "authorization.py");
}

#[test]
fn document_and_field_level_security_hide_what_roles_do_not_grant() {
    let dir = tempfile::tempdir().expect("tmp");
    let node = Node::start(dir.path(), &[], &[]);
    python_script_passes(&node, "dls_fls.py");
}
