//! The grants a client may be registered for (and a token is issued by). Apart from
//! the rest of `clients`, so the token ledger can name a grant without depending on
//! client registration.

use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
    /// RFC 8693 token exchange (on `/token` as
    /// `urn:ietf:params:oauth:grant-type:token-exchange`).
    TokenExchange,
}

/// The `grant_type` of a token-exchange request (RFC 8693 section 2.1).
pub const TOKEN_EXCHANGE_URN: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

impl GrantType {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            "token_exchange" | TOKEN_EXCHANGE_URN => Ok(Self::TokenExchange),
            _ => Err(Error::Invalid(
                "grant: expected authorization_code, refresh_token, client_credentials or token_exchange",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::TokenExchange => "token_exchange",
        }
    }
}
