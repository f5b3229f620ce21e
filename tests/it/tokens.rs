//! Client credentials, the access token's claims as a standard JWT library sees them,
//! client authentication failures, scopes, introspection, revocation and forged tokens.

use actix_web::test::init_service;
use base64::Engine;
use serde_json::{json, Value};

use crate::support::{basic, both_backends_async, call, form_post, get, TestDb};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Verifies a token with `jsonwebtoken` against a JWKS document, as a downstream
/// service would; returns the claims.
pub fn verify_with_jwks(token: &str, jwks: &Value, iss: &str, aud: &str) -> Value {
    use jsonwebtoken::{decode, decode_header, jwk::JwkSet, DecodingKey, Validation};
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = decode_header(token).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid in JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[iss]);
    validation.set_audience(&[aud]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    decode::<Value>(token, &key, &validation).unwrap().claims
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

/// Re-encodes a token with a different header and/or payload, keeping the signature.
fn tamper(
    token: &str,
    header: Option<Value>,
    payload: Option<Value>,
    signature: Option<&str>,
) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let h = header.map_or(parts[0].to_owned(), |h| B64.encode(h.to_string()));
    let p = payload.map_or(parts[1].to_owned(), |p| B64.encode(p.to_string()));
    format!("{h}.{p}.{}", signature.unwrap_or(parts[2]))
}

struct Setup {
    acme_secret: String,
    globex_secret: String,
    platform_secret: String,
    acme_id: String,
}

fn setup(db: &TestDb) -> Setup {
    let acme = db.tenant("acme");
    db.tenant("globex");
    Setup {
        acme_secret: db.service_client("acme-svc", Some("acme"), &["read", "write"]),
        globex_secret: db.service_client("globex-svc", Some("globex"), &["read"]),
        platform_secret: db.service_client("platform", None, &["audit:write"]),
        acme_id: acme.id,
    }
}

both_backends_async! {
    async fn client_credentials_token_verifies_from_the_jwks(db) {
        let s = setup(&db);
        let state = db.state();
        let config = state.config.clone();
        let app = init_service(tessera::http::app(state)).await;

        let discovery = call(&app, get("/.well-known/openid-configuration")).await.json();
        assert_eq!(discovery["issuer"], config.issuer);
        let jwks_path = discovery["jwks_uri"].as_str().unwrap().replace(&config.issuer, "");
        let jwks = call(&app, get(&jwks_path)).await.json();

        let reply = call(&app, form_post("/token", Some(&basic("acme-svc", &s.acme_secret)),
            &[("grant_type", "client_credentials"), ("scope", "read")])).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.header("pragma"), Some("no-cache"));
        let body = reply.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 300);
        assert_eq!(body["scope"], "read");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let token = body["access_token"].as_str().unwrap();

        let header = jwt_part(token, 0);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["alg"], "ES256");
        let active_kid = header["kid"].as_str().unwrap().to_owned();

        let claims = verify_with_jwks(token, &jwks, &config.issuer, &config.audience);
        assert_eq!(claims["iss"], config.issuer);
        assert_eq!(claims["sub"], "acme-svc");
        // A client's own token names no user authentication.
        assert!(claims.get("amr").is_none() && claims.get("acr").is_none(), "{claims}");
        assert_eq!(claims["aud"], config.audience);
        assert_eq!(claims["client_id"], "acme-svc");
        assert_eq!(claims["scope"], "read");
        assert_eq!(claims["tenant_id"], s.acme_id);
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["roles"], json!([]));
        let (iat, nbf, exp) = (claims["iat"].as_i64().unwrap(), claims["nbf"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
        assert!(claims["iat"].is_i64() && claims["exp"].is_i64(), "integer times: {claims}");
        assert_eq!(nbf, iat);
        assert_eq!(exp - iat, 300);
        assert!((iat - chrono::Utc::now().timestamp()).abs() < 60);
        let jti = claims["jti"].as_str().unwrap().to_owned();
        assert_eq!(jti.len(), 36);

        // Ledger row and audit event, in the token's tenant chain.
        let mut conn = db.conn();
        let row = tessera::tokens::find_by_jti(&mut conn, &jti).unwrap();
        assert_eq!((row.tenant_id.as_str(), row.subject.as_str(), row.client_id.as_str()), (s.acme_id.as_str(), "acme-svc", "acme-svc"));
        assert_eq!((row.token_type.as_str(), row.scope.as_str()), ("access_token", "read"));
        assert_eq!(row.kid.as_deref(), Some(active_kid.as_str()));
        assert_eq!(row.expires_at - row.issued_at, chrono::Duration::seconds(300));
        let actions = db.audit_actions(&s.acme_id);
        assert_eq!(actions.last().unwrap(), &("token.issued".to_owned(), "success".to_owned()));
        assert!(tessera::audit::verify(&mut conn, &s.acme_id, tessera::audit::Mode::Full).unwrap().is_intact());

        // No scope asked: all of the client's. Secret in the body works too.
        let reply = call(&app, form_post("/token", None, &[("grant_type", "client_credentials"),
            ("client_id", "acme-svc"), ("client_secret", &s.acme_secret)])).await;
        assert_eq!(reply.json()["scope"], "read write");

        // An unbound client's tokens carry the system tenant.
        let reply = call(&app, form_post("/token", Some(&basic("platform", &s.platform_secret)),
            &[("grant_type", "client_credentials")])).await;
        let claims = verify_with_jwks(reply.json()["access_token"].as_str().unwrap(), &jwks, &config.issuer, &config.audience);
        assert_eq!(claims["tenant_id"], tessera::tenants::SYSTEM_TENANT_ID);
        assert_eq!(claims["tenant"], "system");
        assert_eq!(claims["scope"], "audit:write");
    }
}

