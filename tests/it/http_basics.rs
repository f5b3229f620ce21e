//! The server skeleton: probes, request ids, generic error bodies, and the real binary
//! starting, serving and shutting down gracefully.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use actix_web::test as at;

use crate::support::{binary, both_backends_async, Server};

both_backends_async! {
    async fn probes_answer(db) {
        let app = at::init_service(tessera::http::app(db.state())).await;
        let res = at::call_service(&app, at::TestRequest::get().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("x-request-id"));
        let body: serde_json::Value = at::read_body_json(res).await;
        assert_eq!(body, serde_json::json!({ "status": "ok" }));

        let res = at::call_service(&app, at::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(res.status(), 200);
        let body: serde_json::Value = at::read_body_json(res).await;
        assert_eq!(body, serde_json::json!({ "status": "ready" }));
    }
}

both_backends_async! {
    async fn unknown_routes_get_the_generic_error_body(db) {
        let app = at::init_service(tessera::http::app(db.state())).await;
        let res = at::call_service(&app, at::TestRequest::get().uri("/api/v1/nothing?secret=x").to_request()).await;
        assert_eq!(res.status(), 404);
        let id = res.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        assert_eq!(id.len(), 32);
        let body: serde_json::Value = at::read_body_json(res).await;
        assert_eq!(
            body,
            serde_json::json!({ "error": "not_found", "error_description": "not found", "request_id": id })
        );

        let res = at::call_service(&app, at::TestRequest::post().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), 404);
    }
}

#[actix_web::test]
async fn readyz_is_503_without_revealing_why() {
    let db = crate::support::TestDb::sqlite();
    let mut state = db.state();
    // A pool whose database cannot be opened.
    let unreachable =
        tessera::db::DatabaseUrl::parse("sqlite:///nonexistent-dir/tessera.db").unwrap();
    state.pool = diesel::r2d2::Pool::builder()
        .connection_timeout(Duration::from_secs(1))
        .build_unchecked(tessera::db::ConnectionManager::new(unreachable));
    let app = at::init_service(tessera::http::app(state)).await;
    let res = at::call_service(&app, at::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), 503);
    let id = res
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = at::read_body_json(res).await;
    assert_eq!(
        body,
        serde_json::json!({ "error": "unavailable", "error_description": "service unavailable", "request_id": id })
    );
    // Liveness does not depend on the database.
    let res = at::call_service(&app, at::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), 200);
}

/// One HTTP/1.1 request over loopback; returns the status line and body.
pub fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.lines().next().unwrap_or_default().to_owned();
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

#[test]
fn the_real_binary_serves_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    // The default database location, relative to the working directory.
    let server = Server::start(dir.path(), "sqlite://data/tessera.db");
    let (status, body) = http_get(&server.addr, "/healthz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, r#"{"status":"ok"}"#);
    let (status, _) = http_get(&server.addr, "/readyz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert!(dir.path().join("data/tessera.db").exists());
}

#[test]
fn bootstrap_admin_is_created_once() {
    let db = crate::support::TestDb::sqlite();
    let pool = db.pool();
    let mut config = db.config();
    config.bootstrap_admin = Some(("Ops@Example.com".into(), "bootstrap password".into()));
    assert!(tessera::bootstrap::ensure_platform_admin(&pool, &config).unwrap());
    assert!(!tessera::bootstrap::ensure_platform_admin(&pool, &config).unwrap());
    let members = db.cli(&["member", "list", "system", "--json"]).json();
    assert_eq!(members[0]["email"], "ops@example.com");
    assert_eq!(members[0]["roles"], "admin");
    db.cli(&["audit", "verify", "--tenant", "system"]).ok();
}

/// README's audit walk-through, run as written against the real binary.
#[test]
fn the_audit_walkthrough_runs_as_written() {
    for tool in ["curl", "python3"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        assert!(found, "the walk-through needs {tool}");
    }
    let db = crate::support::TestDb::sqlite();
    let server = Server::start(db.dir.path(), &db.url);
    let tessera = format!("{} --database-url {}", binary().display(), db.url);
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/audit-walkthrough.sh"
        ))
        .current_dir(db.dir.path())
        .env("TESSERA", &tessera)
        .env("TESSERA_BCRYPT_COST", "4")
        .env("URL", format!("http://{}", server.addr))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("\"events\":[{\"id\""), "{stdout}");
    assert!(stdout.contains("invoice.delete"), "{stdout}");
    assert!(stdout.contains("id,tenant_id,seq,occurred_at"), "{stdout}");
    assert!(stdout.contains("True"), "verify says intact: {stdout}");
    assert!(
        stdout.contains("checkpoint: tenant acme at seq"),
        "{stdout}"
    );
}
