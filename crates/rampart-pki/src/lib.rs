//! Rampart's public-key infrastructure: generating a CA and node certificates (rcgen), reading
//! and writing PEM and PKCS#12 material, building the rustls server configurations of the HTTP
//! and transport layers from Elasticsearch's `xpack.security.*.ssl.*` settings, and reloading
//! that material from disk when it changes.
//!
//! It must never accept a protocol older than TLS 1.2, and never fall back silently to no
//! verification: a configuration that cannot be honoured is an error naming the file or setting.
#![forbid(unsafe_code)]

pub mod certutil;
mod generate;
mod keys;
mod p12;
mod reload;
mod tls;

pub use generate::{
    CertificateAuthority, CertificateRequest, IssuedCertificate, KeyType, KeyUsage, Validity,
    certificate_request, parse_dn,
};
pub use keys::{private_key_pem, read_private_key_pem};
pub use p12::{Pkcs12Contents, read_pkcs12, write_pkcs12};
/// The error certificate generation reports.
pub use rcgen::Error as GenerationError;
pub use reload::{ReloadOutcome, ReloadingServerConfig};
pub use tls::{
    BuiltServerConfig, Layer, TlsError, VerificationMode, build_client_config, build_server_config,
    client_config_trusting,
};

use rustls::pki_types::CertificateDer;

/// SHA-256 over a certificate's DER, as hex: the fingerprint Elasticsearch prints and
/// `openssl x509 -fingerprint -sha256` shows (without the colons).
pub fn sha256_fingerprint(cert: &CertificateDer<'_>) -> String {
    tls::sha256(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Encodes DER certificates as PEM.
pub fn certificates_to_pem(certs: &[CertificateDer<'_>]) -> String {
    certs
        .iter()
        .map(|cert| pem_encode("CERTIFICATE", cert.as_ref()))
        .collect()
}

/// One PEM block with `label` (`CERTIFICATE`, `PRIVATE KEY`, ...), lines of 64 characters.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
