//! Abuse from one source: the per-source throttle in front of the per-account lockout
//! keeps one address from locking a victim cheaply or filling the hashing pool, other
//! sources keep logging in, refusals are audited (once a minute per source) and
//! counted, and a forwarding header counts only when a trusted proxy is configured.

use actix_web::test::init_service;

use crate::browser::{authorize_path, field, Browser, REDIRECT};
use crate::support::{both_backends_async, call, get, TestDb};

const PASSWORD: &str = "correct horse battery";

fn world(db: &TestDb) {
    db.tenant("acme");
    db.user("victim@example.com", PASSWORD);
    db.member("acme", "victim@example.com", &["member"]);
    db.client(
        "web",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &[REDIRECT],
    );
}

/// A login POST from `peer` (a fresh form each time).
async fn attempt<S, B>(
    app: &S,
    peer: &str,
    email: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> crate::support::Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let mut browser = Browser::default();
    let page = browser
        .get(app, &authorize_path("web", &[("scope", "openid")]))
        .await;
    let (request, csrf) = (
        field(&page.body, "request").unwrap(),
        field(&page.body, "csrf").unwrap(),
    );
    let fields = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("email", email),
        ("password", password),
    ];
    call(
        app,
        browser.post_from("/login", &fields, peer.parse().unwrap(), headers),
    )
    .await
}

both_backends_async! {
    async fn one_source_cannot_lock_a_victim_or_starve_other_logins(db) {
        world(&db);
        let state = db.state_with(|c| {
            c.login_rate_per_minute = 3;
            c.bcrypt_workers = 1;
            c.bcrypt_queue = 1;
        });
        let app = init_service(tessera::http::app(state)).await;
        let attacker = "198.51.100.7:40000";

        // Guesses at the victim: three are evaluated, the rest refused before any
        // password check; the account (login_max_failures = 5) is not locked.
        let mut statuses = Vec::new();
        for i in 0..8 {
            let reply = attempt(&app, attacker, "victim@example.com", &format!("guess {i}"), &[]).await;
            if reply.status == 429 {
                assert_eq!(reply.header("retry-after"), Some("60"));
                assert!(reply.body.contains("Too many sign-in attempts"), "{}", reply.body);
            }
            statuses.push(reply.status);
        }
        assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429]);
        // A flood of unknown emails from the same source takes no hashing slot.
        let flood = futures_util::future::join_all((0..20).map(|i| {
            let email = format!("nobody{i}@example.com");
            let app = &app;
            async move { attempt(app, attacker, &email, "x", &[]).await.status }
        }))
        .await;
        assert!(flood.iter().all(|s| *s == 429), "{flood:?}");
        // The victim, from elsewhere, gets in: not locked, not "busy".
        let reply = attempt(&app, "203.0.113.9:50000", "victim@example.com", PASSWORD, &[]).await;
        assert_eq!(reply.status, 303, "{}", reply.body);

        // Refusals are audited once per source and minute, and counted.
        let system = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert_eq!(system.iter().filter(|(a, _)| a == "login.throttled").count(), 1, "{system:?}");
        let metrics = call(&app, get("/metrics")).await.body;
        assert!(metrics.lines().any(|l| l.starts_with("tessera_login_throttled_total ") && !l.ends_with(" 0")), "{metrics}");
    }
}

both_backends_async! {
    async fn forwarding_headers_count_only_behind_a_trusted_proxy(db) {
        world(&db);
        // No trusted proxy: a client rotating X-Forwarded-For is still one source.
        let app = init_service(tessera::http::app(db.state_with(|c| c.login_rate_per_minute = 2))).await;
        let peer = "198.51.100.8:1";
        let mut statuses = Vec::new();
        for i in 0..3 {
            let spoofed = format!("10.0.0.{i}");
            statuses.push(attempt(&app, peer, "victim@example.com", "guess", &[("x-forwarded-for", &spoofed)]).await.status);
        }
        assert_eq!(statuses, [200, 200, 429]);

        // Behind a trusted proxy (one peer for everyone), the header's last entry is
        // the client.
        let app = init_service(tessera::http::app(db.state_with(|c| {
            c.login_rate_per_minute = 2;
            c.trusted_proxy_header = Some("x-forwarded-for".into());
        })))
        .await;
        let proxy = "192.0.2.10:1";
        for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            let header = format!("198.18.0.1, {client}");
            for _ in 0..2 {
                assert_eq!(attempt(&app, proxy, "victim@example.com", "guess", &[("x-forwarded-for", &header)]).await.status, 200, "{client}");
            }
        }
        let header = "198.18.0.1, 203.0.113.1";
        assert_eq!(attempt(&app, proxy, "victim@example.com", "guess", &[("x-forwarded-for", header)]).await.status, 429);
    }
}

both_backends_async! {
    async fn an_attackers_failures_do_not_lock_out_a_known_browser(db) {
        world(&db);
        let app = init_service(tessera::http::app(db.state())).await;
        let login = |browser: &Browser, peer: &str, password: &str, page: &crate::support::Reply| {
            let (request, csrf) = (field(&page.body, "request").unwrap(), field(&page.body, "csrf").unwrap());
            let fields = [("request".to_owned(), request), ("csrf".to_owned(), csrf), ("email".to_owned(), "victim@example.com".to_owned()), ("password".to_owned(), password.to_owned())];
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            browser.post_from("/login", &fields, peer.parse().unwrap(), &[])
        };
        // The victim signs in once: the browser is known from then on.
        let mut victim = Browser::default();
        let page = victim.get(&app, &authorize_path("web", &[("scope", "openid")])).await;
        let req = login(&victim, "203.0.113.9:1", PASSWORD, &page);
        let done = call(&app, req).await;
        assert_eq!(done.status, 303);
        let device = done.headers.get_all("set-cookie").map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("tessera_device=")).expect("a known-browser cookie");
        assert!(device.contains("HttpOnly") && device.contains("SameSite=Lax"), "{device}");
        victim.cookies.insert("tessera_device".into(), device.split(';').next().unwrap()["tessera_device=".len()..].to_owned());
        victim.cookies.remove("tessera_session");

        // An attacker's five failures lock the account for unknown browsers …
        for i in 0..5 {
            let reply = attempt(&app, "198.51.100.7:1", "victim@example.com", &format!("guess {i}"), &[]).await;
            assert_eq!(reply.status, 200);
        }
        assert_eq!(attempt(&app, "198.51.100.7:1", "victim@example.com", PASSWORD, &[]).await.status, 200, "even the right password");
        assert_eq!(attempt(&app, "192.0.2.50:1", "victim@example.com", PASSWORD, &[]).await.status, 200, "any unknown browser");
        assert!(db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID).iter().any(|(a, _)| a == "user.locked"));
        // … not for the victim's own browser.
        let page = victim.get(&app, &authorize_path("web", &[("scope", "openid")])).await;
        let req = login(&victim, "203.0.113.9:1", PASSWORD, &page);
        assert_eq!(call(&app, req).await.status, 303, "the known browser still gets in");
    }
}
