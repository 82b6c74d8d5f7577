//! HTTPS with `--tls-cert`/`--tls-key`: a certificate made by OpenSSL, then HTTP/1.1 (reqwest)
//! and HTTP/2 (h2, chosen by ALPN) over TLS to the real binary; the session cookie is `Secure`.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncBufReadExt;

use crate::access::add_user;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http1_and_h2_and_its_cookies_are_secure() {
    let dir = e2e::test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // An end entity, not a CA: webpki refuses a CA certificate as a server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (apt-get install openssl)");
    assert!(made.success());
    let data = dir.join("data");
    add_user(&data, "ann", "admin", "ann-pass-9d2c");

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--self-metrics-every-secs", "0"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("weir runs");
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.split("listening on https://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                return addr.rsplit(':').next().unwrap().parse().ok();
            }
        }
        None
    })
    .await
    .expect("weir listened within 30 s")
    .expect("listening on https://");

    // HTTP/1.1 over TLS, trusting only this certificate.
    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let health = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .expect("a TLS request");
    assert_eq!(health.status(), StatusCode::OK);
    let login = client
        .post(format!("https://localhost:{port}/api/v1/auth/login"))
        .json(&serde_json::json!({"name": "ann", "password": "ann-pass-9d2c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // Plain HTTP to the TLS port gets nothing served.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // HTTP/2, agreed by ALPN.
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&pem) {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("a TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, connection) = h2::client::handshake(tls).await.expect("an h2 connection");
    tokio::spawn(connection);
    let request = http::Request::get(format!("https://localhost:{port}/healthz"))
        .body(())
        .unwrap();
    let (response, _) = h2.send_request(request, true).unwrap();
    let response = response.await.expect("an h2 response");
    assert_eq!(response.status(), http::StatusCode::OK);
    child.kill().await.unwrap();

    // A key that is not one: weir says which file and stops.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("TLS key") && stderr.contains("cert.pem"),
        "{stderr}"
    );
}
