//! Reports tenant-access denials to Tessera's audit ingestion endpoint. Guards: reporting
//! never blocks or fails the request that was denied. Reports go through a bounded
//! queue to one background thread; when the queue is full a report is dropped, counted
//! and logged. The thread authenticates with the service's own client-credentials token
//! (scope `audit:write`), cached until shortly before it expires, and sends batches.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use tessera_proto::{IngestEvent, Reference, SYSTEM_TENANT_ID};

use crate::context::TenantContext;

pub const DENIAL_ACTION: &str = "tenant.cross_access_denied";
const MAX_SELECTOR_CHARS: usize = 256;

/// Where and as whom to report.
#[derive(Clone)]
pub struct ReporterConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `{issuer}/token` by default.
    pub token_url: String,
    /// `{issuer}/api/v1/audit/events` by default.
    pub ingest_url: String,
    /// Reports waiting beyond this many are dropped.
    pub queue_capacity: usize,
    /// Events per ingestion request (Tessera accepts up to 1000).
    pub max_batch: usize,
    /// Whole-request timeout of each HTTP call.
    pub timeout: Duration,
}

impl ReporterConfig {
    pub fn new(
        issuer: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let issuer = issuer.trim_end_matches('/');
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_url: format!("{issuer}/token"),
            ingest_url: format!("{issuer}/api/v1/audit/events"),
            queue_capacity: 1024,
            max_batch: 100,
            timeout: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for ReporterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReporterConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_url", &self.token_url)
            .field("ingest_url", &self.ingest_url)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch", &self.max_batch)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One denied request: who asked for which tenant, and how the request named it.
#[derive(Debug, Clone)]
pub struct Denial {
    pub subject: String,
    pub subject_is_client: bool,
    /// The caller's own tenant (from the token).
    pub tenant_id: String,
    /// The tenant the request named, as typed.
    pub requested: String,
    /// How the request named it, e.g. `path:tenant_id` or `header:X-Tenant-ID`.
    pub selector: String,
    pub method: String,
    /// The route's pattern (`/tenants/{tenant_id}/notes`), never the concrete path.
    pub route: Option<String>,
    pub request_id: Option<String>,
    pub ip: Option<IpAddr>,
}

impl Denial {
    pub fn new(context: &TenantContext, selector: String, requested: &str, method: &str) -> Self {
        Self {
            subject: context.subject.clone(),
            subject_is_client: context.is_client(),
            tenant_id: context.tenant_id.clone(),
            requested: requested.chars().take(MAX_SELECTOR_CHARS).collect(),
            selector,
            method: method.to_owned(),
            route: None,
            request_id: None,
            ip: None,
        }
    }
}

/// Counters of a [`DenialReporter`] since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReporterStats {
    /// Accepted into Tessera's audit log (HTTP 2xx).
    pub sent: u64,
    /// Dropped because the queue was full.
    pub dropped: u64,
    /// Dequeued but not accepted (issuer unreachable, refused, ...).
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// The sending half; cheap to clone. The background thread ends when the last clone is
/// dropped and the queue has drained.
#[derive(Clone)]
pub struct DenialReporter {
    queue: SyncSender<Denial>,
    counters: Arc<Counters>,
}

impl fmt::Debug for DenialReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DenialReporter")
            .field("stats", &self.stats())
            .finish()
    }
}

impl DenialReporter {
    /// Starts the background thread.
    pub fn start(config: ReporterConfig) -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::sync_channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let worker = Worker::new(config, Arc::clone(&counters));
        std::thread::Builder::new()
            .name("tessera-denials".into())
            .spawn(move || worker.run(receiver))?;
        Ok(Self { queue, counters })
    }

    /// Queues a report; never blocks. A full queue drops it.
    pub fn report(&self, denial: Denial) {
        match self.queue.try_send(denial) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // A flood of denials must not become a flood of log lines.
                if dropped.is_power_of_two() {
                    log::warn!("denial report queue full: {dropped} reports dropped so far");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                log::warn!("denial reporter has stopped; report lost");
            }
        }
    }

    pub fn stats(&self) -> ReporterStats {
        ReporterStats {
            sent: self.counters.sent.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
        }
    }
}

