//! Prometheus metrics (DESIGN "Operations: metrics"), in the text format of the
//! `prometheus-client` crate. One registry per process, like the log. No label carries
//! a tenant, a user, a client or a token: routes are templates (`/api/v1/tokens/{jti}/
//! revoke`), and the other labels take a handful of fixed values.

use std::cell::Cell;
use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Grant {
    grant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginOutcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Source {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Stream {
    stream: String,
}

type Timing = Family<Route, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    durations: Timing,
    tokens: Family<Grant, Counter>,
    logins: Family<LoginOutcome, Counter>,
    second_factors: Family<LoginOutcome, Counter>,
    audit_events: Family<Source, Counter>,
    cross_tenant: Counter,
    throttled: Counter,
    pool: Family<State, Gauge>,
    key_age: Family<State, Gauge>,
    batch_sizes: Histogram,
    stream_lag: Family<Stream, Gauge>,
    stream_states: Family<State, Gauge>,
}

fn request_buckets() -> Histogram {
    // 0.25 ms … ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<Request, Counter>::default();
    registry.register(
        "tessera_http_requests",
        "HTTP requests answered, by route template, method and status",
        requests.clone(),
    );
    let durations: Timing = Family::new_with_constructor(request_buckets);
    registry.register(
        "tessera_http_request_duration_seconds",
        "Time to answer a request, by route template",
        durations.clone(),
    );
    let tokens = Family::<Grant, Counter>::default();
    registry.register(
        "tessera_tokens_issued",
        "Access tokens issued, by grant",
        tokens.clone(),
    );
    let logins = Family::<LoginOutcome, Counter>::default();
    registry.register(
        "tessera_logins",
        "Password logins, by outcome (success, failure, locked)",
        logins.clone(),
    );
    let second_factors = Family::<LoginOutcome, Counter>::default();
    registry.register(
        "tessera_second_factors",
        "Second factors given at login, by outcome (success, failure)",
        second_factors.clone(),
    );
    let audit_events = Family::<Source, Counter>::default();
    registry.register(
        "tessera_audit_events",
        "Audit events committed, written by the service itself or ingested",
        audit_events.clone(),
    );
    let cross_tenant = Counter::default();
    registry.register(
        "tessera_cross_tenant_denials",
        "Requests refused for naming another tenant",
        cross_tenant.clone(),
    );
    let throttled = Counter::default();
    registry.register(
        "tessera_login_throttled",
        "Password attempts refused by the per-source throttle",
        throttled.clone(),
    );
    let pool = Family::<State, Gauge>::default();
    registry.register(
        "tessera_db_pool_connections",
        "Database pool connections: idle, in use, and the pool's maximum",
        pool.clone(),
    );
    let key_age = Family::<State, Gauge>::default();
    registry.register(
        "tessera_signing_key_age_seconds",
        "Age of the oldest signing key in each state (next, active, retired)",
        key_age.clone(),
    );
    let batch_sizes = Histogram::new(exponential_buckets(1.0, 2.0, 10));
    registry.register(
        "tessera_group_commit_batch_size",
        "Jobs per group commit (audited writes of concurrent requests in one transaction)",
        batch_sizes.clone(),
    );
    let stream_lag = Family::<Stream, Gauge>::default();
    registry.register(
        "tessera_stream_lag_events",
        "Events of an audit stream's tenants not yet acknowledged by its receiver, by stream id (streams this instance delivers)",
        stream_lag.clone(),
    );
    let stream_states = Family::<State, Gauge>::default();
    registry.register(
        "tessera_stream_state",
        "Audit streams, by state (active, paused, suspended)",
        stream_states.clone(),
    );
    Metrics {
        registry,
        requests,
        durations,
        tokens,
        logins,
        second_factors,
        audit_events,
        cross_tenant,
        throttled,
        pool,
        key_age,
        batch_sizes,
        stream_lag,
        stream_states,
    }
});

