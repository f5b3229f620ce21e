//! Exactly-once audit ingestion: a request retried with the same `Idempotency-Key`
//! (after a timeout, a crash, or on another instance) stores nothing new and gets the
//! original ids and seqs, concurrent copies included; a reused key with another body
//! is refused; keys are the caller's own and expire after the window.

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::support::{bearer, both_backends_async, call, client_token, user_token};

fn ingest(token: &str, key: Option<&str>, body: &Value) -> actix_http::Request {
    let mut req = bearer(Method::POST, "/api/v1/audit/events", token).set_json(body);
    if let Some(key) = key {
        req = req.insert_header(("idempotency-key", key));
    }
    req.to_request()
}

both_backends_async! {
    async fn a_retried_ingestion_stores_nothing_new(db) {
        let acme = db.tenant("acme").id;
        db.user("alice@example.com", "correct horse battery");
        db.member("acme", "alice@example.com", &["member"]);
        let secret = db.service_client("acme-svc", Some("acme"), &["audit:write"]);
        let state = db.state();
        let svc = client_token(&state, "acme-svc", &secret);
        let alice = user_token(&state, "alice@example.com", "acme");
        let app = init_service(tessera::http::app(state)).await;
        let batch = json!([{ "action": "invoice.read", "outcome": "success" }, { "action": "invoice.paid", "outcome": "success" }]);

        let first = call(&app, ingest(&svc, Some("batch-0001"), &batch)).await;
        assert_eq!(first.status, 202, "{}", first.body);
        assert!(first.header("idempotent-replayed").is_none());
        let stored = db.audit_actions(&acme).len();
        let again = call(&app, ingest(&svc, Some("batch-0001"), &batch)).await;
        assert_eq!((again.status, again.json()), (202, first.json()), "the original ids and seqs");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(db.audit_actions(&acme).len(), stored, "nothing stored twice");

        // Another instance (a new app on the same database) knows the key too.
        let other = init_service(tessera::http::app(db.state())).await;
        let elsewhere = call(&other, ingest(&svc, Some("batch-0001"), &batch)).await;
        assert_eq!((elsewhere.status, elsewhere.json()), (202, first.json()));

        // The same key for another body is refused; another caller's key is its own.
        let changed = call(&app, ingest(&svc, Some("batch-0001"), &json!({ "action": "invoice.void", "outcome": "success" }))).await;
        assert_eq!((changed.status, changed.json_without_request_id()), (422, json!({ "error": "unprocessable", "error_description": "the Idempotency-Key was used for another request" })));
        let theirs = call(&app, ingest(&alice, Some("batch-0001"), &batch)).await;
        assert_eq!(theirs.status, 202);
        assert!(theirs.header("idempotent-replayed").is_none());
        assert_ne!(theirs.json(), first.json());

        // Copies racing each other: one is stored, all get its answer.
        let racing = futures_util::future::join_all((0..8).map(|_| call(&app, ingest(&svc, Some("race-1"), &batch)))).await;
        let answers: Vec<Value> = racing.iter().map(|r| { assert_eq!(r.status, 202, "{}", r.body); r.json() }).collect();
        assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
        assert_eq!(db.audit_actions(&acme).len(), stored + 2 + 2, "alice's batch and one of the racing copies");

        // A refused request stores nothing, not even its key: sent again it is refused
        // again (not replayed), each time recorded in the caller's chain only.
        let globex = db.tenant("globex").id;
        let foreign = json!({ "tenant_id": globex, "action": "invoice.read", "outcome": "success" });
        let denials = || db.audit_actions(&acme).iter().filter(|(a, _)| a == "tenant.cross_access_denied").count();
        let before = (denials(), db.audit_actions(&globex).len());
        for _ in 0..2 {
            let refused = call(&app, ingest(&svc, Some("foreign-1"), &foreign)).await;
            assert_eq!((refused.status, refused.json_without_request_id()), (403, json!({ "error": "forbidden", "error_description": "forbidden" })));
            assert!(refused.header("idempotent-replayed").is_none());
            assert!(!refused.body.contains(&globex));
        }
        assert_eq!((denials(), db.audit_actions(&globex).len()), (before.0 + 2, before.1));

        // Past the window a key is forgotten.
        db.exec("UPDATE ingest_keys SET created_at = '2000-01-01 00:00:00'");
        let later = call(&app, ingest(&svc, Some("batch-0001"), &batch)).await;
        assert_eq!(later.status, 202);
        assert!(later.header("idempotent-replayed").is_none());
        assert_ne!(later.json(), first.json());

        for bad in ["", "has space", &"k".repeat(256)] {
            let reply = call(&app, ingest(&svc, Some(bad), &batch)).await;
            assert_eq!(reply.status, 400, "{bad:?}");
        }
    }
}
