//! rustls server configurations from `xpack.security.{http,transport}.ssl.*`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rampart_config::{SecureSettings, Settings};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme, SupportedProtocolVersion,
};
use zeroize::Zeroizing;

use crate::p12::read_pkcs12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Http,
    Transport,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Http => "http",
            Layer::Transport => "transport",
        }
    }

    fn setting(self, suffix: &str) -> String {
        format!("xpack.security.{}.ssl.{suffix}", self.name())
    }
}

/// A TLS configuration problem, worded for the operator: it names the file or the setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

pub struct BuiltServerConfig {
    pub config: Arc<ServerConfig>,
    /// Every file the configuration was read from, with the SHA-256 of the bytes read: what the
    /// reloader compares the files on disk against.
    pub files: Vec<(PathBuf, [u8; 32])>,
}

impl std::fmt::Debug for BuiltServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltServerConfig")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Reads the files of one configuration, remembering the digest of exactly what was read.
#[derive(Default)]
struct Files {
    read: Vec<(PathBuf, [u8; 32])>,
}

impl Files {
    fn read(&mut self, path: &Path, setting: &str) -> Result<Zeroizing<Vec<u8>>, TlsError> {
        let bytes = std::fs::read(path).map(Zeroizing::new).map_err(|e| {
            TlsError(format!(
                "cannot read [{}] configured by [{setting}]: {e}",
                path.display()
            ))
        })?;
        if !self.read.iter().any(|(p, _)| p == path) {
            self.read.push((path.to_path_buf(), sha256(&bytes)));
        }
        Ok(bytes)
    }

    fn pem_certificates(
        &mut self,
        path: &Path,
        setting: &str,
    ) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let bytes = self.read(path, setting)?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                TlsError(format!(
                    "[{}] configured by [{setting}] is not a valid PEM certificate file: {e}",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(TlsError(format!(
                "[{}] configured by [{setting}] holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            )));
        }
        Ok(certs)
    }

    fn pem_private_key(
        &mut self,
        path: &Path,
        setting: &str,
        passphrase: Option<&str>,
        passphrase_setting: &str,
    ) -> Result<PrivateKeyDer<'static>, TlsError> {
        let bytes = self.read(path, setting)?;
        if bytes
            .windows(b"ENCRYPTED PRIVATE KEY".len())
            .any(|w| w == b"ENCRYPTED PRIVATE KEY")
        {
            let Some(passphrase) = passphrase else {
                return Err(TlsError(format!(
                    "the key [{}] configured by [{setting}] is encrypted: store its passphrase with \
                     `rampart keystore add {passphrase_setting}`",
                    path.display()
                )));
            };
            let der = crate::read_private_key_pem(&bytes, Some(passphrase)).map_err(|e| {
                TlsError(format!(
                    "the key [{}] configured by [{setting}]: {e} (its passphrase is \
                     [{passphrase_setting}] in the keystore)",
                    path.display()
                ))
            })?;
            return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der.to_vec())));
        }
        pem_private_key(&bytes, path, setting)
    }
}

fn pem_private_key(
    bytes: &[u8],
    path: &Path,
    setting: &str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    if bytes
        .windows(b"Proc-Type: 4,ENCRYPTED".len())
        .any(|w| w == b"Proc-Type: 4,ENCRYPTED")
    {
        return Err(TlsError(format!(
            "the key [{}] configured by [{setting}] is encrypted in OpenSSL's legacy format: convert \
             it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
            path.display()
        )));
    }
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        TlsError(format!(
            "[{}] configured by [{setting}] is not a valid PEM private key: {e}",
            path.display()
        ))
    })
}

/// Supported protocol versions from `supported_protocols`; validation in the settings registry
/// already refused anything older than TLS 1.2.
fn protocol_versions(
    settings: &Settings,
    layer: Layer,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let setting = layer.setting("supported_protocols");
    let mut versions = Vec::new();
    for name in settings.get_list(&setting) {
        match name.as_str() {
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            other => {
                return Err(TlsError(format!(
                    "[{setting}] lists [{other}]: only TLSv1.3 and TLSv1.2 are supported"
                )));
            }
        }
    }
    Ok(versions)
}

/// The IANA name of a suite, as Elasticsearch's `cipher_suites` setting spells it.
fn iana_name(suite: &rustls::SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite()).replace("TLS13_", "TLS_")
}

