//! PostgreSQL as the production store: row-level security proven as the restricted
//! service role, the role's privileges, and two real `tessera serve` processes sharing
//! one database and one keys folder. These tests need PostgreSQL; without
//! `TESSERA_TEST_POSTGRES_URL` they say so and skip.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};

use crate::support::{TestDb, APP_ROLE};

const TABLES: [&str; 6] = [
    "memberships",
    "clients",
    "auth_codes",
    "refresh_tokens",
    "issued_tokens",
    "audit_events",
];

#[derive(QueryableByName)]
struct TenantRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    tenant_id: Option<String>,
}

/// Two tenants with a row of every tenant-scoped table each, written as the superuser.
fn seed(db: &TestDb) -> (String, String) {
    let a = db.tenant("tenant-a").id;
    let b = db.tenant("tenant-b").id;
    db.user("a@example.com", "correct horse battery");
    db.user("b@example.com", "correct horse battery");
    db.member("tenant-a", "a@example.com", &["member"]);
    db.member("tenant-b", "b@example.com", &["member"]);
    db.client(
        "client-a",
        Some("tenant-a"),
        false,
        &["authorization_code", "refresh_token"],
        &["openid"],
        &["https://a.example/cb"],
    );
    db.client(
        "client-b",
        Some("tenant-b"),
        false,
        &["authorization_code", "refresh_token"],
        &["openid"],
        &["https://b.example/cb"],
    );
    for (tenant, client, n) in [(&a, "client-a", "a"), (&b, "client-b", "b")] {
        db.exec(&format!(
            "INSERT INTO auth_codes (tenant_id, code_hash, client_id, user_id, redirect_uri, scope, code_challenge, auth_time, family_id, created_at, expires_at) \
             SELECT '{tenant}', 'code-{n}', '{client}', u.id, 'https://x/cb', 'openid', 'c', now(), 'fam-{n}', now(), now() FROM users u WHERE u.email = '{n}@example.com'; \
             INSERT INTO refresh_tokens (tenant_id, token_hash, family_id, jti, user_id, client_id, scope, auth_time, created_at, expires_at) \
             SELECT '{tenant}', 'refresh-{n}', 'fam-{n}', 'jti-r-{n}', u.id, '{client}', 'openid', now(), now(), now() FROM users u WHERE u.email = '{n}@example.com'; \
             INSERT INTO issued_tokens (tenant_id, jti, subject, client_id, token_type, scope, issued_at, expires_at, family_id) \
             VALUES ('{tenant}', 'jti-{n}', 'sub', '{client}', 'access_token', 'openid', now(), now(), 'fam-{n}');"
        ));
    }
    (a, b)
}

/// A connection as the restricted service role.
fn as_service(db: &TestDb) -> diesel::PgConnection {
    diesel::PgConnection::establish(&db.url).expect("service role connects")
}

fn tenants_seen(
    conn: &mut diesel::PgConnection,
    table: &str,
    setting: Option<(&str, &str)>,
) -> Vec<Option<String>> {
    conn.transaction::<_, diesel::result::Error, _>(|tx| {
        if let Some((name, value)) = setting {
            diesel::sql_query("SELECT set_config($1, $2, true)")
                .bind::<diesel::sql_types::Text, _>(name)
                .bind::<diesel::sql_types::Text, _>(value)
                .execute(tx)?;
        }
        diesel::sql_query(format!("SELECT tenant_id FROM {table}")).load::<TenantRow>(tx)
    })
    .unwrap()
    .into_iter()
    .map(|r| r.tenant_id)
    .collect()
}

#[test]
fn row_level_security_holds_for_the_service_role() {
    let Some(db) = TestDb::postgres() else { return };
    let (a, b) = seed(&db);
    let mut conn = as_service(&db);
    for table in TABLES {
        // With tenant A set, a query with no WHERE clause sees A's rows only.
        let seen = tenants_seen(&mut conn, table, Some(("app.tenant_id", &a)));
        assert!(!seen.is_empty(), "{table}: A's rows are visible");
        assert!(
            seen.iter().all(|t| t.as_deref() == Some(a.as_str())),
            "{table}: only A's rows: {seen:?}"
        );
        // With nothing set, nothing.
        assert!(
            tenants_seen(&mut conn, table, None).is_empty(),
            "{table}: no tenant, no rows"
        );
    }
    // Writing a row for B while acting for A is refused by the policy.
    for (table, insert) in [
        ("memberships", format!("INSERT INTO memberships (tenant_id, user_id, roles, status, created_at) SELECT '{b}', id, 'member', 'active', now() FROM users WHERE email = 'a@example.com'")),
        ("clients", format!("INSERT INTO clients (id, tenant_id, name, kind, redirect_uris, grant_types, scopes, created_at) VALUES ('sneaky', '{b}', 's', 'public', '', '', '', now())")),
        ("issued_tokens", format!("INSERT INTO issued_tokens (tenant_id, jti, subject, client_id, token_type, scope, issued_at, expires_at) VALUES ('{b}', 'x', 's', 'c', 'access_token', '', now(), now())")),
        ("audit_events", format!("INSERT INTO audit_events (tenant_id, seq, id, occurred_at, received_at, source, actor_type, action, outcome, details, prev_hash, hash) VALUES ('{b}', 99, 'x', now(), now(), 's', 'system', 'forged', 'success', '{{}}', 'p', 'h')")),
    ] {
        let result = conn.transaction::<_, diesel::result::Error, _>(|tx| {
            tx.batch_execute(&format!("SELECT set_config('app.tenant_id', '{a}', true); {insert}"))
        });
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("row-level security"), "{table}: {message}");
    }
    // The audit log cannot be changed by the service at all.
    for statement in [
        "UPDATE audit_events SET outcome = 'failure'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let result = conn.transaction::<_, diesel::result::Error, _>(|tx| {
            tx.batch_execute(&format!(
                "SELECT set_config('app.all_tenants', 'on', true); {statement}"
            ))
        });
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("permission denied"),
            "{statement}: {message}"
        );
    }
    // Nor change the schema.
    let ddl = conn
        .batch_execute("CREATE TABLE intruder (x int)")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(ddl.contains("permission denied"), "{ddl}");
    let ddl = conn
        .batch_execute("ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(ddl.contains("must be owner"), "{ddl}");
}

