//! The security console, driven like a browser: sign-in through the hosted login page,
//! the access rules of "Who may read logs" on every page (another tenant's tenant,
//! event or token is the same 404 as one that does not exist), CSRF, revocation by
//! administrators only, exports, checkpoints, and the chain's state after tampering.

use actix_web::test::init_service;

use crate::browser::{field, Browser};
use crate::login::{claims, PASSWORD};
use crate::support::{basic, both_backends_async, call, form_post, Reply, TestDb};

struct World {
    acme: String,
    globex: String,
    platform_secret: String,
}

fn world(db: &TestDb) -> World {
    let acme = db.tenant("acme").id;
    let globex = db.tenant("globex").id;
    for email in [
        "alice@example.com",
        "gina@example.com",
        "pat@example.com",
        "mike@example.com",
        "user@example.com",
    ] {
        db.user(email, PASSWORD);
    }
    db.member("acme", "alice@example.com", &["auditor"]);
    db.member("globex", "gina@example.com", &["admin"]);
    db.member("system", "pat@example.com", &["auditor"]);
    db.member("acme", "mike@example.com", &["member"]);
    db.member("globex", "user@example.com", &["member"]);
    World {
        acme,
        globex,
        platform_secret: db.service_client("platform", None, &["read"]),
    }
}

/// The path and query of a `Location` (absolute or not).
fn location(reply: &Reply) -> String {
    let at = reply
        .header("location")
        .unwrap_or_else(|| panic!("a redirect: {} {}", reply.status, reply.body));
    match url::Url::parse(at) {
        Ok(url) => match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        },
        Err(_) => at.to_owned(),
    }
}

/// Takes a browser through the console's sign-in up to the callback: `start` sends it
/// to the login, then the hosted login page. Returns the callback's path.
async fn console_callback<S, B>(app: &S, browser: &mut Browser, email: &str, start: &str) -> String
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let first = browser.get(app, start).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let login = location(&first);
    assert!(login.starts_with("/console/login?return_to="), "{login}");
    let begin = browser.get(app, &login).await;
    assert_eq!(begin.status, 303, "{}", begin.body);
    let cookie = begin.header("set-cookie").unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let authorize = location(&begin);
    assert!(authorize.starts_with("/authorize?"), "{authorize}");
    assert!(
        authorize.contains("client_id=tessera-console"),
        "{authorize}"
    );
    assert!(
        authorize.contains("code_challenge_method=S256"),
        "{authorize}"
    );
    let page = browser.get(app, &authorize).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let posted = browser
        .post(
            app,
            "/login",
            &[
                ("request", &field(&page.body, "request").unwrap()),
                ("csrf", &field(&page.body, "csrf").unwrap()),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    let callback = location(&posted);
    assert!(callback.starts_with("/console/callback?"), "{callback}");
    callback
}

/// Signs `email` in to the console the way a browser does: `/console` sends it to the
/// login, the hosted login page, the callback, and back.
pub(crate) async fn console_sign_in<S, B>(
    app: &S,
    browser: &mut Browser,
    email: &str,
    start: &str,
) -> Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let callback = console_callback(app, browser, email, start).await;
    let back = browser.get(app, &callback).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(location(&back), start);
    browser.get(app, start).await
}

/// A query parameter of a path.
fn param(path: &str, name: &str) -> String {
    url::form_urlencoded::parse(
        path.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .as_bytes(),
    )
    .find(|(k, _)| k == name)
    .map(|(_, v)| v.into_owned())
    .unwrap_or_default()
}

/// The rows of a page's table.
fn rows_of(html: &str) -> Vec<&str> {
    html.split("<tbody>")
        .nth(1)
        .unwrap_or_default()
        .split("</tbody>")
        .next()
        .unwrap_or_default()
        .split("<tr>")
        .collect()
}

fn csrf_of(html: &str) -> String {
    field(html, "csrf").expect("a csrf field")
}

