//! HTTPS certificates: loads a PEM certificate chain and private key into a rustls server
//! configuration (ALPN h2 and http/1.1) and reloads them when the files change —
//! cert-manager rewrites a mounted Secret in place — or when asked (SIGHUP), without
//! touching established connections. A bad new pair is logged and the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::ticker::Ticker;

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{0}: no PEM certificate found")]
    NoCertificate(PathBuf),
    /// The key file holds no usable PEM private key.
    #[error("{path}: no PEM private key found ({reason})")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate).
    #[error("certificate {cert} with key {key}: {source}")]
    Rejected {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// Cause.
        source: rustls::Error,
    },
}

/// The certificate and key files of the HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A rustls configuration that follows its files.
pub struct ReloadingTls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// The bytes the current configuration was built from.
    loaded: Mutex<(Vec<u8>, Vec<u8>)>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn build(files: &TlsFiles, cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::NoKey {
        path: files.key.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| TlsError::Rejected {
            cert: files.cert.clone(),
            key: files.key.clone(),
            source,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

impl ReloadingTls {
    /// Loads the pair; fails if it is unusable (the proxy refuses to start).
    pub fn load(files: TlsFiles) -> Result<Arc<ReloadingTls>, TlsError> {
        let (cert, key) = (read(&files.cert)?, read(&files.key)?);
        let config = build(&files, &cert, &key)?;
        Ok(Arc::new(ReloadingTls {
            files,
            current: RwLock::new(Arc::new(config)),
            loaded: Mutex::new((cert, key)),
        }))
    }

    /// The configuration new connections should use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An acceptor for one new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// Re-reads the files and swaps the configuration if their bytes changed. Returns
    /// whether a new pair is now in use; on error the previous pair stays in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let (cert, key) = (read(&self.files.cert)?, read(&self.files.key)?);
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if loaded.0 == cert && loaded.1 == key {
            return Ok(false);
        }
        let config = build(&self.files, &cert, &key)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
        *loaded = (cert, key);
        Ok(true)
    }

    /// Polls the files every `every` and on SIGHUP, until `shutdown` resolves.
    pub async fn watch(
        self: Arc<Self>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut ticker = Ticker::new(every, shutdown);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
                tracing::info!("SIGHUP: reloading TLS certificate");
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            if !ticker.tick_or(hangup).await {
                return;
            }
            match self.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate reload failed; keeping the previous one")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
