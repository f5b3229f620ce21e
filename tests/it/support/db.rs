//! One test's own database on either backend, and the macros that run a test body once
//! per backend.

use std::io::Write;
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
        let file = dir.path().join("tessera.db");
        Self::sqlite_in(dir, &file)
    }

    /// A SQLite database in a file of the test's choosing (a small filesystem); the
    /// keys and other files stay in a temporary folder of their own.
    pub fn sqlite_at(file: &std::path::Path) -> Self {
        Self::sqlite_in(tempfile::tempdir().expect("temp dir"), file)
    }

    fn sqlite_in(dir: tempfile::TempDir, file: &std::path::Path) -> Self {
        let url = format!("sqlite://{}", file.display());
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

    /// Runs raw SQL (tampering, fault injection).
    pub fn exec(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn = self.conn();
        conn.batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
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