/// A multipart form body (`boundary` fixed) with text fields.
fn multipart(browser: &Browser, path: &str, fields: &[(&str, &str)]) -> actix_http::Request {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str("--XyZ--\r\n");
    actix_web::test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "multipart/form-data; boundary=XyZ"))
        .insert_header(("cookie", browser.cookie_header()))
        .set_payload(body)
        .to_request()
}

both_backends_async! {
    async fn sign_in_and_who_sees_what(db) {
        let w = world(&db);
        let state = db.state();
        let globex_token = crate::support::user_token(&state, "user@example.com", "globex");
        let globex_jti = claims(&globex_token)["jti"].as_str().unwrap().to_owned();
        let app = init_service(tessera::http::app(state)).await;

        // Nobody signed in: every page sends the browser to sign in, then back.
        let anonymous = call(&app, actix_web::test::TestRequest::get().uri("/console/events?action=x").to_request()).await;
        assert_eq!(anonymous.status, 303);
        assert_eq!(location(&anonymous), "/console/login?return_to=%2Fconsole%2Fevents%3Faction%3Dx");

        let mut alice = Browser::default();
        let overview = console_sign_in(&app, &mut alice, "alice@example.com", "/console").await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        assert!(overview.body.contains("Audit chains"), "{}", overview.body);
        assert!(overview.body.contains("<svg"), "charts are drawn on the server");
        assert!(!overview.body.contains("globex"), "{}", overview.body);
        let csp = overview.header("content-security-policy").unwrap();
        for part in ["default-src 'none'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"] {
            assert!(csp.contains(part), "{csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(overview.header("cache-control"), Some("no-store"));
        assert_eq!(overview.header("x-frame-options"), Some("DENY"));

        // Another tenant, its events and its tokens: the 404 of what does not exist.
        let missing = alice.get(&app, "/console?tenant=no-such-tenant").await;
        assert_eq!(missing.status, 404);
        for path in [
            "/console?tenant=globex".to_owned(),
            format!("/console?tenant={}", w.globex),
            "/console/events?tenant=globex".to_owned(),
            "/console/tokens?tenant=globex".to_owned(),
            "/console/events/globex/1".to_owned(),
            format!("/console/events/{}/1", w.globex),
            "/console/events/acme/999999".to_owned(),
            "/console/events/no-such-tenant/1".to_owned(),
            format!("/console/tokens/{globex_jti}"),
            format!("/console/tokens/{}", uuid::Uuid::new_v4()),
            "/console/events/acme/not-a-seq".to_owned(),
        ] {
            let reply = alice.get(&app, &path).await;
            assert_eq!((reply.status, &reply.body), (404, &missing.body), "{path}");
        }
        // Her own tenant's event opens, with its hashes.
        let own = alice.get(&app, "/console/events/acme/1").await;
        assert_eq!(own.status, 200, "{}", own.body);
        assert!(own.body.contains("Previous hash") && own.body.contains("acme"), "{}", own.body);
        // A filter shows only her tenant, whatever it asks for.
        let events = alice.get(&app, "/console/events?action=tenant.cross_access_denied").await;
        assert_eq!(events.status, 200);
        assert!(events.body.contains("tenant.cross_access_denied"), "{}", events.body);
        let bad = alice.get(&app, "/console/events?outcome=maybe").await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        // Another tenant's cursor positions nothing in hers: her newest events, no more.
        let theirs = tessera::audit::Cursor {
            received_at: tessera::db::now(),
            tenant_id: w.globex.clone(),
            seq: 3,
        }
        .encode();
        let first = alice.get(&app, "/console/events?action=membership.added").await;
        let crossed = alice.get(&app, &format!("/console/events?action=membership.added&cursor={theirs}")).await;
        assert_eq!(crossed.status, 200, "{}", crossed.body);
        assert!(!crossed.body.contains("globex") && crossed.body.contains("membership.added"), "{}", crossed.body);
        assert_eq!(rows_of(&crossed.body), rows_of(&first.body));
        let bad_cursor = alice.get(&app, "/console/events?cursor=garbage").await;
        assert_eq!(bad_cursor.status, 400, "{}", bad_cursor.body);

        let before = db.audit_actions(&w.acme);
        assert!(!before.iter().any(|(a, _)| a == "tokens.read"), "refusals read nothing: {before:?}");
        let listed = alice.get(&app, "/console/tokens").await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert!(!listed.body.contains(&globex_jti));

        // Reads are recorded like the API's, and the refusals as cross-tenant attempts.
        let actions = db.audit_actions(&w.acme);
        assert!(actions.iter().any(|(a, _)| a == "audit.read"), "{actions:?}");
        assert!(actions.iter().any(|(a, _)| a == "tokens.read"), "{actions:?}");
        assert!(actions.iter().any(|(a, o)| a == "tenant.cross_access_denied" && o == "denied"), "{actions:?}");
        assert!(!db.audit_actions(&w.globex).iter().any(|(a, _)| a == "audit.read"));

        // An auditor may look but not revoke.
        let own_token = {
            use diesel::prelude::*;
            use tessera::db::schema::issued_tokens as t;
            t::table.filter(t::tenant_id.eq(&w.acme)).select(t::jti).first::<String>(&mut db.conn()).unwrap()
        };
        let confirm = alice.get(&app, &format!("/console/tokens/{own_token}/revoke")).await;
        assert_eq!(confirm.status, 403, "{}", confirm.body);
        let csrf = csrf_of(&overview.body);
        let refused = alice.post(&app, &format!("/console/tokens/{own_token}/revoke"), &[("csrf", &csrf)]).await;
        assert_eq!(refused.status, 403, "{}", refused.body);

        // Every form needs the session's CSRF token.
        let forged = alice.post(&app, "/console/logout", &[("csrf", "forged")]).await;
        assert_eq!(forged.status, 400, "{}", forged.body);
        let forged = alice.post(&app, "/console/verify", &[("csrf", "forged")]).await;
        assert_eq!(forged.status, 400, "{}", forged.body);

        // A platform auditor sees every tenant.
        let mut pat = Browser::default();
        let every = console_sign_in(&app, &mut pat, "pat@example.com", "/console/events?tenant=globex").await;
        assert_eq!(every.status, 200, "{}", every.body);
        let token = pat.get(&app, &format!("/console/tokens/{globex_jti}")).await;
        assert_eq!(token.status, 200, "{}", token.body);
        assert!(token.body.contains("globex"), "{}", token.body);

        // Anyone else signed in gets the one generic page.
        let mut mike = Browser::default();
        let no = console_sign_in(&app, &mut mike, "mike@example.com", "/console").await;
        assert_eq!(no.status, 403, "{}", no.body);
        assert!(no.body.contains("may not use the security console"), "{}", no.body);
        assert_eq!(mike.get(&app, "/console/events?tenant=globex").await.body, no.body);

        // Signing out ends the console session and revokes its token.
        let session_jti = {
            use diesel::prelude::*;
            use tessera::db::schema::{issued_tokens as t, users as u};
            // Alice's: mike's sign-in (refused by role) may have been issued one too.
            let alice: String = u::table
                .filter(u::email.eq("alice@example.com"))
                .select(u::id)
                .first(&mut db.conn())
                .unwrap();
            t::table
                .filter(t::client_id.eq("tessera-console"))
                .filter(t::tenant_id.eq(&w.acme))
                .filter(t::token_type.eq("access_token"))
                .filter(t::subject.eq(alice))
                .select(t::jti)
                .first::<String>(&mut db.conn())
                .unwrap()
        };
        let out = alice.post(&app, "/console/logout", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, 200, "{}", out.body);
        assert_eq!(alice.get(&app, "/console").await.status, 303);
        let mut conn = db.conn();
        assert!(tessera::tokens::is_revoked(&mut conn, &w.acme, &session_jti).unwrap());
        let _ = w.platform_secret;
    }
}

both_backends_async! {
    async fn an_admin_revokes_exports_and_checks_the_chain(db) {
        let w = world(&db);
        let state = db.state();
        let token = crate::support::user_token(&state, "user@example.com", "globex");
        let jti = claims(&token)["jti"].as_str().unwrap().to_owned();
        let app = init_service(tessera::http::app(state)).await;
        let mut gina = Browser::default();
        let tokens = console_sign_in(&app, &mut gina, "gina@example.com", "/console/tokens?active=true").await;
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        assert!(tokens.body.contains(&jti), "{}", tokens.body);
        let grant = gina.get(&app, "/console/tokens?grant=client_credentials").await;
        assert!(!grant.body.contains(&jti), "{}", grant.body);

        // Revocation: a confirmation step, then the API's own revocation.
        let page = gina.get(&app, &format!("/console/tokens/{jti}")).await;
        assert!(page.body.contains("Revoke this token"), "{}", page.body);
        let confirm = gina.get(&app, &format!("/console/tokens/{jti}/revoke")).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        assert!(confirm.body.contains("Revoke this token?"), "{}", confirm.body);
        let done = gina.post(&app, &format!("/console/tokens/{jti}/revoke"), &[("csrf", &csrf_of(&confirm.body))]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(location(&done), format!("/console/tokens/{jti}?revoked=1"));
        let after = gina.get(&app, &location(&done)).await;
        assert!(after.body.contains("1 token revoked") && after.body.contains("revoked (admin)"), "{}", after.body);
        assert!(after.body.contains("token.revoked"), "the events about it: {}", after.body);
        let introspected = call(&app, form_post("/introspect", Some(&basic("platform", &w.platform_secret)), &[("token", &token)])).await;
        assert_eq!(introspected.json()["active"], false);

        // Export of the current filter, as a file.
        let csv = gina.get(&app, "/console/events/export?action=token.revoked&format=csv").await;
        assert_eq!(csv.status, 200, "{}", csv.body);
        assert!(csv.header("content-disposition").unwrap().contains("audit-events.csv"));
        assert_eq!(csv.body.lines().count(), 2, "a header and one event: {}", csv.body);
        assert!(csv.body.contains("token.revoked"));
        let ndjson = gina.get(&app, "/console/events/export").await;
        assert!(ndjson.body.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["tenant_id"] == w.globex.as_str()));

        // Checkpoints: take one, check it, then tamper and check again.
        let page = gina.get(&app, "/console/checkpoints").await;
        let csrf = csrf_of(&page.body);
        let taken = gina.post(&app, "/console/checkpoints", &[("csrf", &csrf), ("tenant", "globex")]).await;
        assert_eq!(taken.status, 200, "{}", taken.body);
        assert!(taken.header("content-disposition").unwrap().contains("checkpoint-globex-"));
        let jws = taken.body.clone();
        let checked = call(&app, multipart(&gina, "/console/checkpoints/check", &[("csrf", &csrf), ("checkpoint", &jws)])).await;
        assert_eq!(checked.status, 200, "{}", checked.body);
        assert!(checked.body.contains("The checkpoint matches."), "{}", checked.body);
        let garbage = call(&app, multipart(&gina, "/console/checkpoints/check", &[("csrf", &csrf), ("checkpoint", "not.a.jws")])).await;
        assert_eq!(garbage.status, 400, "{}", garbage.body);
        let forged = call(&app, multipart(&gina, "/console/checkpoints/check", &[("csrf", "x"), ("checkpoint", &jws)])).await;
        assert_eq!(forged.status, 400, "{}", forged.body);

        db.exec(&format!(
            "UPDATE audit_events SET action = 'user.renamed' WHERE tenant_id = '{}' AND seq = 1",
            w.globex
        ));
        let checked = call(&app, multipart(&gina, "/console/checkpoints/check", &[("csrf", &csrf), ("checkpoint", &jws)])).await;
        assert!(checked.body.contains("The checkpoint does not match."), "{}", checked.body);
        let verified = gina.post(&app, "/console/verify", &[("csrf", &csrf)]).await;
        assert_eq!(verified.status, 303, "{}", verified.body);
        let overview = gina.get(&app, "/console").await;
        assert!(overview.body.contains("Chain broken: globex."), "{}", overview.body);
        assert!(overview.body.contains("broken at seq 1"), "{}", overview.body);
    }
}

both_backends_async! {
    async fn the_overview_counts_settled_hours_and_live_ones_alike(db) {
        let w = world(&db);
        let state = db.state();
        for _ in 0..3 {
            crate::support::user_token(&state, "user@example.com", "globex");
        }
        let mut conn = state.pool.get().unwrap();
        let now = tessera::db::now();
        let live = tessera::console::stats::counts(&mut conn, Some(&w.globex), tessera::console::stats::Window::Day, now).unwrap();
        let grants = |buckets: &[tessera::console::stats::Bucket]| -> i64 {
            buckets.iter().map(|b| b.grants.get("authorization_code").copied().unwrap_or(0)).sum()
        };
        assert_eq!(grants(&live), 3);
        // Two hours on, the same hour is read from its rollup: the same counts.
        let later = now + chrono::Duration::hours(2);
        assert!(tessera::console::stats::settle(&mut conn, &w.globex, later).unwrap() > 0);
        assert_eq!(tessera::console::stats::settle(&mut conn, &w.globex, later).unwrap(), 0);
        let settled = tessera::console::stats::counts(&mut conn, Some(&w.globex), tessera::console::stats::Window::Day, later).unwrap();
        assert_eq!(grants(&settled), 3);
        let events = |buckets: &[tessera::console::stats::Bucket]| -> i64 {
            buckets.iter().map(|b| b.outcomes.values().sum::<i64>()).sum()
        };
        assert_eq!(events(&settled), events(&live));
        // Every event of the tenant is in a bucket, whichever window cuts them.
        let total = db.audit_actions(&w.globex).len() as i64;
        assert!(total > 0);
        assert_eq!(events(&live), total);
        let hour = tessera::console::stats::counts(&mut conn, Some(&w.globex), tessera::console::stats::Window::Hour, now).unwrap();
        assert_eq!(events(&hour), total);
        let every = tessera::console::stats::counts(&mut conn, None, tessera::console::stats::Window::Week, later).unwrap();
        assert!(grants(&every) >= 3);
    }
}

both_backends_async! {
    async fn the_console_can_require_a_second_factor(db) {
        world(&db);
        let state = db.state_with(|c| c.console_require_mfa = true);
        let app = init_service(tessera::http::app(state)).await;
        let mut browser = Browser::default();
        let begin = browser.get(&app, "/console/login").await;
        assert_eq!(begin.status, 303);
        assert!(location(&begin).contains("acr_values=mfa"), "{}", location(&begin));
        // A callback that is not this browser's sign-in is refused, and says nothing.
        let stray = browser.get(&app, "/console/callback?code=abc&state=def").await;
        assert_eq!(stray.status, 400, "{}", stray.body);
        let disabled = init_service(tessera::http::app(db.state_with(|c| c.console = false))).await;
        assert_eq!(call(&disabled, actix_web::test::TestRequest::get().uri("/console").to_request()).await.status, 404);
    }
}

both_backends_async! {
    async fn strangers_credentials_open_nothing(db) {
        world(&db);
        db.client("web", None, false, &["authorization_code", "refresh_token"], &["openid", "offline_access"], &[crate::browser::REDIRECT]);
        let state = db.state();
        let api_token = crate::support::user_token(&state, "alice@example.com", "acme");
        let app = init_service(tessera::http::app(state)).await;
        let with = |header: (&'static str, String), path: &str| {
            actix_web::test::TestRequest::get().uri(path).insert_header(header).to_request()
        };

        // An API token, however valid, is no console session; nor is a made-up cookie.
        let bearer = call(&app, with(("authorization", format!("Bearer {api_token}")), "/console/events")).await;
        assert_eq!(bearer.status, 303, "{}", bearer.body);
        assert!(location(&bearer).starts_with("/console/login"));
        let forged = call(&app, with(("cookie", "tessera_console=forged".to_owned()), "/console/events")).await;
        assert_eq!(forged.status, 303, "{}", forged.body);

        // A console session is no API credential.
        let mut alice = Browser::default();
        assert_eq!(console_sign_in(&app, &mut alice, "alice@example.com", "/console").await.status, 200);
        let cookie = alice.cookies["tessera_console"].clone();
        let api = call(&app, with(("authorization", format!("Bearer {cookie}")), "/api/v1/audit/events")).await;
        assert_eq!(api.status, 401, "{}", api.body);
        let api = call(&app, with(("cookie", format!("tessera_console={cookie}")), "/api/v1/audit/events")).await;
        assert_eq!(api.status, 401, "{}", api.body);

        // A code issued to another client signs nobody in, and the sign-in it was
        // tried on is spent.
        let mut eve = Browser::default();
        let begin = eve.get(&app, "/console/login").await;
        let eves_state = param(&location(&begin), "state");
        let mut web = Browser::default();
        let reply = crate::login::sign_in(&app, &mut web, "web", &[], "gina@example.com", PASSWORD).await;
        let web_code = crate::login::code_of(&reply);
        let stolen = eve.get(&app, &format!("/console/callback?code={web_code}&state={eves_state}")).await;
        assert_eq!(stolen.status, 400, "{}", stolen.body);
        assert!(stolen.body.contains("The sign-in could not be completed."), "{}", stolen.body);
        assert_eq!(eve.get(&app, "/console").await.status, 303);

        // Another browser's callback (its code and state) is refused in this browser:
        // the state belongs to the other browser's session.
        let mut gina = Browser::default();
        let ginas = console_callback(&app, &mut gina, "gina@example.com", "/console").await;
        let replayed = eve.get(&app, &ginas).await;
        assert_eq!(replayed.status, 400, "{}", replayed.body);
        assert_eq!(eve.get(&app, "/console").await.status, 303);
        // An error answer from /authorize signs nobody in either.
        let denied = gina.get(&app, &format!("/console/callback?error=access_denied&state={}", param(&ginas, "state"))).await;
        assert_eq!(denied.status, 400, "{}", denied.body);
        // The browser it was meant for still completes it, once.
        let back = gina.get(&app, &ginas).await;
        assert_eq!(back.status, 303, "{}", back.body);
        assert_eq!(gina.get(&app, "/console").await.status, 200);
        assert_eq!(gina.get(&app, &ginas).await.status, 400, "a callback works once");
    }
}

both_backends_async! {
    /// A suspended audit stream is an alert on its tenant's overview, and nowhere else.
    async fn a_suspended_stream_shows_on_its_tenants_overview(db) {
        let w = world(&db);
        let state = db.state();
        let sealer = state.sealer().unwrap();
        let mut conn = state.pool.get().unwrap();
        let origin = tessera::audit::Origin::cli();
        for (tenant, url) in [(&w.globex, "https://siem.globex.example/hook"), (&w.acme, "https://siem.acme.example/hook")] {
            let created = tessera::db::write_tx(&mut conn, |tx| {
                tessera::streams::create(tx, sealer, &origin, Some(tenant), url, tessera::streams::Format::Ndjson)
            })
            .unwrap();
            if tenant == &w.globex {
                db.cli(&["stream", "pause", &created.id]).ok();
                db.exec(&format!("UPDATE audit_streams SET state = 'suspended', suspended_reason = 'the receiver answered 410 Gone' WHERE id = '{}'", created.id));
            }
        }
        drop(conn);
        let app = init_service(tessera::http::app(state)).await;
        let page = console_sign_in(&app, &mut Browser::default(), "gina@example.com", "/console").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Audit stream suspended: https://siem.globex.example/hook."), "{}", page.body);
        assert!(page.body.contains("the receiver answered 410 Gone"));
        assert!(!page.body.contains("siem.acme.example"));
        let page = console_sign_in(&app, &mut Browser::default(), "alice@example.com", "/console").await;
        assert!(page.body.contains("https://siem.acme.example/hook"));
        assert!(!page.body.contains("siem.globex.example") && !page.body.contains("Audit stream suspended"));
    }
}
