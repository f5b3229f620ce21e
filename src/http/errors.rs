//! The one mapping from domain errors to HTTP (DESIGN invariant 3). Error bodies are
//! `{"error", "error_description", "request_id"}` with generic text; the cause of a 5xx
//! goes only to the log, under the same request id (see `request_id`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::error::Error;

/// The public part of an error, left in the response's extensions by `error_response`
/// and turned into the final JSON body (with the request id) by the request-id
/// middleware.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub error: &'static str,
    pub description: std::borrow::Cow<'static, str>,
}

impl Error {
    fn public(&self) -> (StatusCode, ErrorBody) {
        let (status, error, description) = match self {
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found"),
            Error::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is missing, invalid, expired or revoked",
            ),
            Error::NoToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "the access token is missing",
            ),
            Error::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "forbidden"),
            Error::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the access token does not carry the scope this API requires",
            ),
            Error::Invalid(what) => (StatusCode::BAD_REQUEST, "invalid_request", *what),
            Error::BadRequest(what) => {
                return (
                    StatusCode::BAD_REQUEST,
                    ErrorBody {
                        error: "invalid_request",
                        description: what.clone().into(),
                    },
                )
            }
            Error::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            ),
            Error::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many requests at once; try again when the others are done",
            ),
            Error::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            ),
            Error::Conflict(_) => (StatusCode::CONFLICT, "conflict", "already exists"),
            Error::Unprocessable(what) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", *what)
            }
            Error::Unavailable | Error::Outage(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "service unavailable",
            ),
            Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            ),
        };
        (
            status,
            ErrorBody {
                error,
                description: description.into(),
            },
        )
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.public().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = self.public();
        let mut builder = HttpResponse::build(status);
        match self {
            // RFC 6750 section 3: how to authenticate to the API.
            Error::Unauthenticated => {
                builder.insert_header((
                    actix_web::http::header::WWW_AUTHENTICATE,
                    "Bearer realm=\"tessera\", error=\"invalid_token\"",
                ));
            }
            Error::NoToken => {
                builder.insert_header((
                    actix_web::http::header::WWW_AUTHENTICATE,
                    "Bearer realm=\"tessera\"",
                ));
            }
            Error::InsufficientScope(scope) => {
                builder.insert_header((
                    actix_web::http::header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"{scope}\""
                    ),
                ));
            }
            Error::Unavailable | Error::Outage(_) => {
                builder.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS));
            }
            _ => {}
        }
        let mut response = builder.finish();
        response.extensions_mut().insert(body);
        response
    }
}

/// What a 503 asks clients and load balancers to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: &str = "2";

/// A generic body for errors raised outside the domain (extractors, routing), chosen by
/// status so nothing from a foreign error's text reaches the client.
pub fn generic_body(status: StatusCode) -> ErrorBody {
    let (error, description) = match status.as_u16() {
        400 => ("invalid_request", "invalid request"),
        401 => ("unauthenticated", "invalid credentials"),
        403 => ("forbidden", "forbidden"),
        404 => ("not_found", "not found"),
        405 => ("method_not_allowed", "method not allowed"),
        413 => ("payload_too_large", "request body too large"),
        415 => ("unsupported_media_type", "unsupported media type"),
        s if s < 500 => ("invalid_request", "invalid request"),
        503 => ("unavailable", "service unavailable"),
        _ => ("server_error", "internal error"),
    };
    ErrorBody {
        error,
        description: description.into(),
    }
}
