//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};

use super::AppState;
use crate::db;
use crate::error::Error;

pub async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready only while the database answers.
pub async fn get_readyz(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let pool = state.pool.clone();
    let reachable = web::block(move || db::ping(&pool))
        .await
        .map_err(Error::internal)?;
    if reachable {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(Error::Unavailable)
    }
}