both_backends_async! {
    async fn the_tenant_cannot_be_chosen_by_the_client(db) {
        let s = setup(&db);
        let state = db.state();
        let app = init_service(tessera::http::app(state)).await;
        let globex = db.cli(&["tenant", "list", "--json"]).json();
        let globex_id = globex.as_array().unwrap().iter().find(|t| t["slug"] == "globex").unwrap()["id"].as_str().unwrap().to_owned();
        let req = {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("grant_type", "client_credentials"), ("tenant", "globex"), ("tenant_id", globex_id.as_str())])
                .finish();
            actix_web::test::TestRequest::post()
                .uri("/token?tenant=globex")
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .insert_header(("authorization", basic("acme-svc", &s.acme_secret)))
                .insert_header(("x-tenant-id", globex_id.as_str()))
                .set_payload(body)
                .to_request()
        };
        let reply = call(&app, req).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let claims = jwt_part(reply.json()["access_token"].as_str().unwrap(), 1);
        assert_eq!(claims["tenant_id"], s.acme_id);
        assert_eq!(claims["tenant"], "acme");
    }
}

both_backends_async! {
    async fn client_authentication_failures_look_alike(db) {
        let s = setup(&db);
        db.client("web", Some("acme"), false, &["authorization_code"], &[], &["https://app.example.com/cb"]);
        let app = init_service(tessera::http::app(db.state())).await;
        let cc = [("grant_type", "client_credentials")];

        let wrong_secret = call(&app, form_post("/token", Some(&basic("acme-svc", "wrong")), &cc)).await;
        let unknown = call(&app, form_post("/token", Some(&basic("nobody", &s.acme_secret)), &cc)).await;
        let other_secret = call(&app, form_post("/token", Some(&basic("acme-svc", &s.globex_secret)), &cc)).await;
        let public = call(&app, form_post("/token", None, &[("grant_type", "client_credentials"), ("client_id", "web")])).await;
        let none = call(&app, form_post("/token", None, &cc)).await;
        let garbage = call(&app, form_post("/token", Some("Basic %%%"), &cc)).await;
        for reply in [&wrong_secret, &unknown, &other_secret, &public, &none, &garbage] {
            assert_eq!(reply.status, 401, "{}", reply.body);
            assert_eq!(reply.header("www-authenticate"), Some("Basic realm=\"tessera\""));
            assert_eq!(reply.header("cache-control"), Some("no-store"));
            assert_eq!(
                reply.json_without_request_id(),
                json!({ "error": "invalid_client", "error_description": "client authentication failed" })
            );
            assert!(!reply.body.contains("acme-svc") && !reply.body.contains("nobody"));
            assert_eq!(reply.json()["request_id"].as_str().map(str::len), Some(32));
        }

        // Both methods at once is a malformed request.
        let both = call(&app, form_post("/token", Some(&basic("acme-svc", &s.acme_secret)),
            &[("grant_type", "client_credentials"), ("client_secret", &s.acme_secret)])).await;
        assert_eq!(both.status, 400);
        assert_eq!(both.json()["error"], "invalid_request");
    }
}

