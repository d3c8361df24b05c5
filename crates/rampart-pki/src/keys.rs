//! Private keys in PEM: plain PKCS#8, and encrypted PKCS#8 (PBES2: PBKDF2-HMAC-SHA256 with
//! AES-256-CBC), the form openssl 3 writes and reads by default.

use pkcs8::der::Decode;
use zeroize::Zeroizing;

use crate::pem_encode;

/// PBKDF2 iterations for keys written by certutil (OWASP's figure for PBKDF2-HMAC-SHA256).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// PEM for a PKCS#8 key: encrypted under `password` when it is not empty.
pub fn private_key_pem(key_pkcs8: &[u8], password: &str) -> Result<Zeroizing<String>, String> {
    if password.is_empty() {
        return Ok(Zeroizing::new(pem_encode("PRIVATE KEY", key_pkcs8)));
    }
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    getrandom::fill(&mut iv).map_err(|e| e.to_string())?;
    let params =
        pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
            .map_err(|e| format!("cannot set up key encryption: {e}"))?;
    let info = pkcs8::PrivateKeyInfoRef::from_der(key_pkcs8)
        .map_err(|e| format!("not a PKCS#8 private key: {e}"))?;
    let encrypted = info
        .encrypt_with_params(params, password)
        .map_err(|e| format!("cannot encrypt the private key: {e}"))?;
    Ok(Zeroizing::new(pem_encode(
        "ENCRYPTED PRIVATE KEY",
        encrypted.as_bytes(),
    )))
}

/// Reads a PEM private key, decrypting an `ENCRYPTED PRIVATE KEY` with `password`; returns the
/// PKCS#8 DER (PKCS#1 RSA and SEC1 EC keys are converted by the caller's parser as they are).
pub fn read_private_key_pem(
    pem: &[u8],
    password: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file".to_string())?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(
            "the key is encrypted in OpenSSL's legacy format, which Rampart does not read: convert it \
             with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.key -out new.key`"
                .to_string(),
        );
    }
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let password = password
            .ok_or_else(|| "the key is encrypted and no passphrase was given".to_string())?;
        let (label, der) =
            pkcs8::der::pem::decode_vec(pem).map_err(|e| format!("not a valid PEM key: {e}"))?;
        let der = Zeroizing::new(der);
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(format!("expected an ENCRYPTED PRIVATE KEY, found {label}"));
        }
        let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
            .map_err(|e| format!("not a valid encrypted key: {e}"))?;
        let plain = info.decrypt(password).map_err(|_| {
            "cannot decrypt the key: wrong passphrase, or an unsupported cipher".to_string()
        })?;
        return Ok(Zeroizing::new(plain.as_bytes().to_vec()));
    }
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    match PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("not a valid PEM private key: {e}"))?
    {
        PrivateKeyDer::Pkcs8(k) => Ok(Zeroizing::new(k.secret_pkcs8_der().to_vec())),
        other => Ok(Zeroizing::new(other.secret_der().to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, Validity};

    #[test]
    fn encrypted_keys_round_trip_and_need_the_right_passphrase() {
        let ca = CertificateAuthority::generate("ca", Validity::default()).expect("ca");
        let pem = private_key_pem(ca.key_pkcs8(), "pass phrase").expect("encrypt");
        assert!(pem.contains("BEGIN ENCRYPTED PRIVATE KEY"));
        let back = read_private_key_pem(pem.as_bytes(), Some("pass phrase")).expect("decrypt");
        assert_eq!(&back[..], ca.key_pkcs8());
        assert!(read_private_key_pem(pem.as_bytes(), Some("wrong")).is_err());
        assert!(read_private_key_pem(pem.as_bytes(), None).is_err());
        let plain = private_key_pem(ca.key_pkcs8(), "").expect("plain");
        assert_eq!(
            &read_private_key_pem(plain.as_bytes(), None).expect("read")[..],
            ca.key_pkcs8()
        );
    }
}