fn provider(settings: &Settings, layer: Layer) -> Result<CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let setting = layer.setting("cipher_suites");
    let wanted = settings.get_list(&setting);
    if wanted.is_empty() {
        return Ok(provider);
    }
    let available: Vec<String> = provider.cipher_suites.iter().map(iana_name).collect();
    for name in &wanted {
        if !available.contains(name) {
            tracing::warn!(
                "[{setting}] lists [{name}], which Rampart does not offer (only AEAD suites of TLS 1.2 \
                 and 1.3 are supported); it is ignored"
            );
        }
    }
    provider
        .cipher_suites
        .retain(|s| wanted.contains(&iana_name(s)));
    if provider.cipher_suites.is_empty() {
        return Err(TlsError(format!(
            "[{setting}] leaves no usable cipher suite: list one or more of {}",
            available.join(", ")
        )));
    }
    Ok(provider)
}

/// The layer's own key and certificate chain, and the certificates it trusts.
struct Material {
    key: PrivateKeyDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    trusted: Vec<CertificateDer<'static>>,
}

fn load_material(
    settings: &Settings,
    secure: &SecureSettings,
    layer: Layer,
    config_dir: &Path,
    files: &mut Files,
) -> Result<Material, TlsError> {
    let resolve = |p: String| config_dir.join(p);

    let keystore_setting = layer.setting("keystore.path");
    let key_setting = layer.setting("key");
    let cert_setting = layer.setting("certificate");
    let (key, chain, mut trusted) = match (
        settings.get(&keystore_setting),
        settings.get(&key_setting),
        settings.get(&cert_setting),
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(TlsError(format!(
                "both [{keystore_setting}] and PEM [{key_setting}]/[{cert_setting}] are set: keep one"
            )));
        }
        (Some(keystore), None, None) => {
            let path = resolve(keystore);
            let bytes = files.read(&path, &keystore_setting)?;
            let password = secure
                .get(&layer.setting("keystore.secure_password"))
                .unwrap_or("");
            let key_password_setting = layer.setting("keystore.secure_key_password");
            if secure
                .get(&key_password_setting)
                .is_some_and(|key_password| key_password != password)
            {
                return Err(TlsError(format!(
                    "[{key_password_setting}] differs from the keystore's own password, but Rampart \
                     reads PKCS#12 files whose key shares the file's password: re-export the file \
                     with one password, or remove [{key_password_setting}] from the keystore"
                )));
            }
            let contents = read_pkcs12(&bytes, password)
                .map_err(|e| TlsError(format!("[{}] ({keystore_setting}): {e}", path.display())))?;
            let (key, chain) = contents.key_and_chain.ok_or_else(|| {
                TlsError(format!(
                    "[{}] ({keystore_setting}) holds no private key with a certificate",
                    path.display()
                ))
            })?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
            (key, chain, contents.trusted)
        }
        (None, Some(key), Some(cert)) => {
            let key_path = resolve(key);
            let cert_path = resolve(cert);
            let passphrase_setting = layer.setting("secure_key_passphrase");
            let key = files.pem_private_key(
                &key_path,
                &key_setting,
                secure.get(&passphrase_setting),
                &passphrase_setting,
            )?;
            let chain = files.pem_certificates(&cert_path, &cert_setting)?;
            (key, chain, Vec::new())
        }
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(TlsError(format!(
                "[{key_setting}] and [{cert_setting}] must be set together"
            )));
        }
        (None, None, None) => {
            return Err(TlsError(format!(
                "TLS is enabled on the {} layer but no certificate is configured: set [{keystore_setting}], \
                 or [{key_setting}] and [{cert_setting}]",
                layer.name()
            )));
        }
    };

    let ca_setting = layer.setting("certificate_authorities");
    for ca in settings.get_list(&ca_setting) {
        let path = resolve(ca);
        trusted.extend(files.pem_certificates(&path, &ca_setting)?);
    }
    let truststore_setting = layer.setting("truststore.path");
    if let Some(truststore) = settings.get(&truststore_setting) {
        let path = resolve(truststore);
        let bytes = files.read(&path, &truststore_setting)?;
        let password = secure
            .get(&layer.setting("truststore.secure_password"))
            .unwrap_or("");
        let contents = read_pkcs12(&bytes, password)
            .map_err(|e| TlsError(format!("[{}] ({truststore_setting}): {e}", path.display())))?;
        trusted.extend(contents.trusted);
    }

    Ok(Material {
        key,
        chain,
        trusted,
    })
}

