//! `/api/v1` attacked and used: tokens (forged, expired, revoked, foreign audience),
//! every role on every endpoint against its own, a foreign and a nonexistent tenant,
//! ingestion rules and atomicity, queries and cursors, export, verification and
//! checkpoints, the ledger and administration, and the OpenAPI document.

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::support::{bearer, both_backends_async, call, client_token, user_token, TestDb};

struct World {
    acme: String,
    globex: String,
    acme_svc: String,
    platform_svc: String,
    noscope_svc: String,
}

fn world(db: &TestDb) -> World {
    let acme = db.tenant("acme").id;
    let globex = db.tenant("globex").id;
    for (email, tenant, roles) in [
        ("member@acme.test", "acme", &["member"][..]),
        ("auditor@acme.test", "acme", &["auditor"][..]),
        ("admin@acme.test", "acme", &["admin"][..]),
        ("admin@globex.test", "globex", &["admin"][..]),
        ("auditor@platform.test", "system", &["auditor"][..]),
        ("admin@platform.test", "system", &["admin"][..]),
    ] {
        db.user(email, "correct horse battery");
        db.member(tenant, email, roles);
    }
    World {
        acme,
        globex,
        acme_svc: db.service_client("acme-svc", Some("acme"), &["audit:write"]),
        platform_svc: db.service_client("platform-svc", None, &["audit:write"]),
        noscope_svc: db.service_client("acme-read", Some("acme"), &["read"]),
    }
}

fn post_json(path: &str, token: &str, body: &Value) -> actix_http::Request {
    bearer(Method::POST, path, token)
        .set_json(body)
        .to_request()
}

fn get(path: &str, token: &str) -> actix_http::Request {
    bearer(Method::GET, path, token).to_request()
}

fn event(action: &str) -> Value {
    json!({ "action": action, "outcome": "success", "resource": { "type": "invoice", "id": "inv_1" } })
}

fn count_events(db: &TestDb, tenant_id: &str) -> usize {
    db.audit_actions(tenant_id).len()
}

both_backends_async! {
    async fn bad_tokens_are_401(db) {
        let w = world(&db);
        let state = db.state();
        let keys = state.keys.clone();
        let config = state.config.clone();
        let good = user_token(&state, "admin@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;

        let no_token = call(&app, actix_web::test::TestRequest::get().uri("/api/v1/tokens").to_request()).await;
        assert_eq!(no_token.status, 401);
        assert_eq!(no_token.header("www-authenticate"), Some("Bearer realm=\"tessera\", error=\"invalid_token\""));
        let expected = no_token.json_without_request_id();
        assert_eq!(expected["error"], "invalid_token");

        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let parts: Vec<&str> = good.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        let kid = keys.current().active().kid.clone();
        let sign = |claims: &Value| keys.current().sign("at+jwt", claims.to_string().as_bytes()).unwrap().0;
        let none = format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "at+jwt", "kid": kid })), parts[1]);
        let mut expired = claims.clone();
        expired["exp"] = json!(1_000_000_000);
        let mut foreign_aud = claims.clone();
        foreign_aud["aud"] = json!("https://other.example");
        let mut foreign_iss = claims.clone();
        foreign_iss["iss"] = json!("https://evil.example");
        claims["tenant_id"] = json!(w.globex);
        let edited = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        for (what, token) in [
            ("garbage", "not.a.token".to_owned()),
            ("alg none", none),
            ("edited tenant", edited),
            ("expired", sign(&expired)),
            ("other audience", sign(&foreign_aud)),
            ("other issuer", sign(&foreign_iss)),
            // Correctly signed, but never issued: no ledger row.
            ("unrecorded", sign(&claims)),
        ] {
            let reply = call(&app, get("/api/v1/tokens", &token)).await;
            assert_eq!(reply.status, 401, "{what}");
            assert_eq!(reply.json_without_request_id(), expected, "{what}");
        }
        // Revoked through the CLI: refused from then on.
        assert_eq!(call(&app, get("/api/v1/tokens", &good)).await.status, 200);
        let jti = db.cli(&["tokens", "list", "--subject", &{
            let mut conn = db.conn();
            tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse("admin@acme.test").unwrap()).unwrap().unwrap().id
        }, "--json"]).json()[0]["jti"].as_str().unwrap().to_owned();
        db.cli(&["tokens", "revoke", &jti]).ok();
        assert_eq!(call(&app, get("/api/v1/tokens", &good)).await.status, 401);
        let _ = config;
    }
}

