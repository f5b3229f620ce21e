//! The HTTP surface: the route table shared by `serve` and the tests, its middleware,
//! and the server's life cycle. `actix_web` appears only under this folder.

pub mod api;
pub mod errors;
mod form;
pub mod health;
pub mod limits;
pub mod login;
pub mod oauth;
mod oauth_errors;
pub mod pages;
pub mod request_id;
pub mod wellknown;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::config::Config;
use crate::db::Pool;
use crate::error::Error;
use crate::keys::{self, Keys};

/// The group-commit writer of issued tokens.
pub type Issuance =
    crate::db::group::BatchWriter<(crate::tokens::IssuedToken, crate::audit::Entry)>;

/// Starts the group-commit writer of issued tokens.
pub fn issuance(pool: &Pool) -> crate::error::Result<Issuance> {
    let mut heads = crate::tokens::ChainHeads::default();
    crate::db::group::BatchWriter::start(pool.clone(), 4096, move |conn, records| {
        crate::tokens::record_batch(conn, &mut heads, records)
    })
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub keys: Arc<Keys>,
    pub hasher: Arc<crate::users::password::Hasher>,
    /// Records issued tokens (ledger row + audit event) in shared, bulk commits.
    pub issuance: Arc<Issuance>,
    /// Recently authenticated clients and their tenants (a few seconds).
    pub directory: Arc<crate::clients::directory::Directory>,
    /// Audit ingestion requests being parsed and written at once: one on SQLite (whose
    /// writes serialize anyway: one at a time ingests as fast as four), one per worker
    /// on PostgreSQL. More wait, with their bodies read (at most
    /// `audit_max_body_bytes` each), so that memory under an ingestion flood stays
    /// bounded.
    pub ingestion: Arc<tokio::sync::Semaphore>,
    /// Password attempts per client address.
    pub throttle: Arc<crate::login::throttle::Throttle>,
    /// Exports and verifications: their own threads and pool, a few at a time.
    pub long_reads: Arc<limits::LongReads>,
    /// Memory for ingestion bodies in flight.
    pub bodies: Arc<limits::BodyBudget>,
}

impl AppState {
    pub fn new(
        pool: Pool,
        config: Config,
        keys: Keys,
        hasher: crate::users::password::Hasher,
    ) -> Result<Self, Error> {
        let issuance = issuance(&pool)?;
        let config_rate = config.login_rate_per_minute;
        let long_pool = crate::db::pool(
            &config.database_url,
            u32::try_from(limits::LONG_READS).unwrap_or(2),
            config.db_timeout,
        )
        .map_err(Error::internal)?;
        let bodies = limits::BodyBudget::new(config.body_budget_bytes);
        let ingestion = tokio::sync::Semaphore::new(if config.database_url.is_postgres() {
            config.workers.max(1)
        } else {
            1
        });
        Ok(Self {
            pool,
            config: Arc::new(config),
            keys: Arc::new(keys),
            hasher: Arc::new(hasher),
            issuance: Arc::new(issuance),
            directory: Arc::new(crate::clients::directory::Directory::new(
                Duration::from_secs(5),
            )),
            ingestion: Arc::new(ingestion),
            throttle: Arc::new(crate::login::throttle::Throttle::new(config_rate)),
            long_reads: Arc::new(limits::LongReads::new(long_pool)),
            bodies: Arc::new(bodies),
        })
    }
}

/// The application with its full route table and middleware.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use utoipa_actix_web::AppExt;
    let metrics_here = state.config.metrics_listen.is_none();
    let (app, api) = App::new()
        .into_utoipa_app()
        .service(api::scope())
        .split_for_parts();
    app.app_data(web::Data::new(api::openapi::finish(api)))
        .app_data(web::Data::new(state))
        .configure(|cfg| routes(cfg, metrics_here))
        .default_service(web::to(not_found))
        .wrap(from_fn(refuse_nul))
        .wrap(from_fn(deadline))
        .wrap(from_fn(request_id::middleware))
        // Path only: query strings may carry codes or tokens and are never logged.
        .wrap(
            Logger::new("%a \"%{METHOD}xi %U\" %s %b %Dms request_id=%{x-request-id}o")
                .custom_request_replace("METHOD", |req| req.method().to_string()),
        )
}

