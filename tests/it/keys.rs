//! Key life cycle end to end: the real server and CLI, rotation picked up while
//! running, scheduled rotation and dropping, corrupt key files, and the token ledger CLI.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Server;
use crate::support::{both_backends, TestDb};
use crate::tokens::verify_with_jwks;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn get_json(agent: &ureq::Agent, url: &str) -> Value {
    agent
        .get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap()
}

fn client_credentials(agent: &ureq::Agent, server: &Server, id: &str, secret: &str) -> String {
    let mut res = agent
        .post(server.url("/token"))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.body_mut().read_json().unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

both_backends! {
    fn rotation_reaches_a_running_server(db) {
        db.tenant("acme");
        let secret = db.service_client("acme-svc", Some("acme"), &["read"]);
        let server = db.server(&[("TESSERA_KEYS_RELOAD_SECS", "1")]);
        let agent = agent();

        // A standard JWT library, given only the discovery document's JWKS URL.
        let discovery = get_json(&agent, &server.url("/.well-known/openid-configuration"));
        let issuer = discovery["issuer"].as_str().unwrap().to_owned();
        let jwks_uri = discovery["jwks_uri"].as_str().unwrap().replace("127.0.0.1:8080", &server.addr);
        let before = client_credentials(&agent, &server, "acme-svc", &secret);
        let claims = verify_with_jwks(&before, &get_json(&agent, &jwks_uri), &issuer, &issuer);
        assert_eq!(claims["tenant"], "acme");
        let old_kid = kid_of(&before);

        let keys_before = db.cli(&["keys", "list", "--json"]).json();
        let next_kid = keys_before.as_array().unwrap().iter().find(|k| k["state"] == "next").unwrap()["kid"].as_str().unwrap().to_owned();
        // Too soon for verifiers holding a cached JWKS: refused without --force.
        let err = db.cli(&["keys", "rotate"]).fails(1).to_owned();
        assert!(err.contains("less than the JWKS cache lifetime"), "{err}");
        let rotation = db.cli(&["keys", "rotate", "--force", "--json"]).json();
        assert_eq!(rotation["activated"], next_kid.as_str());
        assert_eq!(rotation["retired"], old_kid.as_str());

        // Within seconds the running server signs with the new key.
        let deadline = Instant::now() + Duration::from_secs(10);
        let after = loop {
            let token = client_credentials(&agent, &server, "acme-svc", &secret);
            if kid_of(&token) == next_kid {
                break token;
            }
            assert!(Instant::now() < deadline, "server did not pick up the rotation");
            std::thread::sleep(Duration::from_millis(200));
        };
        let jwks = get_json(&agent, &jwks_uri);
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
        assert_eq!(kids.len(), 3, "active, next and retired: {kids:?}");
        assert_eq!(kids[0], next_kid, "the active key comes first");
        // Both the old and the new token verify from the served JWKS.
        verify_with_jwks(&before, &jwks, &issuer, &issuer);
        verify_with_jwks(&after, &jwks, &issuer, &issuer);
        let mut res = agent.post(server.url("/introspect"))
            .send_form([("token", before.as_str()), ("client_id", "acme-svc"), ("client_secret", secret.as_str())])
            .unwrap();
        assert_eq!(res.body_mut().read_json::<Value>().unwrap()["active"], true);

        let actions: Vec<String> = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID).into_iter().map(|(a, _)| a).collect();
        for step in ["key.created", "key.activated", "key.retired"] {
            assert!(actions.contains(&step.to_owned()), "{step}: {actions:?}");
        }
        assert!(server.stop().success());
    }
}

