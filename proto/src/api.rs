//! The bodies of the `/api/v1` API (and of `/userinfo`), as the server writes them. With
//! feature `schema` each has an OpenAPI schema, so the published document describes
//! every response a client can get; the server's test suite checks real responses
//! against it.

use serde::{Deserialize, Serialize};

#[cfg(feature = "schema")]
use utoipa::ToSchema;

/// Every error answer: a generic code and text, and the request's id for the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct ErrorBody {
    /// An RFC 6749 / RFC 6750 style code (`invalid_token`, `forbidden`, `not_found`, …).
    pub error: String,
    pub error_description: String,
    pub request_id: Option<String>,
}

/// One page of a listing, newest first; `next_cursor` asks for the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A listing that is never paginated.
    pub fn all(items: Vec<T>) -> Self {
        Self {
            items,
            next_cursor: None,
        }
    }
}

/// An actor or a resource of a stored audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct Party {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
}

/// A stored audit event, with its place in its tenant's hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct AuditItem {
    pub id: String,
    pub tenant_id: String,
    pub seq: i64,
    /// RFC 3339, UTC, microseconds.
    pub occurred_at: String,
    pub received_at: String,
    /// `tessera`, or the service that sent the event.
    pub source: String,
    pub actor: Party,
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    pub resource: Option<Party>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    #[cfg_attr(feature = "schema", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Where an ingested event landed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct Ingested {
    pub id: String,
    pub seq: i64,
}

/// `202` of `POST /api/v1/audit/events`: the events, committed, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct IngestAccepted {
    pub events: Vec<Ingested>,
}

/// One tenant's chain, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct ChainReport {
    pub tenant_id: String,
    pub tenant: String,
    pub intact: bool,
    /// The first sequence number checked: 1 from genesis (`full`), otherwise the event
    /// after the last verified position.
    pub from_seq: i64,
    /// Whether the check started from genesis.
    pub full: bool,
    /// Events checked (from `from_seq`, up to the first problem).
    pub events: i64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first event that does not verify.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

/// `GET /api/v1/audit/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct VerifyReport {
    pub intact: bool,
    pub tenants: Vec<ChainReport>,
}

/// `GET /api/v1/audit/checkpoint`: a signed statement of a chain's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct CheckpointBody {
    /// A JWS (`typ: checkpoint+jwt`) over the fields below, verifiable from the JWKS.
    pub checkpoint: String,
    pub tenant_id: String,
    pub tenant: String,
    pub seq: i64,
    pub hash: String,
    pub iat: i64,
}

/// An entry of the issued-token ledger (metadata only: never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct TokenItem {
    pub tenant_id: String,
    pub jti: String,
    pub subject: String,
    pub client_id: String,
    /// `access_token`, `id_token` or `refresh_token`.
    pub token_type: String,
    pub scope: String,
    pub kid: Option<String>,
    pub issued_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
    /// The refresh family (grant) it came from.
    pub family_id: Option<String>,
    /// How the user authenticated (RFC 8176); `null` for a client's own token.
    pub amr: Option<Vec<String>>,
    /// The grant it was issued by (`authorization_code`, `refresh_token`,
    /// `client_credentials`, `token_exchange`); `null` for tokens issued before the
    /// ledger kept it.
    #[serde(default)]
    pub grant_type: Option<String>,
    /// For an exchanged token (RFC 8693): the subject token it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_jti: Option<String>,
    /// For an exchanged token: the client that exchanged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// `POST /api/v1/tokens/{jti}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct Revoked {
    pub jti: String,
    /// How many tokens were revoked (0: already revoked; more with `family=true`).
    pub revoked: u64,
}

/// `POST /api/v1/tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lower-case letters, digits and `-`; `system` is reserved.
    pub slug: String,
    /// Defaults to the slug.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/tenants/{id}/members`: a person by email, with roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub email: String,
    /// `member`, `admin`, `auditor`.
    pub roles: Vec<String>,
}

/// `POST /api/v1/clients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// A tenant administrator's ids start with its tenant's slug and a dot.
    pub client_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// A confidential client gets a secret (in the answer, once).
    #[serde(default)]
    pub confidential: bool,
    /// Exact strings; `http` only for loopback hosts.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `authorization_code` (default), `refresh_token`, `client_credentials`,
    /// `token_exchange`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// With `token_exchange`: the audiences it may exchange tokens for (at least one).
    #[serde(default)]
    pub exchange_audiences: Vec<String>,
    /// The tenant to bind it to (platform administrators; a tenant administrator's
    /// client is bound to its own tenant).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct TenantView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub created_at: String,
    /// The second-factor policy: `off`, `optional` or `required`.
    pub mfa: String,
}

