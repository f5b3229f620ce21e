//! Gives every request an opaque id (`X-Request-Id` on the response), finalizes error
//! bodies with it, and logs the hidden cause of server errors under that id. It also
//! tells the password hasher about every request that is not a password check, so that
//! the hasher leaves such requests a share of the cores (see `users::password::Hasher`).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};

use super::errors::{generic_body, ErrorBody};

pub const HEADER: &str = "x-request-id";

/// The id of the current request, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // 128 random bits from the thread's generator (no system call per request).
    let id = format!("{:032x}", rand::random::<u128>());
    if !(req.path() == "/login" && req.method() == actix_web::http::Method::POST) {
        if let Some(state) = req.app_data::<actix_web::web::Data<super::AppState>>() {
            state.hasher.other_work();
        }
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let res = next.call(req).await?;
    // The route template, never the path: no identifier reaches a label.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    crate::metrics::request(
        &route,
        &method,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );

    let res = match res.response().error() {
        None => res.map_into_boxed_body(),
        Some(err) => {
            let status = res.status();
            if status.is_server_error() {
                // The cause chain is for operators only.
                let known: Option<&dyn std::error::Error> = err
                    .as_error::<crate::error::Error>()
                    .map(|e| e as _)
                    .or_else(|| err.as_error::<crate::oauth::OAuthError>().map(|e| e as _));
                let cause = match known {
                    Some(known) => crate::error::cause_chain(known),
                    None => err.to_string(),
                };
                log::error!("request_id={id} status={} error: {cause}", status.as_u16());
            }
            let body = res
                .response()
                .extensions()
                .get::<ErrorBody>()
                .cloned()
                .unwrap_or_else(|| generic_body(status));
            let json = serde_json::json!({
                "error": body.error,
                "error_description": body.description,
                "request_id": id,
            });
            let mut builder = HttpResponse::build(status);
            for (name, value) in res.response().headers() {
                if name != actix_web::http::header::CONTENT_TYPE
                    && name != actix_web::http::header::CONTENT_LENGTH
                {
                    builder.append_header((name.clone(), value.clone()));
                }
            }
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, builder.json(json))
        }
    };
    let mut res = res;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(res)
}