struct Token {
    value: String,
    refresh_at: Instant,
    /// A platform client's token: events must name their tenant.
    platform: bool,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Http(#[from] ureq::Error),
    #[error("{0} answered HTTP {1}")]
    Status(&'static str, u16),
}

struct Worker {
    config: ReporterConfig,
    counters: Arc<Counters>,
    agent: ureq::Agent,
    token: Option<Token>,
}

impl Worker {
    fn new(config: ReporterConfig, counters: Arc<Counters>) -> Self {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(config.timeout))
                .http_status_as_error(false)
                .build(),
        );
        Self {
            config,
            counters,
            agent,
            token: None,
        }
    }

    /// Ends when every sender is gone and the queue is empty.
    fn run(mut self, receiver: Receiver<Denial>) {
        let max_batch = self.config.max_batch.clamp(1, 1000);
        while let Ok(first) = receiver.recv() {
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match receiver.try_recv() {
                    Ok(denial) => batch.push(denial),
                    Err(_) => break,
                }
            }
            let count = batch.len() as u64;
            match self.deliver(&batch) {
                Ok(()) => {
                    self.counters.sent.fetch_add(count, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters.failed.fetch_add(count, Ordering::Relaxed);
                    log::warn!("{count} denial reports not delivered: {e}");
                }
            }
        }
    }

    /// Posts the batch; a 401 (token revoked or expired early) gets one retry with a
    /// fresh token.
    fn deliver(&mut self, batch: &[Denial]) -> Result<(), SendError> {
        for attempt in 0..2 {
            let now = Instant::now();
            if self.token.as_ref().is_none_or(|t| now >= t.refresh_at) {
                self.token = Some(self.fetch_token(now)?);
            }
            let Some(token) = self.token.as_ref() else {
                break;
            };
            let events: Vec<IngestEvent> = batch.iter().map(|d| event(d, token.platform)).collect();
            let response = self
                .agent
                .post(&self.config.ingest_url)
                .header("Authorization", &format!("Bearer {}", token.value))
                .send_json(&events)?;
            match response.status().as_u16() {
                200..=299 => return Ok(()),
                401 if attempt == 0 => self.token = None,
                status => return Err(SendError::Status("audit ingestion", status)),
            }
        }
        Err(SendError::Status("audit ingestion", 401))
    }

    fn fetch_token(&self, now: Instant) -> Result<Token, SendError> {
        let credentials = format!(
            "{}:{}",
            form_encode(&self.config.client_id),
            form_encode(&self.config.client_secret)
        );
        let mut response = self
            .agent
            .post(&self.config.token_url)
            .header(
                "Authorization",
                &format!("Basic {}", STANDARD.encode(credentials)),
            )
            .send_form([
                ("grant_type", "client_credentials"),
                ("scope", "audit:write"),
            ])?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(SendError::Status("token endpoint", status));
        }
        let body: TokenResponse = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_json()?;
        // At most a day: a hostile or broken `expires_in` must not overflow the clock.
        let lifetime = body.expires_in.unwrap_or(60).min(86_400);
        // Renew with a margin, so a token never expires between check and use.
        let margin = (lifetime / 2).min(30);
        Ok(Token {
            platform: is_platform_token(&body.access_token),
            refresh_at: now + Duration::from_secs(lifetime - margin),
            value: body.access_token,
        })
    }
}

/// The ingestion body of one denial. A tenant-bound client's events land in its own
/// tenant, so they name none; a platform client's land in the caller's tenant.
fn event(denial: &Denial, platform: bool) -> IngestEvent {
    let details = json!({
        "requested_tenant": denial.requested,
        "selector": denial.selector,
        "method": denial.method,
        "route": denial.route,
    });
    IngestEvent {
        action: DENIAL_ACTION.to_owned(),
        outcome: "denied".to_owned(),
        occurred_at: None,
        tenant_id: platform.then(|| denial.tenant_id.clone()),
        actor: Some(Reference {
            kind: if denial.subject_is_client {
                "client"
            } else {
                "user"
            }
            .to_owned(),
            id: Some(denial.subject.clone()),
        }),
        resource: None,
        request_id: denial.request_id.clone(),
        ip: denial.ip.map(|ip| ip.to_string()),
        details: details.as_object().cloned(),
    }
}

