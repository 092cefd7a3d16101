//! Bearer JWTs (RS256 against a JWKS) instead of API keys.

use super::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "orderflow";

fn pem(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&std::fs::read(format!("{FIXTURES}/{name}")).unwrap()).unwrap()
}

fn claims(storefront: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": "user-7", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "storefront": storefront})
}

fn sign(claims: &Value, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key).unwrap()
}

async fn app() -> TestApp {
    let jwks = format!("{FIXTURES}/jwks.json");
    TestEnv::new(1)
        .await
        .start(&[
            "--auth",
            "api-key",
            "--jwks-file",
            &jwks,
            "--jwt-issuer",
            ISSUER,
            "--jwt-audience",
            AUDIENCE,
        ])
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_token_names_the_storefront_and_scopes_reads() {
    let app = app().await;
    let shop_a = Client {
        app: &app,
        key: Some(sign(&claims("shop-a"), "test-1", &pem("signing.pem"))),
    };
    let shop_b = Client {
        app: &app,
        key: Some(sign(&claims("shop-b"), "test-1", &pem("signing.pem"))),
    };
    let (status, accepted) = shop_a
        .send(Method::POST, "/v1/orders", Some(order_body()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let outcome = shop_a.outcome(&accepted).await;
    assert_eq!(outcome["status"], "applied", "{outcome}");
    let order = format!("/v1/orders/{}", accepted["order_id"].as_str().unwrap());
    let (status, body) = shop_a.send(Method::GET, &order, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(shop_b.send(Method::GET, &order, None).await.0, 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_that_do_not_verify_are_401() {
    let app = app().await;
    let signing = pem("signing.pem");
    let expired = {
        let mut c = claims("shop-a");
        c["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
        c
    };
    let other_audience = {
        let mut c = claims("shop-a");
        c["aud"] = json!("someone-else");
        c
    };
    let other_issuer = {
        let mut c = claims("shop-a");
        c["iss"] = json!("https://elsewhere.test");
        c
    };
    let no_storefront = {
        let mut c = claims("shop-a");
        c.as_object_mut().unwrap().remove("storefront");
        c
    };
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("test-1".into());
        encode(
            &header,
            &claims("shop-a"),
            &EncodingKey::from_secret(b"guess"),
        )
        .unwrap()
    };
    let cases = [
        ("expired", sign(&expired, "test-1", &signing)),
        (
            "signed by a key not in the JWKS",
            sign(&claims("shop-a"), "test-1", &pem("other.pem")),
        ),
        ("unknown kid", sign(&claims("shop-a"), "test-9", &signing)),
        (
            "another audience",
            sign(&other_audience, "test-1", &signing),
        ),
        ("another issuer", sign(&other_issuer, "test-1", &signing)),
        (
            "no storefront claim",
            sign(&no_storefront, "test-1", &signing),
        ),
        ("HS256", hs256),
    ];
    for (what, token) in cases {
        let client = Client {
            app: &app,
            key: Some(token),
        };
        let (status, problem) = client
            .send(Method::POST, "/v1/orders", Some(order_body()))
            .await;
        assert_eq!(status, 401, "{what}: {problem}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jwks_can_come_from_a_url() {
    let jwks = std::fs::read_to_string(format!("{FIXTURES}/jwks.json")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let server = tokio::spawn(async move {
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || async move { jwks }),
        );
        axum::serve(listener, router).await.unwrap();
    });
    let app = TestEnv::new(1)
        .await
        .start(&["--auth", "api-key", "--jwks-url", &url])
        .await;
    let client = Client {
        app: &app,
        key: Some(sign(&claims("shop-a"), "test-1", &pem("signing.pem"))),
    };
    let (status, accepted) = client
        .send(Method::POST, "/v1/orders", Some(order_body()))
        .await;
    assert_eq!(status, 202, "{accepted}");
    app.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_jwks_stops_the_start_naming_the_flag() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .args([
            "ingress",
            "--jwks-file",
            "/nonexistent/jwks.json",
            "--http-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--jwks-file"), "{stderr}");
}
