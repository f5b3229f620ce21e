//! Tessera's wire contract, shared by the server and by `tessera-verify`: the claims of
//! access and ID tokens, the signature algorithms, the reserved `system` tenant and the
//! bodies of the `/api/v1` API. No I/O and no cryptography: a change here is a change
//! of what both sides read and write, and the unit tests below pin the JSON.

pub mod algorithm;
pub mod api;
pub mod canonical;
pub mod claims;
pub mod ingest;
pub mod strict_json;

pub use algorithm::Algorithm;
pub use claims::{AccessClaims, Actor, Audience, ClaimsError, IdClaims};
pub use ingest::{IngestEvent, Reference};

/// The id of the reserved `system` tenant. Roles held there reach every tenant, and a
/// client-credentials token of a platform client (one bound to no tenant) carries it.
pub const SYSTEM_TENANT_ID: &str = "00000000-0000-4000-8000-000000000000";
/// The slug of the reserved `system` tenant; no other tenant may take it.
pub const SYSTEM_SLUG: &str = "system";
/// The JOSE `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The JOSE `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";
/// The scope every `/api/v1` route needs except audit ingestion.
pub const API_SCOPE: &str = "tessera:api";
/// The scope audit ingestion needs.
pub const AUDIT_WRITE_SCOPE: &str = "audit:write";