both_backends_async! {
    async fn grant_and_scope_errors(db) {
        let s = setup(&db);
        let app = init_service(tessera::http::app(db.state())).await;
        let auth = basic("acme-svc", &s.acme_secret);
        type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
        let cases: [Case; 6] = [
            (&[("grant_type", "client_credentials"), ("scope", "read admin")], 400, "invalid_scope"),
            (&[("grant_type", "client_credentials"), ("scope", "audit:write")], 400, "invalid_scope"),
            (&[("grant_type", "password"), ("username", "a"), ("password", "b")], 400, "unsupported_grant_type"),
            (&[("grant_type", "implicit")], 400, "unsupported_grant_type"),
            (&[("scope", "read")], 400, "invalid_request"),
            (&[("grant_type", "client_credentials"), ("grant_type", "client_credentials")], 400, "invalid_request"),
        ];
        for (fields, status, error) in cases {
            let reply = call(&app, form_post("/token", Some(&auth), fields)).await;
            assert_eq!(reply.status, status, "{fields:?}: {}", reply.body);
            assert_eq!(reply.json()["error"], error, "{fields:?}");
        }
        // A JSON body is not a form.
        let req = actix_web::test::TestRequest::post().uri("/token")
            .insert_header(("authorization", auth.as_str()))
            .set_json(json!({ "grant_type": "client_credentials" }))
            .to_request();
        let reply = call(&app, req).await;
        assert_eq!((reply.status, reply.json()["error"].as_str()), (400, Some("invalid_request")));

        // A client registered without client_credentials may not use it.
        let secret = db.client("web-conf", Some("acme"), true, &["authorization_code"], &[], &["https://app.example.com/cb"]).unwrap();
        let reply = call(&app, form_post("/token", Some(&basic("web-conf", &secret)), &[("grant_type", "client_credentials")])).await;
        assert_eq!((reply.status, reply.json()["error"].as_str()), (400, Some("unauthorized_client")));
    }
}

both_backends_async! {
    async fn introspection_revocation_and_tenant_isolation(db) {
        let s = setup(&db);
        let app = init_service(tessera::http::app(db.state())).await;
        let acme = basic("acme-svc", &s.acme_secret);
        let globex = basic("globex-svc", &s.globex_secret);
        let platform = basic("platform", &s.platform_secret);
        let token = call(&app, form_post("/token", Some(&acme), &[("grant_type", "client_credentials")])).await.json()["access_token"].as_str().unwrap().to_owned();

        let active = call(&app, form_post("/introspect", Some(&acme), &[("token", &token)])).await;
        assert_eq!(active.status, 200);
        assert_eq!(active.header("cache-control"), Some("no-store"));
        let body = active.json();
        assert_eq!(body["active"], true);
        assert_eq!(body["tenant_id"], s.acme_id);
        assert_eq!(body["client_id"], "acme-svc");
        assert_eq!(body["scope"], "read write");
        assert_eq!(body["token_type"], "Bearer");

        // Another tenant's client learns nothing; a platform client may look.
        let other = call(&app, form_post("/introspect", Some(&globex), &[("token", &token)])).await;
        assert_eq!((other.status, other.json()), (200, json!({ "active": false })));
        assert_eq!(call(&app, form_post("/introspect", Some(&platform), &[("token", &token)])).await.json()["active"], true);

        // Introspection needs an authenticated confidential client.
        let anonymous = call(&app, form_post("/introspect", None, &[("token", &token)])).await;
        assert_eq!((anonymous.status, anonymous.json()["error"].as_str()), (401, Some("invalid_client")));

        // Another client's revocation is refused (RFC 7009 section 2.1), and audited in
        // the asking client's own chain, not in the token's tenant.
        let denied = call(&app, form_post("/revoke", Some(&globex), &[("token", &token)])).await;
        assert_eq!((denied.status, denied.json()["error"].as_str()), (400, Some("unauthorized_client")));
        assert_eq!(call(&app, form_post("/introspect", Some(&acme), &[("token", &token)])).await.json()["active"], true);
        let globex_id = db.cli(&["tenant", "list", "--json"]).json().as_array().unwrap().iter()
            .find(|t| t["slug"] == "globex").unwrap()["id"].as_str().unwrap().to_owned();
        assert!(db.audit_actions(&globex_id).contains(&("token.revoke_denied".into(), "denied".into())));
        assert!(!db.audit_actions(&s.acme_id).iter().any(|(a, _)| a == "token.revoke_denied"));

        let revoked = call(&app, form_post("/revoke", Some(&acme), &[("token", &token), ("token_type_hint", "access_token")])).await;
        assert_eq!((revoked.status, revoked.body.as_str()), (200, ""));
        let after = call(&app, form_post("/introspect", Some(&acme), &[("token", &token)])).await;
        assert_eq!(after.json(), json!({ "active": false }));
        assert!(db.audit_actions(&s.acme_id).contains(&("token.revoked".into(), "success".into())));
        // Revoking again, or revoking garbage, still answers 200.
        assert_eq!(call(&app, form_post("/revoke", Some(&acme), &[("token", &token)])).await.status, 200);
        assert_eq!(call(&app, form_post("/revoke", Some(&acme), &[("token", "not-a-token")])).await.status, 200);
        assert_eq!(call(&app, form_post("/revoke", Some(&acme), &[])).await.status, 400);
    }
}