both_backends! {
    fn keys_cli_and_algorithms(db) {
        // The server creates the keys on first start.
        let server = db.server(&[]);
        drop(server);
        let listed = db.cli(&["keys", "list", "--json"]).json();
        let states: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|k| k["state"].as_str()).collect();
        assert_eq!(states, ["active", "next"]);
        let human = db.cli(&["keys", "list"]).ok().to_owned();
        assert!(human.starts_with("KID\tALG\tSTATE"), "{human}");

        let first = db.cli(&["keys", "rotate", "--force", "--alg", "EdDSA", "--json"]).json();
        let second = db.cli(&["keys", "rotate", "--force", "--alg", "RS256", "--json"]).json();
        assert_eq!(second["activated"], first["created"]);
        let listed = db.cli(&["keys", "list", "--json"]).json();
        let by_state = |s: &str| listed.as_array().unwrap().iter().filter(|k| k["state"] == s).map(|k| k["alg"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(by_state("active"), ["EdDSA"]);
        assert_eq!(by_state("next"), ["RS256"]);
        assert_eq!(by_state("retired").len(), 2);

        // A usage error (exit 2): clap knows the closed set of algorithms.
        let out = db.cli(&["keys", "rotate", "--force", "--alg", "HS256"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("invalid value 'HS256' for '--alg <ALG>'"), "{}", out.stderr);

        // An EdDSA token verifies with a standard library too.
        let keys = tessera::keys::Keys::open(&db.dir.path().join("keys")).unwrap();
        let set = keys.current();
        let (token, _) = set.sign("at+jwt", br#"{"iss":"i","aud":"a","sub":"s","exp":4102444800,"iat":1,"nbf":1}"#).unwrap();
        let jwks: Value = serde_json::from_slice(set.jwks()).unwrap();
        verify_with_jwks(&token, &jwks, "i", "a");
    }
}

#[test]
fn a_corrupt_key_file_stops_start_up_and_is_kept() {
    let db = TestDb::sqlite();
    drop(db.server(&[]));
    let listed = db.cli(&["keys", "list", "--json"]).json();
    let kid = listed[0]["kid"].as_str().unwrap();
    let path = db.dir.path().join("keys").join(format!("{kid}.jwk"));
    std::fs::write(&path, "{\"kty\":\"EC\"").unwrap();
    let out = crate::support::run_binary(
        db.dir.path(),
        &[
            ("TESSERA_DATABASE_URL", &db.url),
            ("TESSERA_LISTEN", "127.0.0.1:0"),
        ],
        &["serve"],
        "",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let last = out.stderr.trim_end().lines().last().unwrap();
    assert!(last.starts_with("tessera: error: signing keys: "), "{last}");
    assert!(
        last.contains(&format!("{kid}.jwk")),
        "names the file: {last}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"kty\":\"EC\"",
        "never overwritten"
    );

    // A folder with key files but no manifest is not silently replaced either.
    std::fs::remove_file(db.dir.path().join("keys/keys.json")).unwrap();
    let out = crate::support::run_binary(
        db.dir.path(),
        &[
            ("TESSERA_DATABASE_URL", &db.url),
            ("TESSERA_LISTEN", "127.0.0.1:0"),
        ],
        &["serve"],
        "",
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("keys.json: missing, but the folder holds key files"),
        "{}",
        out.stderr
    );
}

/// Moves every time in the manifest `by` into the past.
fn age_manifest(dir: &std::path::Path, by: chrono::Duration) {
    let path = dir.join("keys.json");
    let mut manifest: tessera::keys::Manifest =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for key in &mut manifest.keys {
        key.created_at -= by;
        key.activated_at = key.activated_at.map(|t| t - by);
        key.retired_at = key.retired_at.map(|t| t - by);
    }
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

both_backends! {
    fn scheduled_rotation_waits_for_publication_then_drops_retired_keys(db) {
        let dir = db.dir.path().join("keys");
        let mut conn = db.conn();
        let origin = tessera::audit::Origin::system();
        tessera::keys::init(&mut conn, &dir, tessera::keys::Algorithm::Es256, &origin).unwrap();
        let policy = tessera::keys::Policy {
            alg: tessera::keys::Algorithm::Es256,
            jwks_max_age: Duration::from_secs(600),
            retire_after: Duration::from_secs(360),
            rotation_interval: Some(Duration::from_secs(3600)),
        };
        // Fresh keys: nothing is due.
        assert!(!tessera::keys::maintain(&mut conn, &dir, &policy, &origin).unwrap());

        // The active key is old enough, but the next one was published only 5 minutes
        // ago, less than the JWKS cache lifetime: no activation yet.
        age_manifest(&dir, chrono::Duration::seconds(300));
        let mut manifest: tessera::keys::Manifest = serde_json::from_slice(&std::fs::read(dir.join("keys.json")).unwrap()).unwrap();
        for key in &mut manifest.keys {
            if key.state == tessera::keys::KeyState::Active {
                key.activated_at = Some(chrono::Utc::now() - chrono::Duration::hours(2));
            }
        }
        std::fs::write(dir.join("keys.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();
        assert!(!tessera::keys::maintain(&mut conn, &dir, &policy, &origin).unwrap());

        // Published long enough: rotated.
        age_manifest(&dir, chrono::Duration::seconds(600));
        assert!(tessera::keys::maintain(&mut conn, &dir, &policy, &origin).unwrap());
        let keys = tessera::keys::Keys::open(&dir).unwrap();
        let states: Vec<_> = keys.current().metas().map(|k| k.state).collect();
        assert_eq!(states.iter().filter(|s| **s == tessera::keys::KeyState::Retired).count(), 1);
        let retired_kid = keys.current().metas().find(|k| k.state == tessera::keys::KeyState::Retired).unwrap().kid.clone();

        // The retired key stays until its tokens have expired, then is dropped with its file.
        assert!(!tessera::keys::maintain(&mut conn, &dir, &policy, &origin).unwrap());
        age_manifest(&dir, chrono::Duration::seconds(400));
        let policy_no_rotation = tessera::keys::Policy { rotation_interval: None, ..policy };
        assert!(tessera::keys::maintain(&mut conn, &dir, &policy_no_rotation, &origin).unwrap());
        assert!(keys.reload_if_changed().unwrap());
        assert!(keys.current().metas().all(|k| k.kid != retired_kid));
        assert!(!dir.join(format!("{retired_kid}.jwk")).exists());
        let actions: Vec<String> = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID).into_iter().map(|(a, _)| a).collect();
        assert!(actions.contains(&"key.dropped".to_owned()), "{actions:?}");
    }
}

both_backends! {
    fn tokens_cli_lists_and_revokes(db) {
        let acme = db.tenant("acme");
        let secret = db.service_client("acme-svc", Some("acme"), &["read"]);
        let server = db.server(&[]);
        let agent = agent();
        let token = client_credentials(&agent, &server, "acme-svc", &secret);
        drop(server);

        let listed = db.cli(&["tokens", "list", "--tenant", "acme", "--json"]).json();
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let row = &listed[0];
        assert_eq!(row["tenant_id"], acme.id);
        assert_eq!(row["subject"], "acme-svc");
        assert_eq!(row["token_type"], "access_token");
        assert_eq!(row["revoked_at"], Value::Null);
        assert!(!listed.to_string().contains(&token), "the ledger never holds the token");
        assert_eq!(db.cli(&["tokens", "list", "--subject", "someone-else", "--json"]).json(), serde_json::json!([]));

        let jti = row["jti"].as_str().unwrap();
        assert_eq!(db.cli(&["tokens", "revoke", jti]).ok().trim(), format!("revoked {jti}"));
        assert_eq!(db.cli(&["tokens", "revoke", jti]).ok().trim(), format!("{jti} was already revoked"));
        let err = db.cli(&["tokens", "revoke", "no-such-jti"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: token not found");
        let listed = db.cli(&["tokens", "list", "--json"]).json();
        assert_eq!(listed[0]["revoked_reason"], "operator");

        let server = db.server(&[]);
        let mut res = agent.post(server.url("/introspect"))
            .send_form([("token", token.as_str()), ("client_id", "acme-svc"), ("client_secret", secret.as_str())])
            .unwrap();
        assert_eq!(res.body_mut().read_json::<Value>().unwrap(), serde_json::json!({ "active": false }));
        db.cli(&["audit", "verify"]).ok();
    }
}

/// An initialized keys folder mounted read-only (a Docker secret, a read-only bind
/// mount): `serve` starts, publishes the keys and signs with them. Needs `mount`
/// (root); says so and skips where that is refused.
#[test]
fn serve_starts_on_a_read_only_keys_folder() {
    let db = TestDb::sqlite();
    db.tenant("acme");
    let secret = db.service_client("acme-svc", Some("acme"), &["read"]);
    let first = db.server(&[]);
    let jwks = get_json(&agent(), &first.url("/.well-known/jwks.json"));
    assert!(first.stop().success());
    std::fs::write(db.dir.path().join("keys/mfa-seal.key"), [7u8; 32]).unwrap();
    let _ = std::fs::remove_file(db.dir.path().join("keys/.lock"));

    let mount = tempfile::tempdir().unwrap();
    let target = mount.path().to_str().unwrap().to_owned();
    let source = db.dir.path().join("keys").display().to_string();
    let bound = std::process::Command::new("mount")
        .args(["--bind", &source, &target])
        .status()
        .is_ok_and(|s| s.success());
    if !bound {
        eprintln!(
            "SKIPPED: serve_starts_on_a_read_only_keys_folder: cannot bind-mount here (needs root)"
        );
        return;
    }
    let _unmount = crate::support::Unmount(target.clone());
    let read_only = std::process::Command::new("mount")
        .args(["-o", "remount,bind,ro", &target])
        .status()
        .is_ok_and(|s| s.success());
    assert!(read_only, "remount read-only");
    assert!(
        std::fs::write(mount.path().join("probe"), b"x").is_err(),
        "the mount is read-only"
    );

    let server = db.server(&[("TESSERA_KEYS_DIR", target.as_str())]);
    let a = agent();
    assert_eq!(a.get(server.url("/readyz")).call().unwrap().status(), 200);
    assert_eq!(get_json(&a, &server.url("/.well-known/jwks.json")), jwks);
    let token = client_credentials(&a, &server, "acme-svc", &secret);
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(published.contains(&kid_of(&token).as_str()), "{jwks}");
    assert!(server.stop().success());
    assert!(!mount.path().join(".lock").exists());
}
