//! The hosted pages in a real, headless Chromium against the real binary: a user signs
//! in on the login page, picks a tenant, and the browser lands on the client's redirect
//! URI with a code that exchanges for tokens of the picked tenant; a plain sign-out
//! link asks for confirmation before it signs anyone out.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{RealBrowser, TestDb};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A one-page web server for the client's redirect URI: it answers every request and
/// sends back the path of the first one to `/callback`.
fn callback_listener() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}/callback", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Bounded: a browser makes a handful of requests (the page, a favicon).
        for stream in listener.incoming().take(8).flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
            let _ = (&stream).write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
            );
            if path.starts_with("/callback") && tx.send(path).is_err() {
                return;
            }
        }
    });
    (uri, rx)
}

/// The `code` of the redirect the browser reached (its request path).
fn code_of(path: &str) -> String {
    url::form_urlencoded::parse(
        path.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .as_bytes(),
    )
    .find(|(k, _)| k == "code")
    .map(|(_, v)| v.into_owned())
    .expect("a code")
}

/// Exchanges a code of the public client `web` at the server `base`; the token
/// response.
fn exchange(base: &str, code: &str, redirect: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut token = agent
        .post(format!("{base}/token"))
        .send_form([
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("client_id", "web"),
            ("code_verifier", VERIFIER),
        ])
        .unwrap();
    assert_eq!(token.status(), 200);
    token.body_mut().read_json().unwrap()
}

/// A JWT's claims, unverified (the other suites verify signatures).
fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn sign_in_pick_a_tenant_and_sign_out_in_chromium() {
    let Some(browser) = RealBrowser::start() else {
        return;
    };
    let db = TestDb::sqlite();
    db.tenant("acme");
    db.tenant("globex");
    db.user("alice@example.com", "correct horse battery");
    db.member("acme", "alice@example.com", &["member"]);
    db.member("globex", "alice@example.com", &["admin"]);
    let (redirect, callbacks) = callback_listener();
    db.client(
        "web",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &[&redirect],
    );
    let server = db.server(&[]);

    let authorize = format!(
        "{}?response_type=code&client_id=web&redirect_uri={}&scope=openid&state=s1&code_challenge={CHALLENGE}&code_challenge_method=S256",
        server.url("/authorize"),
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    browser.goto(&authorize);
    assert!(
        browser.url().starts_with(&server.url("/authorize")),
        "{}",
        browser.url()
    );
    browser.wait_for("Sign in");
    browser.type_into("input[name=email]", "alice@example.com");
    browser.type_into("input[name=password]", "correct horse battery");
    browser.click("button[type=submit]");

    // Two memberships: the picker, then globex.
    let picker = browser.wait_for("name=\"tenant\"");
    assert!(
        picker.contains("acme") && picker.contains("globex"),
        "the picker: {picker}"
    );
    browser.click("input[name=tenant][value=globex]");
    browser.click("button[type=submit]");
    let path = callbacks
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reaches the redirect URI");
    let query: Vec<(String, String)> = url::form_urlencoded::parse(
        path.split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .as_bytes(),
    )
    .into_owned()
    .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(param("state"), "s1");
    assert!(!param("iss").is_empty());

    // The code exchanges for tokens of the picked tenant.
    let body = exchange(&server.url(""), &param("code"), &redirect);
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["tenant"], "globex");
    assert_eq!(claims["roles"], serde_json::json!(["admin"]));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "pwd");
    assert!(body["id_token"].is_string());

    // A plain sign-out link asks first; confirming signs out.
    browser.goto(&server.url("/logout"));
    let confirm = browser.wait_for("Sign out?");
    assert!(confirm.contains("name=\"csrf\""), "{confirm}");
    browser.click("button[type=submit]");
    browser.wait_for("You have been signed out.");
    // Signed out: a new authorization shows the login form again.
    browser.goto(&authorize);
    browser.wait_for("name=\"password\"");
}

