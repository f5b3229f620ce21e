//! The security console's pages over a tenant of one million audit events (spread over
//! the last week, as the overview's charts read them), against the API's page of the
//! same events measured in the same run: the overview (24 h and 7 d), a filtered page
//! of events, one event with its neighbours and its request. Each is a whole request
//! through the application (session, access rule, read, record, render). SQLite.
//!
//! `cargo bench --bench console` (`TESSERA_BENCH_EVENTS` sets the size; default 1000000)
#![allow(clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use tessera::audit::{self, Entry, Event, Origin};
use tessera::db;

struct Setup {
    state: tessera::http::AppState,
    cookie: String,
    bearer: String,
    event_seq: i64,
    _dir: tempfile::TempDir,
}

fn setup(events: usize) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let overrides = tessera::config::Overrides {
        database_url: Some(url),
        keys_dir: Some(dir.path().join("keys")),
        ..Default::default()
    };
    let config = tessera::config::Config::load_with(&overrides, |_| None).expect("config");
    let mut conn = db::connect(&config.database_url).expect("sqlite");
    db::migrate(&mut conn).expect("migrate");
    let origin = Origin::system();
    let acme = db::write_tx(&mut conn, |tx| {
        tessera::tenants::create(tx, &origin, &tessera::tenants::Slug::parse("acme")?, None)
    })
    .expect("tenant");
    let user = db::write_tx(&mut conn, |tx| {
        let email = tessera::users::Email::parse("gina@example.com")?;
        let user = tessera::users::create(tx, &origin, &email, "x".to_owned())?;
        let roles = tessera::memberships::Roles::new([tessera::memberships::Role::Admin])?;
        tessera::memberships::add(tx, &origin, &acme, &user, &roles)?;
        Ok::<_, tessera::error::Error>(user)
    })
    .expect("user");

    // The events: linked like ingested ones, received over the last seven days.
    let now = db::now();
    let span = chrono::Duration::days(7).num_seconds();
    let mut head = audit::locked_head(&mut conn, &acme.id).expect("head");
    let batch = 10_000;
    let mut event_seq = 0;
    for start in (0..events).step_by(batch) {
        let entries: Vec<Entry> = (start..(start + batch).min(events))
            .map(|i| {
                let outcome = if i % 10 == 0 {
                    audit::Outcome::Failure
                } else {
                    audit::Outcome::Success
                };
                let origin = Origin::request(
                    audit::ActorType::User,
                    Some("user-1"),
                    Some("10.0.0.1".to_owned()),
                    Some(format!("req-{}", i / 4)),
                );
                Entry::new(
                    &origin,
                    Event::success(&acme.id, "invoice.read", "invoice", &format!("inv_{i}"))
                        .with_outcome(outcome)
                        .with_details(serde_json::json!({ "amount": i })),
                )
            })
            .collect();
        let mut rows = audit::link(&mut head, entries);
        for (k, row) in rows.iter_mut().enumerate() {
            let at =
                now - chrono::Duration::seconds(span - span * (start + k) as i64 / events as i64);
            row.received_at = at;
            row.occurred_at = at;
        }
        event_seq = rows[rows.len() / 2].seq;
        db::write_tx(&mut conn, |tx| audit::store::insert_many(tx, &rows)).expect("insert");
    }

    tessera::keys::init(&mut conn, &config.keys_dir, config.signing_alg, &origin).expect("keys");
    let keys = tessera::keys::Keys::open(&config.keys_dir).expect("open keys");
    let hasher = tessera::users::password::Hasher::start(1, 8, 4).expect("hasher");
    let pool = db::pool(&config.database_url, 4, config.db_timeout).expect("pool");
    let state = tessera::http::AppState::new(pool, config, keys, hasher).expect("state");
    tessera::console::stats::settle_all(&mut conn).expect("settle");

    // A console session and an API token for the same administrator.
    let issue = |conn: &mut db::DbConnection, client: &str, scope: &str| {
        let keys = state.keys.current();
        let issuer = tessera::oauth::issuer(&state.config);
        db::write_tx(conn, |tx| {
            tessera::tokens::issue_access_token(
                tx,
                &keys,
                &issuer,
                &origin,
                &tessera::tokens::Grant {
                    tenant: &acme,
                    subject: &user.id,
                    client_id: client,
                    scope,
                    roles: &["admin"],
                    family_id: None,
                    amr: &["pwd"],
                    grant_type: tessera::clients::GrantType::AuthorizationCode,
                },
            )
        })
        .expect("token")
        .token
    };
    let console_token = issue(&mut conn, tessera::console::CLIENT_ID, "openid");
    let bearer = issue(&mut conn, "bench", "openid tessera:api");
    let claims = tessera::tokens::verify_access_token(
        &mut conn,
        &state.keys.current(),
        &state.config.issuer,
        &console_token,
    )
    .expect("verify")
    .expect("valid")
    .claims;
    let sign_in = tessera::console::session::begin(&mut conn, "/console").expect("session");
    tessera::console::session::complete(&mut conn, &sign_in.cookie, &claims).expect("complete");
    Setup {
        state,
        cookie: sign_in.cookie,
        bearer,
        event_seq,
        _dir: dir,
    }
}

fn pages(c: &mut Criterion) {
    // `cargo test --benches` runs each case once: a small tenant is enough there.
    let measuring = std::env::args().any(|a| a == "--bench");
    let events = std::env::var("TESSERA_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if measuring { 1_000_000 } else { 2_000 });
    let s = setup(events);
    let system = actix_web::rt::System::new();
    let app = system.block_on(actix_web::test::init_service(tessera::http::app(
        s.state.clone(),
    )));
    let cookie = format!("tessera_console={}", s.cookie);
    let get = |path: &str, console: bool| {
        let mut req = actix_web::test::TestRequest::get().uri(path);
        req = if console {
            req.insert_header(("cookie", cookie.clone()))
        } else {
            req.insert_header(("authorization", format!("Bearer {}", s.bearer)))
        };
        let res = system.block_on(actix_web::test::call_service(&app, req.to_request()));
        assert_eq!(res.status(), 200, "{path}");
        system.block_on(actix_web::test::read_body(res))
    };
    let event = format!("/console/events/acme/{}", s.event_seq);
    let cases: [(&str, &str, bool); 6] = [
        (
            "api_events_page_baseline",
            "/api/v1/audit/events?limit=50",
            false,
        ),
        ("console_events_page", "/console/events", true),
        (
            "console_events_filtered",
            "/console/events?outcome=failure&resource=inv_99",
            true,
        ),
        ("console_event", &event, true),
        ("console_overview_24h", "/console?window=24h", true),
        ("console_overview_7d", "/console?window=7d", true),
    ];
    let mut group = c.benchmark_group(format!("console_{events}_events"));
    group.sample_size(20);
    for (name, path, console) in cases {
        group.bench_function(name, |b| b.iter(|| get(path, console)));
    }
    group.finish();
}

criterion_group!(benches, pages);
criterion_main!(benches);