/// Builds the server configuration of `layer` from the settings, reading every file fresh.
pub fn build_server_config(
    settings: &Settings,
    secure: &SecureSettings,
    layer: Layer,
    config_dir: &Path,
) -> Result<BuiltServerConfig, TlsError> {
    let mut files = Files::default();
    let Material {
        key,
        chain,
        trusted,
    } = load_material(settings, secure, layer, config_dir, &mut files)?;
    let ca_setting = layer.setting("certificate_authorities");
    let truststore_setting = layer.setting("truststore.path");
    let versions = protocol_versions(settings, layer)?;
    let builder = ServerConfig::builder_with_provider(Arc::new(provider(settings, layer)?))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError(format!("TLS settings of the {} layer: {e}", layer.name())))?;

    let client_auth_setting = layer.setting("client_authentication");
    let client_auth = settings
        .get(&client_auth_setting)
        .unwrap_or_else(|| "none".to_string());
    let builder = if client_auth == "none" {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for cert in &trusted {
            roots.add(cert.clone()).map_err(|e| {
                TlsError(format!(
                    "a certificate authority of the {} layer is unusable: {e}",
                    layer.name()
                ))
            })?;
        }
        if roots.is_empty() {
            return Err(TlsError(format!(
                "[{client_auth_setting}] is [{client_auth}] but no CA is configured to check client \
                 certificates: set [{ca_setting}] or [{truststore_setting}]"
            )));
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(provider(settings, layer)?),
        );
        let verifier = if client_auth == "optional" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(verifier.build().map_err(|e| {
            TlsError(format!(
                "cannot verify client certificates on the {} layer: {e}",
                layer.name()
            ))
        })?)
    };

    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        TlsError(format!(
            "the private key and certificate of the {} layer ({}) do not form a usable pair: {e}",
            layer.name(),
            files
                .read
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    if layer == Layer::Http {
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
    }
    Ok(BuiltServerConfig {
        config: Arc::new(config),
        files: files.read,
    })
}

/// How a client checks the server it connects to: `verification_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationMode {
    /// The chain up to a trusted CA, and that the certificate names the host dialled.
    Full,
    /// The chain only: for certificates without per-node names (auto-configured transport).
    Certificate,
    /// Nothing: explicitly asked for, logged loudly, never a fallback.
    None,
}

