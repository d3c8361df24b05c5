//! The certificate and key loaders: PKCS#12 (with an empty and a fixed password) and PEM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

fuzz_target!(|data: &[u8]| {
    let _ = rampart_pki::read_pkcs12(data, "");
    let _ = rampart_pki::read_pkcs12(data, "changeme");
    let _ = CertificateDer::pem_slice_iter(data).collect::<Vec<_>>();
    let _ = PrivateKeyDer::from_pem_slice(data);
});
