//! Second factors in the hosted login, driven like a browser on both backends: a
//! `required` tenant forcing enrolment, the second-factor page (TOTP codes computed
//! independently, drift, replay, recovery codes), `acr_values=mfa`, `prompt=none`,
//! lockout shared with the password under parallel attempts, identical answers, a
//! refresh into a `required` tenant, the tokens' `amr`/`acr` and the ledger's filter,
//! policies through the API and the CLI, and resets only a platform admin may make.

use actix_web::http::Method;
use actix_web::test::init_service;
use diesel::prelude::*;
use serde_json::json;
use tessera::db::schema::mfa_totp;

use crate::browser::{authorize_path, field, location_param, Browser, REDIRECT};
use crate::login::{claims, code_of, exchange, sign_in, PASSWORD};
use crate::mfa::{code, secret_of};
use crate::support::{bearer, both_backends_async, call, form_post, user_token, Reply, TestDb};

macro_rules! app {
    ($db:expr) => {{
        let state = $db.state();
        (init_service(tessera::http::app(state.clone())).await, state)
    }};
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap()
}

/// A step boundary is not about to pass: codes computed now stay in their step while
/// the test uses them.
fn settle_into_a_step() {
    let into = now() % 30;
    if into > 25 {
        std::thread::sleep(std::time::Duration::from_secs(31 - into));
    }
}

fn set_policy(db: &TestDb, slug: &str, policy: tessera::mfa::Policy) {
    let tenant = db.tenant_by_slug(slug);
    let mut conn = db.conn();
    tessera::db::write_tx(&mut conn, |tx| {
        tessera::mfa::set_policy(tx, &tessera::audit::Origin::cli(), &tenant, policy)
    })
    .unwrap();
}

/// acme requires a second factor; globex is `off`. alice is in both (admin of globex),
/// bob in acme only; the platform admin is in `system`.
fn world(db: &TestDb) {
    db.tenant("acme");
    db.tenant("globex");
    for email in ["alice@example.com", "bob@example.com", "root@example.com"] {
        db.user(email, PASSWORD);
    }
    db.member("acme", "alice@example.com", &["member"]);
    db.member("globex", "alice@example.com", &["admin", "member"]);
    db.member("acme", "bob@example.com", &["admin"]);
    db.member("system", "root@example.com", &["admin"]);
    let grants = ["authorization_code", "refresh_token"];
    db.client(
        "web",
        None,
        false,
        &grants,
        &["openid", "offline_access"],
        &[REDIRECT],
    );
    set_policy(db, "acme", tessera::mfa::Policy::Required);
}

fn form(page: &Reply) -> (String, String) {
    (
        field(&page.body, "request").expect("request field"),
        field(&page.body, "csrf").expect("csrf field"),
    )
}

/// A page's `otpauth://` URI (HTML-escaped `&` undone).
pub(crate) fn otpauth_uri_in(html: &str) -> String {
    let start = html.find("otpauth://totp/").expect("an otpauth URI");
    let end = start + html[start..].find('<').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&#x3d;", "=")
}

fn otpauth_uri(page: &Reply) -> String {
    otpauth_uri_in(&page.body)
}

/// Signs alice in to acme and enrols TOTP through the pages; returns the secret, the
/// recovery codes and the code redirect.
async fn enrol<S, B>(app: &S, browser: &mut Browser) -> (Vec<u8>, Vec<String>, Reply)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let page = sign_in(
        app,
        browser,
        "web",
        &[("tenant", "acme")],
        "alice@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/login/enrol\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"code\""));
    assert!(
        page.body.contains("<svg"),
        "a QR code rendered on the server"
    );
    assert!(!page.body.contains("<script"), "no JavaScript needed");
    let uri = otpauth_uri(&page);
    let secret = secret_of(&uri);
    assert!(secret.len() >= 20, "at least 160 bits");
    let (request, csrf) = form(&page);

    // A wrong code shows the same key again.
    let wrong = browser
        .post(
            app,
            "/login/enrol",
            &[("request", &request), ("csrf", &csrf), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("Invalid code."));
    assert_eq!(otpauth_uri(&wrong), uri);

    settle_into_a_step();
    let shown = browser
        .post(
            app,
            "/login/enrol",
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("code", &code(&secret, now())),
            ],
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert!(shown
        .body
        .contains("<form method=\"post\" action=\"/login/continue\">"));
    let start = shown.body.find("id=\"recovery-codes\"").unwrap();
    let codes: Vec<String> = shown.body[start..]
        .split("<code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{}", shown.body);
    let (request, csrf) = form(&shown);
    let done = browser
        .post(
            app,
            "/login/continue",
            &[("request", &request), ("csrf", &csrf)],
        )
        .await;
    (secret, codes, done)
}

