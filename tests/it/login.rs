//! The browser login, driven like a browser: authorization code + PKCE, the hosted login
//! page, CSRF, lockout, tenant hints and the picker, sessions, refresh rotation and
//! reuse, tenant switching, userinfo and logout. Failure paths are asserted body and all.

use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::browser::{
    authorize_path, field, location_param, values, Browser, CHALLENGE, REDIRECT, VERIFIER,
};
use crate::support::{basic, both_backends_async, call, form_post, TestDb};
use crate::tokens::verify_with_jwks;

pub(crate) const PASSWORD: &str = "correct horse battery";

struct World {
    acme: String,
    globex: String,
    platform_secret: String,
}

fn world(db: &TestDb) -> World {
    let acme = db.tenant("acme").id;
    let globex = db.tenant("globex").id;
    db.tenant("initech");
    for email in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        db.user(email, PASSWORD);
    }
    db.member("acme", "alice@example.com", &["member"]);
    db.member("globex", "alice@example.com", &["admin", "member"]);
    db.member("acme", "bob@example.com", &["auditor"]);
    db.member("initech", "carol@example.com", &["member"]);
    let grants = ["authorization_code", "refresh_token"];
    let scopes = ["openid", "offline_access"];
    db.client("web", None, false, &grants, &scopes, &[REDIRECT]);
    db.client(
        "acme-web",
        Some("acme"),
        false,
        &grants,
        &scopes,
        &[REDIRECT],
    );
    db.client(
        "web-nr",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &[REDIRECT],
    );
    World {
        acme,
        globex,
        platform_secret: db.service_client("platform", None, &["read"]),
    }
}

macro_rules! app {
    ($db:expr) => {{
        let state = $db.state();
        let config = state.config.clone();
        let keys = state.keys.clone();
        (init_service(tessera::http::app(state)).await, config, keys)
    }};
}

/// Opens `/authorize` and submits the login form; returns the login POST's reply.
pub(crate) async fn sign_in<S, B>(
    app: &S,
    browser: &mut Browser,
    client: &str,
    extra: &[(&str, &str)],
    email: &str,
    password: &str,
) -> crate::support::Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let page = browser.get(app, &authorize_path(client, extra)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let request = field(&page.body, "request").expect("request field");
    let csrf = field(&page.body, "csrf").expect("csrf field");
    browser
        .post(
            app,
            "/login",
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
            ],
        )
        .await
}

pub(crate) fn code_of(reply: &crate::support::Reply) -> String {
    assert_eq!(
        reply.status / 100,
        3,
        "a redirect: {} {}",
        reply.status,
        reply.body
    );
    assert!(
        reply.header("location").unwrap().starts_with(REDIRECT),
        "{:?}",
        reply.header("location")
    );
    assert_eq!(location_param(reply, "state").as_deref(), Some("st-123"));
    location_param(reply, "code").expect("code")
}

pub(crate) async fn exchange<S, B>(app: &S, client: &str, code: &str) -> crate::support::Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    call(
        app,
        form_post(
            "/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", client),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        ),
    )
    .await
}

pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

