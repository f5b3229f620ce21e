//! Downstream verification end to end: the real Tessera binary issues tokens and serves
//! its JWKS and ingestion; the example notes service (tessera-verify's middleware)
//! checks tokens and tenants and reports denials back into Tessera's audit log, and
//! calls the example reports service with a token exchanged at Tessera (RFC 8693) that
//! keeps the user's tenant and subject and names the notes service as the actor.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::{json, Value};
use tessera_verify::report::{DenialReporter, ReporterConfig};
use tessera_verify::{Exchanger, JwksClient, TesseraAuth, Verifier};

use crate::support::{bearer, both_backends_async, call, user_token};

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

both_backends_async! {
    async fn a_tenant_scoped_service_trusts_only_tessera(db) {
        let acme = db.tenant("acme").id;
        let globex = db.tenant("globex").id;
        db.user("alice@acme.test", "correct horse battery");
        db.user("bob@globex.test", "correct horse battery");
        db.member("acme", "alice@acme.test", &["member"]);
        db.member("globex", "bob@globex.test", &["member"]);
        let reporter_secret = db.service_client("notes-svc", None, &["audit:write"]);
        let server = db.server(&[("TESSERA_KEYS_RELOAD_SECS", "1")]);
        let base = format!("http://{}", server.addr);
        let state = db.state();
        let (issuer, audience) = (state.config.issuer.clone(), state.config.audience.clone());

        // The service: exactly how examples/notes-service/src/main.rs wires it.
        let notes_dir = tempfile::tempdir().unwrap();
        let pool = notes_service::open(&format!("sqlite://{}", notes_dir.path().join("notes.db").display())).unwrap();
        let jwks_config = tessera_verify::JwksConfig {
            unknown_kid_interval: Duration::from_secs(2),
            ..tessera_verify::JwksConfig::default()
        };
        let verifier = Verifier::new(
            JwksClient::with_config(format!("{base}/.well-known/jwks.json"), jwks_config).unwrap(),
            &issuer,
            &audience,
        );
        let reporter = DenialReporter::start(ReporterConfig::new(&base, "notes-svc", reporter_secret)).unwrap();
        let auth = TesseraAuth::new(verifier).tenant_path_param("tenant_id").report_denials(reporter);
        let app = init_service(notes_service::app(notes_service::AppState { pool, auth, reports: None })).await;

        let alice = user_token(&state, "alice@acme.test", "acme");
        let bob = user_token(&state, "bob@globex.test", "globex");
        let post = |tenant: &str, token: &str, text: &str| {
            bearer(Method::POST, &format!("/tenants/{tenant}/notes"), token).set_json(json!({ "text": text })).to_request()
        };
        let get = |path: String, token: &str| bearer(Method::GET, &path, token).to_request();

        // Alice reads and writes her tenant's notes.
        let created = call(&app, post(&acme, &alice, "quarterly numbers")).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let listed = call(&app, get(format!("/tenants/{acme}/notes"), &alice)).await.json();
        assert!(listed.to_string().contains("quarterly numbers"), "{listed}");
        let by_slug = call(&app, get("/tenants/acme/notes".into(), &alice)).await;
        assert_eq!(by_slug.status, 200);

        // Bob's note is, to Alice, exactly a missing one.
        let bobs = call(&app, post(&globex, &bob, "secret plans")).await.json();
        let bob_note = bobs["id"].as_str().unwrap().to_owned();
        let foreign = call(&app, get(format!("/tenants/{acme}/notes/{bob_note}"), &alice)).await;
        let missing = call(&app, get(format!("/tenants/{acme}/notes/{}", uuid::Uuid::new_v4()), &alice)).await;
        assert_eq!((foreign.status, &foreign.body), (404, &missing.body));
        assert!(!foreign.body.contains("secret plans"));

        // Naming another tenant, in the path or the header, is a generic 403.
        let spoof_path = call(&app, get(format!("/tenants/{globex}/notes"), &alice)).await;
        let spoof_header = call(&app, bearer(Method::GET, &format!("/tenants/{acme}/notes"), &alice)
            .insert_header(("x-tenant-id", globex.as_str())).to_request()).await;
        for reply in [&spoof_path, &spoof_header] {
            assert_eq!(reply.status, 403);
            assert_eq!(reply.json(), json!({ "error": "forbidden", "error_description": "forbidden" }));
            assert!(!reply.body.contains(&globex));
        }
        // … and the denials land in Tessera's audit log, in Alice's tenant's chain.
        eventually("denials reported", || {
            db.audit_actions(&acme).iter().filter(|(a, o)| a == "tenant.cross_access_denied" && o == "denied").count() >= 2
        });
        assert!(!db.audit_actions(&globex).iter().any(|(a, _)| a == "tenant.cross_access_denied"));

        // Forged tokens are refused, and a flood of unknown kids costs at most one
        // extra JWKS fetch.
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let parts: Vec<&str> = alice.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let none = format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "at+jwt" })), parts[1]);
        let jwks: Value = serde_json::from_slice(state.keys.current().jwks()).unwrap();
        let hs256 = {
            use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
            let mut h = Header::new(Algorithm::HS256);
            h.kid = header["kid"].as_str().map(str::to_owned);
            h.typ = Some("at+jwt".into());
            encode(&h, &claims, &EncodingKey::from_secret(jwks["keys"][0].to_string().as_bytes())).unwrap()
        };
        claims["tenant_id"] = json!(globex);
        let edited = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        for forged in [none, hs256, edited] {
            let reply = call(&app, get(format!("/tenants/{acme}/notes"), &forged)).await;
            assert_eq!(reply.status, 401, "{forged}");
        }
        let fetches_before = server.log_count("GET /.well-known/jwks.json");
        for i in 0..50 {
            let forged = format!("{}.{}.{}", b64(&json!({ "alg": "ES256", "typ": "at+jwt", "kid": format!("k{i}") })), parts[1], parts[2]);
            assert_eq!(call(&app, get(format!("/tenants/{acme}/notes"), &forged)).await.status, 401);
        }
        std::thread::sleep(Duration::from_millis(300));
        let extra = server.log_count("GET /.well-known/jwks.json") - fetches_before;
        assert!(extra <= 1, "{extra} JWKS fetches for 50 unknown kids");

        // After a key rotation, new tokens (new kid) keep working.
        let rotation = db.cli(&["keys", "rotate", "--force", "--json"]).json();
        let new_kid = rotation["activated"].as_str().unwrap().to_owned();
        let state = db.state();
        assert_eq!(state.keys.current().active().kid, new_kid);
        let fresh = user_token(&state, "alice@acme.test", "acme");
        // The flood spent the verifier's unknown-kid refetch allowance; the new kid is
        // fetched once the (shortened, 2 s) interval has passed.
        let mut accepted = false;
        for _ in 0..20 {
            if call(&app, get(format!("/tenants/{acme}/notes"), &fresh)).await.status == 200 {
                accepted = true;
                break;
            }
            actix_web::rt::time::sleep(Duration::from_millis(1000)).await;
        }
        assert!(accepted, "a token signed with the new key verifies");
        assert_eq!(call(&app, get(format!("/tenants/{acme}/notes"), &alice)).await.status, 200, "the old key still verifies");
        drop(server);
    }
}