both_backends_async! {
    async fn ingestion_is_bound_to_the_token(db) {
        let w = world(&db);
        let state = db.state();
        let acme_svc = client_token(&state, "acme-svc", &w.acme_svc);
        let platform_svc = client_token(&state, "platform-svc", &w.platform_svc);
        let noscope = client_token(&state, "acme-read", &w.noscope_svc);
        let member = user_token(&state, "member@acme.test", "acme");
        let globex_admin_id = {
            let mut conn = db.conn();
            tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse("admin@globex.test").unwrap()).unwrap().unwrap().id
        };
        let member_id = {
            let mut conn = db.conn();
            tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse("member@acme.test").unwrap()).unwrap().unwrap().id
        };
        let app = init_service(tessera::http::app(state)).await;
        let path = "/api/v1/audit/events";

        // A tenant-bound client writes its own tenant; the client is the source.
        let reply = call(&app, post_json(path, &acme_svc, &event("invoice.read"))).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        let stored = reply.json()["events"][0].clone();
        assert!(stored["id"].is_string() && stored["seq"].is_i64());
        let before = count_events(&db, &w.acme);

        let forbidden = json!({ "error": "forbidden", "error_description": "forbidden" });
        let mut foreign = event("invoice.read");
        foreign["tenant_id"] = json!(w.globex);
        let reply = call(&app, post_json(path, &acme_svc, &foreign)).await;
        assert_eq!((reply.status, reply.json_without_request_id()), (403, forbidden.clone()));
        assert!(!reply.body.contains(&w.globex));
        // Batches are all or nothing.
        let batch = json!([event("a.one"), event("a.two"), foreign]);
        let reply = call(&app, post_json(path, &acme_svc, &batch)).await;
        assert_eq!(reply.status, 403);
        let after = db.audit_actions(&w.acme);
        assert_eq!(after.len(), before + 2, "only the two denials were recorded: {after:?}");
        assert!(after.iter().rev().take(2).all(|(a, o)| a == "tenant.cross_access_denied" && o == "denied"));
        assert_eq!(count_events(&db, &w.globex), 1, "nothing reached globex's chain (its creation only)");

        // Without audit:write, a client may not write.
        assert_eq!(call(&app, post_json(path, &noscope, &event("x.y"))).await.status, 403);

        // A user's token writes as that user, in its tenant, and as nobody else.
        let reply = call(&app, post_json(path, &member, &event("invoice.read"))).await;
        assert_eq!(reply.status, 202);
        let mut impersonation = event("invoice.read");
        impersonation["actor"] = json!({ "type": "user", "id": globex_admin_id });
        assert_eq!(call(&app, post_json(path, &member, &impersonation)).await.status, 403);

        // A platform client names each event's tenant; a user actor must be a member.
        let mut for_acme = event("invoice.read");
        for_acme["tenant_id"] = json!(w.acme);
        for_acme["actor"] = json!({ "type": "user", "id": member_id });
        assert_eq!(call(&app, post_json(path, &platform_svc, &for_acme)).await.status, 202);
        let mut outsider = for_acme.clone();
        outsider["actor"] = json!({ "type": "user", "id": globex_admin_id });
        assert_eq!(call(&app, post_json(path, &platform_svc, &outsider)).await.status, 403);
        let mut unknown = for_acme.clone();
        unknown["tenant_id"] = json!("00000000-0000-4000-8000-00000000dead");
        assert_eq!(call(&app, post_json(path, &platform_svc, &unknown)).await.status, 403);
        let reply = call(&app, post_json(path, &platform_svc, &event("no.tenant"))).await;
        assert_eq!((reply.status, reply.json()["error_description"].as_str()), (400, Some("event 0: tenant_id is required")));

        // The chains still verify.
        let mut conn = db.conn();
        for t in [&w.acme, &w.globex] {
            assert!(tessera::audit::verify(&mut conn, t, tessera::audit::Mode::Full).unwrap().is_intact());
        }
    }
}

