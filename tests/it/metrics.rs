//! `/metrics`: the Prometheus exposition DESIGN's "Operations: metrics" names, driven by
//! real requests, with no tenant, user, client or token in any label; and
//! `metrics_listen`, which moves it off the main listener.

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::json;

use crate::browser::{authorize_path, field, Browser};
use crate::support::{basic, bearer, both_backends_async, call, form_post, get, user_token};

/// The value of the first sample line starting with `prefix`.
fn sample(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{body}"))
}

both_backends_async! {
    async fn metrics_count_requests_tokens_logins_events_and_denials(db) {
        let acme = db.tenant("acme").id;
        let globex = db.tenant("globex").id;
        db.user("alice@example.com", "correct horse battery");
        db.member("acme", "alice@example.com", &["member", "admin"]);
        let secret = db.service_client("metrics-svc", Some("acme"), &["audit:write"]);
        db.client("metrics-web", None, false, &["authorization_code"], &["openid"], &[crate::browser::REDIRECT]);
        let state = db.state();
        let member = user_token(&state, "alice@example.com", "acme");
        let app = init_service(tessera::http::app(state)).await;

        let token = call(&app, form_post("/token", Some(&basic("metrics-svc", &secret)), &[("grant_type", "client_credentials")])).await;
        assert_eq!(token.status, 200);
        let mut browser = Browser::default();
        let page = browser.get(&app, &authorize_path("metrics-web", &[("scope", "openid")])).await;
        let fields = [("request", field(&page.body, "request").unwrap()), ("csrf", field(&page.body, "csrf").unwrap()), ("email", "alice@example.com".into()), ("password", "wrong password".into())];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(browser.post(&app, "/login", &fields).await.status, 200);
        let ingest = bearer(Method::POST, "/api/v1/audit/events", &member).set_json(json!({ "action": "doc.read", "outcome": "success" })).to_request();
        assert_eq!(call(&app, ingest).await.status, 202);
        let foreign = bearer(Method::GET, &format!("/api/v1/audit/events?tenant={globex}"), &member).to_request();
        assert_eq!(call(&app, foreign).await.status, 403);
        let jti = uuid::Uuid::new_v4().to_string();
        let revoke = bearer(Method::POST, &format!("/api/v1/tokens/{jti}/revoke"), &member).to_request();
        assert_eq!(call(&app, revoke).await.status, 404);

        let reply = call(&app, get("/metrics")).await;
        assert_eq!(reply.status, 200);
        assert!(reply.header("content-type").unwrap().starts_with("application/openmetrics-text"));
        let body = reply.body;
        assert!(sample(&body, "tessera_tokens_issued_total{grant=\"client_credentials\"}") >= 1.0);
        assert!(sample(&body, "tessera_logins_total{outcome=\"failure\"}") >= 1.0);
        assert!(sample(&body, "tessera_audit_events_total{source=\"ingest\"}") >= 1.0);
        assert!(sample(&body, "tessera_audit_events_total{source=\"service\"}") >= 1.0);
        assert!(sample(&body, "tessera_cross_tenant_denials_total") >= 1.0);
        assert!(sample(&body, "tessera_http_requests_total{route=\"/api/v1/tokens/{jti}/revoke\",method=\"POST\",status=\"404\"}") >= 1.0);
        assert!(sample(&body, "tessera_http_request_duration_seconds_count{route=\"/token\"}") >= 1.0);
        assert!(sample(&body, "tessera_db_pool_connections{state=\"max\"}") >= 1.0);
        assert!(sample(&body, "tessera_signing_key_age_seconds{state=\"active\"}") >= 0.0);
        assert!(sample(&body, "tessera_group_commit_batch_size_count") >= 1.0);
        for secret_or_id in [acme.as_str(), globex.as_str(), jti.as_str(), "metrics-svc", "alice@example.com", &member] {
            assert!(!body.contains(secret_or_id), "{secret_or_id} in the metrics");
        }
    }
}

#[test]
fn metrics_listen_moves_metrics_off_the_main_listener() {
    let db = crate::support::TestDb::sqlite();
    let server = db.server(&[("TESSERA_METRICS_LISTEN", "127.0.0.1:0")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let address = loop {
        let found = server.log.lock().unwrap().iter().find_map(|l| {
            l.split("metrics on http://")
                .nth(1)
                .map(|a| a.trim().to_owned())
        });
        if let Some(address) = found {
            break address;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics listener logged"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut metrics = agent.get(format!("http://{address}")).call().unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics
        .body_mut()
        .read_to_string()
        .unwrap()
        .contains("tessera_db_pool_connections{state=\"max\"}"));
    let main = agent.get(server.url("/metrics")).call().unwrap();
    assert_eq!(main.status(), 404, "not on the main listener");
    assert_eq!(server.stop().code(), Some(0));
}
