//! Audit streams end to end, on both backends: the real `tessera serve` delivers to a
//! receiver on loopback across a restart, a `kill -9`, a receiver failing 503 for a
//! while and a 410; afterwards the receiver's copy holds every seq of every chain once,
//! in order, and verifies (hashes, links, signed checkpoints). Destinations the policy
//! forbids receive nothing; administrators reach only their tenant's streams.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use actix_web::test::init_service;
use serde_json::{json, Value};

use crate::support::{bearer, both_backends, both_backends_async, call, user_token, TestDb};

/// A webhook receiver on loopback: answers every request with `status` (a test changes
/// it), keeps each accepted delivery once by `webhook-id` and checks its signature.
struct Receiver {
    port: u16,
    status: Arc<AtomicU16>,
    deliveries: Arc<Mutex<Vec<(String, String)>>>,
    requests: Arc<AtomicUsize>,
    bad_signatures: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    secret: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    /// Every webhook-id received with a 200, duplicates included.
    ids: Arc<Mutex<Vec<String>>>,
    /// Milliseconds each answer waits (a slow receiver).
    delay_ms: Arc<AtomicU16>,
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let r = Receiver {
            port: listener.local_addr().unwrap().port(),
            status: Arc::new(AtomicU16::new(200)),
            deliveries: Arc::default(),
            requests: Arc::default(),
            bad_signatures: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            secret: Arc::default(),
            stop: Arc::default(),
            ids: Arc::default(),
            delay_ms: Arc::default(),
        };
        let (status, deliveries, requests, bad, in_flight, max, secret, stop) = (
            r.status.clone(),
            r.deliveries.clone(),
            r.requests.clone(),
            r.bad_signatures.clone(),
            r.in_flight.clone(),
            r.max_in_flight.clone(),
            r.secret.clone(),
            r.stop.clone(),
        );
        let (ids, delay) = (r.ids.clone(), r.delay_ms.clone());
        std::thread::spawn(move || {
            // Bounded: the test drops the receiver (stop) or ten minutes pass.
            let deadline = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                // A sender killed mid-request (the kill -9 below) leaves a connection
                // that ends early: that is no delivery, so it is neither counted nor
                // checked.
                let mut complete = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 {
                        break;
                    }
                    if h.trim().is_empty() {
                        complete = true;
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let length: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                if !complete || reader.read_exact(&mut body).is_err() {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    continue;
                }
                requests.fetch_add(1, Ordering::SeqCst);
                let code = status.load(Ordering::SeqCst);
                if code == 200 {
                    let id = headers.get("webhook-id").cloned().unwrap_or_default();
                    let ts: i64 = headers
                        .get("webhook-timestamp")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    let signature = headers
                        .get("webhook-signature")
                        .cloned()
                        .unwrap_or_default();
                    let signed = secret.lock().unwrap().as_deref().is_some_and(|s| {
                        let s = tessera::streams::sign::Secret::parse(s).unwrap();
                        tessera::streams::sign::verify(&s, &id, ts, &body, &signature)
                    });
                    if !signed {
                        bad.fetch_add(1, Ordering::SeqCst);
                    }
                    ids.lock().unwrap().push(id.clone());
                    let mut kept = deliveries.lock().unwrap();
                    if !kept.iter().any(|(seen, _)| *seen == id) {
                        kept.push((id, String::from_utf8(body).unwrap()));
                    }
                }
                std::thread::sleep(Duration::from_millis(u64::from(
                    delay.load(Ordering::SeqCst),
                )));
                let reason = match code {
                    200 => "OK",
                    410 => "Gone",
                    _ => "Service Unavailable",
                };
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        });
        r
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// The received copy: every line of every accepted delivery, in arrival order.
    fn lines(&self) -> Vec<String> {
        self.deliveries
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, body)| body.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    /// Per tenant, the seqs received, in order.
    fn seqs(&self) -> BTreeMap<String, Vec<i64>> {
        let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for line in self.lines() {
            let v: Value = serde_json::from_str(&line).unwrap();
            if let Some(seq) = v["seq"].as_i64() {
                out.entry(v["tenant_id"].as_str().unwrap().to_owned())
                    .or_default()
                    .push(seq);
            }
        }
        out
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl TestDb {
    /// Each tenant's chain head.
    fn heads(&self) -> BTreeMap<String, i64> {
        use diesel::dsl::max;
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        let rows: Vec<(String, Option<i64>)> = a::table
            .group_by(a::tenant_id)
            .select((a::tenant_id, max(a::seq)))
            .load(&mut self.conn())
            .unwrap();
        rows.into_iter().map(|(t, s)| (t, s.unwrap_or(0))).collect()
    }

    fn stream_state(&self) -> Value {
        self.cli(&["--json", "stream", "list"]).json()[0].clone()
    }

    fn count_action(&self, action: &str) -> usize {
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        a::table
            .filter(a::action.eq(action))
            .count()
            .get_result::<i64>(&mut self.conn())
            .unwrap() as usize
    }
}

/// Waits (bounded) for `condition`.
fn eventually(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The receiver holds every seq of every chain exactly once, in order.
fn complete(db: &TestDb, receiver: &Receiver) -> bool {
    let seqs = receiver.seqs();
    db.heads()
        .iter()
        .all(|(tenant, head)| seqs.get(tenant).is_some_and(|s| s.len() as i64 == *head))
}

fn assert_exact_copy(db: &TestDb, receiver: &Receiver) {
    let seqs = receiver.seqs();
    for (tenant, head) in db.heads() {
        let expected: Vec<i64> = (1..=head).collect();
        assert_eq!(seqs.get(&tenant), Some(&expected), "tenant {tenant}");
    }
}

const FAST: &[(&str, &str)] = &[
    ("TESSERA_STREAM_ALLOW_PRIVATE", "true"),
    ("TESSERA_STREAM_BATCH_SIZE", "4"),
    ("TESSERA_STREAM_CHECKPOINT_EVENTS", "5"),
    ("TESSERA_STREAM_RETRY_MAX_SECS", "1"),
    ("TESSERA_STREAM_TIMEOUT_SECS", "2"),
];

both_backends! {
    fn a_stream_survives_restarts_kills_and_outages_and_verifies(db) {
        let receiver = Receiver::start();
        for slug in ["acme", "globex"] {
            db.cli(&["tenant", "create", slug]).ok();
        }
        let created = db.cli(&["--json", "stream", "create", &receiver.url()]).json();
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(created["state"], "active");
        *receiver.secret.lock().unwrap() = Some(created["secret"].as_str().unwrap().to_owned());

        let server = db.server(FAST);
        eventually("the first copy", Duration::from_secs(30), || complete(&db, &receiver));

        // A clean restart: delivery resumes from the acknowledged seq.
        server.stop();
        for i in 0..6 {
            db.cli(&["tenant", "create", &format!("t{i}")]).ok();
        }
        let server = db.server(FAST);
        eventually("the copy after a restart", Duration::from_secs(30), || complete(&db, &receiver));

        // kill -9 in the middle of delivering.
        for i in 0..10 {
            db.cli_with_stdin(&["user", "create", &format!("u{i}@example.com"), "--password-stdin"], "a long enough password\n").ok();
        }
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("kill").args(["-9", &server.pid().to_string()]).status();
        drop(server);
        for i in 10..14 {
            db.cli_with_stdin(&["user", "create", &format!("u{i}@example.com"), "--password-stdin"], "a long enough password\n").ok();
        }
        let server = db.server(FAST);
        eventually("the copy after a kill", Duration::from_secs(40), || complete(&db, &receiver));

        // The receiver fails for a while: retries, one failing run audited, then it heals.
        receiver.status.store(503, Ordering::SeqCst);
        let before = receiver.requests.load(Ordering::SeqCst);
        db.cli(&["tenant", "create", "during-outage"]).ok();
        eventually("retries", Duration::from_secs(30), || receiver.requests.load(Ordering::SeqCst) >= before + 3);
        let failing = db.stream_state();
        assert!(failing["failing_since"].is_string(), "{failing}");
        assert!(failing["last_error"].as_str().unwrap().contains("503"), "{failing}");
        receiver.status.store(200, Ordering::SeqCst);
        eventually("the copy after an outage", Duration::from_secs(30), || complete(&db, &receiver));
        eventually("the recovery event", Duration::from_secs(10), || db.count_action("stream.delivery_recovered") == 1);
        assert_eq!(db.count_action("stream.delivery_failing"), 1);
        eventually("the copy of the recovery event", Duration::from_secs(30), || complete(&db, &receiver));

        assert_exact_copy(&db, &receiver);
        assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);

        // The copy verifies offline, checkpoints included, with the published keys.
        let jwks = ureq::get(&server.url("/.well-known/jwks.json")).call().unwrap().into_body().read_to_string().unwrap();
        let lines = receiver.lines();
        let mut checker = tessera_verify::stream::StreamChecker::new(Some(&jwks), None).unwrap();
        for line in &lines {
            checker.push_line(line).unwrap();
        }
        let summary = checker.summary();
        assert!(summary.tenants.iter().map(|t| t.checkpoints_verified).sum::<u64>() >= 3, "{summary:?}");
        // The operator's command says the same of the saved copy.
        let copy = db.dir.path().join("copy.ndjson");
        std::fs::write(&copy, lines.join("\n") + "\n").unwrap();
        let jwks_file = db.dir.path().join("jwks.json");
        std::fs::write(&jwks_file, &jwks).unwrap();
        let verified = db.cli(&["--json", "audit", "verify", "--stream", copy.to_str().unwrap(), "--jwks", jwks_file.to_str().unwrap()]).json();
        assert_eq!(verified["tenants"].as_array().unwrap().len(), db.heads().len(), "{verified}");
        // An edited, a dropped or a reordered line makes it fail, naming the seq.
        let events: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].contains("\"seq\"")).collect();
        let target = events[events.len() / 2];
        let seq = serde_json::from_str::<Value>(&lines[target]).unwrap()["seq"].as_i64().unwrap();
        let check = |copy: &[String]| {
            let mut checker = tessera_verify::stream::StreamChecker::new(Some(&jwks), None).unwrap();
            copy.iter().try_for_each(|l| checker.push_line(l)).map_err(|p| p.to_string())
        };
        let mut edited = lines.clone();
        edited[target] = edited[target].replacen("\"outcome\":\"success\"", "\"outcome\":\"failure\"", 1);
        assert!(check(&edited).unwrap_err().contains(&format!("seq {seq}")));
        let mut dropped = lines.clone();
        dropped.remove(target);
        assert!(check(&dropped).unwrap_err().contains(&format!("seq {seq}")));
        let mut swapped = lines.clone();
        let next = events.iter().copied().find(|i| *i > target && lines[*i].contains(&format!("\"tenant_id\":{}", serde_json::to_string(&serde_json::from_str::<Value>(&lines[target]).unwrap()["tenant_id"]).unwrap()))).unwrap();
        swapped.swap(target, next);
        assert!(check(&swapped).unwrap_err().contains("seq"));

        // A 410 suspends the stream, visible in the listing; resuming delivers again.
        receiver.status.store(410, Ordering::SeqCst);
        db.cli(&["tenant", "create", "after-gone"]).ok();
        eventually("the suspension", Duration::from_secs(30), || db.stream_state()["state"] == "suspended");
        assert!(db.stream_state()["suspended_reason"].as_str().unwrap().contains("410"));
        eventually("the suspension in /metrics", Duration::from_secs(10), || {
            let metrics = ureq::get(&server.url("/metrics")).call().unwrap().into_body().read_to_string().unwrap();
            metrics.contains("tessera_stream_state{state=\"suspended\"} 1") && metrics.contains("tessera_stream_lag_events{stream=")
        });
        receiver.status.store(200, Ordering::SeqCst);
        let id = db.stream_state()["id"].as_str().unwrap().to_owned();
        db.cli(&["stream", "resume", &id]).ok();
        eventually("the copy after resuming", Duration::from_secs(30), || complete(&db, &receiver));
        assert_exact_copy(&db, &receiver);
        server.stop();
    }
}

both_backends! {
    fn forbidden_destinations_receive_nothing(db) {
        let receiver = Receiver::start();
        // Plain http to anything but loopback, and credentials in the URL, are refused
        // when the stream is created.
        for url in ["http://10.0.0.1/hook", "http://example.com/hook", "https://user:pw@example.com/hook", "ftp://127.0.0.1/"] {
            let out = db.cli(&["stream", "create", url]);
            assert!(out.fails(1).contains("stream url"), "{url}: {}", out.stderr);
        }
        // Loopback by address and by a name that resolves to it: refused after DNS
        // resolution when the operator has not allowed private addresses.
        db.cli(&["stream", "create", &receiver.url()]).ok();
        db.cli(&["stream", "create", &format!("http://localhost:{}/hook", receiver.port)]).ok();
        let server = db.server(&[("TESSERA_STREAM_RETRY_MAX_SECS", "1")]);
        eventually("refused attempts", Duration::from_secs(20), || {
            let all = db.cli(&["--json", "stream", "list"]).json();
            all.as_array().unwrap().iter().all(|s| s["last_error"].as_str().is_some_and(|e| e.contains("not allowed")))
        });
        assert_eq!(receiver.requests.load(Ordering::SeqCst), 0);
        server.stop();
    }
}

both_backends_async! {
    async fn administrators_reach_only_their_tenants_streams(db) {
        db.tenant("acme");
        db.tenant("globex");
        for (email, tenant, role) in [("admin@acme.test", "acme", "admin"), ("admin@globex.test", "globex", "admin"), ("member@acme.test", "acme", "member"), ("root@platform.test", "system", "admin")] {
            db.user(email, "correct horse battery");
            db.member(tenant, email, &[role]);
        }
        let state = db.state();
        let acme = user_token(&state, "admin@acme.test", "acme");
        let globex = user_token(&state, "admin@globex.test", "globex");
        let member = user_token(&state, "member@acme.test", "acme");
        let root = user_token(&state, "root@platform.test", "system");
        let app = init_service(tessera::http::app(state)).await;
        let post = |token: &str, body: Value| bearer(Method::POST, "/api/v1/streams", token).set_json(body).to_request();

        let created = call(&app, post(&acme, json!({ "url": "https://siem.example/hook" }))).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let stream = created.json();
        assert_eq!(stream["tenant_id"], json!(db.tenant_by_slug("acme").id));
        assert!(stream["secret"].as_str().unwrap().starts_with("whsec_"));
        let id = stream["id"].as_str().unwrap();
        // Another tenant's administrator: the same 404 as for a stream that does not exist.
        let path = format!("/api/v1/streams/{id}");
        let missing = format!("/api/v1/streams/{}", uuid::Uuid::new_v4());
        for p in [&path, &missing] {
            let reply = call(&app, bearer(Method::GET, p, &globex).to_request()).await;
            assert_eq!(reply.status, 404, "{}", reply.body);
            assert_eq!(reply.json()["error"], "not_found");
        }
        let reply = call(&app, bearer(Method::PATCH, &path, &globex).set_json(json!({ "state": "paused" })).to_request()).await;
        assert_eq!(reply.status, 404);
        let reply = call(&app, bearer(Method::DELETE, &path, &globex).to_request()).await;
        assert_eq!(reply.status, 404);
        // A tenant's administrator cannot stream another tenant; a member nothing.
        let reply = call(&app, post(&acme, json!({ "url": "https://siem.example/hook", "tenant_id": "globex" }))).await;
        assert_eq!(reply.status, 403, "{}", reply.body);
        let reply = call(&app, post(&member, json!({ "url": "https://siem.example/hook" }))).await;
        assert_eq!(reply.status, 403, "{}", reply.body);
        // Bad input is a clear 400.
        for body in [json!({ "url": "http://siem.example/hook" }), json!({ "url": "https://siem.example/", "format": "xml" }), json!({ "url": "https://x.example", "extra": 1 })] {
            let reply = call(&app, post(&acme, body.clone())).await;
            assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        }
        // A platform administrator streams every tenant, and sees every stream.
        let all = call(&app, post(&root, json!({ "url": "https://siem.example/all", "format": "otlp" }))).await.json();
        assert_eq!(all["tenant_id"], Value::Null);
        let listed = call(&app, bearer(Method::GET, "/api/v1/streams", &root).to_request()).await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 2);
        let listed = call(&app, bearer(Method::GET, "/api/v1/streams", &acme).to_request()).await.json();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        // Pause, resume, delete: each audited in acme's chain.
        for state in ["paused", "active"] {
            let reply = call(&app, bearer(Method::PATCH, &path, &acme).set_json(json!({ "state": state })).to_request()).await;
            assert_eq!((reply.status, reply.json()["state"].clone()), (200, json!(state)));
        }
        let reply = call(&app, bearer(Method::DELETE, &path, &acme).to_request()).await;
        assert_eq!(reply.status, 204);
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        let actions: Vec<String> = a::table
            .filter(a::tenant_id.eq(db.tenant_by_slug("acme").id))
            .filter(a::action.like("stream.%"))
            .order(a::seq.asc())
            .select(a::action)
            .load(&mut db.conn())
            .unwrap();
        assert_eq!(actions, ["stream.created", "stream.paused", "stream.resumed", "stream.deleted"]);
        // Each stream costs a delivery thread: a tenant has at most ten.
        for i in 0..10 {
            let reply = call(&app, post(&acme, json!({ "url": format!("https://siem.example/{i}") }))).await;
            assert_eq!(reply.status, 201, "{}", reply.body);
        }
        let reply = call(&app, post(&acme, json!({ "url": "https://siem.example/11" }))).await;
        assert_eq!(reply.status, 409, "{}", reply.body);
        // Globex's streams are counted apart.
        let reply = call(&app, post(&globex, json!({ "url": "https://siem.example/g" }))).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
}

both_backends! {
    /// Two instances on one database: the lease lets one deliver at a time, so no
    /// batch reaches the receiver twice, and the copy is still exact.
    fn two_instances_never_deliver_one_stream_at_once(db) {
        let receiver = Receiver::start();
        receiver.delay_ms.store(20, Ordering::SeqCst);
        let created = db.cli(&["--json", "stream", "create", &receiver.url()]).json();
        *receiver.secret.lock().unwrap() = Some(created["secret"].as_str().unwrap().to_owned());
        for i in 0..8 {
            db.cli(&["tenant", "create", &format!("t{i}")]).ok();
        }
        let first = db.server(FAST);
        let second = db.server(FAST);
        for i in 8..16 {
            db.cli(&["tenant", "create", &format!("t{i}")]).ok();
        }
        eventually("the copy", Duration::from_secs(60), || complete(&db, &receiver));
        // The instance holding the lease stops: the other takes over at once.
        first.stop();
        for i in 16..20 {
            db.cli(&["tenant", "create", &format!("t{i}")]).ok();
        }
        eventually("the copy after a handover", Duration::from_secs(60), || complete(&db, &receiver));
        assert_exact_copy(&db, &receiver);
        let ids = receiver.ids.lock().unwrap().clone();
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "a batch was delivered twice");
        assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
        second.stop();
    }
}