/// Reads the `tenant_id` claim of our own, just-issued token (no verification needed:
/// it only chooses the event shape, and Tessera enforces the rules on ingestion).
fn is_platform_token(token: &str) -> bool {
    #[derive(Deserialize)]
    struct Claims {
        tenant_id: Option<String>,
    }
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Claims>(&bytes).ok())
        .and_then(|claims| claims.tenant_id)
        .is_some_and(|id| id == SYSTEM_TENANT_ID)
}

/// `application/x-www-form-urlencoded` for HTTP Basic client credentials (RFC 6749 2.3.1).
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Mutex;

    use super::*;
    use crate::test_support::{wait_until, Reply, StubServer};

    const CALLER_TENANT: &str = "0b6f3c4e-1111-4222-8333-444455556666";
    const WAIT: Duration = Duration::from_secs(5);

    fn context() -> TenantContext {
        TenantContext {
            tenant_id: CALLER_TENANT.into(),
            tenant: "acme".into(),
            subject: "user-1".into(),
            client_id: "web".into(),
            roles: vec!["member".into()],
            scope: vec![],
            actors: vec![],
        }
    }

    fn denial(requested: &str) -> Denial {
        let mut denial = Denial::new(&context(), "path:tenant_id".into(), requested, "GET");
        denial.route = Some("/tenants/{tenant_id}/notes".into());
        denial.request_id = Some("req-1".into());
        denial.ip = Some("127.0.0.1".parse().unwrap());
        denial
    }

    /// A token whose payload says which tenant the reporting client belongs to.
    fn fake_token(tenant_id: &str) -> String {
        let payload = URL_SAFE_NO_PAD.encode(json!({ "tenant_id": tenant_id }).to_string());
        format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln")
    }

    /// `/token` answers with `fake_token(client_tenant)`; ingestion answers `statuses`
    /// in turn, then 202.
    fn issuer(client_tenant: &str, statuses: Vec<u16>) -> StubServer {
        let token = fake_token(client_tenant);
        let statuses = Mutex::new(statuses.into_iter());
        StubServer::start(move |request| match request.path.as_str() {
            "/token" => Reply::new(
                200,
                json!({"access_token": token, "expires_in": 300, "token_type": "Bearer"})
                    .to_string(),
            ),
            "/api/v1/audit/events" => {
                Reply::new(statuses.lock().unwrap().next().unwrap_or(202), "{}")
            }
            _ => Reply::new(404, "{}"),
        })
    }

    fn config(server: &StubServer) -> ReporterConfig {
        ReporterConfig::new(&format!("{}/", server.url()), "notes-service", "s3cr:t/+")
    }

    fn events(server: &StubServer) -> Vec<serde_json::Value> {
        server
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/audit/events")
            .flat_map(|r| r.json().as_array().unwrap().clone())
            .collect()
    }

    #[test]
    fn reports_with_a_cached_client_credentials_token() {
        let server = issuer("11111111-2222-4333-8444-555555555555", vec![]);
        let reporter = DenialReporter::start(config(&server)).unwrap();
        for requested in ["globex", "initech", "umbrella"] {
            reporter.report(denial(requested));
        }
        assert!(wait_until(WAIT, || reporter.stats().sent == 3));
        assert_eq!(server.count("/token"), 1, "token fetched once, then cached");
        let requests = server.requests();
        let token_request = requests.iter().find(|r| r.path == "/token").unwrap();
        assert_eq!(token_request.method, "POST");
        let basic = STANDARD.encode("notes-service:s3cr%3At%2F%2B");
        assert_eq!(
            token_request.header("authorization"),
            Some(format!("Basic {basic}").as_str())
        );
        let body = String::from_utf8(token_request.body.clone()).unwrap();
        assert!(
            body.contains("grant_type=client_credentials") && body.contains("scope=audit%3Awrite")
        );
        for ingest in requests.iter().filter(|r| r.path == "/api/v1/audit/events") {
            let bearer = format!(
                "Bearer {}",
                fake_token("11111111-2222-4333-8444-555555555555")
            );
            assert_eq!(ingest.header("authorization"), Some(bearer.as_str()));
        }
        let events = events(&server);
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0],
            json!({
                "action": "tenant.cross_access_denied", "outcome": "denied",
                "actor": {"type": "user", "id": "user-1"},
                "request_id": "req-1", "ip": "127.0.0.1",
                "details": {"requested_tenant": "globex", "selector": "path:tenant_id",
                            "method": "GET", "route": "/tenants/{tenant_id}/notes"},
            }),
            "a tenant-bound client names no tenant"
        );
        assert_eq!(
            reporter.stats(),
            ReporterStats {
                sent: 3,
                dropped: 0,
                failed: 0
            }
        );
    }

    #[test]
    fn a_platform_client_names_the_callers_tenant() {
        let server = issuer(SYSTEM_TENANT_ID, vec![]);
        let reporter = DenialReporter::start(config(&server)).unwrap();
        let mut client_denial = Denial::new(
            &TenantContext {
                subject: "web".into(),
                roles: vec![],
                ..context()
            },
            "header:X-Tenant-ID".into(),
            "globex",
            "POST",
        );
        client_denial.route = None;
        reporter.report(client_denial);
        assert!(wait_until(WAIT, || reporter.stats().sent == 1));
        let event = &events(&server)[0];
        assert_eq!(event["tenant_id"], CALLER_TENANT);
        assert_eq!(event["actor"], json!({"type": "client", "id": "web"}));
        assert_eq!(event["details"]["selector"], "header:X-Tenant-ID");
        assert!(event.get("ip").is_none() && event.get("request_id").is_none());
    }

    #[test]
    fn a_rejected_token_is_renewed_once() {
        let server = issuer(CALLER_TENANT, vec![401]);
        let reporter = DenialReporter::start(config(&server)).unwrap();
        reporter.report(denial("globex"));
        assert!(wait_until(WAIT, || reporter.stats().sent == 1));
        assert_eq!(server.count("/token"), 2);
        let server = issuer(CALLER_TENANT, vec![401, 401, 403]);
        let reporter = DenialReporter::start(config(&server)).unwrap();
        reporter.report(denial("globex"));
        assert!(wait_until(WAIT, || reporter.stats().failed == 1));
        assert_eq!(
            server.count("/api/v1/audit/events"),
            2,
            "one retry, no loop"
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let (open, gate) = mpsc::channel::<()>();
        let gate = Mutex::new(gate);
        let token = fake_token(CALLER_TENANT);
        let server = StubServer::start(move |request| {
            if request.path == "/token" {
                // Hold the worker until the test opens the gate.
                let _ = gate.lock().unwrap().recv_timeout(WAIT);
                return Reply::new(
                    200,
                    json!({"access_token": token, "expires_in": 300}).to_string(),
                );
            }
            Reply::new(202, "{}")
        });
        let reporter = DenialReporter::start(ReporterConfig {
            queue_capacity: 1,
            ..config(&server)
        })
        .unwrap();
        reporter.report(denial("first"));
        assert!(
            wait_until(WAIT, || server.count("/token") == 1),
            "worker busy"
        );
        let started = Instant::now();
        for i in 0..9 {
            reporter.report(denial(&format!("t{i}")));
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "report never blocks"
        );
        assert_eq!(reporter.stats().dropped, 8, "one queued, eight dropped");
        open.send(()).unwrap();
        assert!(wait_until(WAIT, || reporter.stats().sent == 2));
        assert_eq!(events(&server).len(), 2);
    }

    #[test]
    fn an_unreachable_issuer_only_counts_failures() {
        let mut server = issuer(CALLER_TENANT, vec![]);
        let config = config(&server);
        server.stop();
        let reporter = DenialReporter::start(config).unwrap();
        reporter.report(denial("globex"));
        assert!(wait_until(WAIT, || reporter.stats().failed == 1));
        assert_eq!(reporter.stats().sent, 0);
    }

    #[test]
    fn form_encoding_and_redacted_debug() {
        assert_eq!(form_encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(form_encode("a b:c/+é"), "a%20b%3Ac%2F%2B%C3%A9");
        let shown = format!("{:?}", ReporterConfig::new("http://x", "id", "very-secret"));
        assert!(!shown.contains("very-secret"));
    }
}
