//! PKCS#12 files, written with PBES2 (AES-256-CBC, PBKDF2-HMAC-SHA256) and an HMAC-SHA256 MAC,
//! which openssl 3 and Java's keytool read without legacy switches.

use p12_keystore::{
    Certificate, KeyStore, KeyStoreEntry, Pkcs12Archive, PrivateKey, PrivateKeyChain,
};
use rustls::pki_types::CertificateDer;
use zeroize::Zeroizing;

/// What a PKCS#12 file holds, as rustls wants it.
pub struct Pkcs12Contents {
    /// The first private key with its certificate chain (leaf first), if the file has one.
    pub key_and_chain: Option<(Zeroizing<Vec<u8>>, Vec<CertificateDer<'static>>)>,
    /// Trusted certificates: those marked trusted, or every certificate of a file with no key.
    pub trusted: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for Pkcs12Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Contents")
            .field("has_key", &self.key_and_chain.is_some())
            .field("trusted", &self.trusted.len())
            .finish()
    }
}

/// Writes a PKCS#12 holding `key_pkcs8` with `chain` under `key_alias`, plus `trusted` entries.
pub fn write_pkcs12(
    key_alias: &str,
    key_pkcs8: &[u8],
    chain: &[CertificateDer<'_>],
    trusted: &[(&str, CertificateDer<'_>)],
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let mut store = KeyStore::new();
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid certificate: {e}"))?;
    let key = PrivateKey::from_der(key_pkcs8).map_err(|e| format!("invalid private key: {e}"))?;
    let mut local_key_id = [0u8; 20];
    getrandom::fill(&mut local_key_id).map_err(|e| e.to_string())?;
    store.add_entry(
        key_alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id.to_vec(), key, certs)),
    );
    for (alias, cert) in trusted {
        let cert = Certificate::from_der(cert.as_ref())
            .map_err(|e| format!("invalid certificate: {e}"))?;
        store.add_entry(alias, KeyStoreEntry::Certificate(cert));
    }
    store
        .writer(password)
        .write()
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot encode PKCS#12: {e}"))
}

/// Reads a PKCS#12 file's key, chain and trusted certificates.
pub fn read_pkcs12(data: &[u8], password: &str) -> Result<Pkcs12Contents, String> {
    let archive = Pkcs12Archive::from_pkcs12(data, password).map_err(|e| {
        format!("cannot open it as PKCS#12 (wrong password, or not a PKCS#12 file): {e}")
    })?;
    let key_and_chain =
        match KeyStore::from_pkcs12(data, password, p12_keystore::Pkcs12ImportPolicy::Relaxed)
            .map_err(|e| format!("cannot read its key entries: {e}"))?
            .private_key_chain()
        {
            Some((_, chain)) if !chain.certs().is_empty() => Some((
                Zeroizing::new(chain.key().as_der().to_vec()),
                chain
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect(),
            )),
            _ => None,
        };
    // Trust is what the file marks as trusted (Java's trusted-certificate attribute). Only a
    // file with no private key, a pure truststore made by a tool that does not mark entries,
    // trusts all its certificates: in a file with a key, unmarked certificates are the key's
    // own chain, and must not become trust anchors by accident.
    let any_marked = archive.certs.iter().any(|c| c.trusted);
    let pure_truststore = archive.keys.is_empty();
    let trusted = archive
        .certs
        .iter()
        .filter(|c| c.trusted || (!any_marked && pure_truststore))
        .map(|c| CertificateDer::from(c.cert.as_der().to_vec()))
        .collect();
    Ok(Pkcs12Contents {
        key_and_chain,
        trusted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, KeyUsage, Validity};

    #[test]
    fn round_trip_keeps_key_chain_and_trust() {
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
        let bytes = write_pkcs12(
            "http",
            &leaf.key_pkcs8,
            &[leaf.certificate.clone(), ca.certificate().clone()],
            &[("http_ca", ca.certificate().clone())],
            "pw",
        )
        .expect("write");
        let read = read_pkcs12(&bytes, "pw").expect("read");
        let (key, chain) = read.key_and_chain.expect("key");
        assert_eq!(&key[..], &leaf.key_pkcs8[..]);
        assert_eq!(chain[0], leaf.certificate);
        assert_eq!(read.trusted, vec![ca.certificate().clone()]);
        assert!(read_pkcs12(&bytes, "wrong").is_err());

        // The same key and chain with nothing marked trusted: the chain's CA is not trusted.
        let unmarked = write_pkcs12(
            "http",
            &leaf.key_pkcs8,
            &[leaf.certificate.clone(), ca.certificate().clone()],
            &[],
            "pw",
        )
        .expect("write");
        assert!(
            read_pkcs12(&unmarked, "pw")
                .expect("read")
                .trusted
                .is_empty()
        );
    }
}
