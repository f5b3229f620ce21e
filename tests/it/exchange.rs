//! Token exchange (RFC 8693) attacked and used over HTTP, on both backends: the tenant
//! comes from the subject token whatever the request says, a tenant-bound client cannot
//! exchange another tenant's token (refused and audited in its own chain), scope only
//! narrows, the audience is on the client's list, `act` nests up to the configured
//! depth, and revoking a token (or its refresh family) revokes everything exchanged
//! from it.

use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::browser::{authorize_path, field, location_param, Browser, REDIRECT, VERIFIER};
use crate::support::{basic, both_backends_async, call, client_token, form_post, Reply, TestDb};

const PASSWORD: &str = "correct horse battery";
const SUBJECT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const INVALID_TOKEN: &str = "the subject or actor token is invalid";

struct World {
    acme: String,
    globex: String,
    alice: String,
    notes: String,
    gateway: String,
    globex_svc: String,
    plain: String,
}

fn world(db: &TestDb) -> World {
    let acme = db.tenant("acme").id;
    let globex = db.tenant("globex").id;
    db.user("alice@example.com", PASSWORD);
    db.member("acme", "alice@example.com", &["member", "admin"]);
    let alice = db.user_by_email("alice@example.com").id;
    db.client(
        "web",
        None,
        false,
        &["authorization_code", "refresh_token"],
        &["openid", "offline_access", "notes:read", "notes:write"],
        &[REDIRECT],
    );
    World {
        acme,
        globex,
        alice,
        notes: db.exchange_client("acme.notes", Some("acme"), &[], &["reports"]),
        gateway: db.exchange_client("gateway", None, &[], &["notes", "reports"]),
        globex_svc: db.exchange_client("globex.svc", Some("globex"), &[], &["reports"]),
        plain: db.service_client("acme.plain", Some("acme"), &["read"]),
    }
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

macro_rules! service_bounds {
    ($($item:item)*) => { $( #[allow(dead_code)] $item )* };
}

service_bounds! {
    /// Alice signs in through `web`: the token response.
    async fn login<S, B>(app: &S, scope: &str) -> Value
    where
        S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
        B: actix_web::body::MessageBody,
    {
        let mut browser = Browser::default();
        let page = browser.get(app, &authorize_path("web", &[("scope", scope)])).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let request = field(&page.body, "request").unwrap();
        let csrf = field(&page.body, "csrf").unwrap();
        let done = browser.post(app, "/login", &[("request", &request), ("csrf", &csrf), ("email", "alice@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let code = location_param(&done, "code").unwrap();
        let reply = call(app, form_post("/token", None, &[("grant_type", "authorization_code"), ("client_id", "web"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", VERIFIER)])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }

    /// `client` exchanges `subject` with `extra` parameters.
    async fn exchange<S, B>(app: &S, client: &str, secret: &str, subject: &str, extra: &[(&str, &str)]) -> Reply
    where
        S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
        B: actix_web::body::MessageBody,
    {
        let mut fields = vec![("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", SUBJECT_TYPE)];
        fields.extend_from_slice(extra);
        call(app, form_post("/token", Some(&basic(client, secret)), &fields)).await
    }

    async fn introspect<S, B>(app: &S, client: &str, secret: &str, token: &str) -> Value
    where
        S: actix_web::dev::Service<actix_http::Request, Response = actix_web::dev::ServiceResponse<B>, Error = actix_web::Error>,
        B: actix_web::body::MessageBody,
    {
        let reply = call(app, form_post("/introspect", Some(&basic(client, secret)), &[("token", token)])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }
}

impl TestDb {
    /// The ledger's (parent_jti, actor, grant_type) of a token.
    fn lineage(&self, jti: &str) -> (Option<String>, Option<String>, Option<String>) {
        use diesel::prelude::*;
        use tessera::db::schema::issued_tokens as t;
        t::table
            .filter(t::jti.eq(jti))
            .select((t::parent_jti, t::actor, t::grant_type))
            .first(&mut self.conn())
            .unwrap()
    }

    /// A tenant's events of `action`: their details, in chain order.
    fn details_of(&self, tenant_id: &str, action: &str) -> Vec<(String, Value)> {
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        let rows: Vec<(Option<String>, String)> = a::table
            .filter(a::tenant_id.eq(tenant_id))
            .filter(a::action.eq(action))
            .order(a::seq.asc())
            .select((a::resource_id, a::details))
            .load(&mut self.conn())
            .unwrap();
        rows.into_iter()
            .map(|(id, d)| (id.unwrap_or_default(), serde_json::from_str(&d).unwrap()))
            .collect()
    }
}

fn assert_error(reply: &Reply, error: &str, description: &str) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json_without_request_id(),
        json!({ "error": error, "error_description": description })
    );
}

both_backends_async! {
    async fn the_tenant_comes_from_the_subject_token(db) {
        let w = world(&db);
        let app = init_service(tessera::http::app(db.state())).await;
        let login = login(&app, "openid notes:read notes:write").await;
        let subject = login["access_token"].as_str().unwrap();
        let before = claims(subject);

        // A tenant named by the request, as a parameter or a header, changes nothing.
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", SUBJECT_TYPE), ("audience", "reports"), ("tenant", "globex"), ("tenant_id", w.globex.as_str())])
            .finish();
        let request = actix_web::test::TestRequest::post()
            .uri("/token")
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("authorization", basic("acme.notes", &w.notes)))
            .insert_header(("x-tenant-id", w.globex.as_str()))
            .set_payload(body)
            .to_request();
        let reply = call(&app, request).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let answer = reply.json();
        assert_eq!(answer["issued_token_type"], SUBJECT_TYPE);
        assert_eq!(answer["token_type"], "Bearer");
        assert_eq!(answer["scope"], "notes:read notes:write openid");
        assert!(answer.get("refresh_token").is_none());
        let token = answer["access_token"].as_str().unwrap();
        let after = claims(token);
        assert_eq!(after["tenant_id"], json!(w.acme));
        assert_eq!(after["tenant"], "acme");
        assert_eq!(after["sub"], json!(w.alice));
        assert_eq!(after["client_id"], "acme.notes");
        assert_eq!(after["aud"], "reports");
        assert_eq!(after["roles"], before["roles"]);
        assert_eq!(after["amr"], before["amr"]);
        assert_eq!(after["act"], json!({ "sub": "acme.notes" }));
        assert!(after["exp"].as_i64() <= before["exp"].as_i64());

        let jti = after["jti"].as_str().unwrap();
        assert_eq!(
            db.lineage(jti),
            (before["jti"].as_str().map(str::to_owned), Some("acme.notes".into()), Some("token_exchange".into()))
        );
        let seen = introspect(&app, "acme.notes", &w.notes, token).await;
        assert_eq!((seen["active"].clone(), seen["act"].clone()), (json!(true), json!({ "sub": "acme.notes" })));
        // The discovery document lists the grant.
        let discovery = call(&app, crate::support::get("/.well-known/openid-configuration")).await.json();
        assert!(discovery["grant_types_supported"].as_array().unwrap().contains(&json!(GRANT)));
    }
}

both_backends_async! {
    async fn another_tenants_token_is_refused_and_audited_in_the_callers_chain(db) {
        let w = world(&db);
        let app = init_service(tessera::http::app(db.state())).await;
        let login = login(&app, "openid notes:read").await;
        let subject = login["access_token"].as_str().unwrap();

        let reply = exchange(&app, "globex.svc", &w.globex_svc, subject, &[("audience", "reports")]).await;
        assert_error(&reply, "invalid_request", INVALID_TOKEN);
        // The same answer as for a forged token: nothing tells the two apart.
        let mut forged = subject.to_owned();
        forged.pop();
        forged.push(if subject.ends_with('A') { 'B' } else { 'A' });
        let reply = exchange(&app, "globex.svc", &w.globex_svc, &forged, &[("audience", "reports")]).await;
        assert_error(&reply, "invalid_request", INVALID_TOKEN);

        let denied = db.details_of(&w.globex, "token.exchange_denied");
        assert_eq!(denied.len(), 2, "{denied:?}");
        assert_eq!(denied[0], ("globex.svc".to_owned(), json!({ "reason": "tenant" })));
        assert_eq!(denied[1].1, json!({ "reason": "subject_token" }));
        // Nothing of acme reaches globex's chain.
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        let globex_rows: Vec<String> = a::table
            .filter(a::tenant_id.eq(&w.globex))
            .select(a::details)
            .load(&mut db.conn())
            .unwrap();
        assert!(globex_rows.iter().all(|d| !d.contains(&w.acme) && !d.contains(&w.alice)));
        assert!(db.details_of(&w.acme, "token.exchange_denied").is_empty());
        // A platform client (bound to no tenant) may exchange it, and it stays acme's.
        let reply = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes")]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(claims(reply.json()["access_token"].as_str().unwrap())["tenant_id"], json!(w.acme));
    }
}

both_backends_async! {
    async fn scope_narrows_and_the_audience_is_on_the_clients_list(db) {
        let w = world(&db);
        let app = init_service(tessera::http::app(db.state())).await;
        let login = login(&app, "openid notes:read notes:write").await;
        let subject = login["access_token"].as_str().unwrap();

        let reply = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes"), ("scope", "notes:read")]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["scope"], "notes:read");
        assert_eq!(claims(reply.json()["access_token"].as_str().unwrap())["scope"], "notes:read");

        let reply = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes"), ("scope", "notes:read notes:admin")]).await;
        assert_error(&reply, "invalid_scope", "the requested scope is invalid");
        for audience in ["billing", "https://notes", "Notes"] {
            let reply = exchange(&app, "gateway", &w.gateway, subject, &[("audience", audience)]).await;
            assert_error(&reply, "invalid_target", "the requested audience is not allowed for this client");
        }
        let reply = exchange(&app, "gateway", &w.gateway, subject, &[("resource", "billing")]).await;
        assert_error(&reply, "invalid_target", "the requested audience is not allowed for this client");
        // Two audiences allowed and none asked for: which one is not guessed.
        let reply = exchange(&app, "gateway", &w.gateway, subject, &[]).await;
        assert_error(&reply, "invalid_request", "audience is required");
        // One allowed: that one.
        let reply = exchange(&app, "acme.notes", &w.notes, subject, &[]).await;
        assert_eq!(claims(reply.json()["access_token"].as_str().unwrap())["aud"], "reports");
        // Tessera's API scope does not pass to a client not registered for it.
        let api_token = crate::support::user_token(&db.state(), "alice@example.com", "acme");
        let reply = exchange(&app, "gateway", &w.gateway, &api_token, &[("audience", "notes")]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["scope"], "openid");
        let reply = exchange(&app, "gateway", &w.gateway, &api_token, &[("audience", "notes"), ("scope", "tessera:api")]).await;
        assert_error(&reply, "invalid_scope", "the requested scope is invalid");
        // Wrong token types.
        let reply = call(&app, form_post("/token", Some(&basic("gateway", &w.gateway)), &[("grant_type", GRANT), ("subject_token", subject), ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), ("audience", "notes")])).await;
        assert_error(&reply, "invalid_request", "subject_token_type must be an access token's");
        let reply = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes"), ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")]).await;
        assert_error(&reply, "invalid_request", "requested_token_type must be an access token's");
        // An ID token is not an access token.
        let reply = exchange(&app, "gateway", &w.gateway, login["id_token"].as_str().unwrap(), &[("audience", "notes")]).await;
        assert_error(&reply, "invalid_request", INVALID_TOKEN);
        // A client not registered for the grant, a public client, a wrong secret.
        let reply = exchange(&app, "acme.plain", &w.plain, subject, &[("audience", "reports")]).await;
        assert_error(&reply, "unauthorized_client", "the client may not use this grant type");
        let reply = call(&app, form_post("/token", None, &[("grant_type", GRANT), ("client_id", "web"), ("subject_token", subject), ("subject_token_type", SUBJECT_TYPE)])).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        let reply = exchange(&app, "gateway", "not-the-secret", subject, &[("audience", "notes")]).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
        let reasons: Vec<Value> = db.details_of(tessera::tenants::SYSTEM_TENANT_ID, "token.exchange_denied").into_iter().map(|(_, d)| d["reason"].clone()).collect();
        assert_eq!(reasons, [json!("scope"), json!("audience"), json!("audience"), json!("audience"), json!("audience"), json!("request"), json!("scope"), json!("request"), json!("request"), json!("subject_token")]);
        let _ = w.acme;
    }
}

both_backends_async! {
    async fn act_nests_up_to_the_configured_depth(db) {
        let w = world(&db);
        let app = init_service(tessera::http::app(db.state_with(|c| c.token_exchange_max_depth = 2))).await;
        let login = login(&app, "openid notes:read").await;
        let first = exchange(&app, "gateway", &w.gateway, login["access_token"].as_str().unwrap(), &[("audience", "notes")]).await.json();
        let first = first["access_token"].as_str().unwrap().to_owned();
        let second = exchange(&app, "acme.notes", &w.notes, &first, &[("audience", "reports")]).await;
        assert_eq!(second.status, 200, "{}", second.body);
        let second = second.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&second)["act"], json!({ "sub": "acme.notes", "act": { "sub": "gateway" } }));
        let third = exchange(&app, "gateway", &w.gateway, &second, &[("audience", "notes")]).await;
        assert_error(&third, "invalid_request", "the delegation chain is too long");
        assert_eq!(db.details_of(tessera::tenants::SYSTEM_TENANT_ID, "token.exchange_denied").last().unwrap().1, json!({ "reason": "depth" }));

        // An actor token must be the asking client's own.
        let own = client_token(&db.state(), "acme.notes", &w.notes);
        let other = client_token(&db.state(), "acme.plain", &w.plain);
        let reply = exchange(&app, "acme.notes", &w.notes, &first, &[("audience", "reports"), ("actor_token", &own), ("actor_token_type", SUBJECT_TYPE)]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let reply = exchange(&app, "acme.notes", &w.notes, &first, &[("audience", "reports"), ("actor_token", &other), ("actor_token_type", SUBJECT_TYPE)]).await;
        assert_error(&reply, "invalid_request", INVALID_TOKEN);
        let reply = exchange(&app, "acme.notes", &w.notes, &first, &[("audience", "reports"), ("actor_token", &own)]).await;
        assert_error(&reply, "invalid_request", "actor_token and actor_token_type go together");
    }
}

both_backends_async! {
    async fn revoking_a_token_or_its_family_revokes_what_was_exchanged_from_it(db) {
        let w = world(&db);
        let app = init_service(tessera::http::app(db.state())).await;

        // Revoking the subject token at /revoke reaches two generations down.
        let login_a = login(&app, "openid offline_access notes:read").await;
        let subject = login_a["access_token"].as_str().unwrap();
        let child = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes")]).await.json()["access_token"].as_str().unwrap().to_owned();
        let grandchild = exchange(&app, "acme.notes", &w.notes, &child, &[("audience", "reports")]).await.json()["access_token"].as_str().unwrap().to_owned();
        assert_eq!(introspect(&app, "gateway", &w.gateway, &grandchild).await["active"], true);
        let revoked = call(&app, form_post("/revoke", None, &[("client_id", "web"), ("token", subject)])).await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        for token in [&child, &grandchild] {
            assert_eq!(introspect(&app, "gateway", &w.gateway, token).await, json!({ "active": false }));
        }
        // A revoked token no longer exchanges.
        let reply = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes")]).await;
        assert_error(&reply, "invalid_request", INVALID_TOKEN);
        let cascaded: Vec<String> = db.details_of(&w.acme, "token.revoked").into_iter().filter(|(_, d)| d["reason"] == "parent_revoked").map(|(jti, _)| jti).collect();
        assert_eq!(cascaded, [claims(&child)["jti"].as_str().unwrap(), claims(&grandchild)["jti"].as_str().unwrap()]);

        // A refresh token used twice revokes its family, and with it the exchanged token.
        let login_b = login(&app, "openid offline_access notes:read").await;
        let child = exchange(&app, "gateway", &w.gateway, login_b["access_token"].as_str().unwrap(), &[("audience", "notes")]).await.json()["access_token"].as_str().unwrap().to_owned();
        let refresh = login_b["refresh_token"].as_str().unwrap();
        let fields = [("grant_type", "refresh_token"), ("client_id", "web"), ("refresh_token", refresh)];
        assert_eq!(call(&app, form_post("/token", None, &fields)).await.status, 200);
        assert_eq!(introspect(&app, "gateway", &w.gateway, &child).await["active"], true);
        assert_eq!(call(&app, form_post("/token", None, &fields)).await.status, 400);
        assert_eq!(introspect(&app, "gateway", &w.gateway, &child).await, json!({ "active": false }));

        // An administrator's revocation of one token cascades too (the ledger API).
        let login_c = login(&app, "openid notes:read").await;
        let subject = login_c["access_token"].as_str().unwrap();
        let child = exchange(&app, "gateway", &w.gateway, subject, &[("audience", "notes")]).await.json()["access_token"].as_str().unwrap().to_owned();
        let jti = claims(subject)["jti"].as_str().unwrap().to_owned();
        assert!(db.cli(&["tokens", "revoke", &jti]).ok().contains("revoked"));
        assert_eq!(introspect(&app, "gateway", &w.gateway, &child).await, json!({ "active": false }));
        let _ = w.alice;
    }
}
