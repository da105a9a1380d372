//! TLS tests: a real handshake over loopback with a generated certificate, reload when
//! the files change, and a broken new pair that leaves the old one in service.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn write_pair(dir: &Path, name: &str) -> (TlsFiles, CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), name.to_string()])
        .unwrap();
    let files = TlsFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    std::fs::write(&files.cert, ck.cert.pem()).unwrap();
    std::fs::write(&files.key, ck.key_pair.serialize_pem()).unwrap();
    (files, ck.cert.der().clone())
}

/// Serves one TLS connection that echoes a line, and returns the certificate the client saw.
async fn handshake(
    tls: &Arc<ReloadingTls>,
    trust: &CertificateDer<'static>,
) -> CertificateDer<'static> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let mut s = acceptor.accept(sock).await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trust.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut s = connector
        .connect(ServerName::try_from("localhost").unwrap(), sock)
        .await
        .unwrap();
    s.write_all(b"hello").await.unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"hello");
    let seen = s.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned();
    server.await.unwrap();
    seen
}

#[tokio::test]
async fn serves_and_reloads_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let (files, first) = write_pair(dir.path(), "one.example");
    let tls = ReloadingTls::load(files.clone()).unwrap();
    assert_eq!(handshake(&tls, &first).await, first);
    assert!(
        !tls.reload_if_changed().unwrap(),
        "unchanged files: no reload"
    );

    let (_, second) = write_pair(dir.path(), "two.example");
    assert!(tls.reload_if_changed().unwrap());
    assert_eq!(
        handshake(&tls, &second).await,
        second,
        "new connections get the new cert"
    );
}

#[tokio::test]
async fn broken_new_pair_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (files, first) = write_pair(dir.path(), "one.example");
    let tls = ReloadingTls::load(files.clone()).unwrap();
    // A key that does not match the certificate (rotation caught halfway).
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(&files.key, other.serialize_pem()).unwrap();
    assert!(matches!(
        tls.reload_if_changed(),
        Err(TlsError::Rejected { .. })
    ));
    assert_eq!(handshake(&tls, &first).await, first);
    std::fs::write(&files.cert, b"not pem").unwrap();
    assert!(matches!(
        tls.reload_if_changed(),
        Err(TlsError::NoCertificate(_))
    ));
    assert!(matches!(
        ReloadingTls::load(files),
        Err(TlsError::NoCertificate(_))
    ));
}

#[tokio::test]
async fn watcher_picks_up_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = write_pair(dir.path(), "one.example");
    let tls = ReloadingTls::load(files).unwrap();
    let before = tls.config();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(tls.clone().watch(Duration::from_millis(20), async {
        let _ = stop_rx.await;
    }));
    let (_, second) = write_pair(dir.path(), "two.example");
    let mut swapped = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if !Arc::ptr_eq(&before, &tls.config()) {
            swapped = true;
            break;
        }
    }
    assert!(swapped, "watcher reloaded the rotated certificate");
    assert_eq!(handshake(&tls, &second).await, second);
    let _ = stop_tx.send(());
    watcher.await.unwrap();
}