both_backends_async! {
    async fn a_service_calls_the_next_with_an_exchanged_token(db) {
        let acme = db.tenant("acme").id;
        let globex = db.tenant("globex").id;
        db.user("alice@acme.test", "correct horse battery");
        db.user("bob@globex.test", "correct horse battery");
        db.member("acme", "alice@acme.test", &["member"]);
        db.member("globex", "bob@globex.test", &["member"]);
        let alice_id = db.user_by_email("alice@acme.test").id;
        // As the README registers it: a platform client (any tenant's users call the
        // notes service) allowed to exchange for the reports audience only.
        let notes_secret = db.exchange_client("notes-svc", None, &[], &["reports"]);
        let globex_secret = db.exchange_client("globex.notes", Some("globex"), &[], &["reports"]);
        let server = db.server(&[]);
        let base = format!("http://{}", server.addr);
        let state = db.state();
        let (issuer, audience) = (state.config.issuer.clone(), state.config.audience.clone());
        let jwks = || JwksClient::new(format!("{base}/.well-known/jwks.json")).unwrap();

        // The reports service on a loopback port, as `src/bin/reports.rs` serves it.
        let reports_verifier = Verifier::new(jwks(), &issuer, notes_service::reports::AUDIENCE);
        let reports_server = actix_web::HttpServer::new(move || notes_service::reports_app(TesseraAuth::new(reports_verifier.clone())))
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
        let reports_url = format!("http://{}", reports_server.addrs()[0]);
        let reports_server = reports_server.run();
        let reports_handle = reports_server.handle();
        actix_web::rt::spawn(reports_server);

        // The notes service, as `src/main.rs` wires it with REPORTS_URL set.
        let notes_dir = tempfile::tempdir().unwrap();
        let pool = notes_service::open(&format!("sqlite://{}", notes_dir.path().join("notes.db").display())).unwrap();
        let auth = TesseraAuth::new(Verifier::new(jwks(), &issuer, &audience)).tenant_path_param("tenant_id");
        let exchanger = Exchanger::for_issuer(&base, "notes-svc", notes_secret.clone()).unwrap();
        let reports = Some(notes_service::ReportsClient::new(exchanger, &reports_url));
        let app = init_service(notes_service::app(notes_service::AppState { pool, auth, reports })).await;
        let get = |path: String, token: &str| bearer(Method::GET, &path, token).to_request();

        // Alice's report: her tenant and subject, with the notes service as the actor.
        let alice = user_token(&state, "alice@acme.test", "acme");
        let report = call(&app, get(format!("/tenants/{acme}/notes/report"), &alice)).await;
        assert_eq!(report.status, 200, "{}", report.body);
        let report = report.json();
        assert_eq!(report["tenant_id"], json!(acme));
        assert_eq!(report["tenant"], "acme");
        assert_eq!(report["subject"], json!(alice_id));
        assert_eq!(report["client_id"], "notes-svc");
        assert_eq!(report["actors"], json!(["notes-svc"]));
        let by_slug = call(&app, get("/tenants/acme/notes/report".into(), &alice)).await;
        assert_eq!((by_slug.status, by_slug.json()), (200, report.clone()));

        // Another tenant's token, or another tenant named by Alice, is refused.
        let bob = user_token(&state, "bob@globex.test", "globex");
        for (path, token) in [(format!("/tenants/{acme}/notes/report"), &bob), (format!("/tenants/{globex}/notes/report"), &alice)] {
            let reply = call(&app, get(path, token)).await;
            assert_eq!(reply.status, 403, "{}", reply.body);
            assert_eq!(reply.json(), json!({ "error": "forbidden", "error_description": "forbidden" }));
        }
        // The exchanged token itself works only for its own tenant at the reports
        // service, and a client bound to globex cannot exchange acme's token.
        let exchanged = Exchanger::for_issuer(&base, "notes-svc", notes_secret).unwrap()
            .exchange_async(&alice, "reports", None).await.unwrap();
        assert_eq!(exchanged.issued_token_type, tessera_verify::ACCESS_TOKEN_TYPE);
        let agent = ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
        let status = |tenant: &str| {
            agent.get(format!("{reports_url}/tenants/{tenant}/report"))
                .header("Authorization", format!("Bearer {}", exchanged.access_token))
                .call().unwrap().status().as_u16()
        };
        assert_eq!((status(&acme), status(&globex), status("globex")), (200, 403, 403));
        let refused = Exchanger::for_issuer(&base, "globex.notes", globex_secret).unwrap()
            .exchange_async(&alice, "reports", None).await.unwrap_err();
        assert_eq!(refused.code(), Some("invalid_request"));
        assert!(db.audit_actions(&globex).contains(&("token.exchange_denied".into(), "denied".into())));

        // Revoking Alice's token ends what was exchanged from it, and the route too.
        let jti = {
            use base64::Engine;
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(alice.split('.').nth(1).unwrap()).unwrap();
            serde_json::from_slice::<Value>(&payload).unwrap()["jti"].as_str().unwrap().to_owned()
        };
        assert!(db.cli(&["tokens", "revoke", &jti]).ok().contains("revoked"));
        let reply = call(&app, get(format!("/tenants/{acme}/notes/report"), &alice)).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.json()["error"], "invalid_token");
        reports_handle.stop(false).await;
        drop(server);
    }
}
