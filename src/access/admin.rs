//! Who may administer what: the tenant a platform or tenant administrator reaches, and
//! the tenant a new client is bound to. Each check comes before any selector is looked
//! up, so a caller who may not act learns nothing about other tenants (see
//! [`super::admin_target`]).

use super::{admin_target, require_admin, Target, TenantContext};
use crate::clients::{self, ClientId};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::tenants::{self, Tenant};

/// The tenants an administrator sees: every one from `system`, else its own.
pub fn visible_tenants(conn: &mut DbConnection, ctx: &TenantContext) -> Result<Vec<Tenant>> {
    require_admin(ctx)?;
    if ctx.is_platform() {
        return tenants::list(conn);
    }
    Ok(vec![
        tenants::find_by_id(conn, &ctx.tenant_id)?.ok_or(Error::NotFound)?
    ])
}

/// Only a platform administrator creates tenants.
pub fn require_platform_admin(ctx: &TenantContext) -> Result<()> {
    require_admin(ctx)?;
    if ctx.is_platform() {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// The one tenant `selector` names, if the caller administers it.
pub fn administered(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: &str,
) -> Result<Tenant> {
    match admin_target(conn, ctx, Some(selector))? {
        Target::One(tenant) => Ok(tenant),
        Target::All => Err(Error::NotFound),
    }
}

/// The tenant whose clients a listing shows (`None`: every client, platform only).
pub fn client_listing(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    selector: Option<&str>,
) -> Result<Option<Tenant>> {
    Ok(match admin_target(conn, ctx, selector)? {
        Target::One(tenant) => Some(tenant),
        Target::All => None,
    })
}

/// The tenant a new client is bound to. A platform administrator may bind it to any
/// tenant or to none; a tenant administrator's client is bound to its own tenant, and
/// its id must lie in that tenant's namespace (`<slug>.…`), so neither a conflict nor
/// a squatted name can involve another tenant.
pub fn new_client_tenant(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    id: &ClientId,
    selector: Option<&str>,
) -> Result<Option<Tenant>> {
    if ctx.is_platform() {
        return match selector {
            Some(selector) => client_listing(conn, ctx, Some(selector)),
            None => {
                require_admin(ctx)?;
                Ok(None)
            }
        };
    }
    match admin_target(conn, ctx, selector)? {
        Target::One(tenant) => {
            clients::check_tenant_namespace(id, &tenant)?;
            Ok(Some(tenant))
        }
        Target::All => Err(Error::Forbidden),
    }
}

/// Which tenant's tokens an administrator may revoke (`None`: every tenant's).
pub fn revocation_scope(ctx: &TenantContext) -> Result<Option<&str>> {
    require_admin(ctx)?;
    Ok((!ctx.is_platform()).then_some(ctx.tenant_id.as_str()))
}

/// Records, in the caller's chain, an administrative action refused to the caller
/// (`action` on the user `user_id`, as typed: nothing about it is looked up).
pub fn record_denied(
    tx: &mut DbConnection,
    ctx: &TenantContext,
    action: &str,
    user_id: &str,
) -> Result<()> {
    let mut id: String = user_id.chars().take(64).collect();
    id.retain(|c| !c.is_control());
    crate::audit::record(
        tx,
        &ctx.origin(),
        crate::audit::Event::new(&ctx.tenant_id, action, crate::audit::Outcome::Denied)
            .on("user", &id),
    )?;
    Ok(())
}
