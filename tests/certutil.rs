//! End to end: `rampart certutil` output checked by openssl and keytool, CAs made by openssl and
//! keytool read back, and a node serving HTTPS from certutil output.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn certutil(dir: &Path, args: &[&str]) -> String {
    run_ok(
        Command::new(rampart_bin())
            .current_dir(dir)
            .arg("certutil")
            .args(args)
            .stdin(Stdio::null()),
    )
}

fn certutil_fails(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(rampart_bin())
        .current_dir(dir)
        .arg("certutil")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("spawn");
    assert!(!out.status.success(), "expected failure for {args:?}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p12_cert_pem(dir: &Path, p12: &str, password: &str, leaf_only: bool) -> String {
    let mut args = vec!["pkcs12", "-in", p12, "-passin"];
    let pass = format!("pass:{password}");
    args.push(&pass);
    args.push("-nokeys");
    if leaf_only {
        args.push("-clcerts");
    } else {
        args.push("-cacerts");
    }
    openssl(dir, &args)
}

/// `rampart keystore add -f NAME` in `home`, with `value` on standard input.
fn keystore_add(home: &Path, name: &str, value: &str) {
    let out = rampart_with_input(
        home,
        &["keystore", "add", "-f", name],
        &format!("{value}\n"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pkcs12_output_is_read_by_openssl_and_keytool_and_served_by_a_node() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path();
    certutil(dir, &["ca", "--pass", "ca-pw"]);
    certutil(
        dir,
        &[
            "cert",
            "--ca",
            "elastic-stack-ca.p12",
            "--ca-pass",
            "ca-pw",
            "--name",
            "node1",
            "--dns",
            "localhost,node1.example.com",
            "--ip",
            "127.0.0.1",
            "--pass",
            "node-pw",
        ],
    );

    // openssl 3 reads both without -legacy, with modern algorithms.
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "pkcs12",
            "-info",
            "-nokeys",
            "-in",
            "elastic-certificates.p12",
            "-passin",
            "pass:node-pw",
        ])
        .output()
        .expect("openssl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AES-256-CBC") && stderr.contains("MAC: sha256"),
        "{stderr}"
    );

    std::fs::write(
        dir.join("ca.pem"),
        p12_cert_pem(dir, "elastic-stack-ca.p12", "ca-pw", true),
    )
    .expect("ca");
    std::fs::write(
        dir.join("node.pem"),
        p12_cert_pem(dir, "elastic-certificates.p12", "node-pw", true),
    )
    .expect("node");
    assert!(openssl(dir, &["verify", "-CAfile", "ca.pem", "node.pem"]).contains("node.pem: OK"));
    let text = openssl(dir, &["x509", "-in", "node.pem", "-noout", "-text"]);
    assert!(
        text.contains("DNS:localhost, DNS:node1.example.com, IP Address:127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("Public-Key: (2048 bit)"),
        "RSA 2048 by default: {text}"
    );
    assert!(
        text.contains("CN = node1") || text.contains("CN=node1"),
        "{text}"
    );

    let listed = run_ok(Command::new("keytool").current_dir(dir).args([
        "-list",
        "-storetype",
        "PKCS12",
        "-keystore",
        "elastic-certificates.p12",
        "-storepass",
        "node-pw",
    ]));
    assert!(
        listed.contains("node1") && listed.contains("PrivateKeyEntry"),
        "{listed}"
    );
    assert!(listed.contains("trustedCertEntry"), "{listed}");

    // A node uses certutil output directly, with the password in the keystore.
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("config/certs")).expect("mkdir");
    std::fs::copy(
        dir.join("elastic-certificates.p12"),
        home.join("config/certs/node1.p12"),
    )
    .expect("copy");
    std::fs::write(
        home.join("config/rampart.yml"),
        "xpack.security.http.ssl:\n  enabled: true\n  keystore.path: certs/node1.p12\n\
         xpack.security.transport.ssl:\n  enabled: true\n  keystore.path: certs/node1.p12\n  \
         truststore.path: certs/node1.p12\n",
    )
    .expect("yml");
    for name in [
        "xpack.security.http.ssl.keystore.secure_password",
        "xpack.security.transport.ssl.keystore.secure_password",
        "xpack.security.transport.ssl.truststore.secure_password",
    ] {
        keystore_add(&home, name, "node-pw");
    }
    keystore_add(&home, "bootstrap.password", "bootstrap-pw");
    let node = Node::start(&home, &[], &[]);
    let ca = dir.join("ca.pem");
    let r = curl_as(&ca, "elastic:bootstrap-pw", &node.url("/"));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn pem_bundles_from_instances_yml_with_encrypted_keys() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path();
    certutil(
        dir,
        &[
            "ca",
            "--pem",
            "--pass",
            "ca-pw",
            "--key-type",
            "ec",
            "--dn",
            "CN=Test Root,O=Rampart",
        ],
    );
    assert!(
        std::fs::read_to_string(dir.join("ca/ca.key"))
            .expect("key")
            .contains("ENCRYPTED PRIVATE KEY")
    );
    // openssl decrypts the CA key with the password.
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "ca/ca.key",
            "-passin",
            "pass:ca-pw",
            "-noout",
        ],
    );
    std::fs::write(
        dir.join("instances.yml"),
        "instances:\n  - name: alpha\n    dns: [localhost]\n    ip: [127.0.0.1]\n  - name: beta\n    dns: beta.example.com\n",
    )
    .expect("yml");
    certutil(
        dir,
        &[
            "cert",
            "--ca-cert",
            "ca/ca.crt",
            "--ca-key",
            "ca/ca.key",
            "--ca-pass",
            "ca-pw",
            "--in",
            "instances.yml",
            "--pem",
            "--pass",
            "key-pw",
            "--out",
            "bundle",
        ],
    );
    for name in ["alpha", "beta"] {
        let crt = format!("bundle/{name}/{name}.crt");
        assert!(openssl(dir, &["verify", "-CAfile", "bundle/ca/ca.crt", &crt]).contains(": OK"));
        openssl(
            dir,
            &[
                "pkey",
                "-in",
                &format!("bundle/{name}/{name}.key"),
                "-passin",
                "pass:key-pw",
                "-noout",
            ],
        );
    }
    let beta = openssl(
        dir,
        &[
            "x509",
            "-in",
            "bundle/beta/beta.crt",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    assert!(
        beta.contains("DNS:beta.example.com") && !beta.contains("IP"),
        "SANs exactly as given: {beta}"
    );

    // The same as a zip archive.
    certutil(
        dir,
        &[
            "cert",
            "--ca-cert",
            "ca/ca.crt",
            "--ca-key",
            "ca/ca.key",
            "--ca-pass",
            "ca-pw",
            "--in",
            "instances.yml",
            "--out",
            "bundle.zip",
            "--pass",
            "p12-pw",
        ],
    );
    let listing = run_ok(
        Command::new("python3")
            .args(["-m", "zipfile", "-l"])
            .arg(dir.join("bundle.zip")),
    );
    assert!(
        listing.contains("alpha/alpha.p12") && listing.contains("beta/beta.p12"),
        "{listing}"
    );
    let (code, err) = certutil_fails(
        dir,
        &[
            "cert",
            "--ca-cert",
            "ca/ca.crt",
            "--ca-key",
            "ca/ca.key",
            "--ca-pass",
            "ca-pw",
            "--in",
            "instances.yml",
            "--out",
            "bundle.zip",
        ],
    );
    assert_eq!(code, Some(74));
    assert!(err.contains("already exists"), "{err}");

    // A node serves HTTPS from the PEM files, decrypting the key with the keystore passphrase.
    let home = dir.join("home");
    std::fs::create_dir_all(home.join("config/certs")).expect("mkdir");
    for f in ["alpha/alpha.crt", "alpha/alpha.key"] {
        std::fs::copy(
            dir.join("bundle").join(f),
            home.join("config/certs")
                .join(Path::new(f).file_name().expect("name")),
        )
        .expect("copy");
    }
    std::fs::write(
        home.join("config/rampart.yml"),
        "xpack.security.http.ssl:\n  enabled: true\n  key: certs/alpha.key\n  certificate: certs/alpha.crt\n\
         xpack.security.transport.ssl.enabled: false\n",
    )
    .expect("yml");
    keystore_add(&home, "bootstrap.password", "bootstrap-pw");
    let mut cmd = rampart(&home);
    cmd.args(["start", "-E", "http.port=0"]);
    let refused = start_expecting_exit(cmd);
    assert_eq!(refused.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("secure_key_passphrase"));
    keystore_add(
        &home,
        "xpack.security.http.ssl.secure_key_passphrase",
        "key-pw",
    );
    let node = Node::start(&home, &[], &[]);
    let ca = dir.join("bundle/ca/ca.crt");
    let r = curl_as(&ca, "elastic:bootstrap-pw", &node.url("/"));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn cas_made_by_openssl_and_keytool_sign_certificates() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path();
    // openssl: a CA certificate and key exported as PKCS#12.
    openssl_certificate(dir, "osslca", None, "basicConstraints=critical,CA:TRUE");
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "osslca.key",
            "-in",
            "osslca.crt",
            "-out",
            "osslca.p12",
            "-passout",
            "pass:o-pw",
        ],
    );
    certutil(
        dir,
        &[
            "cert",
            "--ca",
            "osslca.p12",
            "--ca-pass",
            "o-pw",
            "--name",
            "n1",
            "--dns",
            "localhost",
            "--pass",
            "x",
            "--out",
            "from-openssl.p12",
        ],
    );
    std::fs::write(
        dir.join("n1.pem"),
        p12_cert_pem(dir, "from-openssl.p12", "x", true),
    )
    .expect("pem");
    assert!(openssl(dir, &["verify", "-CAfile", "osslca.crt", "n1.pem"]).contains("OK"));

    // keytool: a self-signed CA key pair in a PKCS12 keystore.
    run_ok(Command::new("keytool").current_dir(dir).args([
        "-genkeypair",
        "-storetype",
        "PKCS12",
        "-keystore",
        "ktca.p12",
        "-storepass",
        "k-pw12",
        "-alias",
        "ca",
        "-keyalg",
        "RSA",
        "-keysize",
        "2048",
        "-dname",
        "CN=Keytool CA",
        "-ext",
        "bc:c",
        "-validity",
        "30",
    ]));
    certutil(
        dir,
        &[
            "cert",
            "--ca",
            "ktca.p12",
            "--ca-pass",
            "k-pw12",
            "--name",
            "n2",
            "--ip",
            "127.0.0.1",
            "--pass",
            "y",
            "--out",
            "from-keytool.p12",
        ],
    );
    run_ok(Command::new("keytool").current_dir(dir).args([
        "-exportcert",
        "-rfc",
        "-storetype",
        "PKCS12",
        "-keystore",
        "ktca.p12",
        "-storepass",
        "k-pw12",
        "-alias",
        "ca",
        "-file",
        "ktca.pem",
    ]));
    std::fs::write(
        dir.join("n2.pem"),
        p12_cert_pem(dir, "from-keytool.p12", "y", true),
    )
    .expect("pem");
    assert!(openssl(dir, &["verify", "-CAfile", "ktca.pem", "n2.pem"]).contains("OK"));

    // A leaf certificate is refused as a CA; a wrong CA password is reported.
    let (code, err) = certutil_fails(
        dir,
        &[
            "cert",
            "--ca",
            "from-openssl.p12",
            "--ca-pass",
            "x",
            "--name",
            "n3",
        ],
    );
    assert_eq!(code, Some(64));
    assert!(err.contains("not a CA certificate"), "{err}");
    let (_, err) = certutil_fails(
        dir,
        &[
            "cert",
            "--ca",
            "osslca.p12",
            "--ca-pass",
            "wrong",
            "--name",
            "n3",
        ],
    );
    assert!(err.contains("wrong password"), "{err}");
}

