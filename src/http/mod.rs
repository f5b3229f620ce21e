//! The HTTP surface: the route table shared by `serve` and the tests, its middleware,
//! and the server's life cycle. `actix_web` appears only under this folder.

pub mod api;
mod auth;
pub mod browser;
mod console;
pub mod errors;
mod form;
pub mod health;
pub mod oauth;
mod oauth_errors;
pub mod pages;
pub mod request_id;
pub mod userinfo;
pub mod wellknown;

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpServer};

use crate::error::Error;
pub use crate::state::AppState;

/// The login session of a browser.
pub const SESSION_COOKIE: &str = "tessera_session";
/// The pending authorization request a browser is answering.
pub const REQUEST_COOKIE: &str = "tessera_authz";
/// A browser the user signed in from before (see `login::begin_login`).
pub const DEVICE_COOKIE: &str = "tessera_device";

/// The access log's target (actix-web's `Logger`): `RUST_LOG=warn` or
/// `actix_web::middleware::logger=warn` turns it off.
const ACCESS_LOG: &str = "actix_web::middleware::logger";

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
    let console_here = state.config.console;
    let (app, api) = App::new()
        .into_utoipa_app()
        .service(api::scope())
        .split_for_parts();
    app.app_data(web::Data::new(api::openapi::finish(api)))
        .app_data(web::Data::new(state))
        .configure(|cfg| routes(cfg, metrics_here))
        .configure(|cfg| {
            if console_here {
                console::routes(cfg);
            }
        })
        .default_service(web::to(not_found))
        .wrap(from_fn(refuse_nul))
        .wrap(from_fn(deadline))
        .wrap(from_fn(request_id::middleware))
        // Path only: query strings may carry codes or tokens and are never logged. The
        // access log formats its line for every request, so it is left out altogether
        // when its level (info) is filtered away.
        .wrap(Condition::new(
            log::log_enabled!(target: ACCESS_LOG, log::Level::Info),
            Logger::new("%a \"%{METHOD}xi %U\" %s %b %Dms request_id=%{x-request-id}o")
                .custom_request_replace("METHOD", |req| req.method().to_string()),
        ))
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
        .route("/authorize", web::get().to(browser::get_authorize))
        .route("/authorize", web::post().to(browser::post_authorize))
        .route("/login", web::post().to(browser::post_login))
        .route("/login/factor", web::post().to(browser::post_factor))
        .route("/login/enrol", web::post().to(browser::post_enrol))
        .route(
            "/login/webauthn/begin",
            web::post().to(browser::post_webauthn_begin),
        )
        .route("/login/webauthn", web::post().to(browser::post_webauthn))
        .route(
            "/login/passkey/begin",
            web::post().to(browser::post_passkey_login_begin),
        )
        .route(
            "/login/passkey",
            web::post().to(browser::post_passkey_login),
        )
        .route(
            "/assets/webauthn.js",
            web::get().to(pages::get_webauthn_script),
        )
        .route("/login/continue", web::post().to(browser::post_continue))
        .route("/account", web::get().to(browser::get_account))
        .route(
            "/account/login",
            web::post().to(browser::post_account_login),
        )
        .route("/account/totp", web::post().to(browser::post_totp))
        .route(
            "/account/totp/confirm",
            web::post().to(browser::post_totp_confirm),
        )
        .route(
            "/account/totp/remove",
            web::post().to(browser::post_totp_remove),
        )
        .route("/account/recovery", web::post().to(browser::post_recovery))
        .route(
            "/account/passkey/begin",
            web::post().to(browser::post_passkey_begin),
        )
        .route("/account/passkey", web::post().to(browser::post_passkey))
        .route(
            "/account/passkey/remove",
            web::post().to(browser::post_passkey_remove),
        )
        .route(
            "/account/passkey-login/begin",
            web::post().to(browser::post_account_passkey_login_begin),
        )
        .route(
            "/account/passkey-login",
            web::post().to(browser::post_account_passkey_login),
        )
        .route("/logout", web::get().to(browser::get_logout))
        .route("/logout", web::post().to(browser::post_logout))
        .route("/userinfo", web::get().to(userinfo::get_userinfo))
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
    let long_read = matches!(
        req.path(),
        "/api/v1/audit/export"
            | "/api/v1/audit/verify"
            | "/console/events/export"
            | "/console/verify"
    );
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
        // Fused: a reader may poll again after the end (multipart does).
        payload: Box::pin(stream.fuse()),
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

/// Runs a short audited write `f` and returns once it has committed: on SQLite in the
/// group-commit writer's next transaction, in a savepoint of its own (SQLite's writers
/// take turns anyway; the batch shares one commit and one fsync); on PostgreSQL in a
/// transaction of its own on a pooled connection, so that concurrent writes run in
/// parallel (measured for code exchange and refresh, where the writer's serialized
/// savepoints were slower: BENCHMARKS.md). `f` must not open a transaction itself.
pub async fn audited_write<R, E>(
    state: &AppState,
    f: impl FnOnce(&mut crate::db::DbConnection) -> Result<R, E> + Send + 'static,
) -> Result<R, E>
where
    R: Send + 'static,
    E: From<Error> + From<diesel::result::Error> + Send + 'static,
{
    if state.config.database_url.is_postgres() {
        let pool = state.pool.clone();
        run_blocking(move || {
            let mut conn = pool.get().map_err(Error::from)?;
            crate::db::write_tx(&mut conn, f)
        })
        .await
    } else {
        state.writer.run(f).await
    }
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

/// Serves `state` on its own runtime until SIGINT/SIGTERM, then drains in-flight
/// requests (up to 10 s). The composition root ([`crate::server`]) builds the state.
pub fn run(state: AppState) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(serve(state))
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
