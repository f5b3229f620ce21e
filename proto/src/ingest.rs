//! One audit event as a downstream service sends it to `POST /api/v1/audit/events`.
//! The server validates each field (see its `audit::ingest`); unknown fields are refused.

use serde::{Deserialize, Serialize};

/// An actor or a resource: a type and, optionally, an id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One event. `tenant_id` may be given only by a platform client; a tenant-bound
/// caller's events land in its own tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestEvent {
    pub action: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// RFC 3339; the time of receipt when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schema(value_type = Option<Object>))]
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
}