/// One answered request. `route` is the matched route template, never the path.
pub fn request(route: &str, method: &str, status: u16, seconds: f64) {
    let m = &*METRICS;
    m.requests
        .get_or_create(&Request {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        })
        .inc();
    m.durations
        .get_or_create(&Route {
            route: route.to_owned(),
        })
        .observe(seconds);
}

/// An access token handed out (`authorization_code`, `refresh_token`,
/// `client_credentials`).
pub fn token_issued(grant: &'static str) {
    METRICS.tokens.get_or_create(&Grant { grant }).inc();
}

/// A password login's outcome: `success`, `failure` or `locked`.
pub fn login(outcome: &'static str) {
    METRICS
        .logins
        .get_or_create(&LoginOutcome { outcome })
        .inc();
}

/// A second factor given at login.
pub fn second_factor(outcome: &'static str) {
    METRICS
        .second_factors
        .get_or_create(&LoginOutcome { outcome })
        .inc();
}

/// Events ingested from downstream services, once committed.
pub fn ingested(events: usize) {
    METRICS
        .audit_events
        .get_or_create(&Source { source: "ingest" })
        .inc_by(events as u64);
}

/// A cross-tenant request refused.
pub fn cross_tenant_denial() {
    METRICS.cross_tenant.inc();
}

/// A password attempt refused by the per-source throttle.
pub fn login_throttled() {
    METRICS.throttled.inc();
}

/// The size of one group commit.
pub fn group_commit(records: usize) {
    METRICS.batch_sizes.observe(records as f64);
}

thread_local! {
    /// The service's own audit events written in the current transaction, counted once
    /// it commits.
    static PENDING_EVENTS: Cell<u64> = const { Cell::new(0) };
}

/// The service wrote `n` audit events in the current transaction.
pub fn service_events_written(n: usize) {
    PENDING_EVENTS.with(|p| p.set(p.get() + n as u64));
}

/// The current transaction committed (`true`) or rolled back.
pub fn transaction_ended(committed: bool) {
    let n = PENDING_EVENTS.with(|p| p.replace(0));
    if committed && n > 0 {
        METRICS
            .audit_events
            .get_or_create(&Source { source: "service" })
            .inc_by(n);
    }
}

/// The service's own audit events committed outside [`crate::db::write_tx`] (the token
/// writer's one-statement batches).
pub fn service_events_committed(n: usize) {
    METRICS
        .audit_events
        .get_or_create(&Source { source: "service" })
        .inc_by(n as u64);
}

/// An audit stream's lag: events of its tenants not yet acknowledged.
pub fn stream_lag(stream_id: &str, events: i64) {
    METRICS
        .stream_lag
        .get_or_create(&Stream {
            stream: stream_id.to_owned(),
        })
        .set(events);
}

/// How many audit streams are in each state.
pub fn stream_states(counts: &[(&'static str, i64)]) {
    for state in ["active", "paused", "suspended"] {
        let n = counts
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, n)| *n)
            .sum();
        METRICS.stream_states.get_or_create(&State { state }).set(n);
    }
}

/// What the gauges read at scrape time.
pub struct Snapshot {
    pub pool_idle: u32,
    pub pool_connections: u32,
    pub pool_max: u32,
    /// The oldest key's age in seconds, per state.
    pub key_ages: Vec<(&'static str, i64)>,
}

/// The text exposition of every metric, the gauges set from `snapshot`.
pub fn render(snapshot: &Snapshot) -> String {
    let m = &*METRICS;
    let in_use = snapshot.pool_connections.saturating_sub(snapshot.pool_idle);
    for (state, value) in [
        ("idle", snapshot.pool_idle),
        ("in_use", in_use),
        ("max", snapshot.pool_max),
    ] {
        m.pool.get_or_create(&State { state }).set(i64::from(value));
    }
    for state in ["next", "active", "retired"] {
        let age = snapshot
            .key_ages
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, age)| *age)
            .max()
            .unwrap_or(0);
        m.key_age.get_or_create(&State { state }).set(age);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry) {
        log::error!("metrics encoding failed: {e}");
    }
    out
}
