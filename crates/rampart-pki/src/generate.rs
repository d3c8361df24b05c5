//! Certificate generation with rcgen: a CA, and leaf certificates signed by it.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
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
    pub fn generate(common_name: &str, validity: Validity) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = base_params(common_name, validity)?;
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

    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    pub fn key_pkcs8(&self) -> &[u8] {
        &self.key_pkcs8
    }

    /// Issues a leaf certificate whose SANs are exactly `dns_names` and `ips`.
    pub fn issue(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
        usage: KeyUsage,
        validity: Validity,
    ) -> Result<IssuedCertificate, rcgen::Error> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = base_params(common_name, validity)?;
        for name in dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName(name.clone().try_into()?));
        }
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
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
