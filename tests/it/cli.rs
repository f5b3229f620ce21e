//! The command line, run as the real binary against each backend.

use crate::support::{both_backends, run_binary};

fn seed(db: &crate::support::TestDb) {
    db.cli(&["tenant", "create", "acme", "--name", "Acme Corp"])
        .ok();
    db.cli_with_stdin(
        &["user", "create", "alice@example.com", "--password-stdin"],
        "correct horse battery\n",
    )
    .ok();
}

both_backends! {
    fn tenant_create_and_list(db) {
        let created = db.cli(&["--json", "tenant", "create", "acme", "--name", "Acme Corp"]).json();
        assert_eq!(created["slug"], "acme");
        assert_eq!(created["name"], "Acme Corp");
        assert_eq!(created["id"].as_str().map(str::len), Some(36));

        let list = db.cli(&["tenant", "list", "--json"]).json();
        let slugs: Vec<&str> = list.as_array().unwrap().iter().filter_map(|t| t["slug"].as_str()).collect();
        assert_eq!(slugs, ["acme", "system"]);

        let human = db.cli(&["tenant", "list"]).ok().to_owned();
        assert!(human.lines().next().unwrap().starts_with("ID\tSLUG"), "{human}");
        assert!(human.contains("\tacme\tAcme Corp\t"), "{human}");
    }
}

