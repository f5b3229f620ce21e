//! The outcome of a signed-in user's authorization request, decided in one place for
//! `GET /authorize` (an existing session), the login form and the tenant picker. The
//! tenant comes from the user's memberships (DESIGN invariant 1): the client's binding
//! and the request's hint only narrow the choice. The handlers render the [`Decision`];
//! a second factor will add a step before [`Decision::Code`].

use chrono::NaiveDateTime;

use super::{PendingHandle, ValidRequest};
use crate::audit::{self, Event, Origin, Outcome};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::memberships::{self, Resolution};
use crate::oauth::code::{self, CodeRequest};
use crate::tenants::{Tenant, SYSTEM_TENANT_ID};
use crate::users::User;

use super::store::PendingRequest;

/// What the browser is shown next.
#[derive(Debug)]
pub enum Decision {
    /// A code was issued for the resolved tenant: back to the client with it.
    Code(String),
    /// The user is in several tenants the client may reach and must pick one.
    PickTenant {
        handle: PendingHandle,
        tenants: Vec<Tenant>,
    },
    /// No membership in a tenant the client may reach (recorded as
    /// `authorization.denied`).
    Denied,
    /// A choice is needed but the request said `prompt=none`.
    InteractionRequired,
}

/// Where the request stands.
pub enum Flow<'a> {
    /// Straight from `GET /authorize` with a session: nothing is pending yet.
    Fresh(&'a ValidRequest),
    /// A pending request continued by the login form or the picker (`handle` is the
    /// browser's, kept for the picker).
    Pending {
        row: &'a PendingRequest,
        handle: &'a PendingHandle,
    },
}

/// A signed-in user's request.
pub struct Request<'a> {
    pub flow: Flow<'a>,
    pub code: CodeRequest<'a>,
    /// The tenant the client is bound to, if any.
    pub client_tenant: Option<&'a str>,
    pub user: &'a User,
    pub auth_time: NaiveDateTime,
    /// A tenant slug the request or the picker names.
    pub hint: Option<&'a str>,
    /// No page may be shown (`prompt=none`, or the picker was already answered).
    pub no_prompt: bool,
}

/// How long what [`decide`] creates lives.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub code: std::time::Duration,
    pub pending: std::time::Duration,
}

/// Resolves the tenant and issues a code, starts the picker, or refuses; in `tx`.
pub fn decide(
    tx: &mut DbConnection,
    origin: &Origin,
    request: &Request<'_>,
    lifetimes: Lifetimes,
) -> Result<Decision> {
    let user = request.user;
    let pending = match request.flow {
        Flow::Pending { row, .. } => Some(row),
        Flow::Fresh(_) => None,
    };
    match memberships::resolve_tenant(tx, &user.id, request.client_tenant, request.hint) {
        Ok(Resolution::Tenant(access)) => {
            let code = code::issue_code(
                tx,
                origin,
                &request.code,
                &user.id,
                request.auth_time,
                &access,
                lifetimes.code,
            )?;
            if let Some(pending) = pending {
                super::finish_pending(tx, pending)?;
            }
            Ok(Decision::Code(code))
        }
        Ok(Resolution::Pick(_)) if request.no_prompt => Ok(Decision::InteractionRequired),
        Ok(Resolution::Pick(tenants)) => {
            let handle = match &request.flow {
                Flow::Fresh(valid) => super::start_pending(
                    tx,
                    valid,
                    Some((&user.id, request.auth_time)),
                    lifetimes.pending,
                )?,
                Flow::Pending { row, handle } => {
                    super::set_pending_user(tx, row, &user.id, request.auth_time)?;
                    (*handle).clone()
                }
            };
            Ok(Decision::PickTenant { handle, tenants })
        }
        Err(Error::Forbidden) => {
            if let Some(pending) = pending {
                super::finish_pending(tx, pending)?;
            }
            audit::record(
                tx,
                origin,
                Event::new(SYSTEM_TENANT_ID, "authorization.denied", Outcome::Denied)
                    .on("user", &user.id)
                    .with_details(serde_json::json!({ "client_id": request.code.client_id })),
            )?;
            Ok(Decision::Denied)
        }
        Err(e) => Err(e),
    }
}
