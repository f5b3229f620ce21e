//! The server's log never holds a password, a client secret, a code, a token or a form
//! secret: the real binary, logging at `debug` for every crate, serves a failed and a
//! successful login, a code exchange, a refresh, client credentials with a right and a
//! wrong secret, introspection and revocation; then every secret those requests carried
//! or received is searched for in everything it logged.

use std::time::Duration;

use serde_json::Value;

use crate::browser::{authorize_path, field, REDIRECT, VERIFIER};
use crate::support::{basic, TestDb};

#[test]
fn no_secret_reaches_the_log() {
    let db = TestDb::sqlite();
    db.tenant("acme");
    db.user("alice@example.com", "correct horse battery");
    db.member("acme", "alice@example.com", &["member"]);
    db.client(
        "web",
        Some("acme"),
        false,
        &["authorization_code", "refresh_token"],
        &["openid", "offline_access"],
        &[REDIRECT],
    );
    let secret = db.service_client("acme.svc", Some("acme"), &["audit:write"]);
    let server = db.server(&[("RUST_LOG", "debug")]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut secrets: Vec<String> = vec![
        "correct horse battery".into(),
        "wrong horse battery".into(),
        secret.clone(),
        "not-the-secret".into(),
        VERIFIER.into(),
    ];

    // The login form, a wrong password, then the right one.
    let mut page = agent
        .get(server.url(&authorize_path("web", &[])))
        .call()
        .unwrap();
    let html = page.body_mut().read_to_string().unwrap();
    let (request, csrf) = (
        field(&html, "request").unwrap(),
        field(&html, "csrf").unwrap(),
    );
    secrets.extend([request.clone(), csrf.clone()]);
    let login = |password: &str| {
        agent
            .post(server.url("/login"))
            .send_form([
                ("request", request.as_str()),
                ("csrf", csrf.as_str()),
                ("email", "alice@example.com"),
                ("password", password),
            ])
            .unwrap()
    };
    assert_eq!(login("wrong horse battery").status(), 200);
    let done = login("correct horse battery");
    assert_eq!(done.status(), 303);
    for cookie in done.headers().get_all("set-cookie") {
        let value = cookie.to_str().unwrap().split(';').next().unwrap();
        secrets.push(value.split_once('=').unwrap().1.to_owned());
    }
    let location = done
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    secrets.push(code.clone());

    let token = |form: &[(&str, &str)], client: Option<(&str, &str)>| -> Value {
        let mut request = agent.post(server.url("/token"));
        if let Some((id, secret)) = client {
            request = request.header("authorization", basic(id, secret));
        }
        request
            .send_form(form.iter().copied())
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    let issued = token(
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "web"),
            ("code_verifier", VERIFIER),
        ],
        None,
    );
    let refresh = issued["refresh_token"].as_str().unwrap().to_owned();
    let rotated = token(
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "web"),
        ],
        None,
    );
    let service = token(
        &[("grant_type", "client_credentials")],
        Some(("acme.svc", &secret)),
    );
    let refused = token(
        &[("grant_type", "client_credentials")],
        Some(("acme.svc", "not-the-secret")),
    );
    assert_eq!(refused["error"], "invalid_client");
    for body in [&issued, &rotated, &service] {
        for name in ["access_token", "refresh_token", "id_token"] {
            if let Some(value) = body[name].as_str() {
                secrets.push(value.to_owned());
            }
        }
    }
    let access = service["access_token"].as_str().unwrap();
    let svc_basic = basic("acme.svc", &secret);
    for path in ["/introspect", "/revoke"] {
        let answer = agent
            .post(server.url(path))
            .header("authorization", &svc_basic)
            .send_form([("token", access)])
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }

    // Everything the server logged, up to its shutdown.
    let log = server.log.clone();
    assert!(server.stop().success());
    let lines = log.lock().unwrap().clone();
    // Every request was logged (the access log names the path, never the query).
    let logged = |path: &str| lines.iter().filter(|l| l.contains(path)).count();
    assert!(
        logged("\"POST /token\"") >= 4 && logged("\"POST /login\"") >= 2,
        "{lines:#?}"
    );
    assert!(
        secrets.len() >= 15,
        "what was looked for: {} secrets",
        secrets.len()
    );
    // (A cookie being removed has an empty value: nothing to look for.)
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        // Cookies and tokens are long; a password is searched for whole.
        let leaked: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains(secret.as_str()))
            .collect();
        assert!(leaked.is_empty(), "a secret reached the log: {leaked:?}");
    }
}
