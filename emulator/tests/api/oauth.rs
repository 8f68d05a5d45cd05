//! OAuth flows against Salesforce Help: OAuth endpoints and flows: response key sets, signatures, error bodies, rotation, JWT, session expiry.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value as Json};

use crate::common::*;

fn keys(json: &Json) -> Vec<String> {
    let mut keys: Vec<String> = json.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

fn assert_oauth_error(response: &Resp, error: &str, description: &str) {
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json,
        json!({"error": error, "error_description": description})
    );
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

fn password_form<'a>(
    password: &'a str,
    client_id: &'a str,
    secret: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "password"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("username", USERNAME),
        ("password", password),
    ]
}

#[tokio::test]
async fn password_flow_matches_the_documented_response() {
    let emulator = Emulator::start(&[]);
    let response = token_request(
        &emulator.http(),
        &emulator.base,
        &password_form(PASSWORD, CLIENT_ID, CLIENT_SECRET),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    let body = &response.json;
    assert_eq!(
        keys(body),
        [
            "access_token",
            "id",
            "instance_url",
            "issued_at",
            "signature",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["instance_url"], emulator.base.as_str());
    let issued_at = body["issued_at"].as_str().expect("issued_at");
    assert_eq!(issued_at.len(), 13, "milliseconds");
    let id = body["id"].as_str().expect("id");
    let parts: Vec<&str> = id.rsplitn(3, '/').collect();
    assert!(
        parts[0].starts_with("005") && parts[0].len() == 18,
        "user id in {id}"
    );
    assert!(
        parts[1].starts_with("00D") && parts[1].len() == 18,
        "org id in {id}"
    );
    assert!(body["access_token"]
        .as_str()
        .expect("token")
        .starts_with(&parts[1][..15]));
    // signature = base64(HMAC-SHA256(client_secret, id + issued_at))
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, CLIENT_SECRET.as_bytes());
    let expected =
        STANDARD.encode(ring::hmac::sign(&key, format!("{id}{issued_at}").as_bytes()).as_ref());
    assert_eq!(body["signature"], expected.as_str());
}

#[tokio::test]
async fn token_endpoint_errors() {
    let emulator = Emulator::start(&[]);
    let http = emulator.http();
    let base = &emulator.base;
    assert_oauth_error(
        &token_request(
            &http,
            base,
            &password_form("wrong", CLIENT_ID, CLIENT_SECRET),
        )
        .await,
        "invalid_grant",
        "authentication failure",
    );
    assert_oauth_error(
        &token_request(&http, base, &password_form(PASSWORD, "nope", CLIENT_SECRET)).await,
        "invalid_client_id",
        "client identifier invalid",
    );
    assert_oauth_error(
        &token_request(&http, base, &password_form(PASSWORD, CLIENT_ID, "nope")).await,
        "invalid_client",
        "invalid client credentials",
    );
    assert_oauth_error(
        &token_request(&http, base, &[("grant_type", "authorization_code")]).await,
        "unsupported_grant_type",
        "grant type not supported",
    );
    assert_oauth_error(
        &token_request(
            &http,
            base,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", CLIENT_ID),
                ("refresh_token", "bogus"),
            ],
        )
        .await,
        "invalid_grant",
        "expired access/refresh token",
    );
}