#[test]
fn csr_and_http_bundles() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path();
    certutil(
        dir,
        &[
            "csr",
            "--name",
            "web",
            "--dns",
            "web.example.com",
            "--ip",
            "192.0.2.10",
        ],
    );
    let verified = Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-in",
            "csr-bundle/web/web.csr",
            "-noout",
            "-verify",
            "-text",
        ])
        .output()
        .expect("openssl req");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(
        all.contains("verify OK") || all.contains("Certificate request self-signature verify OK"),
        "{all}"
    );
    assert!(
        all.contains("DNS:web.example.com") && all.contains("IP Address:192.0.2.10"),
        "{all}"
    );
    openssl(dir, &["pkey", "-in", "csr-bundle/web/web.key", "-noout"]);

    certutil(dir, &["ca", "--pass", "", "--out", "ca.p12"]);
    certutil(
        dir,
        &[
            "http",
            "--ca",
            "ca.p12",
            "--ca-pass",
            "",
            "--name",
            "node1",
            "--dns",
            "localhost",
            "--pass",
            "h-pw",
        ],
    );
    for f in [
        "rampart-http/http/http.p12",
        "rampart-http/http/sample-rampart.yml",
        "rampart-http/client/http_ca.crt",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let sample =
        std::fs::read_to_string(dir.join("rampart-http/http/sample-rampart.yml")).expect("sample");
    assert!(
        sample.contains("rampart keystore add xpack.security.http.ssl.keystore.secure_password"),
        "{sample}"
    );
    let (code, err) = certutil_fails(
        dir,
        &["cert", "--ca", "ca.p12", "--keysize", "1024", "--name", "x"],
    );
    assert_eq!(code, Some(64));
    assert!(err.contains("2048, 3072 or 4096"), "{err}");
}

