//! Database outages: a throwaway PostgreSQL cluster, created by the test on a port of
//! its own (never the machine's main server), is stopped and frozen under a real
//! `tessera serve`; every answer must be a prompt 503 with the generic body and
//! `Retry-After`, never a 500 or a hang, and service must resume without a restart.
//! Needs PostgreSQL's server binaries; runs when `TESSERA_TEST_POSTGRES_URL` is set.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Server;
use crate::support::{run_binary, PG_ENV};

/// A PostgreSQL cluster of the test's own, removed when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    /// `None` when PostgreSQL tests are off; a panic when they are on and the cluster
    /// cannot be made.
    fn start() -> Option<Self> {
        std::env::var(PG_ENV).ok()?;
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").exists())
                    .max()
            })
            .unwrap_or_else(|| panic!("{PG_ENV} is set but no PostgreSQL server binaries are installed under /usr/lib/postgresql"));
        let dir = tempfile::tempdir().unwrap();
        // The server runs as `postgres` (it refuses root); it owns the data folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self { dir, bin, port };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"],
        );
        cluster.pg_ctl_start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let mut cmd = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "-o",
                &options,
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "30", "stop"],
        );
    }

    /// The postmaster and every process it started.
    fn processes(&self) -> Vec<String> {
        let pid_file = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .unwrap_or_default();
        let Some(postmaster) = pid_file.lines().next().map(str::trim).map(str::to_owned) else {
            return Vec::new();
        };
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
            if after.split(' ').nth(1) == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        pids
    }

    fn signal(&self, signal: &str) {
        let pids = self.processes();
        assert!(!pids.is_empty(), "the cluster is running");
        let status = Command::new("kill")
            .arg(signal)
            .args(&pids)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.processes().is_empty() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .args(self.processes())
                .status();
            let program = self.bin.join("pg_ctl");
            let data = self.data();
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .output()
                .or_else(|_| {
                    Command::new(&program)
                        .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                        .output()
                });
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One answer: status, `Retry-After`, JSON body (if any), and how long it took.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

fn send(req: ureq::RequestBuilder<ureq::typestate::WithoutBody>) -> Answer {
    let started = Instant::now();
    let mut res = req.call().unwrap();
    answer(&mut res, started)
}

fn send_form(
    req: ureq::RequestBuilder<ureq::typestate::WithBody>,
    fields: &[(&str, &str)],
) -> Answer {
    let started = Instant::now();
    let mut res = req.send_form(fields.iter().copied()).unwrap();
    answer(&mut res, started)
}

fn answer(res: &mut ureq::http::Response<ureq::Body>, started: Instant) -> Answer {
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = res.status().as_u16();
    let text = res.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        took: started.elapsed(),
    }
}

/// A server on the cluster with a service client; returns it, the client's secret and
/// a working access token.
fn serve(cluster: &Cluster, dir: &std::path::Path) -> (Server, String, String) {
    let url = cluster.url();
    let env = [("TESSERA_DATABASE_URL", url.as_str())];
    let run = |args: &[&str]| run_binary(dir, &env, args, "");
    let secret = crate::faults::service_client(run);
    assert_eq!(
        run(&[
            "client",
            "create",
            "web",
            "--redirect-uri",
            "https://app.example.com/cb"
        ])
        .code,
        0
    );
    let server = Server::start_with(
        dir,
        &url,
        &[
            ("TESSERA_DB_TIMEOUT_SECS", "2"),
            ("TESSERA_DB_POOL_SIZE", "4"),
        ],
    );
    let token = token(&server, &secret);
    assert_eq!(token.status, 200, "{}", token.body);
    let access = token.body["access_token"].as_str().unwrap().to_owned();
    (server, secret, access)
}

fn token(server: &Server, secret: &str) -> Answer {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{secret}"));
    send_form(
        agent()
            .post(server.url("/token"))
            .header("authorization", format!("Basic {basic}")),
        &[("grant_type", "client_credentials")],
    )
}

const AUTHORIZE: &str = "/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