#[tokio::test]
async fn client_credentials_with_basic_auth() {
    let emulator = Emulator::start(&[]);
    let response = emulator
        .http()
        .post(format!("{}/services/oauth2/token", emulator.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Json = response.json().await.expect("json");
    assert_eq!(
        keys(&body),
        [
            "access_token",
            "id",
            "instance_url",
            "issued_at",
            "scope",
            "signature",
            "token_type"
        ]
    );
    let api = Api {
        http: emulator.http(),
        base: emulator.base.clone(),
        token: body["access_token"].as_str().expect("token").into(),
    };
    assert_eq!(api.get("/limits").await.status, StatusCode::OK);
}

async fn refresh(http: &reqwest::Client, base: &str, token: &str) -> Resp {
    token_request(
        http,
        base,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", token),
        ],
    )
    .await
}

async fn admin_refresh_token(emulator: &Emulator) -> String {
    let response = emulator
        .admin(Method::POST, "/__emulator/refresh-tokens", None)
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    response.json["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string()
}

#[tokio::test]
async fn refresh_token_without_rotation_keeps_working() {
    let emulator = Emulator::start(&[]);
    let http = emulator.http();
    let token = admin_refresh_token(&emulator).await;
    for _ in 0..2 {
        let response = refresh(&http, &emulator.base, &token).await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(
            keys(&response.json),
            [
                "access_token",
                "id",
                "instance_url",
                "issued_at",
                "scope",
                "signature",
                "token_type"
            ]
        );
        assert_eq!(response.json["scope"], "id api refresh_token");
    }
}

#[tokio::test]
async fn refresh_token_rotation_revokes_the_family_on_reuse() {
    let emulator = Emulator::start(&["--refresh-token-rotation"]);
    let http = emulator.http();
    let first = admin_refresh_token(&emulator).await;
    let response = refresh(&http, &emulator.base, &first).await;
    assert_eq!(response.status, StatusCode::OK);
    let second = response.json["refresh_token"]
        .as_str()
        .expect("rotated token")
        .to_string();
    assert_ne!(second, first);
    let access = response.json["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let api = Api {
        http: http.clone(),
        base: emulator.base.clone(),
        token: access,
    };
    assert_eq!(api.get("/limits").await.status, StatusCode::OK);
    // Reusing the rotated-out token fails and revokes the current token and its access tokens.
    assert_oauth_error(
        &refresh(&http, &emulator.base, &first).await,
        "invalid_grant",
        "expired access/refresh token",
    );
    assert_eq!(api.get("/limits").await.status, StatusCode::UNAUTHORIZED);
    assert_oauth_error(
        &refresh(&http, &emulator.base, &second).await,
        "invalid_grant",
        "expired access/refresh token",
    );
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM base64")
}

fn sign_jwt(claims: &Json) -> String {
    let key_pem = std::fs::read_to_string(fixtures().join("jwt_test_key.pem")).expect("key");
    let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(&key_pem)).expect("PKCS#8 RSA key");
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn jwt_login(emulator: &Emulator, claims: Json) -> Resp {
    let assertion = sign_jwt(&claims);
    token_request(
        &emulator.http(),
        &emulator.base,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn jwt_bearer_flow_checks_signature_audience_expiry_issuer_and_subject() {
    let cert = fixtures().join("jwt_test_cert.pem");
    let emulator = Emulator::start(&["--jwt-cert", cert.to_str().expect("path")]);
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, exp: i64, iss: &str, sub: &str| json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp});

    let ok = jwt_login(
        &emulator,
        claims(
            "https://login.salesforce.com",
            now + 120,
            CLIENT_ID,
            USERNAME,
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(
        keys(&ok.json),
        ["access_token", "id", "instance_url", "scope", "token_type"]
    );
    let own = jwt_login(
        &emulator,
        claims(&emulator.base, now + 60, CLIENT_ID, USERNAME),
    )
    .await;
    assert_eq!(own.status, StatusCode::OK);

    assert_oauth_error(
        &jwt_login(
            &emulator,
            claims("https://example.com", now + 60, CLIENT_ID, USERNAME),
        )
        .await,
        "invalid_grant",
        "audience is invalid",
    );
    // Salesforce allows 3 minutes of clock skew after `exp`, and sets no upper bound on it: an `exp` an hour
    // ahead, or one written in milliseconds (as the Salesforce CLI sends), is accepted.
    for exp in [now - 120, now + 3600, now * 1000 + 300] {
        let accepted = jwt_login(
            &emulator,
            claims("https://test.salesforce.com", exp, CLIENT_ID, USERNAME),
        )
        .await;
        assert_eq!(
            accepted.status,
            StatusCode::OK,
            "exp {exp}: {:?}",
            accepted.json
        );
    }
    assert_oauth_error(
        &jwt_login(
            &emulator,
            claims(
                "https://test.salesforce.com",
                now - 200,
                CLIENT_ID,
                USERNAME,
            ),
        )
        .await,
        "invalid_grant",
        "expired authorization code",
    );
    assert_oauth_error(
        &jwt_login(
            &emulator,
            claims(
                "https://test.salesforce.com",
                now + 60,
                "other-app",
                USERNAME,
            ),
        )
        .await,
        "invalid_client_id",
        "client identifier invalid",
    );
    assert_oauth_error(
        &jwt_login(
            &emulator,
            claims(
                "https://test.salesforce.com",
                now + 60,
                CLIENT_ID,
                "someone@else",
            ),
        )
        .await,
        "invalid_grant",
        "user hasn't approved this consumer",
    );

    // A tampered payload no longer matches the signature.
    let good = sign_jwt(&claims(
        "https://login.salesforce.com",
        now + 60,
        CLIENT_ID,
        USERNAME,
    ));
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(
        claims(
            "https://login.salesforce.com",
            now + 60,
            CLIENT_ID,
            "admin2@x",
        )
        .to_string(),
    );
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let response = token_request(
        &emulator.http(),
        &emulator.base,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &forged),
        ],
    )
    .await;
    assert_oauth_error(&response, "invalid_grant", "invalid assertion");
}

#[tokio::test]
async fn expired_sessions_give_401_and_re_authentication_works() {
    let emulator = Emulator::start(&["--session-seconds", "1"]);
    let api = emulator.login().await;
    assert_eq!(api.get("/limits").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let expired = api.get("/limits").await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.json,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let again = emulator.login().await;
    assert_eq!(again.get("/limits").await.status, StatusCode::OK);
}

#[tokio::test]
async fn expire_sessions_admin_call_and_oauth_header_prefix() {
    let emulator = Emulator::start(&[]);
    let api = emulator.login().await;
    let with_oauth_prefix = emulator
        .http()
        .get(format!("{}/services/data/v62.0/limits", emulator.base))
        .header("Authorization", format!("OAuth {}", api.token))
        .send()
        .await
        .expect("sent");
    assert_eq!(with_oauth_prefix.status(), StatusCode::OK);
    let missing = send(
        &emulator.http(),
        Method::GET,
        &format!("{}/services/data/v62.0/limits", emulator.base),
        None,
        None,
    )
    .await;
    assert_eq!(missing.error_code(), "INVALID_SESSION_ID");
    assert_eq!(
        emulator
            .admin(Method::POST, "/__emulator/expire-sessions", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(api.get("/limits").await.error_code(), "INVALID_SESSION_ID");
    assert_eq!(
        emulator.login().await.get("/limits").await.status,
        StatusCode::OK
    );
}