#[test]
fn the_service_role_is_least_privileged() {
    let Some(db) = TestDb::postgres() else { return };
    db.migrate();
    #[derive(QueryableByName)]
    struct Attributes {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        rolsuper: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        rolbypassrls: bool,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        owned: i64,
    }
    let mut conn = as_service(&db);
    let attributes: Attributes = diesel::sql_query(format!(
        "SELECT rolsuper, rolbypassrls, \
         (SELECT count(*) FROM pg_tables WHERE tableowner = '{APP_ROLE}') AS owned \
         FROM pg_roles WHERE rolname = current_user"
    ))
    .get_result(&mut conn)
    .unwrap();
    assert!(!attributes.rolsuper && !attributes.rolbypassrls);
    assert_eq!(attributes.owned, 0);
}

/// Waits (bounded) for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn token(agent: &ureq::Agent, url: &str, secret: &str) -> String {
    let body: Value = agent
        .post(&format!("{url}/token"))
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", secret),
        ])
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
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

#[test]
fn two_instances_share_one_database_and_one_keys_folder() {
    let Some(db) = TestDb::postgres() else { return };
    // Both start at once on an empty database: one migrates, the other waits for it;
    // one creates the keys, the other loads them.
    let env = [
        ("TESSERA_KEYS_RELOAD_SECS", "1"),
        ("TESSERA_LOGIN_MAX_FAILURES", "3"),
    ];
    let (first, second) = std::thread::scope(|s| {
        let one = s.spawn(|| db.server(&env));
        let two = s.spawn(|| db.server(&env));
        (one.join().unwrap(), two.join().unwrap())
    });
    let urls = [
        format!("http://{}", first.addr),
        format!("http://{}", second.addr),
    ];
    let applied = db.cli(&["migrate"]).ok().trim().to_owned();
    assert_eq!(applied, "applied 0 migration(s)");
    let keys = db.cli(&["keys", "list", "--json"]).json();
    assert_eq!(
        keys.as_array().unwrap().len(),
        2,
        "one key set, created once"
    );

    let acme = db.tenant("acme").id;
    let secret = db.service_client("svc", Some("acme"), &["audit:write"]);
    let agent = agent();

    // Concurrent ingestion into one tenant through both instances: one intact chain.
    std::thread::scope(|s| {
        for url in &urls {
            let (agent, secret) = (agent.clone(), secret.clone());
            s.spawn(move || {
                let bearer = format!("Bearer {}", token(&agent, url, &secret));
                for i in 0..20 {
                    let batch: Vec<Value> = (0..25)
                        .map(|j| json!({ "action": format!("doc.e{i}_{j}"), "outcome": "success" }))
                        .collect();
                    let res = agent
                        .post(&format!("{url}/api/v1/audit/events"))
                        .header("Authorization", &bearer)
                        .send_json(&batch)
                        .unwrap();
                    assert_eq!(res.status(), 202);
                }
            });
        }
    });
    let mut conn = db.conn();
    let report = tessera::audit::verify(&mut conn, &acme, tessera::audit::Mode::Full).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert!(report.events >= 1000, "{report:?}");

    // A rotation made through one instance's folder is served by both within seconds.
    let before = kid(&token(&agent, &urls[1], &secret));
    let rotation = db.cli(&["keys", "rotate", "--force", "--json"]).json();
    let new_kid = rotation["activated"].as_str().unwrap().to_owned();
    assert_ne!(before, new_kid);
    for url in &urls {
        eventually("both instances sign with the new key", || {
            kid(&token(&agent, url, &secret)) == new_kid
        });
    }

    // Lockout counts are shared: failures through both instances add up.
    db.user("alice@example.com", "correct horse battery");
    db.member("acme", "alice@example.com", &["member"]);
    db.client(
        "web",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &["https://app.example.com/cb"],
    );
    let attempt = |url: &str, password: &str| -> String {
        let browser = agent.clone();
        let page = browser
            .get(&format!(
                "{url}/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
                 &scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
            ))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let field = |name: &str| crate::browser::field(&page, name).unwrap();
        // The agent's cookie jar carries the login form's cookie back.
        let mut res = browser
            .post(&format!("{url}/login"))
            .send_form([
                ("request", field("request").as_str()),
                ("csrf", field("csrf").as_str()),
                ("email", "alice@example.com"),
                ("password", password),
            ])
            .unwrap();
        format!(
            "{} {}",
            res.status(),
            res.body_mut().read_to_string().unwrap_or_default()
        )
    };
    for (i, url) in [&urls[0], &urls[1], &urls[0]].into_iter().enumerate() {
        let answer = attempt(url, "wrong password");
        assert!(
            answer.starts_with("200") && answer.contains("Invalid email or password."),
            "attempt {i}"
        );
    }
    for url in &urls {
        let answer = attempt(url, "correct horse battery");
        assert!(
            answer.contains("Invalid email or password."),
            "locked on every instance: {}",
            &answer[..40.min(answer.len())]
        );
    }
    assert!(first.stop().success());
    assert!(second.stop().success());
}