/// `POST /api/v1/users/{id}/mfa/reset`: why (required; kept in the audit events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaReset {
    pub reason: String,
}

/// `200` of `POST /api/v1/users/{id}/mfa/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct MfaResetDone {
    pub user_id: String,
    /// Whether the user had a factor to remove.
    pub removed: bool,
}

/// `PATCH /api/v1/tenants/{id}`: what changes (absent: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// The second-factor policy: `off`, `optional` or `required`.
    #[serde(default)]
    pub mfa: Option<String>,
}

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
    /// Space-separated: `member`, `admin`, `auditor`.
    pub roles: String,
    pub status: String,
    pub created_at: String,
}

/// `201` of `POST /api/v1/tenants/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct MemberAdded {
    pub user_id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub tenant_id: String,
}

/// An OAuth client as shown to operators (never the secret's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct ClientView {
    pub client_id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    /// `public` or `confidential`.
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    /// The audiences it may exchange tokens for (`token_exchange` clients).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_audiences: Vec<String>,
    pub created_at: String,
}

/// `201` of `POST /api/v1/clients`: the client and, for a confidential one, its secret
/// (shown this once; only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct ClientCreated {
    pub client_id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange_audiences: Vec<String>,
    pub created_at: String,
    pub client_secret: Option<String>,
}

impl ClientCreated {
    pub fn new(view: ClientView, client_secret: Option<String>) -> Self {
        let ClientView {
            client_id,
            tenant_id,
            name,
            kind,
            redirect_uris,
            grant_types,
            scopes,
            exchange_audiences,
            created_at,
        } = view;
        Self {
            client_id,
            tenant_id,
            name,
            kind,
            redirect_uris,
            grant_types,
            scopes,
            exchange_audiences,
            created_at,
            client_secret,
        }
    }
}

/// `GET /userinfo` (OpenID Connect Core 5.3): the user behind an access token with the
/// `openid` scope, in the tenant the token was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct UserInfo {
    pub sub: String,
    pub email: String,
    pub tenant_id: String,
    pub tenant: String,
    pub roles: Vec<String>,
}

/// `POST /api/v1/streams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewStream {
    /// `https://…` (plain `http` only to loopback); checked again after DNS resolution
    /// at every delivery.
    pub url: String,
    /// `ndjson` (default) or `otlp` (OTLP/HTTP logs, JSON encoding).
    #[serde(default)]
    pub format: Option<String>,
    /// The tenant whose chain it streams: a tenant administrator's own (the default);
    /// a platform administrator names one, or none for every tenant.
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// `PATCH /api/v1/streams/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StreamUpdate {
    /// `paused`, or `active` (resumes a paused or suspended stream).
    pub state: String,
}

/// An audit stream (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct StreamView {
    pub id: String,
    /// `null`: every tenant.
    pub tenant_id: Option<String>,
    pub url: String,
    pub format: String,
    /// `active`, `paused` or `suspended`.
    pub state: String,
    pub suspended_reason: Option<String>,
    /// Since when deliveries fail (`null` while they succeed).
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `201` of `POST /api/v1/streams`: the stream and its signing secret, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(ToSchema))]
pub struct StreamCreated {
    pub id: String,
    pub tenant_id: Option<String>,
    pub url: String,
    pub format: String,
    pub state: String,
    pub suspended_reason: Option<String>,
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// `whsec_…` (Standard Webhooks): verify each delivery's `webhook-signature`.
    pub secret: String,
}

impl StreamCreated {
    pub fn new(view: StreamView, secret: String) -> Self {
        let StreamView {
            id,
            tenant_id,
            url,
            format,
            state,
            suspended_reason,
            failing_since,
            last_error,
            created_at,
            updated_at,
        } = view;
        Self {
            id,
            tenant_id,
            url,
            format,
            state,
            suspended_reason,
            failing_since,
            last_error,
            created_at,
            updated_at,
            secret,
        }
    }
}

impl std::fmt::Debug for StreamCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamCreated")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}
