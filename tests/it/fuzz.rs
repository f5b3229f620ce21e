//! Property-based fuzzing of every parser that takes outside input: ingestion bodies and
//! Idempotency-Key headers, JWTs and JWKS in the verification crate (arbitrary text, and
//! validly signed tokens with arbitrary headers and claims), the server's own token
//! reader, the audit stream checker, claims and strict JSON, cursors, slugs, e-mail
//! addresses, PKCE, database URLs, configuration values, `/authorize` queries, and key
//! folders. Each property asserts no panic and an error (never a success) for input
//! that is not what the parser accepts.
//!
//! CI runs proptest's default 256 cases per property; a long run:
//! `PROPTEST_CASES=100000 cargo test --test it fuzz::` (failures print the shrunk
//! input; add it to the regular tests below the properties).

use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        // Failures are reported (shrunk) in the test output and kept as regular tests
        // below, not in files beside the source.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        "[a-z0-9._:-]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Names that the parsers look for, and others.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "action",
            "outcome",
            "actor",
            "type",
            "id",
            "resource",
            "details",
            "tenant_id",
            "occurred_at",
            "request_id",
            "ip",
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "tenant",
            "roles",
            "act",
            "alg",
            "kid",
            "typ",
            "crit",
            "seq",
            "hash",
            "prev_hash",
            "checkpoint",
            "keys",
            "kty",
            "crv",
            "x",
            "y",
            "n",
            "e",
            "use",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

