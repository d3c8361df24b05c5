//! Certificate generation with rcgen: a CA, and leaf certificates signed by it.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, PublicKeyData,
    RsaKeySize, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub days: u32,
}

impl Default for Validity {
    /// Elasticsearch's certutil default: three years.
    fn default() -> Self {
        Validity { days: 1095 }
    }
}

/// The kind of key to generate: RSA as Elasticsearch's certutil does by default, or ECDSA P-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa(u32),
    EcdsaP256,
}

impl KeyType {
    /// Elasticsearch's default: RSA 2048.
    pub const DEFAULT: KeyType = KeyType::Rsa(2048);

    pub fn rsa(bits: u32) -> Result<KeyType, String> {
        match bits {
            2048 | 3072 | 4096 => Ok(KeyType::Rsa(bits)),
            _ => Err(format!(
                "an RSA key size of {bits} bits is not supported: use 2048, 3072 or 4096"
            )),
        }
    }

    fn generate(self) -> Result<KeyPair, rcgen::Error> {
        match self {
            KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            KeyType::Rsa(bits) => {
                let size = match bits {
                    3072 => RsaKeySize::_3072,
                    4096 => RsaKeySize::_4096,
                    _ => RsaKeySize::_2048,
                };
                KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, size)
            }
        }
    }
}

/// Parses a distinguished name such as `CN=Example CA,O=Example,C=DE`.
pub fn parse_dn(text: &str) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, value) = part
            .split_once('=')
            .ok_or_else(|| format!("[{part}] in the DN is not of the form TYPE=value"))?;
        let kind = match kind.trim().to_ascii_uppercase().as_str() {
            "CN" => DnType::CommonName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            "DC" => DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
            other => {
                return Err(format!(
                    "the DN attribute [{other}] is not supported: use CN, O, OU, C, ST, L or DC"
                ));
            }
        };
        dn.push(kind, value.trim());
    }
    if dn.iter().next().is_none() {
        return Err("the DN is empty: give at least CN=name".to_string());
    }
    Ok(dn)
}

/// A certificate signing request and its new private key.
pub struct CertificateRequest {
    pub csr_der: Vec<u8>,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CertificateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateRequest").finish_non_exhaustive()
    }
}

fn add_sans(
    params: &mut CertificateParams,
    dns_names: &[String],
    ips: &[IpAddr],
) -> Result<(), rcgen::Error> {
    for name in dns_names {
        params
            .subject_alt_names
            .push(SanType::DnsName(name.clone().try_into()?));
    }
    for ip in ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    Ok(())
}

/// A new key and a CSR for it, for a CA outside Rampart to sign.
pub fn certificate_request(
    common_name: &str,
    dns_names: &[String],
    ips: &[IpAddr],
    key_type: KeyType,
) -> Result<CertificateRequest, rcgen::Error> {
    let key = key_type.generate()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    add_sans(&mut params, dns_names, ips)?;
    let csr = params.serialize_request(&key)?;
    Ok(CertificateRequest {
        csr_der: csr.der().to_vec(),
        key_pkcs8: Zeroizing::new(key.serialize_der()),
    })
}

/// What a leaf certificate is for; transport certificates serve both ends of mutual TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    Server,
    ServerAndClient,
}

pub struct CertificateAuthority {
    certificate: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

pub struct IssuedCertificate {
    pub certificate: CertificateDer<'static>,
    /// PKCS#8 DER of the private key.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificate").finish_non_exhaustive()
    }
}

fn random_serial() -> Result<SerialNumber, rcgen::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| rcgen::Error::RingUnspecified)?;
    // A positive INTEGER: clear the top bit so the DER encoding needs no sign byte games.
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn base_params(common_name: &str, validity: Validity) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    // A little slack for clocks that are slightly behind the issuing node's.
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(validity.days));
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

impl CertificateAuthority {
    /// A CA with an ECDSA P-256 key, named `common_name`: what auto-configuration makes.
    pub fn generate(common_name: &str, validity: Validity) -> Result<Self, rcgen::Error> {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        Self::generate_with(dn, KeyType::EcdsaP256, validity)
    }

