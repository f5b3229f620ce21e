//! The HTTP surface: the route table shared by `serve` and the tests, its middleware,
//! and the server's life cycle. `actix_web` appears only under this folder.

pub mod errors;
pub mod health;
pub mod request_id;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpServer};

use crate::config::Config;
use crate::db::Pool;
use crate::error::Error;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
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
    App::new()
        .app_data(web::Data::new(state))
        .configure(routes)
        .default_service(web::to(not_found))
        .wrap(from_fn(request_id::middleware))
        // Path only: query strings may carry codes or tokens and are never logged.
        .wrap(Logger::new(
            "%a \"%m %U\" %s %b %Dms request_id=%{x-request-id}o",
        ))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::get_healthz))
        .route("/readyz", web::get().to(health::get_readyz));
}

async fn not_found() -> Result<actix_web::HttpResponse, Error> {
    Err(Error::NotFound)
}

/// Runs the server on its own runtime until SIGINT/SIGTERM, then drains in-flight
/// requests (up to 10 s).
pub fn run(config: Config, pool: Pool) -> std::io::Result<()> {
    actix_web::rt::System::new().block_on(serve(config, pool))
}

async fn serve(config: Config, pool: Pool) -> std::io::Result<()> {
    let listen = config.listen;
    let workers = config.workers;
    let state = AppState {
        pool,
        config: Arc::new(config),
    };
    let server = HttpServer::new(move || app(state.clone()))
        .workers(workers)
        .shutdown_timeout(10)
        .bind(listen)?;
    for addr in server.addrs() {
        log::info!("listening on http://{addr}");
    }
    server.run().await
}
