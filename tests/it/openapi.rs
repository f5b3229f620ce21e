//! The OpenAPI document is good enough to generate a client from: every JSON body the
//! API answers with (successes and errors) has a schema there, and real responses,
//! obtained by using every route, validate against the published schemas with no field
//! missing and none undocumented.

use std::collections::BTreeSet;

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::support::{bearer, both_backends_async, call, client_token, user_token, Reply};

/// The schema the document gives for `status` of `method path`, made strict: every
/// object schema of the document refuses properties it does not name, so a field the
/// server sends but the document omits fails like a missing one.
fn response_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let schema = doc["paths"][path][method]["responses"][status.to_string()]["content"]
        ["application/json"]["schema"]
        .clone();
    assert!(
        schema.get("$ref").is_some() || schema.get("type").is_some(),
        "{method} {path} {status}: the body has no schema of its own: {schema}"
    );
    let mut components = doc["components"].clone();
    close_objects(&mut components);
    let mut root = schema;
    close_objects(&mut root);
    root["components"] = components;
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root
}

fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Checks one real response against the document; records what was checked.
struct Checker {
    doc: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Checker {
    fn check(&mut self, method: &str, path: &str, reply: &Reply, expected: u16) -> Value {
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.body);
        let body: Value = serde_json::from_str(&reply.body)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", reply.body));
        let schema = response_schema(&self.doc, method, path, expected);
        let validator = jsonschema::validator_for(&schema)
            .unwrap_or_else(|e| panic!("{method} {path} {expected}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {expected} does not match its schema:\n{}\nbody: {body}",
            errors.join("\n")
        );
        self.seen
            .insert((method.to_owned(), path.to_owned(), expected));
        body
    }
}

fn req(method: Method, path: &str, token: &str, body: Option<Value>) -> actix_http::Request {
    let r = bearer(method, path, token);
    match body {
        Some(body) => r.set_json(body).to_request(),
        None => r.to_request(),
    }
}

both_backends_async! {
    async fn every_response_matches_the_published_schema(db) {
        db.tenant("acme");
        db.tenant("globex");
        for (email, tenant, roles) in [
            ("admin@acme.test", "acme", &["admin", "auditor"][..]),
            ("admin@platform.test", "system", &["admin", "auditor"][..]),
        ] {
            db.user(email, "correct horse battery");
            db.member(tenant, email, roles);
        }
        let secret = db.service_client("acme-svc", Some("acme"), &["audit:write"]);
        let state = db.state();
        let svc = client_token(&state, "acme-svc", &secret);
        let admin = user_token(&state, "admin@acme.test", "acme");
        let platform = user_token(&state, "admin@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;
        let doc = call(&app, actix_web::test::TestRequest::get().uri("/api/v1/openapi.json").to_request()).await.json();
        let mut c = Checker { doc, seen: BTreeSet::new() };

        // Ingestion, then every read of the log.
        let event = json!({ "action": "invoice.paid", "outcome": "success", "actor": { "type": "service", "id": "billing" }, "resource": { "type": "invoice", "id": "inv_1" }, "details": { "amount": 12 } });
        c.check("post", "/api/v1/audit/events", &call(&app, req(Method::POST, "/api/v1/audit/events", &svc, Some(json!([event, { "action": "invoice.viewed", "outcome": "denied" }])))).await, 202);
        let page = c.check("get", "/api/v1/audit/events", &call(&app, req(Method::GET, "/api/v1/audit/events?limit=2", &admin, None)).await, 200);
        assert!(page["next_cursor"].is_string(), "{page}");
        c.check("get", "/api/v1/audit/verify", &call(&app, req(Method::GET, "/api/v1/audit/verify", &platform, None)).await, 200);
        c.check("get", "/api/v1/audit/checkpoint", &call(&app, req(Method::GET, "/api/v1/audit/checkpoint", &admin, None)).await, 200);

        // The ledger.
        let tokens = c.check("get", "/api/v1/tokens", &call(&app, req(Method::GET, "/api/v1/tokens", &admin, None)).await, 200);
        // The service's token, not the caller's own.
        let jti = tokens["items"].as_array().unwrap().iter().find(|t| t["subject"] == "acme-svc").unwrap()["jti"].as_str().unwrap().to_owned();
        c.check("post", "/api/v1/tokens/{jti}/revoke", &call(&app, req(Method::POST, &format!("/api/v1/tokens/{jti}/revoke"), &admin, None)).await, 200);

        // Administration.
        c.check("get", "/api/v1/tenants", &call(&app, req(Method::GET, "/api/v1/tenants", &platform, None)).await, 200);
        c.check("post", "/api/v1/tenants", &call(&app, req(Method::POST, "/api/v1/tenants", &platform, Some(json!({ "slug": "initech", "name": "Initech" })))).await, 201);
        c.check("post", "/api/v1/tenants/{id}/members", &call(&app, req(Method::POST, "/api/v1/tenants/acme/members", &admin, Some(json!({ "email": "new@acme.test", "roles": ["member"] })))).await, 201);
        c.check("get", "/api/v1/tenants/{id}/members", &call(&app, req(Method::GET, "/api/v1/tenants/acme/members", &admin, None)).await, 200);
        c.check("post", "/api/v1/clients", &call(&app, req(Method::POST, "/api/v1/clients", &admin, Some(json!({ "client_id": "acme.reports", "confidential": true, "grant_types": ["client_credentials"], "scopes": ["audit:write"] })))).await, 201);
        c.check("get", "/api/v1/clients", &call(&app, req(Method::GET, "/api/v1/clients", &admin, None)).await, 200);
        c.check("patch", "/api/v1/tenants/{id}", &call(&app, req(Method::PATCH, "/api/v1/tenants/acme", &admin, Some(json!({ "mfa": "optional" })))).await, 200);
        let user = db.user("mfa@acme.test", "correct horse battery");
        c.check("post", "/api/v1/users/{id}/mfa/reset", &call(&app, req(Method::POST, &format!("/api/v1/users/{}/mfa/reset", user.id), &platform, Some(json!({ "reason": "lost phone" })))).await, 200);
        c.check("post", "/api/v1/users/{id}/mfa/reset", &call(&app, req(Method::POST, &format!("/api/v1/users/{}/mfa/reset", user.id), &admin, Some(json!({ "reason": "lost phone" })))).await, 403);

        // Audit streams.
        let stream = c.check("post", "/api/v1/streams", &call(&app, req(Method::POST, "/api/v1/streams", &admin, Some(json!({ "url": "https://siem.acme.example/hook" })))).await, 201);
        let id = stream["id"].as_str().unwrap().to_owned();
        c.check("get", "/api/v1/streams", &call(&app, req(Method::GET, "/api/v1/streams", &admin, None)).await, 200);
        c.check("get", "/api/v1/streams/{id}", &call(&app, req(Method::GET, &format!("/api/v1/streams/{id}"), &admin, None)).await, 200);
        c.check("patch", "/api/v1/streams/{id}", &call(&app, req(Method::PATCH, &format!("/api/v1/streams/{id}"), &admin, Some(json!({ "state": "paused" })))).await, 200);

        // The shared error answers.
        let no_token = call(&app, actix_web::test::TestRequest::get().uri("/api/v1/tokens").to_request()).await;
        c.check("get", "/api/v1/tokens", &no_token, 401);
        c.check("get", "/api/v1/tenants/{id}/members", &call(&app, req(Method::GET, "/api/v1/tenants/globex/members", &admin, None)).await, 403);
        c.check("post", "/api/v1/tokens/{jti}/revoke", &call(&app, req(Method::POST, "/api/v1/tokens/00000000-0000-4000-8000-00000000dead/revoke", &admin, None)).await, 404);
        c.check("post", "/api/v1/tenants", &call(&app, req(Method::POST, "/api/v1/tenants", &platform, Some(json!({ "slug": "initech" })))).await, 409);
        c.check("post", "/api/v1/audit/events", &call(&app, req(Method::POST, "/api/v1/audit/events", &admin, Some(json!({ "action": "x" })))).await, 400);

        // The check has teeth: an undocumented field, a missing one or a wrong type fails.
        let schema = response_schema(&c.doc, "get", "/api/v1/tenants", 200);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let real = c.check("get", "/api/v1/tenants", &call(&app, req(Method::GET, "/api/v1/tenants", &platform, None)).await, 200);
        assert!(validator.is_valid(&real));
        let mut extra = real.clone();
        extra["items"][0]["secret"] = json!("x");
        assert!(!validator.is_valid(&extra), "an undocumented field is refused");
        let mut missing = real.clone();
        missing["items"][0].as_object_mut().unwrap().remove("slug");
        assert!(!validator.is_valid(&missing), "a missing field is refused");
        let mut wrong = real;
        wrong["next_cursor"] = json!(5);
        assert!(!validator.is_valid(&wrong), "a wrong type is refused");

        // Every JSON success answer the document names was checked against a real one.
        let mut documented = BTreeSet::new();
        for (path, item) in c.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    let json = response["content"].get("application/json").is_some();
                    if json && status.starts_with('2') && !path.ends_with("openapi.json") {
                        documented.insert((method.clone(), path.clone(), status.parse::<u16>().unwrap()));
                    }
                }
            }
        }
        let checked: BTreeSet<_> = c.seen.iter().filter(|(_, _, s)| *s < 300).cloned().collect();
        assert_eq!(documented, checked, "documented JSON successes vs. those checked");
    }
}