/// An event that often passes the schema, with fields replaced by arbitrary values.
fn event_like() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop_oneof!["[a-z.]{1,20}".prop_map(Value::String), json_value()]),
        prop::option::of(prop_oneof![
            prop::sample::select(vec!["success", "failure", "denied"]).prop_map(Value::from),
            json_value()
        ]),
        prop::option::of(json_value()),
        prop::option::of(prop_oneof![
            "20[0-9]{2}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{1,12})?(Z|[+-][0-2][0-9]:[0-5][0-9])"
                .prop_map(Value::String),
            json_value()
        ]),
        prop::option::of(json_value()),
    )
        .prop_map(|(action, outcome, actor, occurred_at, details)| {
            let mut m = Map::new();
            for (k, v) in [("action", action), ("outcome", outcome), ("actor", actor), ("occurred_at", occurred_at), ("details", details)] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const ISSUER: &str = "https://id.example.com";
const AUDIENCE: &str = "notes";

fn issuer() -> &'static tessera_verify::testing::TestIssuer {
    static ISSUER_KEY: std::sync::OnceLock<tessera_verify::testing::TestIssuer> =
        std::sync::OnceLock::new();
    ISSUER_KEY.get_or_init(|| tessera_verify::testing::TestIssuer::new(ISSUER, AUDIENCE).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn ingestion_bodies_parse_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = tessera::audit::ingest::parse(&bytes) {
            prop_assert!(matches!(e, tessera::error::Error::BadRequest(_) | tessera::error::Error::Invalid(_)), "{e:?}");
        }
    }

    #[test]
    fn ingestion_events_parse_or_are_refused(events in prop::collection::vec(event_like(), 0..4), single in any::<bool>()) {
        let body = if single && !events.is_empty() { events[0].clone() } else { Value::from(events.clone()) };
        match tessera::audit::ingest::parse(body.to_string().as_bytes()) {
            Ok(parsed) => {
                prop_assert!(!parsed.is_empty() && parsed.len() <= 1000);
                for e in &parsed {
                    prop_assert!(!e.action.is_empty() && e.action.len() <= 128);
                }
            }
            Err(e) => prop_assert!(matches!(e, tessera::error::Error::BadRequest(_) | tessera::error::Error::Invalid(_)), "{e:?}"),
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_or_refused(key in ".{0,300}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let visible = (1..=255).contains(&key.len()) && key.bytes().all(|b| (0x21..=0x7e).contains(&b));
        prop_assert_eq!(tessera::audit::ingest::IdempotencyKey::parse(&key, &body).is_ok(), visible);
    }

    #[test]
    fn arbitrary_text_is_never_a_valid_token(token in prop_oneof![".{0,200}", "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,100}"]) {
        let verifier = issuer().verifier().unwrap();
        prop_assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn signed_tokens_with_arbitrary_claims_verify_only_when_well_formed(
        claims in prop::collection::btree_map(field_name(), json_value(), 0..12),
        keep_valid in any::<bool>(),
    ) {
        let issuer = issuer();
        let mut map: Map<String, Value> = if keep_valid {
            issuer.claims("2b1f6a8e-0000-4000-8000-000000000001", "acme", "alice")
        } else {
            Map::new()
        };
        for (k, v) in claims {
            map.insert(k, v);
        }
        let token = issuer.sign(&map).unwrap();
        let verifier = issuer.verifier().unwrap();
        if let Ok(ctx) = verifier.verify(&token) {
            // Whatever was accepted came from a well-formed token of this issuer.
            prop_assert_eq!(map.get("iss"), Some(&json!(ISSUER)));
            prop_assert_eq!(map.get("tenant_id").and_then(Value::as_str), Some(ctx.tenant_id.as_str()));
        }
    }

    #[test]
    fn signed_tokens_with_arbitrary_headers_verify_only_with_the_real_one(
        header in prop::collection::btree_map(field_name(), json_value(), 0..6),
    ) {
        let issuer = issuer();
        let header = Value::Object(header.into_iter().collect());
        let claims = issuer.claims("2b1f6a8e-0000-4000-8000-000000000001", "acme", "alice");
        let token = issuer.sign_raw(&header, &claims).unwrap();
        let verifier = issuer.verifier().unwrap();
        if verifier.verify(&token).is_ok() {
            prop_assert_eq!(header.get("alg"), Some(&json!("ES256")));
            prop_assert_eq!(header.get("kid"), Some(&json!("test-es256")));
        }
    }

    #[test]
    fn arbitrary_payload_bytes_never_panic_the_verifier(payload in prop::collection::vec(any::<u8>(), 0..256)) {
        let issuer = issuer();
        let token = issuer.sign_bytes(&json!({"alg": "ES256", "kid": "test-es256", "typ": "at+jwt"}), &payload).unwrap();
        prop_assert!(issuer.verifier().unwrap().verify(&token).is_err() || serde_json::from_slice::<Value>(&payload).is_ok());
    }

    #[test]
    fn jwks_documents_load_or_are_refused(doc in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| json!({ "keys": [v] }).to_string().into_bytes()),
        prop::collection::vec(prop::collection::btree_map(field_name(), json_value(), 0..8), 0..4)
            .prop_map(|keys| json!({ "keys": keys }).to_string().into_bytes()),
    ]) {
        let _ = tessera_verify::JwksClient::from_jwks(&doc);
        if let Ok(verifier) = tessera_verify::Verifier::with_static_keys(&doc, ISSUER, AUDIENCE) {
            prop_assert!(verifier.verify(&issuer().token("t", "acme", "alice").unwrap()).is_err() || doc.windows(10).any(|w| w == b"test-es256"));
        }
    }

    #[test]
    fn claims_and_strict_json_never_panic(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]) {
        let _ = tessera_proto::AccessClaims::from_json(&bytes);
        if tessera_proto::strict_json::no_duplicate_members(&bytes) {
            prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
        }
    }

    #[test]
    fn stream_lines_are_checked_or_refused(lines in prop::collection::vec(prop_oneof![
        ".{0,120}",
        json_value().prop_map(|v| v.to_string()),
        (json_value(), any::<i64>(), "[0-9a-f]{64}").prop_map(|(d, seq, hash)| json!({
            "tenant_id": "2b1f6a8e-0000-4000-8000-000000000001", "seq": seq, "hash": hash, "prev_hash": hash, "details": d,
        }).to_string()),
    ], 0..6)) {
        let mut checker = tessera_verify::stream::StreamChecker::new(Some(&issuer().jwks()), None).unwrap();
        for line in &lines {
            let _ = checker.push_line(line);
        }
        let _ = checker.summary();
    }

    #[test]
    fn cursors_decode_only_what_was_encoded(text in prop_oneof![".{0,100}", "[A-Za-z0-9_-]{0,700}"]) {
        prop_assert!(tessera::audit::Cursor::decode(&text).map(|c| c.encode() == text).unwrap_or(true));
        let _ = tessera::tokens::decode_cursor(&text);
    }

    #[test]
    fn audit_cursors_round_trip(secs in 0i64..4_000_000_000, seq in any::<i64>()) {
        let cursor = tessera::audit::Cursor {
            received_at: chrono::DateTime::from_timestamp(secs, 0).unwrap().naive_utc(),
            tenant_id: "2b1f6a8e-0000-4000-8000-000000000001".into(),
            seq,
        };
        prop_assert_eq!(tessera::audit::Cursor::decode(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn names_parse_to_what_they_promise(text in ".{0,80}") {
        if let Ok(slug) = tessera::tenants::Slug::parse(&text) {
            let s = slug.as_str();
            prop_assert!((2..=63).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        if let Ok(email) = tessera::users::Email::parse(&text) {
            let again = tessera::users::Email::parse(email.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), email.as_str());
            prop_assert!(email.as_str().contains('@') && !email.as_str().chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn pkce_matches_only_its_own_challenge(verifier in "[A-Za-z0-9._~-]{0,140}", other in ".{0,60}") {
        use sha2::Digest;
        let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
        let well_formed = (43..=128).contains(&verifier.len());
        prop_assert_eq!(tessera::oauth::code::pkce_matches(&verifier, &challenge), well_formed);
        prop_assert!(!tessera::oauth::code::pkce_matches(&other, &challenge) || other == verifier);
    }

    #[test]
    fn database_urls_never_show_their_password(user in "[a-z]{1,8}", password in "[A-Za-z0-9]{6,16}", rest in ".{0,40}") {
        let url = format!("postgres://{user}:{password}@db.internal/{rest}");
        if let Ok(parsed) = tessera::db::DatabaseUrl::parse(&url) {
            prop_assert!(!parsed.redacted().contains(&password));
        }
        let _ = tessera::db::DatabaseUrl::parse(&rest);
    }

    #[test]
    fn configuration_values_load_or_are_refused(
        values in prop::collection::btree_map(
            prop::sample::select(vec![
                "TESSERA_ACCESS_TOKEN_TTL_SECS", "TESSERA_ROTATION_INTERVAL",
                "TESSERA_AUDIT_MAX_BODY_BYTES", "TESSERA_BODY_BUDGET_BYTES", "TESSERA_DB_TIMEOUT_SECS", "TESSERA_DB_POOL_SIZE",
                "TESSERA_TRUSTED_PROXY_HEADER", "TESSERA_AUDIENCE", "TESSERA_WORKERS", "TESSERA_METRICS_LISTEN",
                "TESSERA_AUTH_CODE_TTL_SECS", "TESSERA_JWKS_MAX_AGE_SECS", "TESSERA_BCRYPT_COST",
            ]),
            prop_oneof![".{0,30}", "[0-9]{1,25}", "-?[0-9]{1,5}", Just("true".to_owned()), "https?://[a-z.]{1,12}(:[0-9]{1,6})?(/[a-z ]{0,5})?"],
            0..6,
        ),
        issuer in prop::option::of(prop_oneof![".{0,30}", "\\s?https?://[a-z.\t]{1,12}(:[0-9]{1,6})?(/[a-z \\n]{0,5})?\\s?"]),
        listen in prop::option::of(".{0,30}"),
    ) {
        let overrides = tessera::config::Overrides { issuer, listen, ..Default::default() };
        match tessera::config::Config::load_with(&overrides, |name| values.get(name).cloned()) {
            Ok(config) => {
                prop_assert!(!config.issuer.chars().any(char::is_whitespace), "{:?}", config.issuer);
            }
            Err(e) => prop_assert!(!e.message.is_empty()),
        }
    }

    #[test]
    fn authorize_queries_parse_or_are_refused(query in prop_oneof![".{0,120}", "([a-z_]{1,14}=[A-Za-z0-9%+&=._~-]{0,20}&?){0,8}"]) {
        let _ = actix_web::web::Query::<tessera::login::AuthorizeParams>::from_query(&query);
    }

    #[test]
    fn key_folders_open_or_are_refused(manifest in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (".{0,20}", prop::sample::select(vec!["active", "next", "retired", "other"]))
            .prop_map(|(kid, state)| json!({ "keys": [{ "kid": kid, "alg": "ES256", "state": state, "created_at": "2026-01-01T00:00:00Z" }] }).to_string().into_bytes()),
    ], key in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keys.json"), &manifest).unwrap();
        std::fs::write(dir.path().join("k.jwk"), &key).unwrap();
        let _ = tessera::keys::Keys::open(dir.path());
    }
}

// Inputs the properties and a read of the parsers found, kept as regular tests.

#[test]
fn an_issuer_with_whitespace_is_refused() {
    for issuer in [
        " https://id.example.com",
        "https://id.example.com ",
        "https://id.exa\tmple.com",
        "https://id.example.com/a\nb",
    ] {
        let overrides = tessera::config::Overrides {
            issuer: Some(issuer.to_owned()),
            ..Default::default()
        };
        let err = tessera::config::Config::load_with(&overrides, |_| None).unwrap_err();
        assert_eq!(err.option, "issuer", "{issuer:?}");
    }
}

#[test]
fn a_key_id_that_names_another_path_is_refused() {
    for kid in ["../outside", "/etc/passwd", "a/b", "", "k\u{0}"] {
        let dir = tempfile::tempdir().unwrap();
        let manifest = json!({ "keys": [{ "kid": kid, "alg": "ES256", "state": "active", "created_at": "2026-01-01T00:00:00Z" }] });
        std::fs::write(dir.path().join("keys.json"), manifest.to_string()).unwrap();
        let err = tessera::keys::Keys::open(dir.path())
            .err()
            .unwrap_or_else(|| panic!("{kid:?} accepted"));
        assert!(err.to_string().contains("key id"), "{kid:?}: {err}");
    }
}

#[test]
fn a_leap_second_is_refused_at_ingestion() {
    let body = br#"{"action":"a.b","outcome":"success","occurred_at":"2016-12-31T23:59:60Z"}"#;
    let err = tessera::audit::ingest::parse(body).unwrap_err();
    assert!(err.to_string().contains("occurred_at"), "{err}");
}

#[test]
fn a_totp_check_at_the_end_of_time_does_not_overflow() {
    assert_eq!(
        tessera::mfa::totp::matching_step(&[7; 20], "123456", u64::MAX, 0),
        None
    );
}

#[test]
fn huge_timeouts_do_not_overflow_the_connection_string() {
    let url = tessera::db::network_timeouts(
        "postgres://u@h/db",
        std::time::Duration::from_secs(u64::MAX),
    );
    assert!(url.contains("connect_timeout="), "{url}");
}

/// Arbitrary requests to the endpoints that parse forms, queries, headers and bodies,
/// against the in-process app on SQLite, and arbitrary tokens to the server's own token
/// reader: never a 5xx, and every 4xx has the generic error body. Cases are drawn by
/// proptest's runner (`PROPTEST_CASES`, 256 by default; no shrinking: each
/// case is printed on failure).
#[actix_web::test]
async fn arbitrary_requests_are_refused_cleanly() {
    use actix_web::test::{init_service, TestRequest};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let db = crate::support::TestDb::sqlite();
    let state = db.state();
    let keys = state.keys.current();
    let app = init_service(tessera::http::app(state)).await;
    let cases = config().cases;
    let mut runner = TestRunner::new(config());
    let text = prop_oneof![
        ".{0,80}",
        "([a-z_]{1,14}=[A-Za-z0-9%+&=._~:-]{0,30}&?){0,6}",
        "grant_type=(client_credentials|authorization_code|refresh_token|urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange)&[a-z_]{1,12}=[^&]{0,30}(&client_id=[a-z]{0,5})?",
    ];
    let header = prop_oneof![
        Just(String::new()),
        ".{0,60}",
        "Basic [A-Za-z0-9+/=]{0,40}",
        "Bearer [A-Za-z0-9._-]{0,80}",
    ];
    let content_type = prop::sample::select(vec![
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "",
        "application/x-www-form-urlencoded; charset=latin1",
    ]);
    let strategy = (
        text,
        header,
        content_type,
        prop::sample::select(vec![0usize, 1, 2, 3, 4, 5]),
    );
    for _ in 0..cases {
        let (body, authorization, content_type, target) =
            strategy.new_tree(&mut runner).unwrap().current();
        // A request line carries visible ASCII only: encode the rest, as a client would.
        let query: String = body
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(c) {
                    c.to_string()
                } else {
                    c.to_string().bytes().map(|b| format!("%{b:02X}")).collect()
                }
            })
            .collect();
        let (method, path) = match target {
            0 => ("POST", "/token".to_owned()),
            1 => ("POST", "/introspect".to_owned()),
            2 => ("POST", "/revoke".to_owned()),
            3 => ("GET", format!("/authorize?{query}")),
            4 => ("POST", "/api/v1/audit/events".to_owned()),
            _ => ("GET", format!("/api/v1/audit/events?{query}")),
        };
        let mut req = if method == "GET" {
            TestRequest::get()
        } else {
            TestRequest::post()
        };
        req = req.uri(&path);
        // A header value the HTTP layer would refuse on the wire cannot be sent.
        if actix_web::http::header::HeaderValue::from_str(&authorization).is_ok()
            && !authorization.is_empty()
        {
            req = req.insert_header(("authorization", authorization.as_str()));
        }
        if !content_type.is_empty() {
            req = req.insert_header(("content-type", content_type));
        }
        if method == "POST" {
            req = req.set_payload(body.clone());
        }
        let reply = crate::support::call(&app, req.to_request()).await;
        let case = format!("{method} {path} authorization={authorization:?} content-type={content_type:?} body={body:?}");
        assert!(
            reply.status < 500,
            "{case}: {} {}",
            reply.status,
            reply.body
        );
        if reply.status >= 400 && !reply.body.is_empty() && !reply.body.starts_with('<') {
            let v: Value = serde_json::from_str(&reply.body)
                .unwrap_or_else(|e| panic!("{case}: {e}: {}", reply.body));
            assert!(v["error"].is_string(), "{case}: {}", reply.body);
        }
        // The server's own token reader, on the same text.
        for token in [body.as_str(), authorization.trim_start_matches("Bearer ")] {
            assert!(keys.verify_payload(token, "at+jwt").is_none(), "{token:?}");
            assert!(!matches!(
                tessera::oauth::RevokedToken::read(&keys, token),
                tessera::oauth::RevokedToken::Access(_)
            ));
        }
    }
}
