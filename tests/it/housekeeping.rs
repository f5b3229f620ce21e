//! Housekeeping: expired pending requests, sessions, codes, refresh tokens and
//! idempotency keys are deleted (in batches, by a scheduled thread in `serve`); live ones
//! stay; the issued-token ledger and the audit log are never touched.

use actix_web::test::init_service;
use diesel::{QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::browser::{authorize_path, field, location_param, Browser, REDIRECT, VERIFIER};
use crate::support::{both_backends_async, call, form_post, user_token, TestDb};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(db: &TestDb, table: &str) -> i64 {
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(&mut db.conn())
        .unwrap()
        .n
}

const TABLES: [&str; 5] = [
    "authorization_requests",
    "sessions",
    "auth_codes",
    "refresh_tokens",
    "ingest_keys",
];

fn all_counts(db: &TestDb) -> Vec<i64> {
    TABLES.iter().map(|t| count(db, t)).collect()
}

/// One of everything: a pending request left unanswered, and a login whose code was
/// exchanged for a refresh token, and an ingestion with an idempotency key.
async fn leave_one_of_everything<S, B>(app: &S, token: &str, key: &str)
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let mut idle = Browser::default();
    assert_eq!(idle.get(app, &authorize_path("web", &[])).await.status, 200);
    let mut browser = Browser::default();
    let page = browser.get(app, &authorize_path("web", &[])).await;
    let (request, csrf) = (
        field(&page.body, "request").unwrap(),
        field(&page.body, "csrf").unwrap(),
    );
    let done = browser
        .post(
            app,
            "/login",
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("email", "alice@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    let code = location_param(&done, "code").unwrap();
    let tokens = call(
        app,
        form_post(
            "/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "web"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        ),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let ingest = actix_web::test::TestRequest::post()
        .uri("/api/v1/audit/events")
        .insert_header(("authorization", format!("Bearer {token}")))
        .insert_header(("idempotency-key", key))
        .set_json(json!({ "action": "doc.read", "outcome": "success" }))
        .to_request();
    assert_eq!(call(app, ingest).await.status, 202);
}

both_backends_async! {
    async fn expired_rows_are_purged_and_nothing_else(db) {
        db.tenant("acme");
        db.user("alice@example.com", "correct horse battery");
        db.member("acme", "alice@example.com", &["member"]);
        db.client("web", None, false, &["authorization_code", "refresh_token"], &["openid", "offline_access"], &[REDIRECT]);
        let state = db.state();
        let token = user_token(&state, "alice@example.com", "acme");
        let pool = state.pool.clone();
        let window = state.config.idempotency_window;
        let app = init_service(tessera::http::app(state)).await;

        leave_one_of_everything(&app, &token, "old-1").await;
        for (table, column) in [("authorization_requests", "expires_at"), ("sessions", "expires_at"), ("auth_codes", "expires_at"), ("refresh_tokens", "expires_at"), ("ingest_keys", "created_at")] {
            db.exec(&format!("UPDATE {table} SET {column} = '2000-01-01 00:00:00'"));
        }
        leave_one_of_everything(&app, &token, "new-1").await;
        let before = all_counts(&db);
        let ledger = count(&db, "issued_tokens");
        let events = count(&db, "audit_events");

        // As the service connects (the restricted role on PostgreSQL).
        let purged = tessera::housekeeping::purge(&mut pool.get().unwrap(), window).unwrap();
        assert_eq!(
            (purged.pending_requests, purged.sessions, purged.codes, purged.refresh_tokens, purged.idempotency_keys),
            (1, 1, 1, 1, 1),
            "one of each old row (the pending request a login answered was deleted when used): {purged:?}"
        );
        let after = all_counts(&db);
        for (i, table) in TABLES.iter().enumerate() {
            assert!(after[i] >= 1 && after[i] < before[i], "{table}: {} -> {}", before[i], after[i]);
        }
        assert_eq!((count(&db, "issued_tokens"), count(&db, "audit_events")), (ledger, events), "the ledger and the log are never purged");
        assert_eq!(tessera::housekeeping::purge(&mut pool.get().unwrap(), window).unwrap().total(), 0);
    }
}

#[test]
fn serve_purges_on_schedule() {
    let db = TestDb::sqlite();
    db.tenant("acme");
    db.client(
        "web",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &[REDIRECT],
    );
    let server = db.server(&[("TESSERA_PURGE_INTERVAL_SECS", "1")]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let page = agent
        .get(server.url(&authorize_path("web", &[("scope", "openid")])))
        .call()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(count(&db, "authorization_requests"), 1);
    db.exec("UPDATE authorization_requests SET expires_at = '2000-01-01 00:00:00'");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while count(&db, "authorization_requests") > 0 {
        assert!(std::time::Instant::now() < deadline, "not purged");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(server.log_count("housekeeping purged") >= 1);
}

both_backends_async! {
    async fn what_an_anonymous_caller_can_store_is_small(db) {
        db.client("web", None, false, &["authorization_code"], &["openid"], &[REDIRECT]);
        let app = init_service(tessera::http::app(db.state())).await;
        let mut browser = Browser::default();
        for (name, value, description) in [("state", "s".repeat(1025), "state is too long"), ("nonce", "n".repeat(256), "nonce is too long")] {
            let reply = browser.get(&app, &authorize_path("web", &[("scope", "openid"), (name, &value)])).await;
            assert_eq!(location_param(&reply, "error_description").as_deref(), Some(description));
        }
        assert_eq!(count(&db, "authorization_requests"), 0, "nothing stored");
        let reply = browser.get(&app, &authorize_path("web", &[("scope", "openid"), ("state", &"s".repeat(1024)), ("nonce", &"n".repeat(255))])).await;
        assert_eq!(reply.status, 200);
        let stored: i64 = diesel::sql_query("SELECT COUNT(*) AS n FROM authorization_requests WHERE length(state) + length(nonce) + length(redirect_uri) + length(scope) < 1500").get_result::<Count>(&mut db.conn()).unwrap().n;
        assert_eq!(stored, 1, "a pending request holds at most about 1.5 KB of the caller's text");
    }
}