both_backends! {
    /// OTLP/HTTP logs: one log record per event whose body is the audit item, so a
    /// Collector's copy verifies like an NDJSON one.
    fn an_otlp_stream_carries_the_chain_in_log_records(db) {
        let receiver = Receiver::start();
        db.cli(&["tenant", "create", "acme"]).ok();
        let created = db.cli(&["--json", "stream", "create", "--format", "otlp", &format!("http://127.0.0.1:{}/v1/logs", receiver.port)]).json();
        assert_eq!(created["format"], "otlp");
        *receiver.secret.lock().unwrap() = Some(created["secret"].as_str().unwrap().to_owned());
        let server = db.server(FAST);
        let events: i64 = db.heads().values().sum();
        let bodies = || -> Vec<String> {
            receiver.deliveries.lock().unwrap().iter().flat_map(|(_, body)| {
                let v: Value = serde_json::from_str(body).unwrap();
                v["resourceLogs"][0]["scopeLogs"][0]["logRecords"].as_array().unwrap().iter()
                    .map(|r| r["body"]["stringValue"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            }).collect()
        };
        eventually("the OTLP copy", Duration::from_secs(30), || bodies().iter().filter(|b| b.contains("\"seq\"")).count() as i64 >= events);
        let first: Value = serde_json::from_str(&receiver.deliveries.lock().unwrap()[0].1).unwrap();
        assert_eq!(first["resourceLogs"][0]["resource"]["attributes"][0]["value"]["stringValue"], "tessera");
        let jwks = ureq::get(&server.url("/.well-known/jwks.json")).call().unwrap().into_body().read_to_string().unwrap();
        let mut checker = tessera_verify::stream::StreamChecker::new(Some(&jwks), None).unwrap();
        for body in bodies() {
            checker.push_line(&body).unwrap();
        }
        assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
        server.stop();
    }
}
