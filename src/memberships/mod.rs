//! Memberships: the only source of a user's tenant access (DESIGN invariant 1). Roles are
//! `member`, `admin` and `auditor`; `admin` and `auditor` in `system` are platform-wide.

pub mod store;

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::audit::{self, Event, Origin};
use crate::db::{self, DbConnection};
use crate::error::{is_unique_violation, Error, Result};
use crate::tenants::{Tenant, SYSTEM_TENANT_ID};
use crate::users::User;

pub use store::{Member, Membership};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Auditor,
    Member,
}

impl Role {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            "auditor" => Ok(Self::Auditor),
            _ => Err(Error::Invalid("role: expected member, admin or auditor")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of roles, stored as space-separated names in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Result<Self> {
        let set: BTreeSet<Role> = roles.into_iter().collect();
        if set.is_empty() {
            return Err(Error::Invalid("roles: at least one role is required"));
        }
        Ok(Self(set))
    }

    /// Parses the stored form; unknown names are dropped (never widen access).
    pub fn from_stored(text: &str) -> Vec<Role> {
        text.split_whitespace()
            .filter_map(|r| Role::parse(r).ok())
            .collect()
    }

    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|r| r.as_str()).collect()
    }
}

/// Adds `user` to `tenant` with `roles`; an existing membership is a conflict.
pub fn add(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant: &Tenant,
    user: &User,
    roles: &Roles,
) -> Result<Membership> {
    let membership = Membership {
        tenant_id: tenant.id.clone(),
        user_id: user.id.clone(),
        roles: roles.to_stored(),
        status: "active".to_owned(),
        created_at: db::now(),
    };
    store::insert(tx, &membership).map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict("membership")
        } else {
            e.into()
        }
    })?;
    audit::record(
        tx,
        origin,
        Event::success(&tenant.id, "membership.added", "user", &user.id)
            .with_details(serde_json::json!({ "roles": roles.names() })),
    )?;
    Ok(membership)
}

/// Removes `user` from `tenant`.
pub fn remove(tx: &mut DbConnection, origin: &Origin, tenant: &Tenant, user: &User) -> Result<()> {
    if store::delete(tx, &tenant.id, &user.id)? == 0 {
        return Err(Error::NotFound);
    }
    audit::record(
        tx,
        origin,
        Event::success(&tenant.id, "membership.removed", "user", &user.id),
    )?;
    Ok(())
}

pub fn list(conn: &mut DbConnection, tenant: &Tenant) -> Result<Vec<Member>> {
    Ok(store::members(conn, &tenant.id)?)
}

/// The tenant a token will carry, with the user's roles there.
#[derive(Debug, Clone)]
pub struct TenantAccess {
    pub tenant: Tenant,
    pub roles: Vec<Role>,
}

impl TenantAccess {
    pub fn role_names(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.as_str()).collect()
    }
}

#[derive(Debug, Clone)]
pub enum Resolution {
    /// Exactly one tenant applies.
    Tenant(TenantAccess),
    /// Several do and no hint chose one: ask the user (the answer comes back as a hint).
    Pick(Vec<Tenant>),
}

/// DESIGN invariant 1, in the one place every login, code exchange and refresh calls:
/// the tenant comes from the user's active memberships (limited to the client's tenant
/// for a tenant-bound client). A `hint` (a slug the client or the user sent) only
/// selects among those; a hint naming a tenant the user is not in, or one that does not
/// exist, fails exactly like having no membership at all (`Forbidden`).
pub fn resolve_tenant(
    conn: &mut DbConnection,
    user_id: &str,
    client_tenant_id: Option<&str>,
    hint: Option<&str>,
) -> Result<Resolution> {
    let candidates: Vec<TenantAccess> = store::user_tenants(conn, user_id)?
        .into_iter()
        .filter(|(tenant, _)| client_tenant_id.is_none_or(|bound| bound == tenant.id))
        .map(|(tenant, m)| TenantAccess {
            tenant,
            roles: Roles::from_stored(&m.roles),
        })
        .collect();
    if let Some(hint) = hint {
        return candidates
            .into_iter()
            .find(|c| c.tenant.slug == hint)
            .map(Resolution::Tenant)
            .ok_or(Error::Forbidden);
    }
    match candidates.len() {
        0 => Err(Error::Forbidden),
        1 => Ok(Resolution::Tenant(
            candidates.into_iter().next().ok_or(Error::Forbidden)?,
        )),
        _ => Ok(Resolution::Pick(
            candidates.into_iter().map(|c| c.tenant).collect(),
        )),
    }
}

/// Whether `user_id` holds an active membership in `tenant_id`.
pub fn is_member(conn: &mut DbConnection, tenant_id: &str, user_id: &str) -> Result<bool> {
    Ok(store::user_tenants(conn, user_id)?
        .iter()
        .any(|(tenant, _)| tenant.id == tenant_id))
}

/// Whether any active user holds `admin` in the `system` tenant.
pub fn platform_admin_exists(conn: &mut DbConnection) -> Result<bool> {
    let rows = store::active_in_tenant(conn, SYSTEM_TENANT_ID)?;
    Ok(rows
        .iter()
        .any(|m| Roles::from_stored(&m.roles).contains(&Role::Admin)))
}

impl From<Member> for tessera_proto::api::MemberView {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email,
            roles: m.roles,
            status: m.status,
            created_at: crate::db::format_utc(&m.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_deduplicated() {
        let roles = Roles::new([Role::Member, Role::Admin, Role::Member]).unwrap();
        assert_eq!(roles.to_stored(), "admin member");
        assert_eq!(
            Roles::from_stored("admin member bogus"),
            vec![Role::Admin, Role::Member]
        );
        assert!(Roles::new([]).is_err());
        assert!(Role::parse("owner").is_err());
    }
}