both_backends_async! {
    async fn the_whole_flow_with_sso_userinfo_and_logout(db) {
        let w = world(&db);
        let (app, config, keys) = app!(db);
        let mut browser = Browser::default();

        // The login page: a plain form, with the security headers.
        let page = browser.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self' https://app.example.com"), "{csp}");
        assert!(page.body.contains("<form method=\"post\" action=\"/login\">"));
        assert!(page.body.contains("name=\"email\"") && page.body.contains("name=\"password\""));
        assert!(!page.body.contains("<script"), "no JavaScript needed");
        let authz_cookie = page.headers.get_all("set-cookie").map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("tessera_authz=")).unwrap();
        assert!(authz_cookie.contains("HttpOnly") && authz_cookie.contains("SameSite=Lax"), "{authz_cookie}");

        let request = field(&page.body, "request").unwrap();
        let csrf = field(&page.body, "csrf").unwrap();
        let done = browser.post(&app, "/login", &[("request", &request), ("csrf", &csrf), ("email", "Alice@Example.com"), ("password", PASSWORD)]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(location_param(&done, "iss").as_deref(), Some(config.issuer.as_str()));
        let code = code_of(&done);
        let session_cookie = done.headers.get_all("set-cookie").map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("tessera_session=")).unwrap();
        assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax") && !session_cookie.contains("Secure"), "{session_cookie}");
        // The session is stored as a hash only.
        let raw = browser.cookies["tessera_session"].clone();
        {
            use diesel::prelude::*;
            use tessera::db::schema::sessions;
            let stored: Vec<String> = sessions::table.select(sessions::id_hash).load(&mut db.conn()).unwrap();
            assert_eq!(stored, [tessera::tokens::opaque_hash(&raw)]);
        }

        let tokens = exchange(&app, "web", &code).await;
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        assert_eq!(tokens.header("cache-control"), Some("no-store"));
        let body = tokens.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "offline_access openid");
        let jwks: Value = serde_json::from_slice(keys.current().jwks()).unwrap();
        let access = verify_with_jwks(body["access_token"].as_str().unwrap(), &jwks, &config.issuer, &config.audience);
        assert_eq!(access["tenant_id"], w.acme);
        assert_eq!(access["tenant"], "acme");
        assert_eq!(access["roles"], json!(["member"]));
        assert_eq!(access["client_id"], "web");
        let user_id = access["sub"].as_str().unwrap().to_owned();
        let id_token = body["id_token"].as_str().unwrap();
        let id = verify_with_jwks(id_token, &jwks, &config.issuer, "web");
        assert_eq!(id["sub"], user_id);
        assert_eq!(id["nonce"], "n-456");
        assert_eq!(id["email"], "alice@example.com");
        assert_eq!(id["tenant_id"], w.acme);
        assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
        assert!(body["refresh_token"].as_str().unwrap().len() >= 43);

        // userinfo
        let req = actix_web::test::TestRequest::get().uri("/userinfo")
            .insert_header(("authorization", format!("Bearer {}", body["access_token"].as_str().unwrap()))).to_request();
        let info = call(&app, req).await;
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.json(), json!({ "sub": user_id, "email": "alice@example.com", "tenant_id": w.acme, "tenant": "acme", "roles": ["member"] }));

        // Single sign-on: a second authorization skips the password.
        let again = browser.get(&app, &authorize_path("web", &[("tenant", "globex")])).await;
        assert_eq!(again.status, 302, "{}", again.body);
        let code = code_of(&again);
        let globex_tokens = exchange(&app, "web", &code).await.json();
        assert_eq!(claims(globex_tokens["access_token"].as_str().unwrap())["tenant_id"], w.globex);
        assert_eq!(claims(globex_tokens["access_token"].as_str().unwrap())["roles"], json!(["admin", "member"]));

        // prompt=login and max_age=0 ask for the password again.
        for extra in [("prompt", "login"), ("max_age", "0")] {
            let page = browser.get(&app, &authorize_path("web", &[extra])).await;
            assert_eq!(page.status, 200, "{extra:?}");
            assert!(field(&page.body, "csrf").is_some(), "{extra:?}");
        }

        // Logout without an ID token hint asks first; confirmed, it ends the session and
        // redirects only to a registered URI.
        let ask = browser.get(&app, &format!("/logout?client_id=web&post_logout_redirect_uri={}&state=bye", url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>())).await;
        assert_eq!(ask.status, 200);
        assert!(ask.body.contains("<form method=\"post\" action=\"/logout\">"), "{}", ask.body);
        assert!(browser.cookies.contains_key("tessera_session"), "not signed out yet");
        let fields: Vec<(String, String)> = ["csrf", "client_id", "post_logout_redirect_uri", "state"].iter().map(|n| (n.to_string(), field(&ask.body, n).unwrap().replace("&#x2F;", "/").replace("&#58;", ":"))).collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = browser.post(&app, "/logout", &fields).await;
        assert_eq!(out.status, 303, "{}", out.body);
        assert_eq!(out.header("location"), Some(format!("{REDIRECT}?state=bye").as_str()));
        assert!(!browser.cookies.contains_key("tessera_session"));
        let after = browser.get(&app, &authorize_path("web", &[("tenant", "acme"), ("prompt", "none")])).await;
        assert_eq!(location_param(&after, "error").as_deref(), Some("login_required"));
        // The old cookie, replayed, no longer works either.
        let mut replay = Browser::default();
        replay.cookies.insert("tessera_session".into(), raw);
        let after = replay.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        assert_eq!(after.status, 200, "login page again");
        let evil = browser.get(&app, "/logout?client_id=web&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F").await;
        assert_eq!(evil.status, 200);
        assert!(evil.header("location").is_none());

        let actions: Vec<String> = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID).into_iter().map(|(a, _)| a).collect();
        for a in ["login.success", "session.ended"] {
            assert!(actions.contains(&a.to_owned()), "{a}: {actions:?}");
        }
        let acme_actions: Vec<String> = db.audit_actions(&w.acme).into_iter().map(|(a, _)| a).collect();
        for a in ["authorization.code_issued", "authorization.code_exchanged", "token.issued"] {
            assert!(acme_actions.contains(&a.to_owned()), "{a}: {acme_actions:?}");
        }
        let _ = w.platform_secret;
    }
}

