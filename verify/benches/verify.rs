//! Verifying one ES256 access token through `tessera-verify` (preloaded keys, every
//! check, `TenantContext` built) against bare josekit on the same token (verifier built
//! once, `jwt::decode_with_verifier`, no claim checks). Target: crate ≤ 1.11 × bare.
#![allow(clippy::expect_used)] // benchmark setup: a failure must stop the run loudly

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader};
use josekit::jwt::{self, JwtPayload};
use serde_json::json;
use tessera_verify::Verifier;

const ISS: &str = "https://id.example.com";
const AUD: &str = "notes";

fn bench(c: &mut Criterion) {
    let mut key = Jwk::generate_ec_key(EcCurve::P256).expect("key");
    key.set_key_id("bench-1");
    key.set_algorithm("ES256");
    let mut public = key.to_public_key().expect("public key");
    public.set_key_id("bench-1");
    public.set_algorithm("ES256");
    public.set_key_use("sig");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "iss": ISS, "sub": "5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5", "aud": AUD,
        "exp": now + 3600, "iat": now, "nbf": now,
        "jti": "0d9e8f7a-6b5c-4d3e-9f2a-1b0c9d8e7f6a", "client_id": "notes-web",
        "scope": "openid notes:read notes:write",
        "tenant_id": "0b6f3c4e-1111-4222-8333-444455556666", "tenant": "acme",
        "roles": ["member", "admin"],
    });
    let serde_json::Value::Object(claims) = claims else {
        unreachable!("a JSON object literal")
    };
    let mut header = JwsHeader::new();
    header.set_token_type("at+jwt");
    header.set_key_id("bench-1");
    let payload = JwtPayload::from_map(claims).expect("payload");
    let signer = jws::ES256.signer_from_jwk(&key).expect("signer");
    let token = jwt::encode_with_signer(&payload, &header, &signer).expect("token");

    let jwks = serde_json::to_vec(&json!({ "keys": [public.as_ref()] })).expect("jwks");
    let verifier = Verifier::with_static_keys(&jwks, ISS, AUD).expect("verifier");
    let bare = jws::ES256
        .verifier_from_jwk(&public)
        .expect("bare verifier");
    verifier.verify(&token).expect("crate accepts the token");
    jwt::decode_with_verifier(&token, &bare).expect("josekit accepts the token");

    let mut group = c.benchmark_group("es256_access_token");
    group.bench_function("tessera_verify", |b| {
        b.iter(|| verifier.verify(black_box(&token)))
    });
    group.bench_function("bare_josekit", |b| {
        b.iter(|| jwt::decode_with_verifier(black_box(&token), &bare))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