/// Chain verification by WebPKI, ignoring only a name mismatch (which WebPKI reports after the
/// chain has been verified).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `verification_mode: none`: any certificate, though handshake signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Builds the client configuration of `layer` (what a node dials its peers with): it presents
/// the layer's own certificate and checks the peer as `verification_mode` says.
/// A client configuration that trusts the CA certificates in one PEM file, with full
/// verification (chain and host name), TLS 1.2 and 1.3: what a CLI tool uses to reach its
/// own node, such as `rampart reset-password` trusting `config/certs/http_ca.crt`.
pub fn client_config_trusting(ca_pem: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let setting = "the node's HTTP CA";
    let certs = Files::default().pem_certificates(ca_pem, setting)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            TlsError(format!(
                "[{}] holds a certificate that cannot be trusted: {e}",
                ca_pem.display()
            ))
        })?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| TlsError(format!("cannot build a TLS client configuration: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

pub fn build_client_config(
    settings: &Settings,
    secure: &SecureSettings,
    layer: Layer,
    config_dir: &Path,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut files = Files::default();
    let Material {
        key,
        chain,
        trusted,
    } = load_material(settings, secure, layer, config_dir, &mut files)?;
    let mode_setting = layer.setting("verification_mode");
    let mode = match settings.get(&mode_setting).as_deref() {
        Some("certificate") => VerificationMode::Certificate,
        Some("none") => VerificationMode::None,
        _ => VerificationMode::Full,
    };
    let provider = Arc::new(provider(settings, layer)?);
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        VerificationMode::None => {
            tracing::warn!(
                "[{mode_setting}] is [none]: the {} layer accepts any peer certificate, so anyone \
                 in the network path can impersonate a peer",
                layer.name()
            );
            Arc::new(NoVerification(Arc::clone(&provider)))
        }
        VerificationMode::Full | VerificationMode::Certificate => {
            let mut roots = RootCertStore::empty();
            for cert in &trusted {
                roots.add(cert.clone()).map_err(|e| {
                    TlsError(format!(
                        "a certificate authority of the {} layer is unusable: {e}",
                        layer.name()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(TlsError(format!(
                    "the {} layer trusts no certificate authority: set [{}] or [{}]",
                    layer.name(),
                    layer.setting("certificate_authorities"),
                    layer.setting("truststore.path")
                )));
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| {
                TlsError(format!(
                    "cannot verify peers on the {} layer: {e}",
                    layer.name()
                ))
            })?;
            if mode == VerificationMode::Full {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let versions = protocol_versions(settings, layer)?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError(format!("TLS settings of the {} layer: {e}", layer.name())))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            TlsError(format!(
                "the {} layer's own certificate is unusable: {e}",
                layer.name()
            ))
        })?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, KeyUsage, Validity, certificates_to_pem, pem_encode};

    fn write_pem_pair(dir: &Path) -> CertificateAuthority {
        let ca = CertificateAuthority::generate("ca", Validity::default()).expect("ca");
        let leaf = ca
            .issue(
                "n",
                &["localhost".into()],
                &[],
                KeyUsage::Server,
                Validity::default(),
            )
            .expect("leaf");
        std::fs::write(
            dir.join("node.key"),
            pem_encode("PRIVATE KEY", &leaf.key_pkcs8),
        )
        .expect("key");
        std::fs::write(
            dir.join("node.crt"),
            certificates_to_pem(&[leaf.certificate]),
        )
        .expect("crt");
        std::fs::write(
            dir.join("ca.crt"),
            certificates_to_pem(&[ca.certificate().clone()]),
        )
        .expect("ca");
        ca
    }

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(pairs).expect("valid settings")
    }

    /// The HTTP layer's server configuration from `pairs`, files resolved in `dir`.
    fn build_http(dir: &Path, pairs: &[(&str, &str)]) -> Result<BuiltServerConfig, TlsError> {
        build_server_config(
            &settings(pairs),
            &SecureSettings::default(),
            Layer::Http,
            dir,
        )
    }

    #[test]
    fn pem_key_and_certificate_build_a_config() {
        let dir = tempfile::tempdir().expect("tmp");
        write_pem_pair(dir.path());
        let s = settings(&[
            ("xpack.security.http.ssl.key", "node.key"),
            ("xpack.security.http.ssl.certificate", "node.crt"),
        ]);
        let built = build_server_config(&s, &SecureSettings::default(), Layer::Http, dir.path())
            .expect("builds");
        assert_eq!(built.files.len(), 2);
        assert_eq!(built.config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn missing_material_and_bad_combinations_are_named() {
        let dir = tempfile::tempdir().expect("tmp");
        write_pem_pair(dir.path());
        let none = build_http(dir.path(), &[]).expect_err("nothing configured");
        assert!(
            none.0.contains("xpack.security.http.ssl.keystore.path"),
            "{none}"
        );

        let missing = build_http(
            dir.path(),
            &[
                ("xpack.security.http.ssl.key", "nope.key"),
                ("xpack.security.http.ssl.certificate", "node.crt"),
            ],
        )
        .expect_err("missing file");
        assert!(missing.0.contains("nope.key"), "{missing}");

        let mismatched = build_http(
            dir.path(),
            &[
                ("xpack.security.http.ssl.key", "node.key"),
                ("xpack.security.http.ssl.certificate", "ca.crt"),
            ],
        )
        .expect_err("key does not match certificate");
        assert!(mismatched.0.contains("usable pair"), "{mismatched}");

        let required_without_ca = build_http(
            dir.path(),
            &[
                ("xpack.security.http.ssl.key", "node.key"),
                ("xpack.security.http.ssl.certificate", "node.crt"),
                ("xpack.security.http.ssl.client_authentication", "required"),
            ],
        )
        .expect_err("no CA for client auth");
        assert!(
            required_without_ca.0.contains("certificate_authorities"),
            "{required_without_ca}"
        );
    }

    /// One real TLS handshake over loopback between a server and a client configuration.
    fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> Result<(), String> {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server_thread = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            let conn = rustls::ServerConnection::new(server).expect("server conn");
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 2];
            let _ = tls.read_exact(&mut buf);
            let _ = tls.write_all(b"ok");
            let _ = tls.flush();
        });
        let tcp = std::net::TcpStream::connect(addr).expect("connect");
        let conn = rustls::ClientConnection::new(
            client,
            ServerName::try_from(name.to_string()).expect("name"),
        )
        .expect("client conn");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let result = tls
            .write_all(b"hi")
            .and_then(|()| tls.flush())
            .and_then(|()| {
                let mut buf = [0u8; 2];
                tls.read_exact(&mut buf)
            })
            .map_err(|e| e.to_string());
        drop(tls);
        let _ = server_thread.join();
        result
    }

    #[test]
    fn verification_mode_full_checks_names_and_certificate_checks_only_the_chain() {
        let dir = tempfile::tempdir().expect("tmp");
        write_pem_pair(dir.path()); // node.crt names only "localhost"
        let other = CertificateAuthority::generate("other", Validity::default()).expect("ca");
        std::fs::write(
            dir.path().join("other.crt"),
            certificates_to_pem(&[other.certificate().clone()]),
        )
        .expect("other");
        let base = [
            ("xpack.security.transport.ssl.key", "node.key"),
            ("xpack.security.transport.ssl.certificate", "node.crt"),
            (
                "xpack.security.transport.ssl.certificate_authorities",
                "ca.crt",
            ),
        ];
        // This test is about what the client checks; the server asks for no client certificate.
        let mut server_settings = base.to_vec();
        server_settings.push(("xpack.security.transport.ssl.client_authentication", "none"));
        let server = build_server_config(
            &settings(&server_settings),
            &SecureSettings::default(),
            Layer::Transport,
            dir.path(),
        )
        .expect("server");
        let client = |mode: &str, ca_file: &str| {
            let mut pairs = base.to_vec();
            pairs[2] = (
                "xpack.security.transport.ssl.certificate_authorities",
                ca_file,
            );
            pairs.push(("xpack.security.transport.ssl.verification_mode", mode));
            build_client_config(
                &settings(&pairs),
                &SecureSettings::default(),
                Layer::Transport,
                dir.path(),
            )
            .expect("client")
        };
        assert_eq!(
            handshake(server.config.clone(), client("full", "ca.crt"), "localhost"),
            Ok(())
        );
        let wrong_name = handshake(
            server.config.clone(),
            client("full", "ca.crt"),
            "node7.example.com",
        );
        assert!(wrong_name.is_err(), "full checks the SANs");
        assert_eq!(
            handshake(
                server.config.clone(),
                client("certificate", "ca.crt"),
                "node7.example.com"
            ),
            Ok(()),
            "certificate checks only the chain"
        );
        assert!(
            handshake(
                server.config.clone(),
                client("certificate", "other.crt"),
                "localhost"
            )
            .is_err(),
            "certificate still rejects an untrusted chain"
        );
        assert_eq!(
            handshake(
                server.config.clone(),
                client("none", "other.crt"),
                "node7.example.com"
            ),
            Ok(())
        );
    }

    #[test]
    fn cipher_suites_filter_and_refuse_an_empty_result() {
        let dir = tempfile::tempdir().expect("tmp");
        write_pem_pair(dir.path());
        let base = [
            ("xpack.security.http.ssl.key", "node.key"),
            ("xpack.security.http.ssl.certificate", "node.crt"),
        ];
        let mut ok = base.to_vec();
        ok.push((
            "xpack.security.http.ssl.cipher_suites",
            "TLS_AES_256_GCM_SHA384,TLS_RSA_WITH_RC4_128_MD5",
        ));
        let built = build_http(dir.path(), &ok).expect("one usable suite");
        assert_eq!(built.config.crypto_provider().cipher_suites.len(), 1);
        let mut bad = base.to_vec();
        bad.push((
            "xpack.security.http.ssl.cipher_suites",
            "TLS_RSA_WITH_RC4_128_MD5",
        ));
        let err = build_http(dir.path(), &bad).expect_err("nothing usable");
        assert!(err.0.contains("TLS_AES_128_GCM_SHA256"), "{err}");
    }
}