both_backends_async! {
    async fn pkce_is_required_and_checked(db) {
        world(&db);
        let (app, _, _) = app!(db);
        let mut browser = Browser::default();
        for (extra, description) in [
            (vec![("code_challenge", "")], "PKCE code_challenge is required"),
            (vec![("code_challenge_method", "")], "code_challenge_method must be S256"),
            (vec![("code_challenge_method", "plain")], "code_challenge_method must be S256"),
            (vec![("code_challenge", "too-short")], "code_challenge is malformed"),
        ] {
            let reply = browser.get(&app, &authorize_path("web", &extra)).await;
            assert_eq!(reply.status, 302, "{extra:?}");
            assert_eq!(location_param(&reply, "error").as_deref(), Some("invalid_request"), "{extra:?}");
            assert_eq!(location_param(&reply, "error_description").as_deref(), Some(description));
            assert_eq!(location_param(&reply, "state").as_deref(), Some("st-123"));
            assert!(location_param(&reply, "code").is_none());
        }
        let reply = browser.get(&app, &authorize_path("web", &[("response_type", "token")])).await;
        assert_eq!(location_param(&reply, "error").as_deref(), Some("unsupported_response_type"));
        let reply = browser.get(&app, &authorize_path("web", &[("scope", "openid admin")])).await;
        assert_eq!(location_param(&reply, "error").as_deref(), Some("invalid_scope"));

        // Wrong or missing verifier at the token endpoint.
        let code = code_of(&sign_in(&app, &mut browser, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await);
        for verifier in [None, Some(CHALLENGE), Some("x".repeat(43).as_str()).map(|_| "wrong-verifier-wrong-verifier-wrong-verifier-1")] {
            let mut fields = vec![("grant_type", "authorization_code"), ("client_id", "web"), ("code", code.as_str()), ("redirect_uri", REDIRECT)];
            if let Some(v) = verifier {
                fields.push(("code_verifier", v));
            }
            let reply = call(&app, form_post("/token", None, &fields)).await;
            assert_eq!(reply.status, 400, "{verifier:?}");
            assert_eq!(reply.json_without_request_id(), json!({ "error": "invalid_grant", "error_description": "the grant is invalid, expired or revoked" }));
        }
        // A failed verifier does not burn the code for its rightful owner.
        assert_eq!(exchange(&app, "web", &code).await.status, 200);
    }
}

both_backends_async! {
    async fn a_replayed_code_fails_and_revokes_what_it_issued(db) {
        let w = world(&db);
        let (app, _, _) = app!(db);
        let mut browser = Browser::default();
        let code = code_of(&sign_in(&app, &mut browser, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await);
        let first = exchange(&app, "web", &code).await.json();
        let replay = exchange(&app, "web", &code).await;
        assert_eq!(replay.status, 400);
        assert_eq!(replay.json()["error"], "invalid_grant");
        // The tokens from the first exchange are dead.
        let platform = basic("platform", &w.platform_secret);
        let introspected = call(&app, form_post("/introspect", Some(&platform), &[("token", first["access_token"].as_str().unwrap())])).await.json();
        assert_eq!(introspected, json!({ "active": false }));
        let refreshed = call(&app, form_post("/token", None, &[("grant_type", "refresh_token"), ("client_id", "web"), ("refresh_token", first["refresh_token"].as_str().unwrap())])).await;
        assert_eq!(refreshed.json()["error"], "invalid_grant");
        assert!(db.audit_actions(&w.acme).contains(&("token.code_replay".into(), "denied".into())));

        // Another client cannot redeem a code; a wrong redirect URI fails too.
        let code = code_of(&sign_in(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await);
        let stolen = exchange(&app, "acme-web", &code).await;
        assert_eq!(stolen.json()["error"], "invalid_grant");
        let wrong_uri = call(&app, form_post("/token", None, &[("grant_type", "authorization_code"), ("client_id", "web"), ("code", &code), ("redirect_uri", "https://app.example.com/other"), ("code_verifier", VERIFIER)])).await;
        assert_eq!(wrong_uri.json()["error"], "invalid_grant");
        assert_eq!(exchange(&app, "web", &code).await.status, 200);
    }
}

both_backends_async! {
    async fn redirect_uris_match_exactly_and_early_errors_never_redirect(db) {
        world(&db);
        let (app, _, _) = app!(db);
        let mut browser = Browser::default();
        for uri in [
            "https://app.example.com/callback/extra",
            "https://app.example.com/callbackx",
            "https://app.example.com/callback/",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/call",
            "https://evil.example.com/callback",
            "http://app.example.com/callback",
            "https://app.example.com.evil.example/callback",
            "",
        ] {
            let reply = browser.get(&app, &authorize_path("web", &[("redirect_uri", uri)])).await;
            assert_eq!(reply.status, 400, "{uri}");
            assert!(reply.header("location").is_none(), "{uri}");
            assert!(reply.body.contains("The redirect URI is not registered for this client."), "{uri}");
        }
        let reply = browser.get(&app, &authorize_path("nobody", &[("redirect_uri", "https://evil.example.com/")])).await;
        assert_eq!(reply.status, 400);
        assert!(reply.header("location").is_none());
        assert!(reply.body.contains("The client is not registered."));
        let reply = browser.get(&app, &authorize_path("bad\u{0}id", &[])).await;
        assert_eq!(reply.status, 400);
    }
}

both_backends_async! {
    async fn the_login_form_is_bound_to_its_request_and_browser(db) {
        world(&db);
        let (app, _, _) = app!(db);
        let mut browser = Browser::default();
        let page = browser.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        let request = field(&page.body, "request").unwrap();
        let csrf = field(&page.body, "csrf").unwrap();
        let mut other = Browser::default();
        let other_page = other.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        let other_csrf = field(&other_page.body, "csrf").unwrap();
        let other_request = field(&other_page.body, "request").unwrap();

        type Attempt<'a> = (&'a str, Browser, Vec<(&'a str, &'a str)>);
        let attempts: Vec<Attempt> = vec![
            ("missing csrf", browser.clone(), vec![("request", &request)]),
            ("csrf of another request", browser.clone(), vec![("request", &request), ("csrf", &other_csrf)]),
            ("another request with its own csrf, from this browser", browser.clone(), vec![("request", &other_request), ("csrf", &other_csrf)]),
            ("no cookie", Browser::default(), vec![("request", &request), ("csrf", &csrf)]),
            ("garbage", browser.clone(), vec![("request", "x"), ("csrf", "y")]),
        ];
        for (what, mut who, mut fields) in attempts {
            fields.extend([("email", "alice@example.com"), ("password", PASSWORD)]);
            let reply = who.post(&app, "/login", &fields).await;
            assert_eq!(reply.status, 403, "{what}");
            assert!(reply.body.contains("This sign-in form has expired"), "{what}");
            assert!(reply.header("location").is_none() && !who.cookies.contains_key("tessera_session"), "{what}");
        }
        // The genuine pair still works.
        let ok = browser.post(&app, "/login", &[("request", &request), ("csrf", &csrf), ("email", "alice@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(ok.status, 303);
    }
}

both_backends_async! {
    async fn failures_look_alike_and_lock_the_account_under_parallel_attempts(db) {
        world(&db);
        let (app, _, _) = app!(db);
        {
            use diesel::prelude::*;
            use tessera::db::schema::users;
            diesel::update(users::table.filter(users::email.eq("carol@example.com")))
                .set(users::status.eq("disabled"))
                .execute(&mut db.conn())
                .unwrap();
        }
        let mut browser = Browser::default();
        let page = browser.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        let request = field(&page.body, "request").unwrap();
        let csrf = field(&page.body, "csrf").unwrap();
        let attempt = |email: &'static str, password: &'static str| {
            browser.post_request("/login", &[("request", &request), ("csrf", &csrf), ("email", email), ("password", password)])
        };
        let normalize = |reply: &crate::support::Reply, email: &str| (reply.status, reply.body.replace(email, "EMAIL"));
        let wrong = call(&app, attempt("bob@example.com", "wrong password")).await;
        let unknown = call(&app, attempt("nobody@example.com", "wrong password")).await;
        let disabled = call(&app, attempt("carol@example.com", PASSWORD)).await;
        assert_eq!(wrong.status, 200);
        assert!(wrong.body.contains("Invalid email or password."));
        assert_eq!(normalize(&wrong, "bob@example.com"), normalize(&unknown, "nobody@example.com"));
        assert_eq!(normalize(&wrong, "bob@example.com"), normalize(&disabled, "carol@example.com"));

        // Ten parallel wrong guesses for alice: exactly five are counted (the limit),
        // the account locks, and then even the right password fails the same way.
        let guesses: Vec<_> = (0..10).map(|_| call(&app, attempt("alice@example.com", "wrong password"))).collect();
        let replies = futures_util::future::join_all(guesses).await;
        assert!(replies.iter().all(|r| r.status == 200 && r.body.contains("Invalid email or password.")));
        let (failed, locked): (i32, Option<chrono::NaiveDateTime>) = {
            use diesel::prelude::*;
            use tessera::db::schema::users;
            users::table.filter(users::email.eq("alice@example.com"))
                .select((users::failed_logins, users::locked_until))
                .first(&mut db.conn()).unwrap()
        };
        assert_eq!(failed, 5, "parallel attempts never exceed the limit");
        assert!(locked.is_some());
        let right = call(&app, attempt("alice@example.com", PASSWORD)).await;
        assert_eq!(normalize(&right, "alice@example.com"), normalize(&wrong, "bob@example.com"));
        assert!(!right.headers.get_all("set-cookie").any(|c| c.to_str().unwrap().starts_with("tessera_session=")));
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert_eq!(actions.iter().filter(|(a, _)| a == "user.locked").count(), 1);
        assert!(actions.contains(&("login.failure".into(), "failure".into())));

        // Escaped echo of what the user typed.
        let evil = call(&app, attempt("\"><script>alert(1)</script>", "x")).await;
        assert!(!evil.body.contains("<script>alert(1)"), "{}", evil.body);
    }
}

both_backends_async! {
    async fn tenant_hints_and_the_picker(db) {
        let w = world(&db);
        let (app, _, _) = app!(db);

        // Several memberships, no hint: the picker offers exactly the user's tenants.
        let mut browser = Browser::default();
        let picker = sign_in(&app, &mut browser, "web", &[], "alice@example.com", PASSWORD).await;
        assert_eq!(picker.status, 200, "{}", picker.body);
        assert!(picker.body.contains("<form method=\"post\" action=\"/authorize\">"));
        assert_eq!(values(&picker.body, "tenant"), ["acme", "globex"]);
        let request = field(&picker.body, "request").unwrap();
        let csrf = field(&picker.body, "csrf").unwrap();
        // The answer is checked again: a tenant not offered is refused.
        let mut copy = browser.clone();
        let refused = copy.post(&app, "/authorize", &[("request", &request), ("csrf", &csrf), ("tenant", "initech")]).await;
        assert_eq!(location_param(&refused, "error").as_deref(), Some("access_denied"));
        // Recorded in the system chain (the user has no tenant it could go to).
        let system = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert!(system.contains(&("authorization.denied".into(), "denied".into())), "{system:?}");
        // The request is spent by the refusal; start again and pick globex.
        let picker = browser.get(&app, &authorize_path("web", &[])).await;
        assert_eq!(values(&picker.body, "tenant"), ["acme", "globex"]);
        let chosen = browser.post(&app, "/authorize", &[("request", &field(&picker.body, "request").unwrap()), ("csrf", &field(&picker.body, "csrf").unwrap()), ("tenant", "globex")]).await;
        let tokens = exchange(&app, "web", &code_of(&chosen)).await.json();
        assert_eq!(claims(tokens["access_token"].as_str().unwrap())["tenant_id"], w.globex);

        // A hint the user is a member of is honoured; a foreign or unknown one fails alike.
        let direct = browser.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        assert_eq!(claims(exchange(&app, "web", &code_of(&direct)).await.json()["access_token"].as_str().unwrap())["tenant_id"], w.acme);
        let foreign = browser.get(&app, &authorize_path("web", &[("tenant", "initech")])).await;
        let unknown = browser.get(&app, &authorize_path("web", &[("tenant", "does-not-exist")])).await;
        let invalid = browser.get(&app, &authorize_path("web", &[("tenant", "Not A Slug")])).await;
        for reply in [&foreign, &unknown, &invalid] {
            assert_eq!(reply.status, 302);
            assert_eq!(reply.header("location"), foreign.header("location"));
            assert_eq!(location_param(reply, "error").as_deref(), Some("access_denied"));
        }

        // Headers and extra parameters never choose the tenant.
        let req = actix_web::test::TestRequest::get()
            .uri(&authorize_path("web", &[("tenant", "acme"), ("tenant_id", &w.globex)]))
            .insert_header(("cookie", format!("tessera_session={}", browser.cookies["tessera_session"])))
            .insert_header(("x-tenant-id", w.globex.as_str()))
            .insert_header(("x-tenant", "globex"))
            .to_request();
        let injected = call(&app, req).await;
        let tokens = call(&app, {
            let code = code_of(&injected);
            actix_web::test::TestRequest::post().uri("/token")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .insert_header(("x-tenant-id", w.globex.as_str()))
                .set_payload(format!("grant_type=authorization_code&client_id=web&code={code}&redirect_uri={}&code_verifier={VERIFIER}&tenant=globex&tenant_id={}", url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(), w.globex))
                .to_request()
        }).await.json();
        assert_eq!(claims(tokens["access_token"].as_str().unwrap())["tenant_id"], w.acme);

        // A tenant-bound client uses its tenant; a user outside it is refused.
        let mut bound = Browser::default();
        let direct = sign_in(&app, &mut bound, "acme-web", &[], "alice@example.com", PASSWORD).await;
        assert_eq!(claims(exchange(&app, "acme-web", &code_of(&direct)).await.json()["access_token"].as_str().unwrap())["tenant"], "acme");
        let hinted = bound.get(&app, &authorize_path("acme-web", &[("tenant", "globex")])).await;
        assert_eq!(location_param(&hinted, "error").as_deref(), Some("access_denied"));
        let carol = sign_in(&app, &mut Browser::default(), "acme-web", &[], "carol@example.com", PASSWORD).await;
        assert_eq!(location_param(&carol, "error").as_deref(), Some("access_denied"));
    }
}

both_backends_async! {
    async fn refresh_rotates_detects_reuse_and_switches_tenant(db) {
        let w = world(&db);
        let (app, _, _) = app!(db);
        let refresh = |token: &str, extra: &[(&'static str, &'static str)]| {
            let mut fields = vec![("grant_type", "refresh_token".to_owned()), ("client_id", "web".to_owned()), ("refresh_token", token.to_owned())];
            fields.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            let fields: Vec<(&str, String)> = fields;
            let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
            actix_web::test::TestRequest::post().uri("/token")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(body).to_request()
        };
        let mut browser = Browser::default();
        let first = exchange(&app, "web", &code_of(&sign_in(&app, &mut browser, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await)).await.json();
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();

        let second = call(&app, refresh(&r1, &[])).await;
        assert_eq!(second.status, 200, "{}", second.body);
        let second = second.json();
        let r2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2);
        assert_eq!(claims(second["access_token"].as_str().unwrap())["tenant_id"], w.acme);
        assert!(second["id_token"].is_string());
        assert!(db.audit_actions(&w.acme).contains(&("token.refreshed".into(), "success".into())));
        // A password login, in both tokens (RFC 8176).
        for token in ["access_token", "id_token"] {
            let c = claims(second[token].as_str().unwrap());
            assert_eq!((c["amr"].clone(), c["acr"].clone()), (json!(["pwd"]), json!("pwd")), "{token}");
        }

        // Switch tenant without a new login, after a fresh membership check.
        let switched = call(&app, refresh(&r2, &[("tenant", "globex")])).await.json();
        let access = claims(switched["access_token"].as_str().unwrap());
        assert_eq!((access["tenant_id"].as_str(), access["roles"].clone()), (Some(w.globex.as_str()), json!(["admin", "member"])));
        let r3 = switched["refresh_token"].as_str().unwrap().to_owned();
        assert!(db.audit_actions(&w.globex).contains(&("tenant.switched".into(), "success".into())));
        let denied = call(&app, refresh(&r3, &[("tenant", "initech")])).await;
        assert_eq!(denied.json()["error"], "invalid_grant");
        // The refused switch did not spend the token.
        let narrowed = call(&app, refresh(&r3, &[("scope", "openid")])).await.json();
        assert_eq!(narrowed["scope"], "openid");
        assert!(narrowed.get("id_token").is_some());
        let r4 = narrowed["refresh_token"].as_str().unwrap().to_owned();
        let widened = call(&app, refresh(&r4, &[("scope", "openid offline_access admin")])).await;
        assert_eq!(widened.json()["error"], "invalid_scope");

        // Reuse of a spent token revokes the whole family, across tenants.
        let reuse = call(&app, refresh(&r1, &[])).await;
        assert_eq!(reuse.status, 400);
        assert_eq!(reuse.json_without_request_id(), json!({ "error": "invalid_grant", "error_description": "the grant is invalid, expired or revoked" }));
        assert_eq!(call(&app, refresh(&r4, &[])).await.json()["error"], "invalid_grant");
        let platform = basic("platform", &w.platform_secret);
        for token in [&first, &second, &switched] {
            let introspected = call(&app, form_post("/introspect", Some(&platform), &[("token", token["access_token"].as_str().unwrap())])).await.json();
            assert_eq!(introspected, json!({ "active": false }));
        }
        assert!(db.audit_actions(&w.acme).contains(&("token.refresh_reuse".into(), "denied".into())));

        // A removed membership or a disabled user ends refreshing.
        let bob = exchange(&app, "web", &code_of(&sign_in(&app, &mut Browser::default(), "web", &[], "bob@example.com", PASSWORD).await)).await.json();
        db.cli(&["member", "remove", "acme", "bob@example.com"]).ok();
        assert_eq!(call(&app, refresh(bob["refresh_token"].as_str().unwrap(), &[])).await.json()["error"], "invalid_grant");
        let fresh = exchange(&app, "web", &code_of(&sign_in(&app, &mut Browser::default(), "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await)).await.json();
        {
            use diesel::prelude::*;
            use tessera::db::schema::users;
            diesel::update(users::table.filter(users::email.eq("alice@example.com"))).set(users::status.eq("disabled")).execute(&mut db.conn()).unwrap();
        }
        assert_eq!(call(&app, refresh(fresh["refresh_token"].as_str().unwrap(), &[])).await.json()["error"], "invalid_grant");

        // A client without the refresh grant gets no refresh token.
        let none = exchange(&app, "web-nr", &code_of(&sign_in(&app, &mut Browser::default(), "web-nr", &[("scope", "openid")], "carol@example.com", PASSWORD).await)).await.json();
        assert!(none.get("refresh_token").is_none(), "{none}");
        // Revoking a refresh token ends its family.
        let carol = exchange(&app, "web", &code_of(&sign_in(&app, &mut Browser::default(), "web", &[], "carol@example.com", PASSWORD).await)).await.json();
        let revoked = call(&app, form_post("/revoke", None, &[("token", carol["refresh_token"].as_str().unwrap())])).await;
        assert_eq!(revoked.status, 401, "revocation needs client authentication");
    }
}

both_backends_async! {
    async fn userinfo_needs_a_valid_openid_token(db) {
        let w = world(&db);
        let (app, _, _) = app!(db);
        let bearer = |token: &str| actix_web::test::TestRequest::get().uri("/userinfo").insert_header(("authorization", format!("Bearer {token}"))).to_request();
        let missing = call(&app, actix_web::test::TestRequest::get().uri("/userinfo").to_request()).await;
        assert_eq!(missing.status, 401);
        assert_eq!(missing.header("www-authenticate"), Some("Bearer realm=\"tessera\""));
        let forged = call(&app, bearer("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")).await;
        assert_eq!(forged.status, 401);
        assert_eq!(forged.header("www-authenticate"), Some("Bearer realm=\"tessera\", error=\"invalid_token\""));
        let cc = call(&app, form_post("/token", Some(&basic("platform", &w.platform_secret)), &[("grant_type", "client_credentials")])).await.json();
        let service = call(&app, bearer(cc["access_token"].as_str().unwrap())).await;
        assert_eq!(service.status, 403);
        assert_eq!(service.json()["error"], "insufficient_scope");
    }
}
