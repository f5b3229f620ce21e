//! How events and ledger rows appear in the console's tables.

use std::collections::HashMap;

use super::views::{Clock, EventRow, TokenRow};
use crate::access::Target;
use crate::audit::AuditRow;
use crate::error::Result;
use crate::tokens::IssuedToken;

/// Tenant slugs by id, for showing rows of every tenant.
pub fn slugs(
    conn: &mut crate::db::DbConnection,
    target: &Target,
) -> Result<HashMap<String, String>> {
    let tenants = match target {
        Target::One(t) => vec![t.clone()],
        Target::All => crate::tenants::list(conn)?,
    };
    Ok(tenants.into_iter().map(|t| (t.id, t.slug)).collect())
}

pub fn event_row(r: &AuditRow, clock: &Clock, slugs: &HashMap<String, String>) -> EventRow {
    let party = |kind: &Option<String>, id: &Option<String>| match (kind, id) {
        (Some(k), Some(i)) => format!("{k} {i}"),
        (Some(k), None) => k.clone(),
        (None, Some(i)) => i.clone(),
        (None, None) => String::new(),
    };
    EventRow {
        id: r.id.clone(),
        time: clock.show(&r.occurred_at),
        tenant: slugs
            .get(&r.tenant_id)
            .cloned()
            .unwrap_or_else(|| r.tenant_id.clone()),
        seq: r.seq,
        action: r.action.clone(),
        outcome: r.outcome.clone(),
        actor: party(&Some(r.actor_type.clone()), &r.actor_id),
        resource: party(&r.resource_type, &r.resource_id),
        source: r.source.clone(),
    }
}

pub fn token_row(t: &IssuedToken, clock: &Clock, slugs: &HashMap<String, String>) -> TokenRow {
    let now = crate::db::now();
    let (status, active) = match (&t.revoked_at, t.expires_at <= now) {
        (Some(at), _) => (
            format!(
                "revoked ({}) {}",
                t.revoked_reason.as_deref().unwrap_or("unknown"),
                clock.show(at)
            ),
            false,
        ),
        (None, true) => ("expired".to_owned(), false),
        (None, false) => ("active".to_owned(), true),
    };
    TokenRow {
        jti: t.jti.clone(),
        tenant: slugs
            .get(&t.tenant_id)
            .cloned()
            .unwrap_or_else(|| t.tenant_id.clone()),
        subject: t.subject.clone(),
        client: t.client_id.clone(),
        kind: t.token_type.clone(),
        grant: t.grant_type.clone().unwrap_or_else(|| "unknown".to_owned()),
        issued: clock.show(&t.issued_at),
        expires: clock.show(&t.expires_at),
        status,
        active,
    }
}
