//! Binding ingested events to the caller's token (invariant 6): whose tenant each event
//! is written to, and as which actor. A refusal writes nothing.

use std::collections::HashMap;

use super::validate::parse_time;
use super::WRITE_SCOPE;
use crate::access::TenantContext;
use crate::audit::{Appended, Entry};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::memberships;
use crate::tenants::{self, SYSTEM_TENANT_ID};
use tessera_proto::IngestEvent;

/// Why a batch was refused by the tenant rules (a 403; the caller audits it).
#[derive(Debug)]
pub struct Refused {
    pub index: usize,
    /// The event named a tenant this token may not write, as the caller typed it: a
    /// cross-tenant attempt (invariant 2), recorded as `tenant.cross_access_denied`.
    pub other_tenant: Option<String>,
}

/// Appends a validated batch under the caller's token rules, in `tx`. `Ok(Err(_))` is a
/// refusal: nothing was written, and the caller records the denial separately.
pub fn ingest(
    tx: &mut DbConnection,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
) -> Result<std::result::Result<Vec<Appended>, Refused>> {
    match bind(tx, ctx, events)? {
        Ok(entries) => Ok(Ok(crate::audit::append(tx, entries)?)),
        Err(refused) => Ok(Err(refused)),
    }
}

/// The entries a validated batch becomes under the caller's token rules (reads only:
/// the tenants a platform client names, the memberships of the users it names), or
/// the refusal.
pub fn bind(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
) -> Result<std::result::Result<Vec<Entry>, Refused>> {
    let tx = conn;
    let platform_client = ctx.is_client() && ctx.tenant_id == SYSTEM_TENANT_ID;
    if ctx.is_client() && !ctx.has_scope(WRITE_SCOPE) {
        return Ok(Err(Refused {
            index: 0,
            other_tenant: None,
        }));
    }
    let mut known_tenants: HashMap<String, bool> = HashMap::new();
    let mut members: HashMap<(String, String), bool> = HashMap::new();
    let mut entries = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let refuse = Ok(Err(Refused {
            index,
            other_tenant: None,
        }));
        let cross_tenant = |requested: &str| {
            Ok(Err(Refused {
                index,
                other_tenant: Some(requested.to_owned()),
            }))
        };
        let tenant_id = if platform_client {
            // A platform client names the tenant of each event; it must exist, and it
            // is never the service's own `system` chain.
            let Some(tenant_id) = event.tenant_id.clone() else {
                return Err(Error::BadRequest(format!(
                    "event {index}: tenant_id is required"
                )));
            };
            if tenant_id == SYSTEM_TENANT_ID {
                return cross_tenant(&tenant_id);
            }
            let exists = match known_tenants.get(&tenant_id) {
                Some(known) => *known,
                None => {
                    let exists = uuid::Uuid::parse_str(&tenant_id).is_ok()
                        && tenants::find_by_id(tx, &tenant_id)?.is_some();
                    known_tenants.insert(tenant_id.clone(), exists);
                    exists
                }
            };
            if !exists {
                return refuse;
            }
            tenant_id
        } else {
            if let Some(requested) = event.tenant_id.as_ref().filter(|t| **t != ctx.tenant_id) {
                return cross_tenant(requested);
            }
            ctx.tenant_id.clone()
        };

        let (actor_type, actor_id) = if ctx.is_client() {
            match &event.actor {
                Some(actor) => (actor.kind.clone(), actor.id.clone()),
                None => ("client".to_owned(), Some(ctx.client_id.clone())),
            }
        } else {
            // A user's token writes as that user, and as nobody else.
            let other = event.actor.as_ref().is_some_and(|a| {
                a.kind != "user" || a.id.as_ref().is_some_and(|id| *id != ctx.subject)
            });
            if other {
                return refuse;
            }
            ("user".to_owned(), Some(ctx.subject.clone()))
        };
        // Whichever client writes, a user it names must be a member of the event's
        // tenant: no client speaks for another tenant's users.
        if ctx.is_client() && actor_type == "user" {
            let Some(user_id) = actor_id.clone() else {
                return Err(Error::BadRequest(format!(
                    "event {index}: actor.id is required for a user"
                )));
            };
            let key = (tenant_id.clone(), user_id.clone());
            let member = match members.get(&key) {
                Some(member) => *member,
                None => {
                    let member = uuid::Uuid::parse_str(&user_id).is_ok()
                        && memberships::is_member(tx, &tenant_id, &user_id)?;
                    members.insert(key, member);
                    member
                }
            };
            if !member {
                return refuse;
            }
        }
        let (resource_type, resource_id) = match event.resource {
            Some(r) => (Some(r.kind), r.id),
            None => (None, None),
        };
        entries.push(Entry {
            tenant_id,
            occurred_at: event.occurred_at.as_deref().and_then(parse_time).map(|t| {
                use chrono::SubsecRound;
                t.naive_utc().trunc_subsecs(6)
            }),
            source: ctx.client_id.clone(),
            actor_type,
            actor_id,
            action: event.action,
            resource_type,
            resource_id,
            outcome: event.outcome,
            ip: event.ip.or_else(|| ctx.ip.clone()),
            request_id: event.request_id.or_else(|| ctx.request_id.clone()),
            details: serde_json::Value::Object(event.details.unwrap_or_default()),
        });
    }
    Ok(Ok(entries))
}