both_backends_async! {
    async fn malformed_and_oversized_input_is_a_clear_4xx(db) {
        let w = world(&db);
        let state = db.state_with(|c| c.audit_max_body_bytes = 400 * 1024);
        let token = client_token(&state, "acme-svc", &w.acme_svc);
        let reader = user_token(&state, "auditor@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;
        let path = "/api/v1/audit/events";
        let raw = |body: &str| bearer(Method::POST, path, &token).insert_header(("content-type", "application/json")).set_payload(body.to_owned()).to_request();
        for (body, expected) in [
            ("{", "malformed JSON at line 1"),
            ("[]", "the batch is empty"),
            ("\"text\"", "expected an event object"),
            (r#"{"action":7,"outcome":"success"}"#, "invalid type"),
            (r#"{"action":"a.b","outcome":"success","surprise":1}"#, "unknown field `surprise`"),
            (r#"{"action":"a.b","outcome":"perhaps"}"#, "outcome must be success, failure or denied"),
            (r#"{"action":"a.b","outcome":"success","occurred_at":"yesterday"}"#, "occurred_at"),
            (r#"[{"action":"a.b","outcome":"success"},{"outcome":"success"}]"#, "event 1: missing field `action`"),
        ] {
            let reply = call(&app, raw(body)).await;
            assert_eq!(reply.status, 400, "{body}");
            assert_eq!(reply.json()["error"], "invalid_request");
            let description = reply.json()["error_description"].as_str().unwrap().to_owned();
            assert!(description.contains(expected), "{body}: {description}");
        }
        let many = |n: usize| Value::Array((0..n).map(|i| event(&format!("bulk.e{i}"))).collect());
        let reply = call(&app, post_json(path, &token, &many(1001))).await;
        assert_eq!(reply.status, 400);
        assert!(reply.json()["error_description"].as_str().unwrap().contains("at most 1000"));
        let reply = call(&app, post_json(path, &token, &many(1000))).await;
        assert_eq!(reply.status, 202, "{}", &reply.body[..200.min(reply.body.len())]);
        let seqs: Vec<i64> = reply.json()["events"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "consecutive sequence numbers");
        let mut big = event("big.one");
        big["details"] = json!({ "blob": "x".repeat(500 * 1024) });
        let reply = call(&app, post_json(path, &token, &big)).await;
        assert_eq!(reply.status, 413);
        assert_eq!(reply.json()["error"], "payload_too_large");
        let bad_query = call(&app, get("/api/v1/audit/events?cursor=%%%garbage", &reader)).await;
        assert_eq!(bad_query.status, 400);
    }
}

// Every role on every read/admin endpoint, against its own tenant, a foreign one and
// one that does not exist.
both_backends_async! {
    async fn every_role_on_every_endpoint(db) {
        let w = world(&db);
        let state = db.state();
        let token = |email: &str, tenant: &str| user_token(&state, email, tenant);
        let member = token("member@acme.test", "acme");
        let auditor = token("auditor@acme.test", "acme");
        let admin = token("admin@acme.test", "acme");
        let platform_auditor = token("auditor@platform.test", "system");
        let platform_admin = token("admin@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;
        let nowhere = "00000000-0000-4000-8000-00000000beef";

        // (endpoint with a {t} tenant placeholder, needs admin rather than auditor)
        let endpoints: [(&str, bool); 7] = [
            ("/api/v1/audit/events?tenant={t}", false),
            ("/api/v1/audit/export?tenant={t}", false),
            ("/api/v1/audit/verify?tenant={t}", false),
            ("/api/v1/audit/checkpoint?tenant={t}", false),
            ("/api/v1/tokens?tenant={t}", false),
            ("/api/v1/tenants/{t}/members", true),
            ("/api/v1/clients?tenant={t}", true),
        ];
        let forbidden = json!({ "error": "forbidden", "error_description": "forbidden" });
        for (template, admin_only) in endpoints {
            let url = |t: &str| template.replace("{t}", t);
            for (who, tok, own_ok) in [("member", &member, false), ("auditor", &auditor, !admin_only), ("admin", &admin, true)] {
                let own = call(&app, get(&url(&w.acme), tok)).await;
                assert_eq!(own.status, if own_ok { 200 } else { 403 }, "{who} own {template}: {}", own.body);
                let acme_slug = call(&app, get(&url("acme"), tok)).await;
                assert_eq!(acme_slug.status, own.status, "{who} own by slug {template}");
                let foreign = call(&app, get(&url(&w.globex), tok)).await;
                let missing = call(&app, get(&url(nowhere), tok)).await;
                let by_slug = call(&app, get(&url("globex"), tok)).await;
                for reply in [&foreign, &missing, &by_slug] {
                    assert_eq!((reply.status, reply.json_without_request_id()), (403, forbidden.clone()), "{who} {template}");
                    assert!(!reply.body.contains(&w.globex) && !reply.body.contains("globex"), "{who} {template}");
                }
                // The header is a selector too.
                let req = bearer(Method::GET, &template.replace("tenant={t}", "").replace("{t}", &w.acme), tok)
                    .insert_header(("x-tenant-id", w.globex.as_str()))
                    .to_request();
                let reply = call(&app, req).await;
                assert!(reply.status == 403 || reply.status == 400, "{who} header {template}: {}", reply.status);
            }
            // Platform readers reach every tenant; an unknown one is simply not found.
            let platform = if admin_only { &platform_admin } else { &platform_auditor };
            assert_eq!(call(&app, get(&url(&w.globex), platform)).await.status, 200, "platform {template}");
            assert_eq!(call(&app, get(&url(nowhere), platform)).await.status, 404, "platform {template}");
        }
        // Each refused cross-tenant request was recorded in the caller's chain, never
        // in the target's.
        let denials = db.audit_actions(&w.acme).iter().filter(|(a, _)| a == "tenant.cross_access_denied").count();
        // Foreign, missing and slug selectors on 7 endpoints, and the header on the 6
        // whose path names no tenant (on the other, path and header disagree: 400).
        assert_eq!(denials, 7 * 3 * 3 + 6 * 3, "every refused attempt");
        assert!(!db.audit_actions(&w.globex).iter().any(|(a, _)| a == "tenant.cross_access_denied"));
        // Reads are audited.
        assert!(db.audit_actions(&w.acme).iter().any(|(a, _)| a == "audit.read"));
        assert!(db.audit_actions(&w.globex).iter().any(|(a, _)| a == "tokens.read"));
    }
}

both_backends_async! {
    async fn query_filters_pages_and_export(db) {
        let w = world(&db);
        let state = db.state();
        let svc = client_token(&state, "acme-svc", &w.acme_svc);
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let platform = user_token(&state, "auditor@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;
        let mut batch = Vec::new();
        for i in 0..25 {
            let mut e = event(if i % 5 == 0 { "invoice.delete" } else { "invoice.read" });
            e["outcome"] = json!(if i % 2 == 0 { "success" } else { "denied" });
            e["occurred_at"] = json!(format!("2026-01-01T00:00:{i:02}Z"));
            e["actor"] = json!({ "type": "service", "id": format!("worker-{}", i % 3) });
            batch.push(e);
        }
        assert_eq!(call(&app, post_json("/api/v1/audit/events", &svc, &Value::Array(batch))).await.status, 202);

        let page = call(&app, get("/api/v1/audit/events?action=invoice.delete", &auditor)).await.json();
        assert_eq!(page["items"].as_array().unwrap().len(), 5);
        assert_eq!(page["next_cursor"], Value::Null);
        let item = &page["items"][0];
        for field in ["id", "seq", "tenant_id", "occurred_at", "received_at", "source", "actor", "action", "outcome", "resource", "details", "hash"] {
            assert!(item.get(field).is_some(), "{field}: {item}");
        }
        assert_eq!(item["tenant_id"], w.acme);
        assert_eq!(item["source"], "acme-svc");
        assert_eq!(item["resource"], json!({ "type": "invoice", "id": "inv_1" }));
        let denied = call(&app, get("/api/v1/audit/events?outcome=denied&actor=worker-1", &auditor)).await.json();
        assert!(denied["items"].as_array().unwrap().iter().all(|e| e["outcome"] == "denied" && e["actor"]["id"] == "worker-1"));
        let window = call(&app, get("/api/v1/audit/events?since=2026-01-01T00:00:10Z&until=2026-01-01T00:00:15Z", &auditor)).await.json();
        assert_eq!(window["items"].as_array().unwrap().len(), 5);

        // Newest first, page by page, nothing twice.
        let mut seen = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        let mut last_seq = i64::MAX;
        for _ in 0..100 {
            let url = match &cursor {
                Some(c) => format!("/api/v1/audit/events?action=invoice.read&limit=6&cursor={c}"),
                None => "/api/v1/audit/events?action=invoice.read&limit=6".to_owned(),
            };
            let page = call(&app, get(&url, &auditor)).await.json();
            for item in page["items"].as_array().unwrap() {
                let seq = item["seq"].as_i64().unwrap();
                assert!(seq < last_seq, "newest first");
                last_seq = seq;
                assert!(seen.insert(item["id"].as_str().unwrap().to_owned()));
            }
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 20);
        for bad in ["limit=0", "limit=1001", "limit=x", "cursor=Zm9v", "since=yesterday", "outcome="] {
            let reply = call(&app, get(&format!("/api/v1/audit/events?{bad}"), &auditor)).await;
            assert!(reply.status == 400 || (bad == "outcome=" && reply.status == 200), "{bad}: {}", reply.status);
        }

        // Export: NDJSON and CSV, streamed.
        let res = actix_web::test::call_service(&app, get("/api/v1/audit/export?format=ndjson", &auditor)).await;
        assert_eq!(res.status(), 200);
        assert!(matches!(actix_web::body::MessageBody::size(res.response().body()), actix_web::body::BodySize::Stream), "streamed, not buffered");
        let body = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).unwrap();
        let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|p| p[1] == p[0] + 1), "oldest first, complete");
        assert!(lines.iter().all(|l| l["tenant_id"] == w.acme));
        let csv = call(&app, get("/api/v1/audit/export?format=csv", &auditor)).await;
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        let mut rows = csv.body.lines();
        assert!(rows.next().unwrap().starts_with("id,tenant_id,seq,occurred_at"));
        assert!(rows.count() >= lines.len());
        assert_eq!(call(&app, get("/api/v1/audit/export?format=xml", &auditor)).await.status, 400);
        // A platform auditor exports every tenant.
        let all = call(&app, get("/api/v1/audit/export", &platform)).await.body;
        assert!(all.contains(&w.globex) && all.contains(&w.acme));
    }
}

both_backends_async! {
    async fn checkpoints_catch_a_recomputed_history(db) {
        let w = world(&db);
        let state = db.state();
        let svc = client_token(&state, "acme-svc", &w.acme_svc);
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let keys = state.keys.clone();
        let app = init_service(tessera::http::app(state)).await;
        let batch: Vec<Value> = (0..10).map(|i| event(&format!("doc.e{i}"))).collect();
        assert_eq!(call(&app, post_json("/api/v1/audit/events", &svc, &Value::Array(batch))).await.status, 202);

        let reply = call(&app, get("/api/v1/audit/checkpoint", &auditor)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let checkpoint = reply.json();
        let jws = checkpoint["checkpoint"].as_str().unwrap();
        // Verifiable from the JWKS with a standard library.
        let jwks: Value = serde_json::from_slice(keys.current().jwks()).unwrap();
        let header = jsonwebtoken::decode_header(jws).unwrap();
        assert_eq!(header.typ.as_deref(), Some("checkpoint+jwt"));
        let key = jsonwebtoken::DecodingKey::from_jwk(jsonwebtoken::jwk::JwkSet::find(&serde_json::from_value(jwks).unwrap(), header.kid.as_deref().unwrap()).unwrap()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(jws, &key, &validation).unwrap().claims;
        assert_eq!(claims["tenant_id"], w.acme);
        assert_eq!(claims["seq"], checkpoint["seq"]);
        let file = db.dir.path().join("checkpoint.json");
        std::fs::write(&file, reply.body.as_bytes()).unwrap();
        let file = file.to_str().unwrap().to_owned();

        // More events later: still consistent.
        assert_eq!(call(&app, post_json("/api/v1/audit/events", &svc, &event("doc.later"))).await.status, 202);
        let ok = db.cli(&["audit", "verify", "--tenant", "acme", "--checkpoint", &file]).ok().to_owned();
        assert!(ok.contains("checkpoint: tenant acme at seq"), "{ok}");

        // Rewrite an early event and recompute every later hash: the chain verifies on
        // its own, but no longer matches the checkpoint.
        let mut conn = db.conn();
        let rows = tessera::audit::store::page_after(&mut conn, &w.acme, 0, 10_000).unwrap();
        let mut prev = tessera::audit::GENESIS_HASH.to_owned();
        for (i, mut row) in rows.into_iter().enumerate() {
            if i == 2 {
                row.action = "doc.forged".into();
            }
            row.prev_hash = prev.clone();
            row.hash = tessera::audit::chain_hash(&row.prev_hash, &row);
            prev = row.hash.clone();
            db.exec(&format!(
                "UPDATE audit_events SET action = '{}', prev_hash = '{}', hash = '{}' WHERE tenant_id = '{}' AND seq = {}",
                row.action, row.prev_hash, row.hash, row.tenant_id, row.seq
            ));
        }
        // The routine check starts at the last verified event, whose hash changed.
        let err = db.cli(&["audit", "verify", "--tenant", "acme"]).fails(3).to_owned();
        assert!(err.contains("audit chain does not verify: tenant acme"), "{err}");
        let err = db.cli(&["audit", "verify", "--tenant", "acme", "--full"]).fails(3).to_owned();
        assert!(err.contains("audit chain does not verify: tenant acme"), "{err}");
        let err = db.cli(&["audit", "verify", "--tenant", "acme", "--checkpoint", &file]).fails(3).to_owned();
        assert!(err.contains("the history up to the checkpoint was rewritten"), "{err}");

        // A truncated history is caught too.
        db.exec(&format!("DELETE FROM audit_events WHERE tenant_id = '{}' AND seq > 3", w.acme));
        let err = db.cli(&["audit", "verify", "--tenant", "acme", "--checkpoint", &file]).fails(3).to_owned();
        assert!(err.contains("shorter than at the checkpoint"), "{err}");
        // A tampered checkpoint file is refused.
        std::fs::write(db.dir.path().join("bad.jws"), jws.replace('.', "x")).unwrap();
        let err = db.cli(&["audit", "verify", "--checkpoint", db.dir.path().join("bad.jws").to_str().unwrap()]).fails(1).to_owned();
        assert!(err.contains("checkpoint"), "{err}");

        // The API reports a plain edit with its sequence number (from genesis: the
        // chain was found broken last time).
        db.exec(&format!("UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = '{}' AND seq = 2", w.acme));
        let report = call(&app, get("/api/v1/audit/verify", &auditor)).await.json();
        assert_eq!(report["intact"], false);
        assert_eq!(report["tenants"][0]["full"], true);
        assert_eq!(report["tenants"][0]["first_bad_seq"], 2);
        let report = call(&app, get("/api/v1/audit/verify?full=true", &auditor)).await.json();
        assert_eq!(report["intact"], false);
        assert_eq!(report["tenants"][0]["full"], true);
        assert_eq!(report["tenants"][0]["from_seq"], 1);
        assert_eq!(report["tenants"][0]["first_bad_seq"], 2);
    }
}

both_backends_async! {
    async fn the_token_ledger_api(db) {
        let w = world(&db);
        let state = db.state();
        let svc = client_token(&state, "acme-svc", &w.acme_svc);
        let admin = user_token(&state, "admin@acme.test", "acme");
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let globex_admin = user_token(&state, "admin@globex.test", "globex");
        let app = init_service(tessera::http::app(state)).await;

        let page = call(&app, get("/api/v1/tokens?client=acme-svc", &auditor)).await.json();
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        let jti = items[0]["jti"].as_str().unwrap().to_owned();
        assert!(!page.to_string().contains(&svc), "the ledger never holds a token");
        assert_eq!(call(&app, get("/api/v1/tokens?active=true", &auditor)).await.json()["items"].as_array().unwrap().len(), 3);
        assert_eq!(call(&app, get("/api/v1/tokens?active=maybe", &auditor)).await.status, 400);
        let paged = call(&app, get("/api/v1/tokens?limit=1", &auditor)).await.json();
        let next = paged["next_cursor"].as_str().unwrap();
        let second = call(&app, get(&format!("/api/v1/tokens?limit=1&cursor={next}"), &auditor)).await.json();
        assert_ne!(second["items"][0]["jti"], paged["items"][0]["jti"]);

        // Auditors read; admins revoke; another tenant's token is simply not found.
        let path = format!("/api/v1/tokens/{jti}/revoke");
        assert_eq!(call(&app, bearer(Method::POST, &path, &auditor).to_request()).await.status, 403);
        let foreign = call(&app, bearer(Method::POST, &path, &globex_admin).to_request()).await;
        let missing = call(&app, bearer(Method::POST, "/api/v1/tokens/6f1f7c0e-9a55-4a57-9d3e-6b1f0b9e2a11/revoke", &globex_admin).to_request()).await;
        assert_eq!((foreign.status, foreign.json_without_request_id()), (404, missing.json_without_request_id()));
        assert_eq!(missing.status, 404);
        let revoked = call(&app, bearer(Method::POST, &path, &admin).to_request()).await;
        assert_eq!((revoked.status, revoked.json()["revoked"].as_i64()), (200, Some(1)));
        assert_eq!(call(&app, post_json("/api/v1/audit/events", &svc, &event("x.y"))).await.status, 401);
        assert!(db.audit_actions(&w.acme).contains(&("token.revoked".into(), "success".into())));
    }
}

both_backends_async! {
    async fn administration(db) {
        let w = world(&db);
        let state = db.state();
        let acme_admin = user_token(&state, "admin@acme.test", "acme");
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let platform_admin = user_token(&state, "admin@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;

        let all = call(&app, get("/api/v1/tenants", &platform_admin)).await.json();
        assert_eq!(all["items"].as_array().unwrap().len(), 3);
        let own = call(&app, get("/api/v1/tenants", &acme_admin)).await.json();
        assert_eq!(own["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect::<Vec<_>>(), ["acme"]);
        assert_eq!(call(&app, get("/api/v1/tenants", &auditor)).await.status, 403);

        assert_eq!(call(&app, post_json("/api/v1/tenants", &acme_admin, &json!({ "slug": "initech" }))).await.status, 403);
        let created = call(&app, post_json("/api/v1/tenants", &platform_admin, &json!({ "slug": "initech", "name": "Initech" }))).await;
        assert_eq!(created.status, 201);
        assert_eq!(call(&app, post_json("/api/v1/tenants", &platform_admin, &json!({ "slug": "initech" }))).await.status, 409);
        assert_eq!(call(&app, post_json("/api/v1/tenants", &platform_admin, &json!({ "slug": "Bad Slug" }))).await.status, 400);
        assert_eq!(call(&app, post_json("/api/v1/tenants", &platform_admin, &json!({ "slug": 5 }))).await.status, 400);

        // Members: an unknown email and a known one answer alike.
        let members = format!("/api/v1/tenants/{}/members", w.acme);
        let known = call(&app, post_json(&members, &acme_admin, &json!({ "email": "admin@globex.test", "roles": ["member"] }))).await;
        let unknown = call(&app, post_json(&members, &acme_admin, &json!({ "email": "new@person.test", "roles": ["member"] }))).await;
        assert_eq!((known.status, unknown.status), (201, 201));
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&known.json()), keys(&unknown.json()));
        assert_eq!(call(&app, post_json(&members, &acme_admin, &json!({ "email": "new@person.test", "roles": ["member"] }))).await.status, 409);
        assert_eq!(call(&app, post_json(&members, &acme_admin, &json!({ "email": "x@y.test", "roles": ["owner"] }))).await.status, 400);
        let listed = call(&app, get(&members, &acme_admin)).await.json();
        assert!(listed["items"].as_array().unwrap().iter().any(|m| m["email"] == "new@person.test"));
        let user_id = unknown.json()["user_id"].as_str().unwrap().to_owned();
        let delete = |token: &str, tenant: &str| bearer(Method::DELETE, &format!("/api/v1/tenants/{tenant}/members/{user_id}"), token).to_request();
        assert_eq!(call(&app, delete(&acme_admin, &w.globex)).await.status, 403);
        assert_eq!(call(&app, delete(&acme_admin, &w.acme)).await.status, 204);
        assert_eq!(call(&app, delete(&acme_admin, &w.acme)).await.status, 404);
        // The invited account cannot log in.
        assert_eq!(db.cli(&["user", "list", "--json"]).json().as_array().unwrap().iter().find(|u| u["email"] == "new@person.test").unwrap()["status"], "invited");

        // Clients: a tenant admin's are bound to its tenant.
        let client = call(&app, post_json("/api/v1/clients", &acme_admin, &json!({
            "client_id": "acme.reports", "confidential": true, "grant_types": ["client_credentials"], "scopes": ["audit:write"]
        }))).await;
        assert_eq!(client.status, 201, "{}", client.body);
        let client = client.json();
        assert_eq!(client["tenant_id"], w.acme);
        assert_eq!(client["client_secret"].as_str().map(str::len), Some(43));
        let elsewhere = call(&app, post_json("/api/v1/clients", &acme_admin, &json!({ "client_id": "sneaky", "tenant_id": w.globex, "redirect_uris": ["https://a.example/cb"] }))).await;
        assert_eq!(elsewhere.status, 403);
        let bad = call(&app, post_json("/api/v1/clients", &acme_admin, &json!({ "client_id": "bad", "redirect_uris": ["https://a.example/cb#f"] }))).await;
        assert_eq!(bad.status, 400);
        let listed = call(&app, get("/api/v1/clients", &acme_admin)).await.json();
        let ids: Vec<&str> = listed["items"].as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
        assert!(ids.contains(&"acme.reports") && !ids.contains(&"platform-svc"), "{ids:?}");
        assert!(!listed.to_string().contains("secret"));
        let everything = call(&app, get("/api/v1/clients", &platform_admin)).await.json();
        assert!(everything["items"].as_array().unwrap().len() >= 4);

        let actions: Vec<String> = db.audit_actions(&w.acme).into_iter().map(|(a, _)| a).collect();
        for a in ["membership.added", "membership.removed", "client.created"] {
            assert!(actions.contains(&a.to_owned()), "{a}");
        }
    }
}

both_backends_async! {
    async fn the_openapi_document_matches_the_routes(db) {
        let app = init_service(tessera::http::app(db.state())).await;
        let doc = call(&app, actix_web::test::TestRequest::get().uri("/api/v1/openapi.json").to_request()).await;
        assert_eq!(doc.status, 200);
        let doc = doc.json();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let paths = doc["paths"].as_object().unwrap();
        let mut operations = 0;
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                operations += 1;
                let concrete = path.replace("{id}", "acme").replace("{user_id}", "u").replace("{jti}", "j");
                let req = actix_web::test::TestRequest::default()
                    .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
                    .uri(&concrete)
                    .to_request();
                let reply = call(&app, req).await;
                let expected = if path.ends_with("openapi.json") { 200 } else { 401 };
                assert_eq!(reply.status, expected, "{method} {path} is documented and mounted");
            }
        }
        assert_eq!(operations, 22);
    }
}

both_backends_async! {
    async fn a_large_export_streams_in_batches(db) {
        let w = world(&db);
        let state = db.state();
        let svc = client_token(&state, "acme-svc", &w.acme_svc);
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;
        let batch = Value::Array((0..1000).map(|i| {
            let mut e = event("bulk.export");
            e["details"] = json!({ "n": i, "padding": "p".repeat(200) });
            e
        }).collect());
        for _ in 0..20 {
            assert_eq!(call(&app, post_json("/api/v1/audit/events", &svc, &batch)).await.status, 202);
        }
        let res = actix_web::test::call_service(&app, get("/api/v1/audit/export", &auditor)).await;
        assert_eq!(res.status(), 200);
        // Read it as a client would, chunk by chunk: it arrives in many pieces (one per
        // batch of 1000), never as one buffered body.
        let mut body = res.into_body();
        let mut chunks = 0;
        let mut lines = 0;
        let mut largest = 0;
        loop {
            let next = std::future::poll_fn(|cx| actix_web::body::MessageBody::poll_next(std::pin::Pin::new(&mut body), cx)).await;
            let Some(chunk) = next else { break };
            let Ok(chunk) = chunk else { panic!("the export stream failed") };
            chunks += 1;
            largest = largest.max(chunk.len());
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        assert!(lines >= 20_000, "{lines}");
        assert!(chunks >= 20, "{chunks} chunks");
        assert!(largest < 1024 * 1024, "no chunk holds more than a batch: {largest} bytes");
    }
}

both_backends_async! {
    async fn every_read_of_the_logs_is_recorded_where_its_tenant_sees_it(db) {
        let w = world(&db);
        let state = db.state();
        let auditor = user_token(&state, "auditor@acme.test", "acme");
        let app = init_service(tessera::http::app(state)).await;
        for path in ["/api/v1/audit/events", "/api/v1/audit/export", "/api/v1/audit/verify", "/api/v1/audit/checkpoint", "/api/v1/tokens"] {
            assert_eq!(call(&app, get(path, &auditor)).await.status, 200, "{path}");
        }
        db.cli(&["tokens", "list", "--tenant", "acme"]).ok();
        db.cli(&["audit", "export", "--tenant", "acme"]).ok();
        let actions: Vec<String> = db.audit_actions(&w.acme).into_iter().map(|(a, _)| a).collect();
        for action in ["audit.read", "audit.exported", "audit.verified", "audit.checkpoint", "tokens.read", "tokens.listed"] {
            assert!(actions.iter().any(|a| a == action), "{action} in acme's chain: {actions:?}");
        }
        // The CLI's export is recorded once more, as the operator's.
        assert_eq!(actions.iter().filter(|a| *a == "audit.exported").count(), 2);
    }
}
