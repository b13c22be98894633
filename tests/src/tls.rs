//! Certificates for TLS tests: a throwaway CA and one certificate it signed
//! for `localhost` and 127.0.0.1, which every process of a test binary
//! presents. One set per test binary, as the binary's own internal clients
//! can trust one CA only.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub struct TestCertificates {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    ca_pem: String,
}

impl TestCertificates {
    /// This test binary's certificates, made on first use; its own internal
    /// clients (the harness's) trust their CA.
    pub fn shared() -> &'static TestCertificates {
        static SHARED: OnceLock<TestCertificates> = OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("tessera-tls-")
                .tempdir()
                .expect("a directory for certificates")
                // Kept for the whole run: every cluster of the binary reads it.
                .keep();
            let certificates = TestCertificates::generate(&dir);
            tessera_runtime::tls::install(tessera_runtime::tls::InternalTls {
                identity: None,
                ca: Some(tonic::transport::Certificate::from_pem(
                    &certificates.ca_pem,
                )),
            })
            .expect("this test binary installs TLS once");
            certificates
        })
    }

    /// Writes the CA and the node's certificate and key under `dir`.
    fn generate(dir: &Path) -> TestCertificates {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Tessera test CA");
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let node_key = KeyPair::generate().expect("a node key");
        let node = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("node params")
            .signed_by(&node_key, &issuer)
            .expect("a node certificate");
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write a PEM file");
            path
        };
        TestCertificates {
            ca_cert: write("ca.pem", &ca.pem()),
            cert: write("node.pem", &node.pem()),
            key: write("node-key.pem", &node_key.serialize_pem()),
            ca_pem: ca.pem(),
        }
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The settings (`TESSERA__...` variables) that turn TLS on for the client
    /// ports and between services.
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("TESSERA__SERVICE__ENABLE_TLS".into(), "true".into()),
            ("TESSERA__CLUSTER__P2P__ENABLE_TLS".into(), "true".into()),
            ("TESSERA__TLS__CERT".into(), self.cert.display().to_string()),
            ("TESSERA__TLS__KEY".into(), self.key.display().to_string()),
            (
                "TESSERA__TLS__CA_CERT".into(),
                self.ca_cert.display().to_string(),
            ),
        ]
    }
}
