//! RFC 6749 error responses for the OAuth endpoints: the code, a generic description,
//! and `WWW-Authenticate` on `invalid_client`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use super::errors::ErrorBody;
use crate::oauth::OAuthError;

impl OAuthError {
    fn public(&self) -> (StatusCode, ErrorBody) {
        let (status, error, description) = match self {
            OAuthError::InvalidRequest(what) => (StatusCode::BAD_REQUEST, "invalid_request", *what),
            OAuthError::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            ),
            OAuthError::InvalidGrant => (
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the grant is invalid, expired or revoked",
            ),
            OAuthError::UnauthorizedClient => (
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "the client may not use this grant type",
            ),
            OAuthError::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "unsupported grant type",
            ),
            OAuthError::InvalidScope => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "the requested scope is invalid",
            ),
            OAuthError::InvalidTarget => (
                StatusCode::BAD_REQUEST,
                "invalid_target",
                "the requested audience is not allowed for this client",
            ),
            OAuthError::InteractionRequired => (
                StatusCode::BAD_REQUEST,
                "interaction_required",
                "the tenant requires a second factor: the user must sign in again",
            ),
            // RFC 6749 section 4.1.2.1's code for a temporary condition, used on every
            // OAuth endpoint.
            OAuthError::Server(e) if e.is_temporary() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service is temporarily unavailable",
            ),
            OAuthError::Server(_) => (
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

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.public().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = self.public();
        let mut response = HttpResponse::build(status);
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        match self {
            OAuthError::InvalidClient => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"tessera\""));
            }
            OAuthError::Server(e) if e.is_temporary() => {
                response.insert_header((header::RETRY_AFTER, super::errors::RETRY_AFTER_SECS));
            }
            _ => {}
        }
        let mut response = response.finish();
        response.extensions_mut().insert(body);
        response
    }
}