both_backends_async! {
    async fn a_required_tenant_enrols_then_asks_for_the_second_factor(db) {
        world(&db);
        let (app, state) = app!(db);
        let mut browser = Browser::default();
        let (secret, recovery, done) = enrol(&app, &mut browser).await;
        // Browsers known from before the enrolment (the password alone made one known)
        // are forgotten, so none keeps an attempt row for guessing the new factor; the
        // enrolling browser, which gave both, is known anew.
        let devices: Vec<String> = tessera::db::schema::login_devices::table
            .select(tessera::db::schema::login_devices::token_hash)
            .load(&mut db.conn())
            .unwrap();
        assert_eq!(devices, [tessera::tokens::opaque_hash(&browser.cookies["tessera_device"])]);
        let tokens = exchange(&app, "web", &code_of(&done)).await;
        assert_eq!(tokens.status, 200, "{}", tokens.body);
        let body = tokens.json();
        for token in ["access_token", "id_token"] {
            let c = claims(body[token].as_str().unwrap());
            assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]), "{token}");
            assert_eq!(c["acr"], "mfa", "{token}");
        }
        // The database holds the seed sealed, never in the clear.
        let sealed: Vec<String> = mfa_totp::table.select(mfa_totp::sealed_seed).load(&mut db.conn()).unwrap();
        assert_eq!(sealed.len(), 1);
        let b32 = otpauth_secret_text(&secret);
        assert!(!sealed[0].contains(&b32) && !sealed[0].contains(&hex::encode(&secret)));

        // SSO: the session already holds the second factor.
        let again = browser.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        assert_eq!(again.status, 302, "{}", again.body);

        // A new browser: password, then the second-factor page.
        settle_into_a_step();
        let mut other = Browser::default();
        let page = sign_in(&app, &mut other, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<form method=\"post\" action=\"/login/factor\">"), "{}", page.body);
        assert!(!page.body.contains("otpauth://"), "the key is never shown again");
        let (request, csrf) = form(&page);
        let post = |browser: &Browser, code: &str| browser.post_request("/login/factor", &[("request", &request), ("csrf", &csrf), ("code", code)]);
        // The code of the enrolment's step was used: refused. Two steps ahead: refused.
        let replayed = call(&app, post(&other, &code(&secret, now()))).await;
        assert_eq!(replayed.status, 200);
        assert!(replayed.body.contains("Invalid code."), "{}", replayed.body);
        let far = call(&app, post(&other, &code(&secret, now() + 60))).await;
        assert!(far.body.contains("Invalid code."));
        assert_eq!(far.body, replayed.body, "the same answer");
        // One step of drift is accepted.
        let drift = other.post(&app, "/login/factor", &[("request", &request), ("csrf", &csrf), ("code", &code(&secret, now() + 30))]).await;
        let tokens = exchange(&app, "web", &code_of(&drift)).await.json();
        assert_eq!(claims(tokens["id_token"].as_str().unwrap())["amr"], json!(["pwd", "otp", "mfa"]));

        // A recovery code works once, typed loosely.
        let mut third = Browser::default();
        let page = sign_in(&app, &mut third, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        let (request, csrf) = form(&page);
        let typed = recovery[0].to_lowercase().replace('-', " ");
        let ok = third.post(&app, "/login/factor", &[("request", &request), ("csrf", &csrf), ("code", &typed)]).await;
        let tokens = exchange(&app, "web", &code_of(&ok)).await.json();
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], json!(["pwd", "mfa"]));
        assert_eq!(id["acr"], "mfa");
        let mut fourth = Browser::default();
        let page = sign_in(&app, &mut fourth, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        let (request, csrf) = form(&page);
        let reused = fourth.post(&app, "/login/factor", &[("request", &request), ("csrf", &csrf), ("code", &recovery[0])]).await;
        assert_eq!(reused.status, 200);
        assert!(reused.body.contains("Invalid code."));

        // globex is `off`: alice's password is enough there, and the tokens say so.
        let mut fifth = Browser::default();
        let done = sign_in(&app, &mut fifth, "web", &[("tenant", "globex")], "alice@example.com", PASSWORD).await;
        // That completes the login: the browser becomes known, the count starts over.
        assert!(fifth.cookies.contains_key("tessera_device"), "{:?}", fifth.cookies);
        let failed: i32 = tessera::db::schema::users::table
            .filter(tessera::db::schema::users::email.eq("alice@example.com"))
            .select(tessera::db::schema::users::failed_logins)
            .first(&mut db.conn())
            .unwrap();
        assert_eq!(failed, 0);
        let tokens = exchange(&app, "web", &code_of(&done)).await.json();
        assert_eq!(claims(tokens["access_token"].as_str().unwrap())["amr"], json!(["pwd"]));
        assert_eq!(claims(tokens["access_token"].as_str().unwrap())["acr"], "pwd");
        // Its refresh token reaches neither acme (required) nor initech (optional, and
        // alice has a factor) without one.
        db.tenant("initech");
        db.member("initech", "alice@example.com", &["member"]);
        set_policy(&db, "initech", tessera::mfa::Policy::Optional);
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        for tenant in ["acme", "initech"] {
            let switch = call(&app, form_post("/token", None, &[("grant_type", "refresh_token"), ("client_id", "web"), ("refresh_token", &refresh), ("tenant", tenant)])).await;
            assert_eq!(switch.json()["error"], "interaction_required", "{tenant}");
        }

        // The ledger: tokens without a second factor are one filter away, over HTTP
        // (platform auditor) and the CLI.
        let root = user_token(&state, "root@example.com", "system");
        let without = call(&app, bearer(Method::GET, "/api/v1/tokens?mfa=false&tenant=globex", &root).to_request()).await;
        assert_eq!(without.status, 200, "{}", without.body);
        let items = without.json()["items"].as_array().unwrap().clone();
        assert!(!items.is_empty());
        assert!(items.iter().all(|t| t["amr"] == json!(["pwd"])), "{items:?}");
        let with = call(&app, bearer(Method::GET, "/api/v1/tokens?mfa=true&tenant=acme", &root).to_request()).await.json();
        let with = with["items"].as_array().unwrap().clone();
        assert!(with.len() >= 9, "access, ID and refresh tokens of three logins: {with:?}");
        assert!(with.iter().all(|t| t["amr"].as_array().unwrap().contains(&json!("mfa"))));
        let bad = call(&app, bearer(Method::GET, "/api/v1/tokens?mfa=maybe", &root).to_request()).await;
        assert_eq!(bad.status, 400);
        let listed = db.cli(&["--json", "tokens", "list", "--tenant", "acme", "--mfa", "false"]).json();
        assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
        let listed = db.cli(&["--json", "tokens", "list", "--tenant", "globex", "--mfa", "false"]).json();
        assert!(!listed.as_array().unwrap().is_empty());

        // Enrolment, verification, failures and recovery are audited; no event holds
        // a code or the seed.
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        for action in ["mfa.enrolled", "mfa.verified", "mfa.failed", "mfa.recovery_generated", "mfa.recovery_used"] {
            assert!(actions.iter().any(|(a, _)| a == action), "{action}: {actions:?}");
        }
        let details: Vec<String> = tessera::db::schema::audit_events::table
            .select(tessera::db::schema::audit_events::details)
            .load(&mut db.conn())
            .unwrap();
        let all = details.join("\n");
        assert!(!all.contains(&b32) && !all.contains(&recovery[1]), "{all}");
    }
}

