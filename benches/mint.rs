//! Minting an access token (claims serialization + signature) beside the bare josekit
//! signature of a message of the same size, per algorithm, in the same run.
//!
//! `cargo bench --bench mint`
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use josekit::jws::{self, JwsSigner};
use tessera::keys::{self, Algorithm as Alg, Keys};
use tessera::tokens::{self, AccessClaims};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mint");
    for alg in Alg::ALL {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = tessera::db::DatabaseUrl::parse(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .expect("url");
        let mut conn = tessera::db::connect(&url).expect("connect");
        tessera::db::migrate(&mut conn).expect("migrate");
        let keys_dir = dir.path().join("keys");
        keys::init(&mut conn, &keys_dir, alg, &tessera::audit::Origin::system()).expect("keys");
        let keys = Keys::open(&keys_dir).expect("open");
        let set = keys.current();

        let claims = AccessClaims {
            iss: "http://127.0.0.1:8080".into(),
            sub: "3f1c2a8e-4c55-4a57-9d3e-6b1f0b9e2a11".into(),
            aud: tokens::Audience::one("http://127.0.0.1:8080"),
            exp: 1_795_670_000,
            iat: 1_795_669_700,
            nbf: Some(1_795_669_700),
            jti: "0b8f6f5e-0f1e-4a52-8d76-3b3d1c9e7a20".into(),
            client_id: "acme-svc".into(),
            scope: "read write".into(),
            tenant_id: "1af54e21-95e2-470f-a1ea-8bf77fc283e8".into(),
            tenant: "acme".into(),
            roles: vec!["member".into()],
            amr: vec!["pwd".into()],
            acr: Some("pwd".into()),
            act: None,
        };
        let (token, _) = tokens::mint_access_token(&set, &claims).expect("mint");
        // The bare signature signs the same signing input a minted token has.
        let signing_input = token.rsplit_once('.').expect("signing input").0.to_owned();
        let jwk = josekit::jwk::Jwk::from_bytes(
            std::fs::read(keys_dir.join(format!("{}.jwk", set.active().kid))).expect("key file"),
        )
        .expect("jwk");
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::Es256 => Box::new(jws::ES256.signer_from_jwk(&jwk).expect("signer")),
            Alg::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(&jwk).expect("signer")),
            Alg::Rs256 => Box::new(jws::RS256.signer_from_jwk(&jwk).expect("signer")),
        };

        group.bench_function(format!("{}/josekit_sign", alg.name()), |b| {
            b.iter(|| {
                signer
                    .sign(black_box(signing_input.as_bytes()))
                    .expect("sign")
            })
        });
        group.bench_function(format!("{}/mint_access_token", alg.name()), |b| {
            b.iter(|| tokens::mint_access_token(&set, black_box(&claims)).expect("mint"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