/// Every database-backed endpoint answers a prompt 503 with the generic body.
fn assert_unavailable(server: &Server, secret: &str, access: &str, within: Duration) {
    let a = agent();
    let answers = [
        ("/readyz", send(a.get(server.url("/readyz")))),
        ("/token", token(server, secret)),
        ("/authorize", send(a.get(server.url(AUTHORIZE)))),
        ("/api/v1/audit/events", {
            let started = Instant::now();
            let mut res = a
                .post(server.url("/api/v1/audit/events"))
                .header("authorization", format!("Bearer {access}"))
                .header("content-type", "application/json")
                .send(r#"{"action":"a.b","outcome":"success"}"#)
                .unwrap();
            answer(&mut res, started)
        }),
        ("/api/v1/tenants/{id}", {
            let started = Instant::now();
            let mut res = a
                .patch(server.url("/api/v1/tenants/acme"))
                .header("authorization", format!("Bearer {access}"))
                .header("content-type", "application/json")
                .send(r#"{"mfa":"required"}"#)
                .unwrap();
            answer(&mut res, started)
        }),
        ("/api/v1/users/{id}/mfa/reset", {
            let started = Instant::now();
            let mut res = a
                .post(server.url("/api/v1/users/u/mfa/reset"))
                .header("authorization", format!("Bearer {access}"))
                .header("content-type", "application/json")
                .send(r#"{"reason":"lost phone"}"#)
                .unwrap();
            answer(&mut res, started)
        }),
        ("/token (token exchange)", {
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{secret}"));
            send_form(
                a.post(server.url("/token"))
                    .header("authorization", format!("Basic {basic}")),
                &[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", access),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                    ("audience", "reports"),
                ],
            )
        }),
        ("/api/v1/streams", {
            let started = Instant::now();
            let mut res = a
                .post(server.url("/api/v1/streams"))
                .header("authorization", format!("Bearer {access}"))
                .header("content-type", "application/json")
                .send(r#"{"url":"https://siem.example/hook"}"#)
                .unwrap();
            answer(&mut res, started)
        }),
        (
            "/api/v1/streams/{id}",
            send(
                a.get(server.url("/api/v1/streams/00000000-0000-4000-8000-000000000001"))
                    .header("authorization", format!("Bearer {access}")),
            ),
        ),
    ];
    for (path, answer) in answers {
        assert_eq!(answer.status, 503, "{path}: {}", answer.body);
        assert!(answer.took <= within, "{path} took {:?}", answer.took);
        let expected = if path.starts_with("/token") {
            "temporarily_unavailable"
        } else {
            "unavailable"
        };
        assert_eq!(answer.body["error"], expected, "{path}: {}", answer.body);
        assert!(
            answer.body["request_id"].is_string(),
            "{path}: {}",
            answer.body
        );
        if path != "/readyz" {
            assert_eq!(answer.retry_after.as_deref(), Some("2"), "{path}");
        }
    }
    // The console's pages: the same prompt 503, as a page that says only that.
    for path in ["/console/login", "/console/events"] {
        let started = Instant::now();
        let mut res = a
            .get(server.url(path))
            .header("cookie", "tessera_console=some-session")
            .call()
            .unwrap();
        let took = started.elapsed();
        let body = res.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(res.status(), 503, "{path}: {body}");
        assert!(took <= within, "{path} took {took:?}");
        assert!(
            body.contains("The service is unavailable for a moment; try again shortly."),
            "{path}: {body}"
        );
    }
    // What needs no database keeps answering.
    let jwks = send(a.get(server.url("/.well-known/jwks.json")));
    assert_eq!(jwks.status, 200);
    assert!(jwks.took < Duration::from_secs(1), "{:?}", jwks.took);
}

/// Service resumes without a restart: within `within`, tokens are issued again, and
/// nothing meanwhile is a 500.
fn assert_resumes(server: &Server, secret: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let answer = token(server, secret);
        assert_ne!(answer.status, 500, "{}", answer.body);
        if answer.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: {} {}",
            answer.status,
            answer.body
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(send(agent().get(server.url("/readyz"))).status, 200);
}

#[test]
fn a_stopped_database_is_a_prompt_503_and_service_resumes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, secret, access) = serve(&cluster, dir.path());
    cluster.stop();
    // db_timeout_secs = 2: every answer within the deadline (2 s + 1 s) and a little.
    assert_unavailable(&server, &secret, &access, Duration::from_secs(5));
    cluster.pg_ctl_start();
    assert_resumes(&server, &secret, Duration::from_secs(20));
    assert_eq!(server.log_count("panicked"), 0);
}

#[test]
fn a_frozen_database_is_a_prompt_503_and_service_resumes() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, secret, access) = serve(&cluster, dir.path());
    cluster.signal("-STOP");
    assert_unavailable(&server, &secret, &access, Duration::from_secs(5));
    cluster.signal("-CONT");
    assert_resumes(&server, &secret, Duration::from_secs(20));
}