fn routes(cfg: &mut web::ServiceConfig, metrics_here: bool) {
    if metrics_here {
        cfg.route("/metrics", web::get().to(health::get_metrics));
    }
    cfg.route("/healthz", web::get().to(health::get_healthz))
        .route("/readyz", web::get().to(health::get_readyz))
        .route("/.well-known/jwks.json", web::get().to(wellknown::get_jwks))
        .route(
            "/.well-known/openid-configuration",
            web::get().to(wellknown::get_openid_configuration),
        )
        .route("/authorize", web::get().to(login::get_authorize))
        .route("/authorize", web::post().to(login::post_authorize))
        .route("/login", web::post().to(login::post_login))
        .route("/logout", web::get().to(login::get_logout))
        .route("/logout", web::post().to(login::post_logout))
        .route("/userinfo", web::get().to(login::get_userinfo))
        .route("/token", web::post().to(oauth::post_token))
        .route("/introspect", web::post().to(oauth::post_introspect))
        .route("/revoke", web::post().to(oauth::post_revoke));
}

/// Gives the request its deadline: `db_timeout_secs` plus a second for the answer.
/// Long reads — exports and chain verification, which walk whole logs — have none.
async fn deadline(
    mut req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let long_read = matches!(req.path(), "/api/v1/audit/export" | "/api/v1/audit/verify");
    let limits = req
        .app_data::<web::Data<AppState>>()
        .map(|state| {
            (
                state.config.db_timeout + ANSWER_MARGIN,
                state.config.request_timeout,
            )
        })
        .filter(|_| !long_read);
    let Some((budget, within)) = limits else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let at = tokio::time::Instant::now() + budget;
    // The body must arrive within `request_timeout_secs`, however slowly a client sends
    // it (408); waits on the database end sooner, at `at`.
    let timed_out = std::rc::Rc::new(std::cell::Cell::new(false));
    let payload = req.take_payload();
    req.set_payload(timed_payload(
        payload,
        tokio::time::Instant::now() + within,
        timed_out.clone(),
    ));
    let response = crate::deadline::scope(at, next.call(req)).await?;
    if timed_out.get() {
        let (request, _) = response.into_parts();
        return Ok(ServiceResponse::from_err(Error::RequestTimeout, request));
    }
    Ok(response.map_into_boxed_body())
}

/// A request body that ends with an error at `until` (and notes it in `timed_out`).
fn timed_payload(
    payload: actix_web::dev::Payload,
    until: tokio::time::Instant,
    timed_out: std::rc::Rc<std::cell::Cell<bool>>,
) -> actix_web::dev::Payload {
    use futures_util::future::{select, Either};
    use futures_util::StreamExt;
    let sleep = Box::pin(tokio::time::sleep_until(until));
    let stream =
        futures_util::stream::unfold(Some((payload, sleep, timed_out)), |state| async move {
            let (mut payload, mut sleep, timed_out) = state?;
            match select(payload.next(), &mut sleep).await {
                Either::Left((Some(item), _)) => Some((item, Some((payload, sleep, timed_out)))),
                Either::Left((None, _)) => None,
                Either::Right(_) => {
                    timed_out.set(true);
                    let error = std::io::Error::from(std::io::ErrorKind::TimedOut);
                    Some((Err(actix_web::error::PayloadError::Io(error)), None))
                }
            }
        });
    actix_web::dev::Payload::Stream {
        payload: Box::pin(stream),
    }
}

/// What a request may take beyond `db_timeout_secs` to be answered.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);

/// Refuses (400) a request whose path or query string carries a NUL character (`%00`),
/// before any handler: no text column of either database takes one, and PostgreSQL
/// would fail the query. `GET /authorize` checks its own parameters, so that its errors
/// can go back to the client's redirect URI; request bodies are checked where they are
/// parsed.
async fn refuse_nul(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let has_nul = |text: &str| text.contains("%00") || text.contains('\0');
    let authorize = req.path() == "/authorize" && req.method() == actix_web::http::Method::GET;
    if has_nul(req.path()) || (!authorize && has_nul(req.query_string())) {
        return Ok(req.error_response(Error::Invalid("a parameter contains a NUL character")));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Runs database or other blocking work off the async workers. A failure of the pool
/// itself becomes an internal error of the caller's error type.
pub async fn run_blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
{
    crate::deadline::bound(web::block(f))
        .await
        .map_err(E::from)?
        .map_err(|e| E::from(Error::internal(e)))?
}

/// [`run_blocking`] for work that fails with the domain error.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    run_blocking(f).await
}

/// The client's address: the last entry of `trusted_proxy_header` when one is
/// configured and present (the address the trusted proxy appended), else the TCP peer.
pub fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let header = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.config.trusted_proxy_header.clone());
    let forwarded = header.and_then(|name| {
        let value = req.headers().get(name.as_str())?.to_str().ok()?;
        value.rsplit(',').next()?.trim().parse().ok()
    });
    forwarded.or_else(|| req.peer_addr().map(|a| a.ip()))
}

