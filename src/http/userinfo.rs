//! `GET /userinfo`: the handler only extracts the bearer token and renders; the rules
//! are `oauth::userinfo`'s and the errors go through the one mapping (`errors.rs`).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{auth, blocking, AppState};
use crate::error::Error;

pub async fn get_userinfo(
    app: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    let token = auth::bearer_token(&req).ok_or(Error::NoToken)?;
    let state = app.into_inner();
    let info = blocking(move || {
        let mut conn = state.pool.get()?;
        crate::oauth::userinfo::userinfo(
            &mut conn,
            &state.keys.current(),
            &state.config.issuer,
            &state.config.audience,
            &token,
        )
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(info))
}
