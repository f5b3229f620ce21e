//! Who is calling `/api/v1` and what they may reach (DESIGN invariant 2 and "Who may
//! read logs"). A [`TenantContext`] is built only from a fully verified access token;
//! a tenant named by the request is at most a selector, checked here against it.

pub mod admin;

use crate::audit::{self, ActorType, Event, Origin, Outcome};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::memberships::{Role, Roles};
use crate::tenants::{self, Tenant, SYSTEM_TENANT_ID};

/// The scope an access token needs for every `/api/v1` route except audit ingestion.
pub use tessera_proto::API_SCOPE;

/// The verified caller of an API request.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub tenant_id: String,
    pub tenant: String,
    pub subject: String,
    pub client_id: String,
    pub roles: Vec<Role>,
    pub scope: Vec<String>,
    pub jti: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl TenantContext {
    /// The context of verified claims.
    pub fn from_claims(
        claims: crate::tokens::AccessClaims,
        ip: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            scope: claims.scopes().map(str::to_owned).collect(),
            roles: Roles::from_stored(&claims.roles.join(" ")),
            tenant_id: claims.tenant_id,
            tenant: claims.tenant,
            subject: claims.sub,
            client_id: claims.client_id,
            jti: claims.jti,
            ip,
            request_id,
        }
    }

    /// A client-credentials token: the client itself is the subject.
    pub fn is_client(&self) -> bool {
        self.subject == self.client_id && self.roles.is_empty()
    }

    /// Roles held in `system` reach every tenant.
    pub fn is_platform(&self) -> bool {
        self.tenant_id == SYSTEM_TENANT_ID
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }

    /// May read audit and token logs (of its own tenant; every tenant from `system`).
    pub fn can_read_logs(&self) -> bool {
        self.has_role(Role::Auditor) || self.has_role(Role::Admin)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// The audit origin of this caller's actions.
    pub fn origin(&self) -> Origin {
        let actor = if self.is_client() {
            ActorType::Client
        } else {
            ActorType::User
        };
        Origin::request(
            actor,
            Some(&self.subject),
            self.ip.clone(),
            self.request_id.clone(),
        )
    }
}

/// Which tenants a request reaches.
#[derive(Debug, Clone)]
pub enum Target {
    One(Tenant),
    /// Every tenant (platform callers without a selector).
    All,
}

impl Target {
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Target::One(t) => Some(&t.id),
            Target::All => None,
        }
    }
}

/// Resolves a tenant selector (an id or a slug from the query, the path or
/// `X-Tenant-ID`) against the caller. A caller outside `system` reaches only its own
/// tenant: any other selector, existing or not, is `Forbidden` and is recorded as
/// `tenant.cross_access_denied` in the caller's chain (with the selector as typed, so
/// nothing is revealed). A platform caller reaches any tenant; an unknown one is
/// `NotFound`.
pub fn resolve_target(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: Option<&str>,
) -> Result<Target> {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return if ctx.is_platform() {
            Ok(Target::All)
        } else {
            Ok(Target::One(own_tenant(conn, ctx)?))
        };
    };
    if !ctx.is_platform() {
        if selector == ctx.tenant_id || selector == ctx.tenant {
            return Ok(Target::One(own_tenant(conn, ctx)?));
        }
        deny_cross_tenant(conn, ctx, selector, serde_json::Map::new())?;
        return Err(Error::Forbidden);
    }
    // Only well-formed ids and slugs reach the database.
    if uuid::Uuid::parse_str(selector).is_ok() {
        return Ok(Target::One(
            tenants::find_by_id(conn, selector)?.ok_or(Error::NotFound)?,
        ));
    }
    match tenants::Slug::parse(selector) {
        Ok(slug) => Ok(Target::One(
            tenants::find_by_slug(conn, &slug)?.ok_or(Error::NotFound)?,
        )),
        Err(_) => Err(Error::NotFound),
    }
}

/// The caller's own tenant (it exists: the token was issued for it).
fn own_tenant(conn: &mut DbConnection, ctx: &TenantContext) -> Result<Tenant> {
    tenants::find_by_id(conn, &ctx.tenant_id)?.ok_or(Error::NotFound)
}

