//! Test support: a fresh database per test on each backend, the real binary, and a
//! macro that runs one test body against SQLite and PostgreSQL.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Once;

use diesel::{Connection, RunQueryDsl};
use tessera::db::{self, DatabaseUrl, DbConnection, Pool};

pub const PG_ENV: &str = "TESSERA_TEST_POSTGRES_URL";

/// Runs the test body (a function of `TestDb`) once per backend.
macro_rules! both_backends {
    ($(#[$meta:meta])* fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($db: $crate::support::TestDb) $body
            #[test]
            fn sqlite() {
                body($crate::support::TestDb::sqlite());
            }
            #[test]
            fn postgres() {
                if let Some(db) = $crate::support::TestDb::postgres() {
                    body(db);
                }
            }
        }
    };
}
pub(crate) use both_backends;

/// The async variant, for tests that drive the HTTP app.
macro_rules! both_backends_async {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($db: $crate::support::TestDb) $body
            #[actix_web::test]
            async fn sqlite() {
                body($crate::support::TestDb::sqlite()).await;
            }
            #[actix_web::test]
            async fn postgres() {
                if let Some(db) = $crate::support::TestDb::postgres() {
                    body(db).await;
                }
            }
        }
    };
}
pub(crate) use both_backends_async;

/// One test's own database: a temporary SQLite file, or a fresh PostgreSQL database that
/// is dropped afterwards. On PostgreSQL the schema belongs to `tessera_owner` (which
/// runs the migrations) and the service connects as the restricted `tessera_app`, as
/// in production; test fixtures and tampering use the superuser.
pub struct TestDb {
    /// What the service connects with.
    pub url: String,
    /// What migrations run with (PostgreSQL only).
    pub migration_url: Option<String>,
    /// A superuser's URL for the same database (PostgreSQL only): fixtures, tampering.
    pub super_url: Option<String>,
    pub dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

pub const OWNER_ROLE: &str = "tessera_owner";
pub const APP_ROLE: &str = "tessera_app";

fn with_user(url: &url::Url, user: &str, database: &str) -> String {
    let mut url = url.clone();
    let _ = url.set_username(user);
    let _ = url.set_password(None);
    url.set_path(database);
    url.to_string()
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
        Self {
            url,
            migration_url: None,
            super_url: None,
            dir,
            postgres: None,
        }
    }