both_backends! {
    fn duplicate_tenant_is_refused_and_nothing_is_written(db) {
        db.cli(&["tenant", "create", "acme"]).ok();
        let events_before = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        let err = db.cli(&["tenant", "create", "acme"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: tenant already exists");
        let err = db.cli(&["tenant", "create", "system"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: tenant already exists");
        let list = db.cli(&["tenant", "list", "--json"]).json();
        assert_eq!(list.as_array().unwrap().len(), 2);
        // The refused creations left no audit event behind.
        assert_eq!(db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID), events_before);
    }
}

both_backends! {
    fn invalid_tenant_slug_is_a_one_line_error(db) {
        let err = db.cli(&["tenant", "create", "Not A Slug"]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: invalid tenant slug"), "{err}");
    }
}

both_backends! {
    fn user_create_reads_the_password_from_stdin(db) {
        let created = db
            .cli_with_stdin(&["user", "create", "Alice@Example.COM", "--password-stdin", "--json"], "correct horse battery\n")
            .json();
        assert_eq!(created["email"], "alice@example.com");
        assert!(created.get("password_hash").is_none(), "{created}");

        let listed = db.cli(&["user", "list", "--json"]).ok().to_owned();
        assert!(listed.contains("alice@example.com"));
        assert!(!listed.contains("$2"), "no hash in listings: {listed}");
        assert!(!listed.contains("correct horse"), "{listed}");

        // Stored as bcrypt at the configured cost, never as text.
        use diesel::prelude::*;
        use tessera::db::schema::users;
        let mut conn = db.conn();
        let hash: String = users::table.select(users::password_hash).first(&mut conn).unwrap();
        assert!(hash.starts_with("$2b$04$"), "{hash}");
    }
}

both_backends! {
    fn user_create_rejects_bad_input(db) {
        let err = db.cli_with_stdin(&["user", "create", "not-an-email", "--password-stdin"], "correct horse battery\n").fails(1).to_owned();
        assert_eq!(err, "tessera: error: invalid email: not a valid address");
        let err = db.cli_with_stdin(&["user", "create", "bob@example.com", "--password-stdin"], "short\n").fails(1).to_owned();
        assert!(err.contains("password: at least 8 characters"), "{err}");
        let err = db.cli_with_stdin(&["user", "create", "bob@example.com", "--password-stdin"], "").fails(1).to_owned();
        assert!(err.contains("no password"), "{err}");
        // --password-stdin is required: the password never goes on the command line.
        let out = db.cli(&["user", "create", "bob@example.com"]);
        assert_eq!(out.code, 2, "{}", out.stderr);

        seed(&db);
        let err = db.cli_with_stdin(&["user", "create", "ALICE@example.com", "--password-stdin"], "another password\n").fails(1).to_owned();
        assert_eq!(err, "tessera: error: user already exists");
        assert_eq!(db.cli(&["user", "list", "--json"]).json().as_array().unwrap().len(), 1);
    }
}

both_backends! {
    fn member_add_list_remove(db) {
        seed(&db);
        let added = db.cli(&["member", "add", "acme", "alice@example.com", "--role", "member", "--role", "auditor", "--json"]).json();
        assert_eq!(added["roles"], "auditor member");

        let members = db.cli(&["member", "list", "acme", "--json"]).json();
        assert_eq!(members[0]["email"], "alice@example.com");
        assert_eq!(members[0]["roles"], "auditor member");

        let err = db.cli(&["member", "add", "acme", "alice@example.com", "--role", "admin"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: membership already exists");

        db.cli(&["member", "remove", "acme", "alice@example.com"]).ok();
        assert_eq!(db.cli(&["member", "list", "acme", "--json"]).json(), serde_json::json!([]));
        let err = db.cli(&["member", "remove", "acme", "alice@example.com"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: membership not found");
    }
}

both_backends! {
    fn member_add_rejects_unknown_role_tenant_and_user(db) {
        seed(&db);
        // A value outside a closed set is a usage error (exit 2), named with the choices.
        let out = db.cli(&["member", "add", "acme", "alice@example.com", "--role", "owner"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("invalid value 'owner' for '--role <ROLE>'"), "{}", out.stderr);
        assert!(out.stderr.contains("[possible values: member, admin, auditor]"), "{}", out.stderr);
        let err = db.cli(&["member", "add", "nope", "alice@example.com", "--role", "member"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: tenant not found");
        let err = db.cli(&["member", "add", "acme", "bob@example.com", "--role", "member"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: user not found");
        let out = db.cli(&["member", "add", "acme", "alice@example.com"]);
        assert_eq!(out.code, 2, "--role is required: {}", out.stderr);
        assert_eq!(db.cli(&["member", "list", "acme", "--json"]).json(), serde_json::json!([]));
    }
}

both_backends! {
    fn client_create_public_and_confidential(db) {
        seed(&db);
        let public = db.cli(&[
            "client", "create", "web", "--tenant", "acme",
            "--redirect-uri", "https://app.example.com/cb",
            "--grant", "authorization_code", "--grant", "refresh_token", "--json",
        ]).json();
        assert_eq!(public["kind"], "public");
        assert_eq!(public["client_secret"], serde_json::Value::Null);
        assert_eq!(public["redirect_uris"], serde_json::json!(["https://app.example.com/cb"]));
        assert_eq!(public["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
        assert_eq!(public["scopes"], serde_json::json!(["openid"]));

        let conf = db.cli(&[
            "client", "create", "svc", "--confidential",
            "--grant", "client_credentials", "--scope", "audit:write", "--json",
        ]).json();
        assert_eq!(conf["client_id"], "svc");
        assert_eq!(conf["tenant_id"], serde_json::Value::Null);
        let secret = conf["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 43, "256 random bits, base64url");

        // Only the SHA-256 of the secret is stored.
        use diesel::prelude::*;
        use tessera::db::schema::clients;
        let mut conn = db.conn();
        let stored: Option<String> = clients::table
            .filter(clients::id.eq("svc"))
            .select(clients::secret_hash)
            .first(&mut conn)
            .unwrap();
        assert_eq!(stored.as_deref(), Some(tessera::clients::hash_secret(&secret).as_str()));

        let listed = db.cli(&["client", "list", "--json"]).ok().to_owned();
        assert!(!listed.contains(&secret));
        assert!(!listed.contains("secret"), "{listed}");
        let bound = db.cli(&["client", "list", "--tenant", "acme", "--json"]).json();
        assert_eq!(bound.as_array().unwrap().len(), 1);

        let human = db.cli(&["client", "create", "svc2", "--confidential", "--grant", "client_credentials"]).ok().to_owned();
        assert!(human.contains("client_secret: "), "{human}");

        let err = db.cli(&["client", "create", "svc", "--confidential", "--grant", "client_credentials"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: client already exists");
    }
}

both_backends! {
    fn client_create_rejects_bad_input(db) {
        seed(&db);
        for uri in ["/relative/cb", "https://app.example.com/cb#frag", "javascript:alert(1)", "not a uri"] {
            let err = db.cli(&["client", "create", "web", "--redirect-uri", uri]).fails(1).to_owned();
            assert!(err.starts_with("tessera: error: invalid redirect URI"), "{uri}: {err}");
        }
        let err = db.cli(&["client", "create", "web"]).fails(1).to_owned();
        assert!(err.contains("authorization_code needs at least one"), "{err}");
        // An unknown grant is a usage error (exit 2), refused before anything runs.
        let out = db.cli(&["client", "create", "web", "--grant", "password", "--redirect-uri", "https://a.example/cb"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("invalid value 'password' for '--grant <GRANT>'"), "{}", out.stderr);
        // An unknown grant is a usage error (exit 2), refused before anything runs.
        let out = db.cli(&["client", "create", "web", "--grant", "implicit", "--redirect-uri", "https://a.example/cb"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("invalid value 'implicit' for '--grant <GRANT>'"), "{}", out.stderr);
        let err = db.cli(&["client", "create", "web", "--grant", "client_credentials"]).fails(1).to_owned();
        assert!(err.contains("needs a confidential client"), "{err}");
        let err = db.cli(&["client", "create", "web", "--tenant", "nope", "--redirect-uri", "https://a.example/cb"]).fails(1).to_owned();
        assert_eq!(err, "tessera: error: tenant not found");
        let err = db.cli(&["client", "create", "bad id!", "--redirect-uri", "https://a.example/cb"]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: invalid client id"), "{err}");
        assert_eq!(db.cli(&["client", "list", "--json"]).json(), serde_json::json!([]));
    }
}

both_backends! {
    fn migrate_fresh_and_rerun(db) {
        let first = db.cli(&["migrate"]).ok().to_owned();
        assert!(first.starts_with("applied "), "{first}");
        assert_ne!(first.trim(), "applied 0 migration(s)");
        let again = db.cli(&["migrate"]).ok().to_owned();
        assert_eq!(again.trim(), "applied 0 migration(s)");
        // The reserved tenant exists after the first migration.
        let list = db.cli(&["tenant", "list", "--json"]).json();
        assert_eq!(list[0]["slug"], "system");
        assert_eq!(list[0]["id"], tessera::tenants::SYSTEM_TENANT_ID);
    }
}

#[test]
fn malformed_database_url_is_a_one_line_config_error() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "mysql://localhost/x",
        "data/tessera.db",
        "sqlite://:memory:",
    ] {
        let out = run_binary(
            dir.path(),
            &[("TESSERA_DATABASE_URL", url)],
            &["tenant", "list"],
            "",
        );
        let err = out.fails(2);
        assert!(
            err.starts_with("tessera: invalid configuration: database_url: "),
            "{err}"
        );
    }
    let out = run_binary(
        dir.path(),
        &[],
        &[
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x",
            "tenant",
            "list",
        ],
        "",
    );
    let err = out.fails(1);
    assert!(
        err.starts_with("tessera: error: cannot connect to the database"),
        "{err}"
    );
}

#[test]
fn invalid_config_values_name_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(
        dir.path(),
        &[("TESSERA_BCRYPT_COST", "lots")],
        &["tenant", "list"],
        "",
    );
    assert_eq!(
        out.fails(2),
        "tessera: invalid configuration: bcrypt_cost: TESSERA_BCRYPT_COST is not a number"
    );
    let out = run_binary(
        dir.path(),
        &[("TESSERA_LISTEN", "everywhere")],
        &["tenant", "list"],
        "",
    );
    assert!(out.fails(2).contains("listen"));
    std::fs::write(
        dir.path().join("t.toml"),
        "listen = \"127.0.0.1:1\"\nbogus = 1\n",
    )
    .unwrap();
    let out = run_binary(
        dir.path(),
        &[],
        &["--config", "t.toml", "tenant", "list"],
        "",
    );
    let err = out.fails(2);
    assert!(err.contains("config") && err.contains("bogus"), "{err}");
}

#[test]
fn the_default_database_is_sqlite_under_data() {
    let dir = tempfile::tempdir().unwrap();
    run_binary(dir.path(), &[], &["tenant", "create", "acme"], "").ok();
    assert!(dir.path().join("data/tessera.db").exists());
}

/// `--alg`, `--format` and `--grant` are closed sets: clap refuses another value before
/// anything runs (exit 2, as documented for usage errors) and lists the choices.
#[test]
fn closed_sets_are_usage_errors() {
    let db = crate::support::TestDb::sqlite();
    for (args, choices) in [
        (
            &["keys", "rotate", "--alg", "HS256"][..],
            "[possible values: ES256, EdDSA, RS256]",
        ),
        (
            &["audit", "export", "--format", "xml"][..],
            "[possible values: ndjson, csv]",
        ),
        (
            &["client", "create", "x", "--grant", "password"][..],
            "[possible values: authorization_code, refresh_token, client_credentials, token_exchange]",
        ),
    ] {
        let out = db.cli(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(choices), "{args:?}: {}", out.stderr);
    }
}

/// A received copy of an audit stream: the NDJSON export of a database where `system`,
/// `acme` and `globex` have events, then a checkpoint of acme's head signed by the
/// local keys (the folder the CLI uses). Returns the lines and acme's and globex's ids.
fn received_stream(db: &crate::support::TestDb) -> (Vec<String>, String, String) {
    let keys_dir = db.dir.path().join("keys");
    tessera::keys::init(
        &mut db.conn(),
        &keys_dir,
        tessera::keys::Algorithm::Es256,
        &tessera::audit::Origin::system(),
    )
    .unwrap();
    seed(db);
    db.cli(&["tenant", "create", "globex"]).ok();
    db.cli_with_stdin(
        &["user", "create", "bob@example.com", "--password-stdin"],
        "correct horse battery\n",
    )
    .ok();
    for (tenant, email, role) in [
        ("acme", "alice@example.com", "member"),
        ("acme", "bob@example.com", "auditor"),
        ("globex", "alice@example.com", "admin"),
    ] {
        db.cli(&["member", "add", tenant, email, "--role", role])
            .ok();
    }
    db.cli(&["member", "remove", "acme", "bob@example.com"])
        .ok();
    let export = db.cli(&["audit", "export"]).ok().to_owned();
    let mut lines: Vec<String> = export.lines().map(str::to_owned).collect();
    let ids: serde_json::Value = db.cli(&["tenant", "list", "--json"]).json();
    let id = |slug: &str| {
        ids.as_array()
            .unwrap()
            .iter()
            .find(|t| t["slug"] == slug)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (acme_id, globex_id) = (id("acme"), id("globex"));

    let mut conn = db.conn();
    let keys = tessera::keys::Keys::open(&keys_dir).unwrap();
    let slug = tessera::tenants::Slug::parse("acme").unwrap();
    let acme = tessera::tenants::find_by_slug(&mut conn, &slug)
        .unwrap()
        .unwrap();
    let (jws, checkpoint) =
        tessera::audit::checkpoint::issue(&mut conn, &keys.current(), &db.config().issuer, &acme)
            .unwrap();
    assert_eq!(
        checkpoint.seq,
        head_seq(&lines, &acme_id),
        "nothing written since the export"
    );
    lines.push(serde_json::json!({ "checkpoint": jws }).to_string());
    (lines, acme_id, globex_id)
}

fn seq_of(line: &str, tenant_id: &str) -> Option<i64> {
    let item: serde_json::Value = serde_json::from_str(line).unwrap();
    (item["tenant_id"] == tenant_id).then(|| item["seq"].as_i64().unwrap())
}

fn head_seq(lines: &[String], tenant_id: &str) -> i64 {
    lines
        .iter()
        .filter_map(|l| seq_of(l, tenant_id))
        .max()
        .unwrap()
}

/// The index of `tenant_id`'s event `seq` in `lines`.
fn line_of(lines: &[String], tenant_id: &str, seq: i64) -> usize {
    lines
        .iter()
        .position(|l| seq_of(l, tenant_id) == Some(seq))
        .unwrap()
}

/// Writes `lines` as an NDJSON file in the test's folder; returns its path.
fn write_stream(db: &crate::support::TestDb, name: &str, lines: &[String]) -> String {
    let path = db.dir.path().join(name);
    std::fs::write(&path, format!("{}\n", lines.join("\n"))).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The local keys' published JWKS, as `/.well-known/jwks.json` serves it.
fn local_jwks(db: &crate::support::TestDb) -> String {
    let keys = tessera::keys::Keys::open(&db.dir.path().join("keys")).unwrap();
    String::from_utf8(keys.current().jwks().to_vec()).unwrap()
}

/// Answers one HTTP request on a loopback port with `status` and `body`; the URL.
fn serve_once(status: &'static str, body: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.read(&mut [0u8; 8192]);
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

both_backends! {
    fn a_received_stream_verifies_against_the_local_keys(db) {
        let (lines, acme, globex) = received_stream(&db);
        let file = write_stream(&db, "stream.ndjson", &lines);
        let (acme_head, globex_head) = (head_seq(&lines, &acme), head_seq(&lines, &globex));
        assert!(acme_head >= 3 && globex_head >= 1, "{lines:?}");

        let out = db.cli(&["audit", "verify", "--stream", &file]).ok().to_owned();
        assert!(out.contains(&format!("tenant {acme} (acme): ok, {acme_head} events, head seq {acme_head}, 1 checkpoints verified")), "{out}");
        assert!(out.contains(&format!("tenant {globex}: ok, {globex_head} events, head seq {globex_head}, 0 checkpoints verified")), "{out}");
        let system = tessera::tenants::SYSTEM_TENANT_ID;
        assert!(out.contains(&format!("tenant {system}: ok, ")), "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");

        let summary = db.cli(&["audit", "verify", "--stream", &file, "--json"]).json();
        assert_eq!(summary["lines"], lines.len());
        let tenants = summary["tenants"].as_array().unwrap();
        assert_eq!(tenants.len(), 3);
        let t = tenants.iter().find(|t| t["tenant_id"] == acme.as_str()).unwrap();
        assert_eq!(t["tenant"], "acme");
        assert_eq!(t["events"], acme_head);
        assert_eq!(t["head_seq"], acme_head);
        assert_eq!(t["head_hash"], serde_json::from_str::<serde_json::Value>(&lines[line_of(&lines, &acme, acme_head)]).unwrap()["hash"]);
        assert_eq!(t["last_checkpoint_seq"], acme_head);
        assert_eq!(t["checkpoints_verified"], 1);

        // `-` reads standard input.
        let piped = db.cli_with_stdin(&["audit", "verify", "--stream", "-"], &lines.join("\n")).ok().to_owned();
        assert_eq!(piped, out);

        // The published JWKS as a file, or fetched from a URL, verifies the same.
        let jwks = db.dir.path().join("jwks.json");
        std::fs::write(&jwks, local_jwks(&db)).unwrap();
        let jwks = jwks.to_str().unwrap();
        assert_eq!(db.cli(&["audit", "verify", "--stream", &file, "--jwks", jwks]).ok(), out);
        let url = serve_once("200 OK", local_jwks(&db));
        assert_eq!(db.cli(&["audit", "verify", "--stream", &file, "--jwks", &url]).ok(), out);
        let url = serve_once("404 Not Found", String::new());
        let err = db.cli(&["audit", "verify", "--stream", &file, "--jwks", &url]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: cannot fetch the JWKS http://"), "{err}");

        // No database is opened: one that cannot be reached changes nothing.
        let unreachable = [("TESSERA_DATABASE_URL", "postgres://nobody@127.0.0.1:1/x")];
        for args in [&["audit", "verify", "--stream", &file][..], &["audit", "verify", "--stream", &file, "--jwks", jwks]] {
            assert_eq!(run_binary(db.dir.path(), &unreachable, args, "").ok(), out);
        }
    }
}

both_backends! {
    fn an_edited_dropped_or_swapped_line_fails_naming_the_seq(db) {
        let (lines, acme, _) = received_stream(&db);
        let run = |name: &str, lines: &[String]| {
            let file = write_stream(&db, name, lines);
            db.cli(&["audit", "verify", "--stream", &file]).fails(3).to_owned()
        };

        let mut edited = lines.clone();
        let at = line_of(&edited, &acme, 2);
        assert!(edited[at].contains(r#""outcome":"success""#), "{}", edited[at]);
        edited[at] = edited[at].replace(r#""outcome":"success""#, r#""outcome":"failure""#);
        let err = run("edited.ndjson", &edited);
        assert!(err.starts_with("tessera: error: audit stream "), "{err}");
        assert!(err.contains(&format!("does not verify: line {}, tenant {acme}: seq 2's hash does not match its content: the event was edited", at + 1)), "{err}");

        let mut dropped = lines.clone();
        dropped.remove(line_of(&dropped, &acme, 2));
        let err = run("dropped.ndjson", &dropped);
        let at = line_of(&dropped, &acme, 3);
        assert!(err.contains(&format!("line {}, tenant {acme}: seq 2 is missing (the next event received is seq 3)", at + 1)), "{err}");

        let mut swapped = lines.clone();
        let (first, second) = (line_of(&swapped, &acme, 1), line_of(&swapped, &acme, 2));
        swapped.swap(first, second);
        let err = run("swapped.ndjson", &swapped);
        assert!(err.contains(&format!("line {}, tenant {acme}: seq 1 is missing", first + 1)), "{err}");
    }
}

both_backends! {
    fn a_checkpoint_of_another_key_set_or_issuer_is_refused(db) {
        let (lines, acme, _) = received_stream(&db);
        let file = write_stream(&db, "stream.ndjson", &lines);
        let other_dir = db.dir.path().join("other-keys");
        tessera::keys::init(&mut db.conn(), &other_dir, tessera::keys::Algorithm::Es256, &tessera::audit::Origin::system()).unwrap();
        let other = tessera::keys::Keys::open(&other_dir).unwrap();
        let other: serde_json::Value = serde_json::from_slice(other.current().jwks()).unwrap();
        let last = lines.len();

        let jwks = db.dir.path().join("other-jwks.json");
        std::fs::write(&jwks, other.to_string()).unwrap();
        let err = db.cli(&["audit", "verify", "--stream", &file, "--jwks", jwks.to_str().unwrap()]).fails(3).to_owned();
        assert!(err.ends_with(&format!("line {last}: the checkpoint is refused: no given key has its kid")), "{err}");

        // Another key under the local key's kid: the signature itself is refused.
        let local: serde_json::Value = serde_json::from_str(&local_jwks(&db)).unwrap();
        let mut impostor = other.clone();
        for (key, kid) in impostor["keys"].as_array_mut().unwrap().iter_mut().zip(local["keys"].as_array().unwrap()) {
            key["kid"] = kid["kid"].clone();
        }
        std::fs::write(&jwks, impostor.to_string()).unwrap();
        let err = db.cli(&["audit", "verify", "--stream", &file, "--jwks", jwks.to_str().unwrap()]).fails(3).to_owned();
        assert!(err.ends_with("the checkpoint is refused: the signature does not verify"), "{err}");

        // The checkpoint must name the configured issuer.
        let err = db.cli(&["--issuer", "https://elsewhere.example", "audit", "verify", "--stream", &file]).fails(3).to_owned();
        assert!(err.ends_with("the checkpoint is refused: it was issued by another issuer"), "{err}");

        // A checkpoint ahead of what was received: events are missing at the end.
        let mut truncated = lines.clone();
        truncated.remove(line_of(&truncated, &acme, head_seq(&lines, &acme)));
        let file = write_stream(&db, "truncated.ndjson", &truncated);
        let err = db.cli(&["audit", "verify", "--stream", &file]).fails(3).to_owned();
        assert!(err.contains("events are missing"), "{err}");
    }
}

both_backends! {
    fn bad_stream_invocations_are_one_line_errors(db) {
        let empty = write_stream(&db, "empty.ndjson", &[]);
        // Usage errors (exit 2): --jwks only with --stream, --stream alone.
        let out = db.cli(&["audit", "verify", "--jwks", "jwks.json"]);
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains("--stream <FILE>"), "{}", out.stderr);
        for other in [&["--tenant", "acme"][..], &["--checkpoint", "cp.json"]] {
            let out = db.cli(&[&["audit", "verify", "--stream", &empty][..], other].concat());
            assert_eq!(out.code, 2, "{other:?}: {}", out.stderr);
            assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
        }

        let err = db.cli(&["audit", "verify", "--stream", "missing.ndjson", "--jwks", "jwks.json"]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: cannot read missing.ndjson: "), "{err}");
        let err = db.cli(&["audit", "verify", "--stream", &empty, "--jwks", "missing.json"]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: cannot read missing.json: "), "{err}");
        std::fs::write(db.dir.path().join("bad.json"), "not a jwks").unwrap();
        let err = db.cli(&["audit", "verify", "--stream", &empty, "--jwks", "bad.json"]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: the JWKS cannot verify checkpoints"), "{err}");
        // No keys folder here and no --jwks: say what to do.
        let err = db.cli(&["audit", "verify", "--stream", &empty]).fails(1).to_owned();
        assert!(err.starts_with("tessera: error: signing keys: ") && err.contains("--jwks"), "{err}");

        tessera::keys::init(&mut db.conn(), &db.dir.path().join("keys"), tessera::keys::Algorithm::Es256, &tessera::audit::Origin::system()).unwrap();
        std::fs::write(db.dir.path().join("jwks.json"), local_jwks(&db)).unwrap();
        let out = db.cli(&["audit", "verify", "--stream", &empty, "--jwks", "jwks.json"]).ok().to_owned();
        assert!(out.contains("no audit events"), "{out}");
        let junk = write_stream(&db, "junk.ndjson", &["{\"id\": ".to_owned()]);
        let err = db.cli(&["audit", "verify", "--stream", &junk]).fails(3).to_owned();
        assert!(err.ends_with("does not verify: line 1: not an audit item or checkpoint line: the line is not JSON"), "{err}");
        // A folder opens but cannot be read: an error reading, not a broken stream.
        let err = db.cli(&["audit", "verify", "--stream", db.dir.path().to_str().unwrap()]).fails(1).to_owned();
        assert!(err.contains("cannot read") && err.contains("could not be read"), "{err}");
    }
}