    pub fn generate_with(
        dn: DistinguishedName,
        key_type: KeyType,
        validity: Validity,
    ) -> Result<Self, rcgen::Error> {
        let key = key_type.generate()?;
        let mut params = base_params("", validity)?;
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let certificate = params.self_signed(&key)?.der().clone();
        let key_pkcs8 = Zeroizing::new(key.serialize_der());
        Ok(CertificateAuthority {
            certificate,
            issuer: Issuer::new(params, key),
            key_pkcs8,
        })
    }

    /// An existing CA from its certificate and PKCS#8 key (from a PKCS#12 or PEM files).
    pub fn from_parts(
        certificate: CertificateDer<'static>,
        key_pkcs8: &[u8],
    ) -> Result<Self, String> {
        let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref())
            .map_err(|e| format!("the CA certificate cannot be parsed: {e}"))?;
        if !parsed.is_ca() {
            return Err(format!(
                "the certificate [{}] is not a CA certificate (no basicConstraints CA:TRUE), so it \
                 cannot sign others: make a CA with `rampart certutil ca`",
                parsed.subject()
            ));
        }
        let key = KeyPair::try_from(key_pkcs8)
            .map_err(|e| format!("the CA private key cannot be used: {e}"))?;
        if key.subject_public_key_info() != parsed.public_key().raw {
            return Err("the CA private key does not belong to the CA certificate".to_string());
        }
        let issuer = Issuer::from_ca_cert_der(&certificate, key)
            .map_err(|e| format!("the CA certificate cannot be used to sign: {e}"))?;
        Ok(CertificateAuthority {
            certificate,
            issuer,
            key_pkcs8: Zeroizing::new(key_pkcs8.to_vec()),
        })
    }

    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    pub fn key_pkcs8(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// Issues a leaf certificate with an ECDSA P-256 key (auto-configuration's choice).
    pub fn issue(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
        usage: KeyUsage,
        validity: Validity,
    ) -> Result<IssuedCertificate, rcgen::Error> {
        self.issue_with(
            common_name,
            dns_names,
            ips,
            usage,
            validity,
            KeyType::EcdsaP256,
        )
    }

    /// Issues a leaf certificate whose SANs are exactly `dns_names` and `ips`.
    pub fn issue_with(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
        usage: KeyUsage,
        validity: Validity,
        key_type: KeyType,
    ) -> Result<IssuedCertificate, rcgen::Error> {
        let key = key_type.generate()?;
        let mut params = base_params(common_name, validity)?;
        add_sans(&mut params, dns_names, ips)?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = match usage {
            KeyUsage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            KeyUsage::ServerAndClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        params.use_authority_key_identifier_extension = true;
        let certificate = params.signed_by(&key, &self.issuer)?.der().clone();
        Ok(IssuedCertificate {
            certificate,
            key_pkcs8: Zeroizing::new(key.serialize_der()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_carry_exactly_the_requested_sans() {
        let ca = CertificateAuthority::generate("test CA", Validity::default()).expect("ca");
        let leaf = ca
            .issue(
                "node",
                &["localhost".to_string()],
                &["127.0.0.1".parse().expect("ip")],
                KeyUsage::Server,
                Validity { days: 10 },
            )
            .expect("leaf");
        let (_, parsed) =
            x509_parser::parse_x509_certificate(leaf.certificate.as_ref()).expect("parse");
        let san = parsed
            .subject_alternative_name()
            .expect("ext")
            .expect("san present");
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, vec!["DNSName(localhost)", "IPAddress(7f:00:00:01)"]);
        let (_, ca_parsed) =
            x509_parser::parse_x509_certificate(ca.certificate().as_ref()).expect("parse");
        assert_eq!(parsed.issuer(), ca_parsed.subject());
        let lifetime =
            parsed.validity().not_after.timestamp() - parsed.validity().not_before.timestamp();
        assert!(
            (10 * 86400..=10 * 86400 + 600).contains(&lifetime),
            "{lifetime}"
        );
    }
}