/// Under sustained ingestion and token load, the database is stopped for 10 s, then every
/// PostgreSQL process is killed (`kill -9`, crash recovery on restart): failures are
/// prompt 503s with the generic body, service resumes without restarting Tessera, and
/// nothing acknowledged is lost.
#[test]
fn a_database_stopped_or_killed_under_load_loses_nothing_acknowledged() {
    use crate::support::load::{Load, Mix};
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, secret, access) = serve(&cluster, dir.path());
    let mix = Mix {
        single: 3,
        batches: 1,
        tokens: 2,
    };
    let load = Load::start(&server.url(""), &access, ("svc", &secret), mix);
    load.wait_for_successes(200, Duration::from_secs(60));
    cluster.stop();
    std::thread::sleep(Duration::from_secs(10));
    let restarted = Instant::now();
    cluster.pg_ctl_start();
    load.wait_for_successes(1, Duration::from_secs(30));
    let after_stop = restarted.elapsed();
    load.wait_for_successes(200, Duration::from_secs(60));
    cluster.signal("-KILL");
    std::thread::sleep(Duration::from_secs(3));
    let restarted = Instant::now();
    cluster.pg_ctl_start();
    load.wait_for_successes(1, Duration::from_secs(30));
    let after_kill = restarted.elapsed();
    load.wait_for_successes(200, Duration::from_secs(60));
    let record = load.stop();
    assert!(
        record.slowest_failure < Duration::from_secs(5),
        "{}",
        record.summary()
    );
    assert!(
        record.statuses.get(&503).copied().unwrap_or(0) > 0,
        "{}",
        record.summary()
    );
    let stored = crate::faults::assert_whole(&cluster.url(), dir.path(), &server, &record);
    eprintln!(
        "database outages under load: {}; {stored} stored; first success {after_stop:?} after the restart, {after_kill:?} after crash recovery",
        record.summary()
    );
}

/// A server that turned read-only under Tessera (what a connection to a demoted
/// primary or a standby sees): not ready, writes a prompt 503, reads still served, and
/// writes resume once it takes writes again, without a restart.
#[test]
fn a_read_only_database_is_not_ready_and_writes_are_503() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (server, secret, access) = serve(&cluster, dir.path());
    let psql = |sql: &str| {
        cluster.run(
            "psql",
            &[
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &cluster.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                // The operator's own session stays writable.
                "SET default_transaction_read_only = off",
                "-c",
                sql,
                "-c",
                "SELECT pg_reload_conf()",
            ],
        )
    };
    psql("ALTER SYSTEM SET default_transaction_read_only = on");
    let a = agent();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send(a.get(server.url("/readyz"))).status != 503 {
        assert!(
            Instant::now() < deadline,
            "/readyz stays 200 on a read-only server"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..3 {
        let answer = token(&server, &secret);
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(
            answer.body["error"], "temporarily_unavailable",
            "{}",
            answer.body
        );
        assert!(answer.took < Duration::from_secs(3), "{:?}", answer.took);
    }
    let started = Instant::now();
    let mut res = a
        .post(server.url("/api/v1/audit/events"))
        .header("authorization", format!("Bearer {access}"))
        .header("content-type", "application/json")
        .send(r#"{"action":"a.b","outcome":"success"}"#)
        .unwrap();
    let ingest = answer(&mut res, started);
    assert_eq!(ingest.status, 503, "{}", ingest.body);
    assert_eq!(ingest.body["error"], "unavailable", "{}", ingest.body);
    assert_eq!(
        ingest.body["error_description"], "service unavailable",
        "{}",
        ingest.body
    );
    psql("ALTER SYSTEM RESET default_transaction_read_only");
    assert_resumes(&server, &secret, Duration::from_secs(10));
    assert_eq!(server.log_count("panicked"), 0);
}

#[test]
fn a_full_sqlite_file_is_an_outage_not_a_bug() {
    use diesel::connection::SimpleConnection;
    let db = crate::support::TestDb::sqlite();
    let mut conn = db.conn();
    // The file may not grow: the next page it needs is a full disk to SQLite.
    #[derive(diesel::QueryableByName)]
    struct Pages {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        page_count: i64,
    }
    let pages: Pages =
        diesel::RunQueryDsl::get_result(diesel::sql_query("PRAGMA page_count"), &mut conn).unwrap();
    conn.batch_execute(&format!("PRAGMA max_page_count = {}", pages.page_count))
        .unwrap();
    let result = tessera::db::write_tx(&mut conn, |tx| {
        tessera::tenants::create(
            tx,
            &tessera::audit::Origin::cli(),
            &tessera::tenants::Slug::parse("big").unwrap(),
            Some(&"x".repeat(200)),
        )?;
        tessera::audit::record(
            tx,
            &tessera::audit::Origin::cli(),
            tessera::audit::Event::new(
                tessera::tenants::SYSTEM_TENANT_ID,
                "x.y",
                tessera::audit::Outcome::Success,
            )
            .with_details(serde_json::json!({ "pad": "x".repeat(200_000) })),
        )?;
        Ok::<_, tessera::error::Error>(())
    });
    match result {
        Err(e) => assert!(e.is_temporary(), "{e:?}"),
        Ok(()) => panic!("the write should not fit"),
    }
}