#[test]
fn the_http_wizard_asks_on_a_terminal() {
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path();
    certutil(dir, &["ca", "--pass", "ca-pw"]);
    let steps = serde_json::json!([
        ["PKCS#12 file", "elastic-stack-ca.p12"],
        ["Password of the CA", "ca-pw"],
        ["Node name", "web1"],
        ["DNS names", "localhost,web1.example.com"],
        ["IP addresses", "127.0.0.1"],
        ["Validity in days", "30"],
        ["Enter password for http.p12", "http-pw"],
        ["same password again", "http-pw"],
        ["Where to write it", "wizard.zip"],
    ]);
    std::fs::write(dir.join("steps.json"), steps.to_string()).expect("steps");
    let out = run_ok(
        Command::new("python3")
            .arg(python_script("drive_tty.py"))
            .arg(dir)
            .arg(dir.join("steps.json"))
            .arg("--")
            .args([rampart_bin(), "certutil", "http"]),
    );
    assert!(out.contains("Wrote wizard.zip"), "{out}");
    assert!(!out.contains("http-pw"), "passwords are not echoed: {out}");
    let listing = run_ok(
        Command::new("python3")
            .args(["-m", "zipfile", "-l"])
            .arg(dir.join("wizard.zip")),
    );
    assert!(
        listing.contains("http/http.p12") && listing.contains("client/http_ca.crt"),
        "{listing}"
    );
}
