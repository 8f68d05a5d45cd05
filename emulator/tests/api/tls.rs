//! HTTPS with the generated certificate: a client that trusts exactly the written PEM file.

use reqwest::StatusCode;

use crate::common::*;

#[tokio::test]
async fn https_with_the_written_certificate_only() {
    let dir = TempDir::new("tls");
    let cert = dir.0.join("ca.pem");
    let emulator = Emulator::start(&["--tls", "--cert-out", cert.to_str().expect("path")]);
    assert!(emulator.base.starts_with("https://127.0.0.1:"));
    let pem = std::fs::read(&cert).expect("certificate written");
    let trusted = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .build()
        .expect("client");
    let api = Api::login(trusted.clone(), &emulator.base).await;
    let limits = api.get("/limits").await;
    assert_eq!(limits.status, StatusCode::OK);
    let token = token_request(
        &trusted,
        &emulator.base,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await;
    assert_eq!(token.json["instance_url"], emulator.base.as_str());
    let localhost = emulator.base.replace("127.0.0.1", "localhost");
    assert_eq!(
        trusted
            .get(format!("{localhost}/services/data/"))
            .send()
            .await
            .expect("localhost is in the certificate")
            .status(),
        StatusCode::OK
    );

    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    assert!(untrusting
        .get(format!("{}/services/data/", emulator.base))
        .send()
        .await
        .is_err());
}
