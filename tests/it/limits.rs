//! Bounded resources against a real `tessera serve`: slow ingestion bodies and stalled
//! exports (raw TCP connections that send slowly or never read) cannot take memory past
//! the body budget, nor the connections and threads that logins, tokens and readiness
//! need.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::Server;
use crate::support::{client_token, user_token, TestDb};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// `/readyz`, JWKS, a client-credentials token and `/authorize` each answer, fast.
fn the_rest_keeps_answering(server: &Server, svc_secret: &str) {
    let a = agent();
    for (what, status, took) in [
        ("/readyz", { let t = Instant::now(); (a.get(server.url("/readyz")).call().unwrap().status().as_u16(), t.elapsed()) }),
        ("/.well-known/jwks.json", { let t = Instant::now(); (a.get(server.url("/.well-known/jwks.json")).call().unwrap().status().as_u16(), t.elapsed()) }),
        ("/token", {
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc:{svc_secret}"));
            let t = Instant::now();
            let res = a.post(server.url("/token")).header("authorization", format!("Basic {basic}")).send_form([("grant_type", "client_credentials")]).unwrap();
            (res.status().as_u16(), t.elapsed())
        }),
        ("/authorize", { let t = Instant::now(); (a.get(server.url("/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")).call().unwrap().status().as_u16(), t.elapsed()) }),
    ]
    .map(|(what, (status, took))| (what, status, took))
    {
        assert_eq!(status, 200, "{what}");
        assert!(took < Duration::from_secs(2), "{what} took {took:?}");
    }
}

fn setup(db: &TestDb, extra: &[(&str, &str)]) -> (Server, String) {
    db.tenant("acme");
    let secret = db.service_client("svc", Some("acme"), &["audit:write"]);
    db.client(
        "web",
        None,
        false,
        &["authorization_code"],
        &["openid"],
        &["https://app.example.com/cb"],
    );
    let server = db.server(extra);
    (server, secret)
}

/// Ingests `batches` batches of 1,000 events, each padded with `pad` bytes of details.
fn fill_log(server: &Server, svc_token: &str, batches: usize, pad: usize) {
    let batch: Value = (0..1000).map(|i| json!({ "action": "doc.read", "outcome": "success", "resource": { "type": "doc", "id": format!("doc-{i}") }, "details": { "pad": "x".repeat(pad) } })).collect();
    for _ in 0..batches {
        let res = agent()
            .post(server.url("/api/v1/audit/events"))
            .header("authorization", format!("Bearer {svc_token}"))
            .send_json(&batch)
            .unwrap();
        assert_eq!(res.status(), 202);
    }
}