/// A passkey end to end in Chromium with a virtual authenticator (the DevTools
/// `WebAuthn` domain, through WebDriver): alice registers one at `/account`, signs
/// out, and signs in to a tenant that requires a second factor with her password and
/// the passkey; then, signed out again, with the passkey alone, at the login page and
/// at `/account`. The tokens say so.
#[test]
fn register_a_passkey_then_sign_in_with_it_twice_in_chromium() {
    let Some(browser) = RealBrowser::start() else {
        return;
    };
    let db = TestDb::sqlite();
    let acme = db.tenant("acme");
    db.user("alice@example.com", "correct horse battery");
    db.member("acme", "alice@example.com", &["member"]);
    {
        let mut conn = db.conn();
        tessera::db::write_tx(&mut conn, |tx| {
            tessera::mfa::set_policy(
                tx,
                &tessera::audit::Origin::cli(),
                &acme,
                tessera::mfa::Policy::Required,
            )
        })
        .unwrap();
    }
    let (redirect, callbacks) = callback_listener();
    db.client(
        "web",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &[&redirect],
    );
    // WebAuthn needs a domain: the issuer is `localhost` on a port chosen here.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://localhost:{port}");
    let server = db.server(&[("TESSERA_LISTEN", &listen), ("TESSERA_ISSUER", &issuer)]);
    let authenticator = browser.add_virtual_authenticator();

    // /account: sign in with the password, add a passkey, see the recovery codes.
    browser.goto(&format!("{issuer}/account"));
    browser.wait_for("Sign in");
    browser.type_into("input[name=email]", "alice@example.com");
    browser.type_into("input[name=password]", "correct horse battery");
    browser.click("button[type=submit]");
    browser.wait_for("Add a passkey");
    browser.click("#add-passkey");
    browser.wait_for("recovery-codes");
    assert_eq!(browser.virtual_credentials(&authenticator).len(), 1);
    browser.goto(&format!("{issuer}/account"));
    browser.wait_for("this device only");

    // Sign out.
    browser.goto(&format!("{issuer}/logout"));
    browser.wait_for("Sign out");
    browser.click("button[type=submit]");
    browser.wait_for("<title>Signed out</title>");
    browser.goto(&format!("{issuer}/account"));
    browser.wait_for("name=\"email\"");

    // Sign in to acme: the password, then the passkey.
    let authorize = format!(
        "{issuer}/authorize?response_type=code&client_id=web&redirect_uri={}&scope=openid&state=s2&tenant=acme&code_challenge={CHALLENGE}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    browser.goto(&authorize);
    browser.wait_for("Sign in");
    browser.type_into("input[name=email]", "alice@example.com");
    browser.type_into("input[name=password]", "correct horse battery");
    browser.click("button[type=submit]");
    browser.wait_for("Use a passkey");
    browser.click("#use-passkey");
    let path = callbacks
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reaches the redirect URI");
    let body = exchange(&server.url(""), &code_of(&path), &redirect);
    let claims = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["tenant"], "acme");
    let amr = claims["amr"].as_array().unwrap();
    assert!(
        amr.contains(&"pwd".into()) && amr.contains(&"mfa".into()),
        "{claims}"
    );
    assert!(
        amr.contains(&"hwk".into()) || amr.contains(&"swk".into()),
        "{claims}"
    );
    assert_eq!(claims["acr"], "mfa");

    // Signed out again, the passkey alone signs her in: no password, two factors.
    browser.goto(&format!("{issuer}/logout"));
    browser.wait_for("Sign out");
    browser.click("button[type=submit]");
    browser.wait_for("<title>Signed out</title>");
    browser.goto(&authorize.replace("state=s2", "state=s3"));
    browser.wait_for("Sign in with a passkey");
    browser.click("#sign-in-with-passkey");
    let path = callbacks
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reaches the redirect URI again");
    assert!(path.contains("state=s3"), "{path}");
    let body = exchange(&server.url(""), &code_of(&path), &redirect);
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    let amr = claims["amr"].as_array().unwrap();
    assert!(!amr.contains(&"pwd".into()), "{claims}");
    assert!(amr.contains(&"mfa".into()), "{claims}");
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(claims["tenant"], "acme");

    // At /account, signed out, the passkey signs her in fresh enough to make changes.
    browser.goto(&format!("{issuer}/logout"));
    browser.wait_for("Sign out");
    browser.click("button[type=submit]");
    browser.wait_for("<title>Signed out</title>");
    browser.goto(&format!("{issuer}/account"));
    browser.wait_for("Use a passkey instead");
    browser.click("#account-passkey-login");
    let page = browser.wait_for("Signed in as");
    assert!(
        page.contains("alice@example.com") && page.contains("Add a passkey"),
        "{page}"
    );
}