/// Records a refused cross-tenant request in the caller's own chain, with the tenant
/// as the caller typed it (at most 100 characters) and any `extra` details.
pub fn deny_cross_tenant(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: &str,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let mut details = extra;
    details.insert(
        "requested".into(),
        selector.chars().take(100).collect::<String>().into(),
    );
    crate::db::write_tx(conn, |tx| {
        audit::record(
            tx,
            &ctx.origin(),
            Event::new(
                &ctx.tenant_id,
                "tenant.cross_access_denied",
                Outcome::Denied,
            )
            .with_details(serde_json::Value::Object(details)),
        )
        .map(|_| ())
    })?;
    crate::metrics::cross_tenant_denial();
    Ok(())
}

/// Who reads the audit or token logs.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// An API caller: its token decides what it may reach.
    Caller(&'a TenantContext),
    /// The operator at the command line: local access to the database reaches every
    /// tenant, and its reads are recorded as the CLI's.
    Operator,
}

/// How a read is recorded.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// One event, in the read tenant's chain (a read of every tenant: in the caller's
    /// own chain, or `system`'s for the operator).
    Once(serde_json::Value),
    /// One event in each tenant's chain that was read, with its own details.
    PerTenant(Vec<(String, serde_json::Value)>),
}

/// The one sequence of every read of the audit and token logs, over HTTP and at the
/// command line: authorize the reader for `selector` (see [`log_target`]; for the
/// operator, a slug or every tenant), run `read` on the tenants reached, and record the
/// read as `action` with the details `read` returns. Nothing is returned unrecorded.
pub fn read_logs<T>(
    conn: &mut DbConnection,
    reader: Reader<'_>,
    selector: Option<&str>,
    action: &str,
    read: impl FnOnce(&mut DbConnection, &Target) -> Result<(T, Recorded)>,
) -> Result<T> {
    let (target, origin, home) = match reader {
        Reader::Caller(ctx) => (
            log_target(conn, ctx, selector)?,
            ctx.origin(),
            ctx.tenant_id.as_str(),
        ),
        Reader::Operator => {
            let target = match selector {
                Some(slug) => Target::One(
                    tenants::find_by_slug(conn, &tenants::Slug::parse(slug)?)?
                        .ok_or(Error::NotFound)?,
                ),
                None => Target::All,
            };
            (target, Origin::cli(), SYSTEM_TENANT_ID)
        }
    };
    let (value, recorded) = read(conn, &target)?;
    let events = match recorded {
        Recorded::Once(details) => vec![(target.tenant_id().unwrap_or(home).to_owned(), details)],
        Recorded::PerTenant(events) => events,
    };
    crate::db::write_tx(conn, |tx| {
        for (chain, details) in events {
            audit::record(
                tx,
                &origin,
                Event::new(&chain, action, Outcome::Success).with_details(details),
            )?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(value)
}

/// The tenants a read of the audit or token logs reaches: the caller's role is checked
/// before the selector, so a caller who may not read logs gets the same `Forbidden`
/// whether or not a named tenant exists.
pub fn log_target(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: Option<&str>,
) -> Result<Target> {
    authorized_target(conn, ctx, selector, ctx.can_read_logs())
}

/// The tenants an administrative request reaches, the role checked first (see
/// [`log_target`]).
pub fn admin_target(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: Option<&str>,
) -> Result<Target> {
    authorized_target(conn, ctx, selector, ctx.is_admin())
}

fn authorized_target(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: Option<&str>,
    allowed: bool,
) -> Result<Target> {
    if !allowed {
        // Another tenant named by a tenant's caller is still a cross-tenant attempt; the
        // comparison uses only the caller's own token, never the database.
        if let Some(selector) = selector.filter(|s| !s.is_empty()) {
            if !ctx.is_platform() && selector != ctx.tenant_id && selector != ctx.tenant {
                deny_cross_tenant(conn, ctx, selector, serde_json::Map::new())?;
            }
        }
        return Err(Error::Forbidden);
    }
    resolve_target(conn, ctx, selector)
}

/// The caller administers its tenant (or, from `system`, every tenant).
pub fn require_admin(ctx: &TenantContext) -> Result<()> {
    if ctx.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}