both_backends_async! {
    async fn forged_tokens_are_inactive(db) {
        let s = setup(&db);
        let state = db.state();
        let keys = state.keys.clone();
        let app = init_service(tessera::http::app(state)).await;
        let acme = basic("acme-svc", &s.acme_secret);
        let token = call(&app, form_post("/token", Some(&acme), &[("grant_type", "client_credentials")])).await.json()["access_token"].as_str().unwrap().to_owned();
        let header = jwt_part(&token, 0);
        let mut payload = jwt_part(&token, 1);

        let jwks: Value = serde_json::from_slice(keys.current().jwks()).unwrap();
        let public_key_bytes = jwks["keys"][0].to_string();
        let hs256 = {
            use jsonwebtoken::{encode, EncodingKey, Header, Algorithm};
            let mut h = Header::new(Algorithm::HS256);
            h.kid = header["kid"].as_str().map(str::to_owned);
            h.typ = Some("at+jwt".into());
            encode(&h, &payload, &EncodingKey::from_secret(public_key_bytes.as_bytes())).unwrap()
        };
        let none = tamper(&token, Some(json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] })), None, Some(""));
        let none_no_sig = format!("{}.", none.trim_end_matches('.'));
        payload["scope"] = json!("read write admin");
        let edited_scope = tamper(&token, None, Some(payload.clone()), None);
        payload["scope"] = json!("read write");
        payload["tenant_id"] = json!("00000000-0000-4000-8000-000000000000");
        let edited_tenant = tamper(&token, None, Some(payload.clone()), None);
        let unknown_kid = tamper(&token, Some(json!({ "alg": "ES256", "typ": "at+jwt", "kid": "no-such-key" })), None, None);
        let wrong_typ = tamper(&token, Some(json!({ "alg": "ES256", "typ": "JWT", "kid": header["kid"] })), None, None);
        let truncated = token[..token.len() - 10].to_owned();

        for forged in [&hs256, &none, &none_no_sig, &edited_scope, &edited_tenant, &unknown_kid, &wrong_typ, &truncated] {
            let reply = call(&app, form_post("/introspect", Some(&acme), &[("token", forged)])).await;
            assert_eq!((reply.status, reply.json()), (200, json!({ "active": false })), "{forged}");
        }
        // The genuine token is still fine.
        assert_eq!(call(&app, form_post("/introspect", Some(&acme), &[("token", &token)])).await.json()["active"], true);
    }
}

both_backends_async! {
    async fn jwks_is_cacheable_and_public_only(db) {
        let state = db.state();
        let config = state.config.clone();
        let app = init_service(tessera::http::app(state)).await;
        let reply = call(&app, get("/.well-known/jwks.json")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("cache-control"), Some(format!("public, max-age={}", config.jwks_max_age.as_secs()).as_str()));
        let etag = reply.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        let jwks = reply.json();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "active and next are published");
        for key in keys {
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].is_string() && key["alg"] == "ES256");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(key.get(private).is_none(), "{key}");
            }
        }
        let req = actix_web::test::TestRequest::get().uri("/.well-known/jwks.json")
            .insert_header(("if-none-match", etag.as_str())).to_request();
        let cached = call(&app, req).await;
        assert_eq!((cached.status, cached.body.as_str()), (304, ""));
        assert_eq!(cached.header("etag"), Some(etag.as_str()));
        let req = actix_web::test::TestRequest::get().uri("/.well-known/jwks.json")
            .insert_header(("if-none-match", "\"stale\"")).to_request();
        assert_eq!(call(&app, req).await.status, 200);

        let discovery = call(&app, get("/.well-known/openid-configuration")).await.json();
        assert_eq!(discovery["token_endpoint"], format!("{}/token", config.issuer));
        assert_eq!(discovery["grant_types_supported"], json!(["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]));
        assert_eq!(discovery["response_types_supported"], json!(["code"]));
        assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(discovery["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post", "none"]));
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!(["ES256"]));
        for endpoint in ["authorization_endpoint", "userinfo_endpoint", "end_session_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"] {
            assert!(discovery[endpoint].as_str().unwrap().starts_with(&config.issuer), "{endpoint}");
        }
        let text = discovery.to_string();
        for unsupported in ["implicit", "password", "plain", "HS256", "token id_token", "fragment"] {
            assert!(!text.contains(unsupported), "{unsupported}: {text}");
        }
    }
}
