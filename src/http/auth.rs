//! The one reading of `Authorization: Bearer` (RFC 6750 section 2.1): the scheme in any
//! case, the token trimmed. Basic client authentication is `oauth.rs`'s (RFC 6749 2.3.1
//! needs form-decoding).

use actix_web::http::header;
use actix_web::HttpRequest;

/// The bearer token of `req`, if it names one.
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
