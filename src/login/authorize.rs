//! Validation of `/authorize` requests (RFC 6749 4.1.1, RFC 7636, OIDC Core 3.1.2).
//! Errors found before the client and redirect URI are known show a page; later ones go
//! back to the client (RFC 6749 section 4.1.2.1).

use crate::clients::{self, Client, GrantType};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};

use super::store::Session;

/// The raw query of `/authorize`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub tenant: Option<String>,
    pub acr_values: Option<String>,
}

/// Why an authorization request failed, and where the answer goes.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI could not be trusted: an error page, never a redirect.
    Page(&'static str),
    /// Back to the client's redirect URI with RFC 6749 error parameters and `state`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
    Internal(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> Self {
        Self::Internal(e)
    }
}

impl From<diesel::result::Error> for AuthorizeError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// A request whose every parameter has been checked.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub tenant_hint: Option<String>,
    /// `prompt=login`: ask for the password even with a session.
    pub force_login: bool,
    /// `prompt=none`: never show a page.
    pub no_prompt: bool,
    pub max_age: Option<i64>,
    /// `acr_values` names `mfa`: this login needs a second factor.
    pub wants_mfa: bool,
}

impl ValidRequest {
    pub fn fail(&self, error: &'static str, description: &'static str) -> AuthorizeError {
        AuthorizeError::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description,
        }
    }

    /// Whether a session established at `auth_time` is recent enough for this request:
    /// `max_age=N` accepts an authentication at most N seconds old, measured to the
    /// millisecond, so `max_age=0` always asks for the password (OIDC Core 3.1.2.1).
    pub fn accepts_session(&self, session: &Session) -> bool {
        let fresh = self.max_age.is_none_or(|max| {
            max > 0
                && (db::now() - session.auth_time).num_milliseconds() <= max.saturating_mul(1000)
        });
        !self.force_login && fresh
    }
}

/// A PKCE S256 challenge: base64url of a SHA-256, 43 characters.
fn valid_challenge(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an `/authorize` request (RFC 6749 section 4.1.1, RFC 7636, OIDC Core 3.1.2).
pub fn validate(
    conn: &mut DbConnection,
    params: &AuthorizeParams,
) -> Result<ValidRequest, AuthorizeError> {
    let client_id = params
        .client_id
        .as_deref()
        .ok_or(AuthorizeError::Page("The request names no client."))?;
    let client = clients::find(conn, client_id)?
        .ok_or(AuthorizeError::Page("The client is not registered."))?;
    let redirect_uri = params
        .redirect_uri
        .as_deref()
        .filter(|uri| client.allows_redirect(uri))
        .ok_or(AuthorizeError::Page(
            "The redirect URI is not registered for this client.",
        ))?
        .to_owned();
    let state = params.state.clone().filter(|s| !s.is_empty());
    let fail = |error, description| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    // What an anonymous caller can make Tessera store is small (and expires).
    if state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(fail("invalid_request", "state is too long"));
    }
    let texts = [
        &params.state,
        &params.nonce,
        &params.tenant,
        &params.scope,
        &params.prompt,
        &params.max_age,
        &params.response_type,
        &params.code_challenge,
        &params.code_challenge_method,
        &params.acr_values,
    ];
    if texts
        .iter()
        .any(|t| t.as_deref().is_some_and(|t| t.contains('\0')))
    {
        return Err(fail(
            "invalid_request",
            "a parameter contains a NUL character",
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(fail("invalid_request", "response_type is required")),
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if !client.has_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "the client may not use the authorization code flow",
        ));
    }
    let code_challenge = params
        .code_challenge
        .as_deref()
        .ok_or_else(|| fail("invalid_request", "PKCE code_challenge is required"))?;
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !valid_challenge(code_challenge) {
        return Err(fail("invalid_request", "code_challenge is malformed"));
    }
    let scope = match params.scope.as_deref() {
        None | Some("") => client.scopes().collect::<Vec<_>>().join(" "),
        Some(requested) => crate::oauth::scope::narrow(client.scopes(), requested)
            .ok_or_else(|| fail("invalid_scope", "the requested scope is invalid"))?,
    };
    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let no_prompt = prompts.contains(&"none");
    if no_prompt && prompts.len() > 1 {
        return Err(fail("invalid_request", "prompt=none cannot be combined"));
    }
    let max_age = match params.max_age.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| fail("invalid_request", "max_age must be a non-negative integer"))?,
        ),
    };
    let nonce = params.nonce.clone().filter(|n| !n.is_empty());
    if nonce.as_ref().is_some_and(|n| n.len() > 255) {
        return Err(fail("invalid_request", "nonce is too long"));
    }
    Ok(ValidRequest {
        client,
        redirect_uri: redirect_uri.clone(),
        scope,
        state: state.clone(),
        nonce,
        code_challenge: code_challenge.to_owned(),
        tenant_hint: params.tenant.clone().filter(|t| !t.is_empty()),
        force_login: prompts.contains(&"login"),
        no_prompt,
        max_age,
        // Voluntary (OIDC Core 3.1.2.1): values Tessera does not know are ignored.
        wants_mfa: params
            .acr_values
            .as_deref()
            .is_some_and(|v| v.split(' ').any(|v| v == super::MFA_ACR)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert!(valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