/// The base32 text of a secret, as an `otpauth://` URI carries it.
fn otpauth_secret_text(secret: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut bits, mut n) = (0u64, 0);
    for b in secret {
        bits = (bits << 8) | u64::from(*b);
        n += 8;
        while n >= 5 {
            n -= 5;
            out.push(char::from(ALPHABET[((bits >> n) & 31) as usize]));
        }
    }
    out
}

both_backends_async! {
    async fn second_factor_failures_share_the_lockout_and_look_alike(db) {
        world(&db);
        let (app, _) = app!(db);
        let mut browser = Browser::default();
        let (secret, _, _) = enrol(&app, &mut browser).await;

        // Someone with the password, from another browser.
        let mut attacker = Browser::default();
        let page = sign_in(&app, &mut attacker, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        let (request, csrf) = form(&page);
        let attempt = |code: String| attacker.post_request("/login/factor", &[("request", &request), ("csrf", &csrf), ("code", &code)]);
        let wrong = call(&app, attempt("123456".into())).await;
        assert!(wrong.body.contains("Invalid code."));
        // Signing in again with the password does not wipe the count.
        let page = sign_in(&app, &mut attacker, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert!(page.body.contains("action=\"/login/factor\""), "{}", page.body);
        let (request, csrf) = form(&page);
        let attempt = |code: String| attacker.post_request("/login/factor", &[("request", &request), ("csrf", &csrf), ("code", &code)]);
        // Ten parallel guesses: the limit (five) counts, the account locks.
        let guesses: Vec<_> = (0..10).map(|i| call(&app, attempt(format!("{:06}", 100_000 + i)))).collect();
        let replies = futures_util::future::join_all(guesses).await;
        assert!(replies.iter().all(|r| r.status == 200 && r.body.contains("Invalid code.")));
        let (failed, locked): (i32, Option<chrono::NaiveDateTime>) = {
            use tessera::db::schema::users;
            users::table.filter(users::email.eq("alice@example.com"))
                .select((users::failed_logins, users::locked_until))
                .first(&mut db.conn()).unwrap()
        };
        assert_eq!(failed, 5, "parallel attempts never exceed the limit");
        assert!(locked.is_some());
        // Locked: even the right code fails, exactly like a wrong one.
        settle_into_a_step();
        let right = call(&app, attempt(code(&secret, now() + 30))).await;
        let wrong = call(&app, attempt("654321".into())).await;
        let recovery_shaped = call(&app, attempt("ABCDE-FGHJK".into())).await;
        assert_eq!((right.status, &right.body), (wrong.status, &wrong.body));
        assert_eq!(recovery_shaped.body, wrong.body);
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert_eq!(actions.iter().filter(|(a, _)| a == "user.locked").count(), 1);
        // The password of the locked account fails too, for an unknown browser.
        let mut stranger = Browser::default();
        let refused = sign_in(&app, &mut stranger, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert!(refused.body.contains("Invalid email or password."));
        // The owner's known browser is counted on its own row and still gets in.
        settle_into_a_step();
        let page = browser.get(&app, &authorize_path("web", &[("tenant", "acme"), ("prompt", "login")])).await;
        let (request, csrf) = form(&page);
        let page = browser.post(&app, "/login", &[("request", &request), ("csrf", &csrf), ("email", "alice@example.com"), ("password", PASSWORD)]).await;
        let (request, csrf) = form(&page);
        let done = browser.post(&app, "/login/factor", &[("request", &request), ("csrf", &csrf), ("code", &code(&secret, now() + 30))]).await;
        code_of(&done);
    }
}

both_backends_async! {
    async fn acr_values_prompt_none_and_refresh_into_a_required_tenant(db) {
        world(&db);
        let (app, _) = app!(db);
        let discovery = call(&app, crate::support::get("/.well-known/openid-configuration")).await.json();
        assert_eq!(discovery["acr_values_supported"], json!(["pwd", "mfa"]));

        // globex is `off`, but the client asks for a second factor: enrolment.
        let mut browser = Browser::default();
        let page = sign_in(&app, &mut browser, "web", &[("tenant", "globex"), ("acr_values", "mfa")], "alice@example.com", PASSWORD).await;
        assert!(page.body.contains("action=\"/login/enrol\""), "{}", page.body);

        // A password-only session in globex...
        let mut browser = Browser::default();
        let done = sign_in(&app, &mut browser, "web", &[("tenant", "globex")], "alice@example.com", PASSWORD).await;
        let tokens = exchange(&app, "web", &code_of(&done)).await.json();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        // ...cannot silently reach acme: prompt=none gets interaction_required.
        let silent = browser.get(&app, &authorize_path("web", &[("tenant", "acme"), ("prompt", "none")])).await;
        assert_eq!(silent.status, 302);
        assert_eq!(location_param(&silent, "error").as_deref(), Some("interaction_required"));
        assert_eq!(location_param(&silent, "state").as_deref(), Some("st-123"));

        // A refresh that switches into acme is refused, audited, and leaves the token
        // usable where it is allowed.
        let switch = call(&app, form_post("/token", None, &[("grant_type", "refresh_token"), ("client_id", "web"), ("refresh_token", &refresh), ("tenant", "acme")])).await;
        assert_eq!(switch.status, 400, "{}", switch.body);
        assert_eq!(switch.json()["error"], "interaction_required");
        let acme = db.tenant_by_slug("acme");
        assert!(db.audit_actions(&acme.id).contains(&("token.refresh_denied".into(), "denied".into())));
        let stay = call(&app, form_post("/token", None, &[("grant_type", "refresh_token"), ("client_id", "web"), ("refresh_token", &refresh)])).await;
        assert_eq!(stay.status, 200, "{}", stay.body);
        let refresh = stay.json()["refresh_token"].as_str().unwrap().to_owned();
        // When globex starts requiring a second factor, the password-only grant stops.
        set_policy(&db, "globex", tessera::mfa::Policy::Required);
        let after = call(&app, form_post("/token", None, &[("grant_type", "refresh_token"), ("client_id", "web"), ("refresh_token", &refresh)])).await;
        assert_eq!(after.json()["error"], "interaction_required");
    }
}

both_backends_async! {
    async fn policies_by_api_and_cli_and_resets_only_by_a_platform_admin(db) {
        world(&db);
        let (app, state) = app!(db);
        let alice = db.user_by_email("alice@example.com");
        let mut browser = Browser::default();
        enrol(&app, &mut browser).await;

        // A tenant admin sets their own tenant's policy, not another's.
        let globex_admin = user_token(&state, "alice@example.com", "globex");
        let patch = |token: &str, path: &str, body: serde_json::Value| bearer(Method::PATCH, path, token).set_json(body).to_request();
        let own = call(&app, patch(&globex_admin, "/api/v1/tenants/globex", json!({ "mfa": "optional" }))).await;
        assert_eq!(own.status, 200, "{}", own.body);
        assert_eq!(own.json()["mfa"], "optional");
        let other = call(&app, patch(&globex_admin, "/api/v1/tenants/acme", json!({ "mfa": "off" }))).await;
        assert_eq!(other.status, 403, "{}", other.body);
        let bad = call(&app, patch(&globex_admin, "/api/v1/tenants/globex", json!({ "mfa": "sometimes" }))).await;
        assert_eq!(bad.status, 400);
        let unknown = call(&app, patch(&globex_admin, "/api/v1/tenants/globex", json!({ "colour": "red" }))).await;
        assert_eq!(unknown.status, 400);
        // Outsiders: a member (not admin) of the tenant, a client's own token, another
        // tenant's id typed by id: all refused with the same body, nothing changed.
        let member = user_token(&state, "alice@example.com", "acme");
        let secret = db.service_client("acme.svc", Some("acme"), &["tessera:api"]);
        let service = crate::support::client_token(&state, "acme.svc", &secret);
        let acme_id = db.tenant_by_slug("acme").id;
        for (token, path) in [(&member, "/api/v1/tenants/acme".to_owned()), (&service, "/api/v1/tenants/acme".to_owned()), (&globex_admin, format!("/api/v1/tenants/{acme_id}"))] {
            let refused = call(&app, patch(token, &path, json!({ "mfa": "off" }))).await;
            assert_eq!(refused.status, 403, "{path}: {}", refused.body);
            assert_eq!(refused.json_without_request_id(), json!({ "error": "forbidden", "error_description": "forbidden" }));
        }
        let reset_by_client = call(&app, bearer(Method::POST, "/api/v1/users/x/mfa/reset", &service).set_json(json!({ "reason": "x" })).to_request()).await;
        assert_eq!(reset_by_client.status, 403);
        assert_eq!(db.tenant_by_slug("acme").mfa_policy, "required");
        // `optional`: alice has a factor, so globex now asks for it.
        let mut fresh = Browser::default();
        let page = sign_in(&app, &mut fresh, "web", &[("tenant", "globex")], "alice@example.com", PASSWORD).await;
        assert!(page.body.contains("action=\"/login/factor\""), "{}", page.body);
        // The CLI sets it too.
        let out = db.cli(&["tenant", "update", "globex", "--mfa", "off"]);
        assert!(out.ok().contains("mfa off"));
        let bad = db.cli(&["tenant", "update", "globex", "--mfa", "sometimes"]);
        assert_eq!(bad.code, 2);
        assert!(bad.stderr.contains("possible values: off, optional, required"), "{}", bad.stderr);

        // bob administers acme, which alice shares with globex: he may not reset her
        // factors. The answer is the same for an id that does not exist, and the
        // attempt is recorded in acme's chain.
        let acme_admin = user_token(&state, "bob@example.com", "acme");
        let reset = |token: &str, id: &str| bearer(Method::POST, &format!("/api/v1/users/{id}/mfa/reset"), token).set_json(json!({ "reason": "lost phone" })).to_request();
        let denied = call(&app, reset(&acme_admin, &alice.id)).await;
        let missing = call(&app, reset(&acme_admin, "00000000-0000-0000-0000-000000000000")).await;
        assert_eq!(denied.status, 403);
        assert_eq!(denied.json_without_request_id(), json!({ "error": "forbidden", "error_description": "forbidden" }));
        assert_eq!(denied.json_without_request_id(), missing.json_without_request_id());
        let acme = db.tenant_by_slug("acme");
        assert!(db.audit_actions(&acme.id).contains(&("mfa.reset_denied".into(), "denied".into())));
        let left: i64 = mfa_totp::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(left, 1, "nothing was removed");

        // A platform admin may, with a reason; the reset is in every chain of hers.
        let root = user_token(&state, "root@example.com", "system");
        let no_reason = call(&app, bearer(Method::POST, &format!("/api/v1/users/{}/mfa/reset", alice.id), &root).set_json(json!({ "reason": " " })).to_request()).await;
        assert_eq!(no_reason.status, 400);
        let done = call(&app, reset(&root, &alice.id)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(done.json(), json!({ "user_id": alice.id, "removed": true }));
        let left: i64 = mfa_totp::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(left, 0);
        for tenant in [acme.id.clone(), db.tenant_by_slug("globex").id, tessera::tenants::SYSTEM_TENANT_ID.to_owned()] {
            assert!(db.audit_actions(&tenant).contains(&("mfa.reset".into(), "success".into())), "{tenant}");
        }
        let missing = call(&app, reset(&root, "00000000-0000-0000-0000-000000000000")).await;
        assert_eq!(missing.status, 404);
        // Whoever signed in with the old factors signs in again: her sessions ended.
        let live: i64 = tessera::db::schema::sessions::table
            .filter(tessera::db::schema::sessions::user_id.eq(&alice.id))
            .filter(tessera::db::schema::sessions::ended_at.is_null())
            .count()
            .get_result(&mut db.conn())
            .unwrap();
        assert_eq!(live, 0);
        let sso = browser.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        assert!(sso.body.contains("action=\"/login\""), "the login page again: {}", sso.body);
        // Next login to acme enrols again.
        let mut again = Browser::default();
        let page = sign_in(&app, &mut again, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert!(page.body.contains("action=\"/login/enrol\""));

        // The CLI: a reason is required.
        let bad = db.cli(&["user", "reset-mfa", "alice@example.com"]);
        assert_eq!(bad.code, 2);
        assert!(bad.stderr.contains("--reason"), "{}", bad.stderr);
        let out = db.cli(&["user", "reset-mfa", "alice@example.com", "--reason", "ticket 42"]);
        assert!(out.ok().contains("alice@example.com"), "{}", out.stdout);
        db.cli(&["user", "reset-mfa", "nobody@example.com", "--reason", "x"]).fails(1);
    }
}

both_backends_async! {
    async fn the_account_page_lists_adds_and_removes_factors_after_a_fresh_sign_in(db) {
        world(&db);
        let (app, _) = app!(db);
        let mut browser = Browser::default();
        let page = browser.get(&app, "/account").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.header("cache-control"), Some("no-store"));
        assert!(page.body.contains("<form method=\"post\" action=\"/account/login\">"), "{}", page.body);
        let csrf = field(&page.body, "csrf").unwrap();
        let login = |csrf: &str, password: &str, code: &str| vec![("csrf".to_owned(), csrf.to_owned()), ("email".to_owned(), "bob@example.com".to_owned()), ("password".to_owned(), password.to_owned()), ("code".to_owned(), code.to_owned())];
        let post = |b: &Browser, path: &str, fields: &[(String, String)]| {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            b.post_request(path, &fields)
        };
        // A form without the browser's token is refused; a wrong password looks like
        // any failure.
        let forged = call(&app, post(&Browser::default(), "/account/login", &login(&csrf, PASSWORD, ""))).await;
        assert_eq!(forged.status, 403);
        let wrong = call(&app, post(&browser, "/account/login", &login(&csrf, "nope", ""))).await;
        assert_eq!(wrong.status, 200);
        assert!(wrong.body.contains("Invalid credentials."));
        let signed = browser.post(&app, "/account/login", &[("csrf", &csrf), ("email", "bob@example.com"), ("password", PASSWORD)]).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        assert_eq!(signed.header("location"), Some("/account"));

        // Fresh: bob sets up an authenticator app.
        let page = browser.get(&app, "/account").await;
        assert!(page.body.contains("Authenticator app: not set up"), "{}", page.body);
        let csrf = field(&page.body, "csrf").unwrap();
        let enrol = browser.post(&app, "/account/totp", &[("csrf", &csrf)]).await;
        assert!(enrol.body.contains("action=\"/account/totp/confirm\""), "{}", enrol.body);
        let secret = secret_of(&otpauth_uri(&enrol));
        settle_into_a_step();
        let shown = browser.post(&app, "/account/totp/confirm", &[("csrf", &csrf), ("code", &code(&secret, now()))]).await;
        assert!(shown.body.contains("id=\"recovery-codes\""), "{}", shown.body);
        let page = browser.get(&app, "/account").await;
        assert!(page.body.contains("Authenticator app: set up") && page.body.contains("Recovery codes left: 10"), "{}", page.body);
        let renewed = browser.post(&app, "/account/recovery", &[("csrf", &csrf)]).await;
        assert!(renewed.body.contains("id=\"recovery-codes\""));
        assert_ne!(renewed.body, shown.body, "a new set");

        // Without the session's token nothing changes.
        let forged = call(&app, browser.post_request("/account/totp/remove", &[("csrf", "x")])).await;
        assert_eq!(forged.status, 403);
        let left: i64 = mfa_totp::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(left, 1);

        // Five minutes later a change needs the password and the second factor again.
        {
            use tessera::db::schema::sessions;
            diesel::update(sessions::table)
                .set(sessions::auth_time.eq(chrono::Utc::now().naive_utc() - chrono::Duration::minutes(6)))
                .execute(&mut db.conn())
                .unwrap();
        }
        let stale = browser.get(&app, "/account").await;
        assert!(stale.body.contains("confirm it is you") && stale.body.contains("name=\"code\""), "{}", stale.body);
        let csrf = field(&stale.body, "csrf").unwrap();
        let refused = browser.post(&app, "/account/totp/remove", &[("csrf", &csrf)]).await;
        assert_eq!(refused.status, 303);
        let left: i64 = mfa_totp::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(left, 1, "a stale session changes nothing");
        let no_code = browser.post(&app, "/account/login", &[("csrf", &csrf), ("email", "bob@example.com"), ("password", PASSWORD), ("code", "000000")]).await;
        assert!(no_code.body.contains("Invalid credentials."), "{}", no_code.body);
        let again = browser.post(&app, "/account/login", &[("csrf", &csrf), ("email", "bob@example.com"), ("password", PASSWORD), ("code", &code(&secret, now() + 30))]).await;
        assert_eq!(again.status, 303, "{}", again.body);
        let page = browser.get(&app, "/account").await;
        let csrf = field(&page.body, "csrf").unwrap();
        let removed = browser.post(&app, "/account/totp/remove", &[("csrf", &csrf)]).await;
        assert_eq!(removed.status, 303);
        let left: i64 = mfa_totp::table.count().get_result(&mut db.conn()).unwrap();
        assert_eq!(left, 0);
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert!(actions.contains(&("mfa.removed".into(), "success".into())));
        assert!(actions.iter().filter(|(a, _)| a == "mfa.recovery_generated").count() >= 2);
    }
}

both_backends_async! {
    async fn a_passkey_added_at_account_is_the_second_factor_at_login(db) {
        use webauthn_authenticator_rs::WebauthnAuthenticator;
        world(&db);
        let state = db.state_with(|c| c.issuer = "http://localhost:8080".into());
        let app = init_service(tessera::http::app(state)).await;
        let origin = webauthn_rs::prelude::Url::parse("http://localhost:8080").unwrap();
        let mut key = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);

        // alice signs in at /account and adds a passkey: the page loads the script
        // under a nonce, and nothing else.
        let mut browser = Browser::default();
        let page = browser.get(&app, "/account").await;
        let csrf = field(&page.body, "csrf").unwrap();
        browser.post(&app, "/account/login", &[("csrf", &csrf), ("email", "alice@example.com"), ("password", PASSWORD)]).await;
        let page = browser.get(&app, "/account").await;
        let csp = page.header("content-security-policy").unwrap().to_owned();
        let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_owned();
        assert!(page.body.contains(&format!("<script src=\"/assets/webauthn.js\" nonce=\"{nonce}\"></script>")), "{}", page.body);
        assert!(csp.contains("connect-src 'self'") && !csp.contains("unsafe-eval"), "{csp}");
        let script = browser.get(&app, "/assets/webauthn.js").await;
        assert_eq!(script.status, 200);
        assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
        let csrf = field(&page.body, "csrf").unwrap();
        let begun = browser.post(&app, "/account/passkey/begin", &[("csrf", &csrf)]).await;
        assert_eq!(begun.status, 200, "{}", begun.body);
        assert_eq!(begun.header("cache-control"), Some("no-store"));
        let ceremony = begun.json();
        let options = serde_json::from_value(ceremony["options"].clone()).unwrap();
        let answer = serde_json::to_string(&key.do_registration(origin.clone(), options).unwrap()).unwrap();
        let handle = ceremony["handle"].as_str().unwrap();
        let added = browser.post(&app, "/account/passkey", &[("csrf", &csrf), ("handle", handle), ("credential", &answer), ("name", "Laptop key")]).await;
        assert!(added.body.contains("id=\"recovery-codes\""), "a first factor comes with recovery codes: {}", added.body);
        let page = browser.get(&app, "/account").await;
        assert!(page.body.contains("Laptop key") && page.body.contains("this device only"), "{}", page.body);
        // Without the session's token, no ceremony begins.
        let forged = call(&app, browser.post_request("/account/passkey/begin", &[("csrf", "nope")])).await;
        assert_eq!(forged.status, 403);
        let forged = call(&app, Browser::default().post_request("/account/passkey-login/begin", &[("csrf", "nope")])).await;
        assert_eq!(forged.status, 403);
        let refused = browser.post(&app, "/account/passkey-login", &[("csrf", &csrf), ("handle", "h"), ("credential", "{}")]).await;
        assert!(refused.body.contains("Invalid credentials."), "{}", refused.body);

        // Signing in to acme (required): password, then the passkey.
        let mut other = Browser::default();
        let page = sign_in(&app, &mut other, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert!(page.body.contains("data-webauthn=\"get\""), "{}", page.body);
        assert!(page.header("content-security-policy").unwrap().contains("script-src 'nonce-"));
        let (request, csrf) = form(&page);
        let stranger = call(&app, Browser::default().post_request("/login/webauthn/begin", &[("request", &request), ("csrf", &csrf)])).await;
        assert_eq!(stranger.status, 403, "the ceremony belongs to the browser of the pending request");
        let begun = other.post(&app, "/login/webauthn/begin", &[("request", &request), ("csrf", &csrf)]).await;
        assert_eq!(begun.status, 200, "{}", begun.body);
        let ceremony = begun.json();
        let handle = ceremony["handle"].as_str().unwrap().to_owned();
        // A mangled answer fails like a wrong code.
        let mangled = other.post(&app, "/login/webauthn", &[("request", &request), ("csrf", &csrf), ("handle", &handle), ("credential", "{}")]).await;
        assert!(mangled.body.contains("Invalid code."), "{}", mangled.body);
        // The ceremony was spent by the failure: a fresh one.
        let ceremony = other.post(&app, "/login/webauthn/begin", &[("request", &request), ("csrf", &csrf)]).await.json();
        let options = serde_json::from_value(ceremony["options"].clone()).unwrap();
        let assertion = serde_json::to_string(&key.do_authentication(origin.clone(), options).unwrap()).unwrap();
        let done = other.post(&app, "/login/webauthn", &[("request", &request), ("csrf", &csrf), ("handle", ceremony["handle"].as_str().unwrap()), ("credential", &assertion)]).await;
        let tokens = exchange(&app, "web", &code_of(&done)).await.json();
        let id = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], json!(["pwd", "hwk", "mfa"]));
        assert_eq!(id["acr"], "mfa");
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert!(actions.contains(&("mfa.enrolled".into(), "success".into())));
        assert!(actions.contains(&("mfa.verified".into(), "success".into())));

        // The login page offers a passwordless sign-in; its ceremony names no user, and
        // an answer that does not verify gets the login page back, nothing else.
        let mut third = Browser::default();
        let page = third.get(&app, &authorize_path("web", &[("tenant", "acme")])).await;
        assert!(page.body.contains("id=\"sign-in-with-passkey\""), "{}", page.body);
        let (request, csrf) = form(&page);
        let foreign = call(&app, Browser::default().post_request("/login/passkey/begin", &[("request", &request), ("csrf", &csrf)])).await;
        assert_eq!(foreign.status, 403);
        let begun = third.post(&app, "/login/passkey/begin", &[("request", &request), ("csrf", &csrf)]).await;
        assert_eq!(begun.status, 200, "{}", begun.body);
        let ceremony = begun.json();
        assert!(ceremony["options"]["publicKey"]["allowCredentials"].as_array().is_none_or(|a| a.is_empty()), "{ceremony}");
        let refused = third.post(&app, "/login/passkey", &[("request", &request), ("csrf", &csrf), ("handle", ceremony["handle"].as_str().unwrap()), ("credential", "{}")]).await;
        assert_eq!(refused.status, 200);
        assert!(refused.body.contains("The passkey was not accepted."), "{}", refused.body);
        assert!(!refused.headers.get_all("set-cookie").any(|c| c.to_str().unwrap().starts_with("tessera_session=")));
        let details: Vec<String> = tessera::db::schema::audit_events::table
            .filter(tessera::db::schema::audit_events::action.eq("login.failure"))
            .select(tessera::db::schema::audit_events::details)
            .load(&mut db.conn())
            .unwrap();
        assert!(details.iter().any(|d| d.contains("passkey")), "{details:?}");
    }
}

both_backends_async! {
    async fn a_user_with_a_passkey_cannot_be_enrolled_at_login_by_someone_with_the_password(db) {
        use webauthn_authenticator_rs::WebauthnAuthenticator;
        world(&db);
        let state = db.state_with(|c| c.issuer = "http://localhost:8080".into());
        let app = init_service(tessera::http::app(state.clone())).await;
        let alice = db.user_by_email("alice@example.com");
        // alice has a passkey, and an authenticator-app enrolment she never finished.
        let rp = state.webauthn.clone().unwrap();
        let mut key = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
        let mut conn = db.conn();
        let challenge = tessera::db::write_tx(&mut conn, |tx| tessera::mfa::webauthn::begin_registration(tx, &rp, &alice)).unwrap();
        let answer = key.do_registration(webauthn_rs::prelude::Url::parse("http://localhost:8080").unwrap(), serde_json::from_value(challenge.options).unwrap()).unwrap();
        let origin = tessera::audit::Origin::system();
        assert!(tessera::db::write_tx(&mut conn, |tx| tessera::mfa::webauthn::finish_registration(tx, &origin, &rp, &alice, &challenge.handle, &serde_json::to_string(&answer).unwrap(), "Key")).unwrap());
        let sealer = state.sealer().unwrap();
        tessera::db::write_tx(&mut conn, |tx| tessera::mfa::begin_totp(tx, sealer, &alice, "localhost")).unwrap();

        // Someone with her password reaches the second-factor page, and tries the
        // enrolment form instead: refused, and the pending key is never shown.
        let mut attacker = Browser::default();
        let page = sign_in(&app, &mut attacker, "web", &[("tenant", "acme")], "alice@example.com", PASSWORD).await;
        assert!(page.body.contains("action=\"/login/factor\""), "{}", page.body);
        let (request, csrf) = form(&page);
        let tried = attacker.post(&app, "/login/enrol", &[("request", &request), ("csrf", &csrf), ("code", "000000")]).await;
        assert_eq!(tried.status, 403, "{}", tried.body);
        assert!(!tried.body.contains("otpauth://"), "{}", tried.body);
        let confirmed: Vec<Option<chrono::NaiveDateTime>> = mfa_totp::table.select(mfa_totp::confirmed_at).load(&mut db.conn()).unwrap();
        assert_eq!(confirmed, [None]);
    }
}

/// Authenticator apps name the issuer by its host, except an IPv6 literal (a label may
/// not hold ':'); such an issuer has no WebAuthn relying party either.
#[test]
fn the_authenticator_label_and_relying_party_follow_the_issuer() {
    let db = TestDb::sqlite();
    let state = db.state_with(|c| c.issuer = "https://auth.example.com".into());
    assert_eq!(&*state.mfa_label, "auth.example.com");
    assert!(state.webauthn.is_some());
    let state = db.state_with(|c| c.issuer = "http://[::1]:8080".into());
    assert_eq!(&*state.mfa_label, "Tessera");
    assert!(state.webauthn.is_none());
}
