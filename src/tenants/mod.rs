//! Tenants: the isolation boundary. Slugs are parsed once at the edge; the reserved
//! `system` tenant (created by the first migration) holds the platform's operators.

pub mod store;

use serde::Serialize;

use crate::audit::{self, Event, Origin};
use crate::db::{self, DbConnection};
use crate::error::{is_unique_violation, Error, Result};

pub use store::Tenant;

/// The reserved `system` tenant (the wire contract names it).
pub use tessera_proto::{SYSTEM_SLUG, SYSTEM_TENANT_ID};

/// A tenant slug: 2–63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Self> {
        let valid = (2..=63).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::Invalid(
                "tenant slug: use 2-63 characters a-z, 0-9 and '-', not starting or ending with '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creates a tenant and records `tenant.created` in the system chain. The reserved
/// `system` slug is taken (`Conflict`), like any existing one.
pub fn create(
    tx: &mut DbConnection,
    origin: &Origin,
    slug: &Slug,
    name: Option<&str>,
) -> Result<Tenant> {
    if slug.as_str() == SYSTEM_SLUG {
        return Err(Error::Conflict("tenant"));
    }
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(slug.as_str());
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "tenant name: at most 200 printable characters",
        ));
    }
    let tenant = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        slug: slug.as_str().to_owned(),
        name: name.to_owned(),
        status: "active".to_owned(),
        created_at: db::now(),
        mfa_policy: "off".to_owned(),
    };
    store::insert(tx, &tenant).map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict("tenant")
        } else {
            e.into()
        }
    })?;
    audit::record(
        tx,
        origin,
        Event::success(SYSTEM_TENANT_ID, "tenant.created", "tenant", &tenant.id)
            .with_details(serde_json::json!({ "slug": tenant.slug })),
    )?;
    Ok(tenant)
}

/// The tenant with this slug, if any.
pub fn find_by_slug(conn: &mut DbConnection, slug: &Slug) -> Result<Option<Tenant>> {
    Ok(store::by_slug(conn, slug.as_str())?)
}

/// The tenant with this id, if any.
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<Tenant>> {
    Ok(store::by_id(conn, id)?)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<Tenant>> {
    Ok(store::all(conn)?)
}

impl From<&Tenant> for tessera_proto::api::TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.clone(),
            slug: t.slug.clone(),
            name: t.name.clone(),
            status: t.status.clone(),
            created_at: crate::db::format_utc(&t.created_at),
            mfa: t.mfa_policy.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["acme", "a1", "acme-corp", "42"] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "Acme",
            "-acme",
            "acme-",
            "ac me",
            "acme_corp",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }
}
