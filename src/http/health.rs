//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};

use super::AppState;
use crate::db;
use crate::error::Error;

/// How long readiness waits for the database.
pub const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Prometheus metrics (see `crate::metrics`), on the main listener or on
/// `metrics_listen`.
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.state();
    let now = chrono::Utc::now();
    let keys = state.keys.current();
    let key_ages = keys
        .metas()
        .map(|k| {
            let state = match k.state {
                crate::keys::KeyState::Next => "next",
                crate::keys::KeyState::Active => "active",
                crate::keys::KeyState::Retired => "retired",
            };
            (state, (now - k.created_at).num_seconds())
        })
        .collect();
    let body = crate::metrics::render(&crate::metrics::Snapshot {
        pool_idle: pool.idle_connections,
        pool_connections: pool.connections,
        pool_max: state.pool.max_size(),
        key_ages,
    });
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(body)
}

pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready only while the database answers, within [`READY_WITHIN`] however the
/// database fails (a frozen server included).
pub async fn get_readyz(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let pool = state.pool.clone();
    let ping = web::block(move || db::ping(&pool));
    let reachable = matches!(tokio::time::timeout(READY_WITHIN, ping).await, Ok(Ok(true)));
    if reachable {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(Error::Unavailable)
    }
}
