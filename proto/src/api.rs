//! The bodies of the `/api/v1` API.

use serde::{Deserialize, Serialize};

/// `GET /userinfo` (OpenID Connect Core 5.3): the user behind an access token with the
/// `openid` scope, in the tenant the token was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub sub: String,
    pub email: String,
    pub tenant_id: String,
    pub tenant: String,
    pub roles: Vec<String>,
}
