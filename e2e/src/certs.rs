//! Certificates and keys of the control plane, made with rcgen: a CA, the apiserver's
//! serving certificate (for 127.0.0.1 and localhost, signed by the CA, so kubectl and
//! kube-rs verify it for real), and the service-account signing key.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::error::{Result, io};

/// Paths of the written PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The CA certificate (trust anchor for clients, `--root-ca-file` of the controller manager).
    pub ca_cert: PathBuf,
    /// The apiserver's serving certificate.
    pub serving_cert: PathBuf,
    /// Its private key.
    pub serving_key: PathBuf,
    /// Service-account signing key (PKCS#8 ECDSA P-256).
    pub sa_key: PathBuf,
    /// Its public key (PKIX), which the apiserver verifies tokens with.
    pub sa_pub: PathBuf,
}

/// Generates the certificates and writes them under `dir`.
pub async fn write_certs(dir: &Path) -> Result<CertFiles> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "backrunner-e2e-ca");
    ca_params.distinguished_name = dn;
    let ca = ca_params.self_signed(&ca_key)?;

    let serving_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![
        "127.0.0.1".to_owned(),
        "localhost".to_owned(),
        "kubernetes.default.svc".to_owned(),
    ])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-apiserver");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let serving = params.signed_by(&serving_key, &ca, &ca_key)?;
    let sa_key = KeyPair::generate()?;

    let files = CertFiles {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        sa_key: dir.join("sa.key"),
        sa_pub: dir.join("sa.pub"),
    };
    for (path, pem) in [
        (&files.ca_cert, ca.pem()),
        (&files.serving_cert, serving.pem()),
        (&files.serving_key, serving_key.serialize_pem()),
        (&files.sa_key, sa_key.serialize_pem()),
        (&files.sa_pub, sa_key.public_key_pem()),
    ] {
        tokio::fs::write(path, pem)
            .await
            .map_err(io(format!("writing {}", path.display())))?;
    }
    Ok(files)
}
