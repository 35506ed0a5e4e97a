//! Test certificates made with rcgen: a CA (P-384, so the server certificate
//! is signed with ecdsa-with-SHA384 and channel binding must use SHA-384), a
//! server certificate for `localhost` only, a client certificate for
//! certificate authentication, and an unrelated CA.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, PKCS_ECDSA_P384_SHA384,
};

/// Paths of the PEM files written into a directory.
pub struct CertFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
}

impl CertFiles {
    /// Generates everything into `dir`; the client certificate is for `client_user`.
    pub fn generate(dir: &Path, client_user: &str) -> CertFiles {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let ca = ca_params("pgdoor test CA").self_signed(&ca_key).unwrap();

        let server_key = KeyPair::generate().unwrap();
        let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = server.signed_by(&server_key, &ca, &ca_key).unwrap();

        let client_key = KeyPair::generate().unwrap();
        let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
        client.distinguished_name.push(DnType::CommonName, client_user);
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = client.signed_by(&client_key, &ca, &ca_key).unwrap();

        let other_key = KeyPair::generate().unwrap();
        let other = ca_params("unrelated CA").self_signed(&other_key).unwrap();

        let files = CertFiles {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.crt"),
            client_key: dir.join("client.key"),
            other_ca: dir.join("other-ca.crt"),
        };
        write(&files.ca, &ca.pem());
        write(&files.server_cert, &server.pem());
        write(&files.server_key, &server_key.serialize_pem());
        write(&files.client_cert, &client.pem());
        write(&files.client_key, &client_key.serialize_pem());
        write(&files.other_ca, &other.pem());
        files
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params
}

fn write(path: &Path, pem: &str) {
    std::fs::write(path, pem).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