/// The caller's address (see [`client_ip`]) and the request id, for audit events.
pub fn request_meta(req: &HttpRequest) -> (Option<String>, Option<String>) {
    let ip = client_ip(req).map(|ip| ip.to_string());
    let request_id = req
        .extensions()
        .get::<request_id::RequestId>()
        .map(|r| r.0.clone());
    (ip, request_id)
}

async fn not_found() -> Result<actix_web::HttpResponse, Error> {
    Err(Error::NotFound)
}

/// Runs the server on its own runtime until SIGINT/SIGTERM, then drains in-flight
/// requests (up to 10 s).
pub fn run(config: Config, pool: Pool, keys: Keys) -> std::io::Result<()> {
    let hasher = crate::users::password::Hasher::start(
        config.bcrypt_workers,
        config.bcrypt_queue,
        config.bcrypt_cost,
    )
    .map_err(std::io::Error::other)?;
    let state = AppState::new(pool, config, keys, hasher).map_err(std::io::Error::other)?;
    let stop = Arc::new(AtomicBool::new(false));
    let upkeep = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("key-upkeep".into())
            .spawn(move || key_upkeep(&state, &stop))?
    };
    let housekeeping = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("housekeeping".into())
            .spawn(move || housekeeping(&state, &stop))?
    };
    let result = actix_web::rt::System::new().block_on(serve(state));
    stop.store(true, Ordering::Relaxed);
    let _ = upkeep.join();
    let _ = housekeeping.join();
    result
}

/// Picks up key changes made by the CLI or another instance, and runs scheduled
/// rotation, every `keys_reload` until `stop`.
fn key_upkeep(state: &AppState, stop: &AtomicBool) {
    let policy = keys::Policy::from_config(&state.config);
    let origin = crate::audit::Origin::system();
    let mut next = Instant::now() + state.config.keys_reload;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        next = Instant::now() + state.config.keys_reload;
        match state.pool.get() {
            Ok(mut conn) => {
                if let Err(e) = keys::maintain(&mut conn, state.keys.dir(), &policy, &origin) {
                    log::error!("scheduled key upkeep failed: {e}");
                }
            }
            Err(e) => log::warn!("scheduled key upkeep skipped: {e}"),
        }
        match state.keys.reload_if_changed() {
            Ok(true) => log::info!(
                "signing keys reloaded; active kid {}",
                state.keys.current().active().kid
            ),
            Ok(false) => {}
            Err(e) => log::error!("keeping the current signing keys: {e}"),
        }
    }
}

/// Deletes expired rows every `purge_interval` until `stop` (see `crate::housekeeping`).
fn housekeeping(state: &AppState, stop: &AtomicBool) {
    let mut next = Instant::now() + state.config.purge_interval;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() < next {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        next = Instant::now() + state.config.purge_interval;
        let purged = state.pool.get().map_err(Error::from).and_then(|mut conn| {
            crate::housekeeping::purge(&mut conn, state.config.idempotency_window)
        });
        state.throttle.forget_idle();
        match purged {
            Ok(p) if p.total() > 0 => log::info!("housekeeping purged {p:?}"),
            Ok(_) => {}
            Err(e) => log::warn!("housekeeping skipped: {e}"),
        }
    }
}

async fn serve(state: AppState) -> std::io::Result<()> {
    let listen = state.config.listen;
    let workers = state.config.workers;
    // Database work cannot use more threads than there are connections; bounding the
    // blocking pool also bounds memory under load (each thread keeps allocator arenas).
    // The bound is per worker.
    let blocking = (state.config.db_pool_size as usize)
        .div_ceil(workers.max(1))
        .max(2);
    let metrics_state = state.clone();
    let server = HttpServer::new(move || app(state.clone()))
        .workers(workers)
        .worker_max_blocking_threads(blocking)
        // A request's head must arrive within 5 s; a closing client gets 2 s.
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(2))
        .shutdown_timeout(10)
        .bind(listen)?;
    for addr in server.addrs() {
        log::info!("listening on http://{addr}");
    }
    let Some(metrics_listen) = metrics_state.config.metrics_listen else {
        return server.run().await;
    };
    // `/metrics` on an address of its own (an internal port), one worker.
    let metrics = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(metrics_state.clone()))
            .route("/metrics", web::get().to(health::get_metrics))
    })
    .workers(1)
    .shutdown_timeout(1)
    .bind(metrics_listen)?;
    for addr in metrics.addrs() {
        log::info!("metrics on http://{addr}/metrics");
    }
    let (served, _) = futures_util::future::join(server.run(), metrics.run()).await;
    served
}
