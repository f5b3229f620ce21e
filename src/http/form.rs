//! `application/x-www-form-urlencoded` request bodies as OAuth reads them: each
//! parameter at most once (RFC 6749 section 3.1), empty values treated as absent.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::oauth::{ClientCredentials, OAuthError};
use base64::Engine;

pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, OAuthError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if key.contains('\0') || value.contains('\0') {
                return Err(OAuthError::InvalidRequest(
                    "a parameter contains a NUL character",
                ));
            }
            if map.insert(key.into_owned(), value.into_owned()).is_some() {
                return Err(OAuthError::InvalidRequest("a parameter was repeated"));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Client credentials from `Authorization: Basic` (client_secret_basic) or the body
    /// (client_secret_post); using both at once is an error.
    pub fn client_credentials(&self, req: &HttpRequest) -> Result<ClientCredentials, OAuthError> {
        let basic = match req.headers().get(header::AUTHORIZATION) {
            Some(value) => Some(parse_basic(value.to_str().ok()).ok_or(OAuthError::InvalidClient)?),
            None => None,
        };
        let in_body = self.get("client_secret").is_some();
        match basic {
            Some(_) if in_body => Err(OAuthError::InvalidRequest(
                "use one client authentication method",
            )),
            Some((id, secret)) => {
                if self.get("client_id").is_some_and(|body_id| body_id != id) {
                    return Err(OAuthError::InvalidRequest("client_id does not match"));
                }
                Ok(ClientCredentials {
                    client_id: Some(id),
                    client_secret: Some(secret),
                })
            }
            None => Ok(ClientCredentials {
                client_id: self.get("client_id").map(str::to_owned),
                client_secret: self.get("client_secret").map(str::to_owned),
            }),
        }
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section 2.3.1).
fn parse_basic(value: Option<&str>) -> Option<(String, String)> {
    let (scheme, encoded) = value?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%20app:s%3Ac+r")
        );
        assert_eq!(
            parse_basic(Some(&header)),
            Some(("my app".to_owned(), "s:c r".to_owned()))
        );
        assert_eq!(parse_basic(Some("Bearer abc")), None);
        assert_eq!(parse_basic(Some("Basic !!!")), None);
    }
}
