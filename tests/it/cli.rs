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
            "[possible values: authorization_code, refresh_token, client_credentials]",
        ),
    ] {
        let out = db.cli(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(choices), "{args:?}: {}", out.stderr);
    }
}