    /// `None` (after a loud notice) when `TESSERA_TEST_POSTGRES_URL` is unset; a panic
    /// when it is set and the server cannot be reached.
    pub fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            static NOTICE: Once = Once::new();
            NOTICE.call_once(|| {
                // Written to the real stderr, past the test harness's capture.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** PostgreSQL tests SKIPPED: {PG_ENV} is not set \
                     (e.g. postgres://postgres@127.0.0.1:5432/postgres) ***\n"
                );
            });
            return None;
        };
        let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::pg::PgConnection::establish(&admin_url)
            .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL is unreachable: {e}"));
        // The two roles of deploy/postgres-roles.sql (trust authentication here).
        for role in [
            format!("{OWNER_ROLE} LOGIN"),
            format!("{APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"),
        ] {
            diesel::sql_query(format!(
                "DO $$ BEGIN CREATE ROLE {role}; \
                 EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ))
            .execute(&mut admin)
            .expect("create role");
        }
        diesel::sql_query(format!("CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
            .execute(&mut admin)
            .expect("create test database");
        let base = url::Url::parse(&admin_url).expect("valid postgres URL");
        let super_user = base.username().to_owned();
        Some(Self {
            url: with_user(&base, APP_ROLE, &name),
            migration_url: Some(with_user(&base, OWNER_ROLE, &name)),
            super_url: Some({
                let mut u = base.clone();
                u.set_path(&name);
                let _ = u.set_username(&super_user);
                u.to_string()
            }),
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: Some((admin_url, name)),
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).expect("valid test URL")
    }

    /// Applies the migrations as the schema owner.
    pub fn migrate(&self) {
        let url = self.migration_url.as_deref().unwrap_or(&self.url);
        let mut conn = db::connect(&DatabaseUrl::parse(url).expect("url")).expect("connect");
        db::migrate(&mut conn).expect("migrate");
    }

    /// A direct connection with the schema migrated: the superuser's on PostgreSQL (it
    /// sees every row, for fixtures and inspection), the file on SQLite.
    pub fn conn(&self) -> DbConnection {
        self.migrate();
        let url = self.super_url.as_deref().unwrap_or(&self.url);
        db::connect(&DatabaseUrl::parse(url).expect("url")).expect("connect")
    }

    /// A small pool of service connections with the schema migrated.
    pub fn pool(&self) -> Pool {
        self.migrate();
        db::pool(&self.database_url(), 4, std::time::Duration::from_secs(5)).expect("pool")
    }

    /// The environment a server or CLI of this database needs.
    pub fn env(&self) -> Vec<(&str, &str)> {
        let mut env = vec![("TESSERA_DATABASE_URL", self.url.as_str())];
        if let Some(m) = &self.migration_url {
            env.push(("TESSERA_MIGRATION_DATABASE_URL", m.as_str()));
        }
        env
    }

    /// A real `tessera serve` on this database, with extra environment.
    pub fn server(&self, extra: &[(&str, &str)]) -> crate::http_basics::Server {
        let mut env = self.env();
        env.extend_from_slice(extra);
        crate::http_basics::Server::start_with(self.dir.path(), &self.url, &env)
    }

    /// The configuration a server on this database would load (no environment).
    pub fn config(&self) -> tessera::config::Config {
        let overrides = tessera::config::Overrides {
            database_url: Some(self.url.clone()),
            migration_database_url: self.migration_url.clone(),
            keys_dir: Some(self.dir.path().join("keys")),
            ..Default::default()
        };
        let mut config = tessera::config::Config::load_with(&overrides, |name| {
            (name == "TESSERA_BCRYPT_COST").then(|| "4".to_owned())
        })
        .expect("test config");
        config.workers = 1;
        // Tests log in many times from one (absent) address; the throttle has its own.
        config.login_rate_per_minute = 0;
        config
    }

    /// The application state `serve` would build, over a migrated pool.
    pub fn state(&self) -> tessera::http::AppState {
        self.state_with(|_| {})
    }

    /// [`Self::state`] with the configuration adjusted first.
    pub fn state_with(
        &self,
        adjust: impl FnOnce(&mut tessera::config::Config),
    ) -> tessera::http::AppState {
        let mut config = self.config();
        adjust(&mut config);
        let pool = self.pool();
        let mut conn = pool.get().expect("connection");
        tessera::keys::init(
            &mut conn,
            &config.keys_dir,
            config.signing_alg,
            &tessera::audit::Origin::system(),
        )
        .expect("keys");
        let keys = tessera::keys::Keys::open(&config.keys_dir).expect("open keys");
        let workers = match config.bcrypt_workers {
            0 => 2,
            n => n,
        };
        let hasher = tessera::users::password::Hasher::start(
            workers,
            config.bcrypt_queue,
            config.bcrypt_cost,
        )
        .expect("hasher");
        tessera::http::AppState::new(pool, config, keys, hasher).expect("state")
    }

    /// Runs raw SQL (tampering, fault injection).
    pub fn exec(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn = self.conn();
        conn.batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs the real `tessera` binary against this database.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_stdin(args, "")
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> CliOutput {
        run_binary(self.dir.path(), &self.env(), args, stdin)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres {
            if let Ok(mut admin) = diesel::pg::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// Asserts a failure with exit `code` and exactly one line on stderr, no panic.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "stderr: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self.stderr.trim_end()
    }
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tessera"))
}

/// Runs the binary in `dir` with a clean `TESSERA_*` environment plus `env`.
pub fn run_binary(dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> CliOutput {
    let mut cmd = Command::new(binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TESSERA_BCRYPT_COST", "4")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tessera");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for tessera");
    CliOutput {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Builders: create what a test needs through the domain operations, as an operator.
impl TestDb {
    pub fn tenant(&self, slug: &str) -> tessera::tenants::Tenant {
        let mut conn = self.conn();
        let slug = tessera::tenants::Slug::parse(slug).unwrap();
        db::write_tx(&mut conn, |tx| {
            tessera::tenants::create(tx, &tessera::audit::Origin::cli(), &slug, None)
        })
        .unwrap()
    }

    /// A client; returns its secret when confidential.
    pub fn client(
        &self,
        id: &str,
        tenant: Option<&str>,
        confidential: bool,
        grants: &[&str],
        scopes: &[&str],
        redirect_uris: &[&str],
    ) -> Option<String> {
        let mut conn = self.conn();
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        db::write_tx(&mut conn, |tx| {
            let tenant = tenant
                .map(|slug| {
                    tessera::tenants::find_by_slug(
                        tx,
                        &tessera::tenants::Slug::parse(slug).unwrap(),
                    )
                    .map(Option::unwrap)
                })
                .transpose()?;
            tessera::clients::create(
                tx,
                &tessera::audit::Origin::cli(),
                &tessera::clients::ClientId::parse(id).unwrap(),
                tenant.as_ref(),
                tessera::clients::NewClient {
                    name: None,
                    confidential,
                    redirect_uris: owned(redirect_uris),
                    grants: owned(grants),
                    scopes: owned(scopes),
                },
            )
        })
        .unwrap()
        .1
    }

    /// A confidential client-credentials client; returns its secret.
    pub fn service_client(&self, id: &str, tenant: Option<&str>, scopes: &[&str]) -> String {
        self.client(id, tenant, true, &["client_credentials"], scopes, &[])
            .unwrap()
    }

    #[allow(dead_code)]
    pub fn user(&self, email: &str, password: &str) -> tessera::users::User {
        let hash = tessera::users::password::hash(password, 4).unwrap();
        let email = tessera::users::Email::parse(email).unwrap();
        let mut conn = self.conn();
        db::write_tx(&mut conn, |tx| {
            tessera::users::create(tx, &tessera::audit::Origin::cli(), &email, hash)
        })
        .unwrap()
    }

    #[allow(dead_code)]
    pub fn member(&self, slug: &str, email: &str, roles: &[&str]) {
        let mut conn = self.conn();
        let roles = tessera::memberships::Roles::new(
            roles
                .iter()
                .map(|r| tessera::memberships::Role::parse(r).unwrap()),
        )
        .unwrap();
        db::write_tx(&mut conn, |tx| {
            let tenant =
                tessera::tenants::find_by_slug(tx, &tessera::tenants::Slug::parse(slug).unwrap())?
                    .unwrap();
            let user =
                tessera::users::find_by_email(tx, &tessera::users::Email::parse(email).unwrap())?
                    .unwrap();
            tessera::memberships::add(tx, &tessera::audit::Origin::cli(), &tenant, &user, &roles)
        })
        .unwrap();
    }

    /// Actions recorded in a tenant's chain, in order.
    pub fn audit_actions(&self, tenant_id: &str) -> Vec<(String, String)> {
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        a::table
            .filter(a::tenant_id.eq(tenant_id))
            .order(a::seq.asc())
            .select((a::action, a::outcome))
            .load(&mut self.conn())
            .unwrap()
    }
}

/// An answer from the in-process app.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON body without its per-request id, for comparing two error answers.
    pub fn json_without_request_id(&self) -> serde_json::Value {
        let mut body = self.json();
        if let Some(map) = body.as_object_mut() {
            map.remove("request_id");
        }
        body
    }
}

pub async fn call<S, B>(app: &S, req: actix_http::Request) -> Reply
where
    S: actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    B: actix_web::body::MessageBody,
{
    let res = actix_web::test::call_service(app, req).await;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = actix_web::test::read_body(res).await;
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A form POST with optional `Authorization`.
pub fn form_post(
    path: &str,
    authorization: Option<&str>,
    fields: &[(&str, &str)],
) -> actix_http::Request {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut req = actix_web::test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body);
    if let Some(value) = authorization {
        req = req.insert_header(("authorization", value));
    }
    req.to_request()
}

pub fn get(path: &str) -> actix_http::Request {
    actix_web::test::TestRequest::get().uri(path).to_request()
}

/// A real access token for a member of `tenant`, issued the way a login issues it
/// (roles from the membership, recorded in the ledger).
pub fn user_token(state: &tessera::http::AppState, email: &str, tenant: &str) -> String {
    let mut conn = state.pool.get().unwrap();
    let user =
        tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse(email).unwrap())
            .unwrap()
            .unwrap();
    let access = match tessera::memberships::resolve_tenant(&mut conn, &user.id, None, Some(tenant))
        .unwrap()
    {
        tessera::memberships::Resolution::Tenant(access) => access,
        tessera::memberships::Resolution::Pick(_) => panic!("a hint resolves to one tenant"),
    };
    let roles = access.role_names();
    let keys = state.keys.current();
    let issuer = tessera::oauth::issuer(&state.config);
    db::write_tx(&mut conn, |tx| {
        tessera::tokens::issue_access_token(
            tx,
            &keys,
            &issuer,
            &tessera::audit::Origin::system(),
            &tessera::tokens::Grant {
                tenant: &access.tenant,
                subject: &user.id,
                client_id: "console",
                scope: "openid tessera:api",
                roles: &roles,
                family_id: None,
            },
        )
    })
    .unwrap()
    .token
}

/// A client-credentials token, minted the way `POST /token` mints it: the checks, then
/// the ledger row and event through the group-commit writer.
pub fn client_token(state: &tessera::http::AppState, client_id: &str, secret: &str) -> String {
    use tessera::oauth::client_credentials;
    let mut conn = state.pool.get().unwrap();
    let credentials = tessera::oauth::ClientCredentials {
        client_id: Some(client_id.to_owned()),
        client_secret: Some(secret.to_owned()),
    };
    let granted =
        client_credentials::check(&mut conn, &state.directory, &credentials, None).unwrap();
    let keys = state.keys.current();
    let issuer = tessera::oauth::issuer(&state.config);
    let origin = tessera::audit::Origin::system();
    let (response, record) = client_credentials::mint(&keys, &issuer, &origin, &granted).unwrap();
    // Tests call this from inside actix's runtime: wait for the commit on a thread of
    // its own.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(state.issuance.submit(record))
            })
            .join()
            .unwrap()
    })
    .unwrap();
    response.access_token
}

/// A request with a bearer token.
pub fn bearer(
    method: actix_web::http::Method,
    path: &str,
    token: &str,
) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("authorization", format!("Bearer {token}")))
}