/// A raw request whose answer is not read beyond its status line.
fn open(server: &Server, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

fn status_of(stream: &mut TcpStream) -> u16 {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 12];
    stream.read_exact(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

#[test]
fn slow_ingestion_bodies_stay_within_the_memory_budget() {
    let db = TestDb::sqlite();
    let (server, secret) = setup(&db, &[("TESSERA_BODY_BUDGET_BYTES", "8388608")]);
    let token = client_token(&db.state(), "svc", &secret);
    the_rest_keeps_answering(&server, &secret);
    let before = rss_kib(server.pid());

    // 30 clients announce 4 MB bodies and send 2 MiB each (60 MiB offered), then stall.
    let head = format!(
        "POST /api/v1/audit/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n["
    );
    let chunk = format!(
        "{},",
        json!({ "action": "a.b", "outcome": "success", "details": { "pad": "x".repeat(1000) } })
    );
    let mut streams: Vec<TcpStream> = (0..30).map(|_| open(&server, &head)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..(2 * 1024 * 1024 / chunk.len()) {
        for stream in &mut streams {
            let _ = stream.write_all(chunk.as_bytes());
        }
        if Instant::now() > deadline {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let during = rss_kib(server.pid());
    let grown_mib = during.saturating_sub(before) / 1024;
    eprintln!("RSS {before} kB before, {during} kB with 30 slow bodies (60 MiB offered)");
    assert!(
        grown_mib < 8 + 32,
        "memory grew {grown_mib} MiB past the 8 MiB budget"
    );
    the_rest_keeps_answering(&server, &secret);
    // Clients past the budget were answered 503 at once (and told when to come back).
    let refused = streams
        .iter_mut()
        .filter_map(|s| {
            s.set_read_timeout(Some(Duration::from_millis(300))).ok();
            let mut buf = [0u8; 12];
            s.read_exact(&mut buf).ok().map(|_| &buf[9..12] == b"503")
        })
        .filter(|refused| *refused)
        .count();
    assert!(refused > 0, "some bodies were refused for the budget");
    drop(streams);
    the_rest_keeps_answering(&server, &secret);
}

#[test]
fn stalled_exports_hold_nothing_the_other_requests_need() {
    let db = TestDb::sqlite();
    let (server, secret) = setup(&db, &[]);
    db.tenant("globex");
    for (email, tenant) in [
        ("a@acme.test", "acme"),
        ("b@acme.test", "acme"),
        ("c@globex.test", "globex"),
    ] {
        db.user(email, "correct horse battery");
        db.member(tenant, email, &["auditor"]);
    }
    let state = db.state();
    let [a, b, c] = [
        ("a@acme.test", "acme"),
        ("b@acme.test", "acme"),
        ("c@globex.test", "globex"),
    ]
    .map(|(e, t)| user_token(&state, e, t));
    let svc = client_token(&state, "svc", &secret);
    // Enough of a log that an export does not fit in the sockets' buffers.
    fill_log(&server, &svc, 20, 400);
    let export = |token: &str| {
        open(&server, &format!("GET /api/v1/audit/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"))
    };

    let mut first = export(&a);
    assert_eq!(status_of(&mut first), 200);
    let mut again = export(&a);
    assert_eq!(status_of(&mut again), 429, "one long read per caller");
    let mut second = export(&b);
    assert_eq!(status_of(&mut second), 200);
    let mut third = export(&c);
    assert_eq!(status_of(&mut third), 503, "two long reads at once overall");
    // Neither reader reads; everyone else is served, the log API included.
    the_rest_keeps_answering(&server, &secret);
    let listing = agent()
        .get(server.url("/api/v1/audit/events?limit=1"))
        .header("authorization", format!("Bearer {c}"))
        .call()
        .unwrap();
    assert_eq!(listing.status(), 200);

    // A reader that hangs up frees its place.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut retry = export(&c);
        match status_of(&mut retry) {
            200 => break,
            503 => assert!(Instant::now() < deadline, "the place was not freed"),
            other => panic!("{other}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop((again, second, third));
}

#[test]
fn a_reader_that_pauses_still_gets_the_whole_export() {
    let db = TestDb::sqlite();
    let (server, secret) = setup(&db, &[]);
    db.user("a@acme.test", "correct horse battery");
    db.member("acme", "a@acme.test", &["auditor"]);
    let state = db.state();
    let auditor = user_token(&state, "a@acme.test", "acme");
    let svc = client_token(&state, "svc", &secret);
    // About 35 MB of export: more than the response queue and both sockets' buffers
    // hold, so the export waits for the reader while it pauses.
    fill_log(&server, &svc, 30, 1000);
    let patient: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let res = patient
        .get(server.url("/api/v1/audit/export"))
        .header("authorization", format!("Bearer {auditor}"))
        .call()
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut body = res.into_body().into_reader();
    let mut export = vec![0u8; 64 * 1024];
    body.read_exact(&mut export).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    body.read_to_end(&mut export).unwrap();

    // Every event, in chain order, none missing: the pause cut nothing short.
    let lines: Vec<Value> = export
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert!(lines.len() > 30_000, "{} events", lines.len());
    for (i, event) in lines.iter().enumerate() {
        assert_eq!(event["seq"], json!(i + 1), "event {i}");
    }
    let verify: Value = agent()
        .get(server.url("/api/v1/audit/verify?full=true"))
        .header("authorization", format!("Bearer {auditor}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(
        verify["tenants"][0]["events"],
        json!(lines.len()),
        "{verify}"
    );
}

#[test]
fn a_request_sent_slowly_ends_at_its_timeout() {
    let db = TestDb::sqlite();
    let (server, secret) = setup(&db, &[("TESSERA_REQUEST_TIMEOUT_SECS", "2")]);
    // A form body announced and never finished: answered 408 at the timeout, not held.
    let started = Instant::now();
    let mut stream = open(&server, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=");
    assert_eq!(status_of(&mut stream), 408);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // The console's checkpoint upload: a signed-in reader's multipart body that stalls.
    let cookie = console_session(&db, "acme");
    let started = Instant::now();
    let mut stream = open(
        &server,
        &format!(
            "POST /console/checkpoints/check HTTP/1.1\r\nHost: x\r\nCookie: tessera_console={cookie}\r\n\
             Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000\r\n\r\n\
             --XyZ\r\nContent-Disposition: form-data; name=\"checkpoint\"\r\n\r\neyJ"
        ),
    );
    assert_eq!(status_of(&mut stream), 408);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    the_rest_keeps_answering(&server, &secret);
}

/// A console session of an auditor of `tenant`, stored as the console's callback stores
/// it (the token issued and recorded in the ledger like a login's): its cookie.
fn console_session(db: &TestDb, tenant: &str) -> String {
    db.user("auditor@example.com", "correct horse battery");
    db.member(tenant, "auditor@example.com", &["auditor"]);
    let state = db.state();
    let token = crate::support::user_token(&state, "auditor@example.com", tenant);
    let mut conn = state.pool.get().unwrap();
    let claims = tessera::tokens::verify_access_token(
        &mut conn,
        &state.keys.current(),
        &state.config.issuer,
        &token,
    )
    .unwrap()
    .unwrap()
    .claims;
    let sign_in = tessera::console::session::begin(&mut conn, "/console").unwrap();
    tessera::console::session::complete(&mut conn, &sign_in.cookie, &claims).unwrap();
    sign_in.cookie
}
