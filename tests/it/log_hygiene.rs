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

/// The same for second factors: enrolment (the seed is in the page, never in the log),
/// a wrong and a right TOTP code, the recovery codes shown and one of them used.
#[test]
fn no_second_factor_reaches_the_log() {
    let db = TestDb::sqlite();
    let acme = db.tenant("acme");
    db.user("alice@example.com", "correct horse battery");
    db.member("acme", "alice@example.com", &["member"]);
    db.client(
        "web",
        Some("acme"),
        false,
        &["authorization_code"],
        &["openid", "offline_access"],
        &[REDIRECT],
    );
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
    let server = db.server(&[("RUST_LOG", "debug")]);
    let browser = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    };
    // Signs in with the password; the page that follows.
    let sign_in = |agent: &ureq::Agent| -> String {
        let html = agent
            .get(server.url(&authorize_path("web", &[])))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let form = [
            ("request", field(&html, "request").unwrap()),
            ("csrf", field(&html, "csrf").unwrap()),
            ("email", "alice@example.com".to_owned()),
            ("password", "correct horse battery".to_owned()),
        ];
        agent
            .post(server.url("/login"))
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let post = |agent: &ureq::Agent, path: &str, page: &str, code: &str| -> (u16, String) {
        let form = [
            ("request", field(page, "request").unwrap()),
            ("csrf", field(page, "csrf").unwrap()),
            ("code", code.to_owned()),
        ];
        let mut reply = agent
            .post(server.url(path))
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
            .unwrap();
        (
            reply.status().as_u16(),
            reply.body_mut().read_to_string().unwrap(),
        )
    };

    let first = browser();
    let enrol = sign_in(&first);
    let uri = crate::mfa_login::otpauth_uri_in(&enrol);
    let seed_text = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let secret = crate::mfa::secret_of(&uri);
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let right = crate::mfa::code(&secret, now);
    let wrong = if right == "314159" {
        "271828"
    } else {
        "314159"
    };
    assert!(post(&first, "/login/enrol", &enrol, wrong)
        .1
        .contains("Invalid code."));
    let (_, shown) = post(&first, "/login/enrol", &enrol, &right);
    let start = shown
        .find("id=\"recovery-codes\"")
        .expect("the recovery codes");
    let recovery: Vec<String> = shown[start..]
        .split("<code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    let second = browser();
    let page = sign_in(&second);
    assert!(page.contains("action=\"/login/factor\""), "{page}");
    let (status, _) = post(&second, "/login/factor", &page, &recovery[0]);
    assert_eq!(status, 303);

    let log = server.log.clone();
    assert!(server.stop().success());
    let lines = log.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("\"POST /login/factor\"")),
        "{lines:#?}"
    );
    let mut secrets = vec![seed_text, right, wrong.to_owned()];
    secrets.extend(recovery);
    for secret in &secrets {
        let leaked: Vec<&String> = lines.iter().filter(|l| holds(l, secret)).collect();
        assert!(
            leaked.is_empty(),
            "a second factor reached the log: {leaked:?}"
        );
    }
}

/// Whether `line` holds `secret` on its own: a six-digit code inside a longer number
/// (a duration, a timestamp) is a coincidence, not a leak.
fn holds(line: &str, secret: &str) -> bool {
    line.match_indices(secret).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + secret.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}