/// The security console in Chromium against the real binary: an administrator opens
/// `/console`, signs in on the hosted login page, sees the overview, filters the
/// events, opens one, revokes a token after the confirmation step, and the token is
/// inactive at introspection. The pages work at 1280 px and at phone width, and the
/// first Tab reaches the skip link. Screenshots go to `target/screenshots/`.
#[test]
fn review_events_and_revoke_a_token_in_the_console_in_chromium() {
    console_in_chromium(TestDb::sqlite(), "");
}

/// The same on PostgreSQL (when `TESSERA_TEST_POSTGRES_URL` names a server).
#[test]
fn review_events_and_revoke_a_token_in_the_console_in_chromium_on_postgres() {
    if let Some(db) = TestDb::postgres() {
        console_in_chromium(db, "postgres-");
    }
}

fn console_in_chromium(db: TestDb, prefix: &str) {
    let Some(browser) = RealBrowser::start() else {
        return;
    };
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let shot = |name: &str| shots.join(format!("{prefix}{name}"));
    db.tenant("globex");
    db.user("gina@example.com", "correct horse battery");
    db.user("user@example.com", "correct horse battery");
    db.member("globex", "gina@example.com", &["admin"]);
    db.member("globex", "user@example.com", &["member"]);
    let platform = db.service_client("platform", None, &["read"]);
    let state = db.state();
    let token = crate::support::user_token(&state, "user@example.com", "globex");
    let jti = jwt_claims(&token)["jti"].as_str().unwrap().to_owned();
    drop(state);
    // The console's redirect URI is under the issuer: the issuer is where it listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://{listen}");
    let server = db.server(&[("TESSERA_LISTEN", &listen), ("TESSERA_ISSUER", &issuer)]);

    browser.set_window_size(1280, 1000);
    browser.goto(&server.url("/console"));
    browser.wait_for("name=\"password\"");
    browser.type_into("input[name=email]", "gina@example.com");
    browser.type_into("input[name=password]", "correct horse battery");
    browser.click("button[type=submit]");
    let overview = browser.wait_for("Audit chains");
    assert!(
        overview.contains("globex") && overview.contains("<svg"),
        "{overview}"
    );
    browser.screenshot(&shot("console-overview.png"));

    // Keyboard first: the first Tab reaches the skip link.
    browser.press_tab();
    let focused = browser.execute("return document.activeElement.textContent");
    assert_eq!(focused, Value::from("Skip to content"));

    // Filter the events and open one.
    browser.goto(&server.url("/console/events"));
    browser.wait_for("Filter");
    browser.type_into("input[name=action]", "token.issued");
    browser.click(".filters button[type=submit]");
    let list = browser.wait_for("action=token.issued");
    assert!(list.contains("token.issued"), "{list}");
    browser.screenshot(&shot("console-events.png"));
    browser.click("table.list tbody a");
    let event = browser.wait_for("Previous hash");
    assert!(event.contains("token.issued"), "{event}");
    browser.screenshot(&shot("console-event.png"));

    // Revoke the token, through the confirmation step.
    browser.goto(&server.url(&format!("/console/tokens/{jti}")));
    browser.wait_for("Revoke this token");
    browser.click("a.button.danger");
    browser.wait_for("Revoke this token?");
    browser.click("button.danger");
    let done = browser.wait_for("1 token revoked.");
    assert!(done.contains("revoked (admin)"), "{done}");
    browser.screenshot(&shot("console-token.png"));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut introspected = agent
        .post(server.url("/introspect"))
        .header(
            "authorization",
            crate::support::basic("platform", &platform),
        )
        .send_form([("token", token.as_str())])
        .unwrap();
    let body: Value = introspected.body_mut().read_json().unwrap();
    assert_eq!(body["active"], false, "{body}");

    // Phone width: nothing wider than the screen.
    browser.set_window_size(390, 844);
    browser.goto(&server.url("/console"));
    browser.wait_for("Audit chains");
    let overflow = browser.execute(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assert_eq!(
        overflow,
        Value::from(0),
        "the overview scrolls sideways on a phone"
    );
    browser.screenshot(&shot("console-phone.png"));
}
