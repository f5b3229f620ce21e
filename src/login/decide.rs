//! The outcome of a signed-in user's authorization request, decided in one place for
//! `GET /authorize` (an existing session), the login form and the tenant picker. The
//! tenant comes from the user's memberships (DESIGN invariant 1): the client's binding
//! and the request's hint only narrow the choice. Once the tenant is known its
//! second-factor policy applies (and `acr_values=mfa`): a session without a second
//! factor is asked for one, or to enrol one, before any code is issued. The handlers
//! render the [`Decision`].

use chrono::NaiveDateTime;

use super::{PendingHandle, ValidRequest};
use crate::audit::{self, Event, Origin, Outcome};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::memberships::{self, Resolution};
use crate::mfa::{self, Sealer};
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
    /// The tenant's policy (or the request) needs a second factor the session has not
    /// given: the second-factor page.
    SecondFactor {
        handle: PendingHandle,
        /// The user has a passkey or security key to offer.
        passkey: bool,
    },
    /// The same, for a user who has no factor yet: the enrolment page.
    Enrol {
        handle: PendingHandle,
        enrolment: mfa::Enrolment,
    },
    /// No membership in a tenant the client may reach (recorded as
    /// `authorization.denied`).
    Denied,
    /// A page is needed but may not be shown (`prompt=none`, or the picker was
    /// answered already); the description says which.
    InteractionRequired(&'static str),
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
    /// `prompt=none`: no page may be shown.
    pub no_prompt: bool,
    /// The picker was answered: another one would loop.
    pub picked: bool,
    /// The request asked for a second factor (`acr_values=mfa`).
    pub wants_mfa: bool,
}

/// What [`decide`] needs besides the request: lifetimes, and the sealer and label for
/// a TOTP enrolment.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    pub code: std::time::Duration,
    pub pending: std::time::Duration,
    pub sealer: &'a Sealer,
    /// The issuer's name in authenticator apps.
    pub label: &'a str,
}

/// Resolves the tenant and issues a code, starts the picker, or refuses; in `tx`.
pub fn decide(
    tx: &mut DbConnection,
    origin: &Origin,
    request: &Request<'_>,
    settings: Settings<'_>,
) -> Result<Decision> {
    let user = request.user;
    let pending = match request.flow {
        Flow::Pending { row, .. } => Some(row),
        Flow::Fresh(_) => None,
    };
    match memberships::resolve_tenant(tx, &user.id, request.client_tenant, request.hint) {
        Ok(Resolution::Tenant(access)) => {
            if let Some(factors) = second_factor_needed(tx, request, &access.tenant)? {
                if request.no_prompt {
                    return Ok(Decision::InteractionRequired(
                        "the user must give a second factor",
                    ));
                }
                let handle = hold(tx, request, Some(&access.tenant), settings)?;
                if factors.any() {
                    return Ok(Decision::SecondFactor {
                        handle,
                        passkey: factors.webauthn > 0,
                    });
                }
                // The same key while an enrolment waits (the user may have scanned it).
                let enrolment =
                    match mfa::pending_enrolment(tx, settings.sealer, user, settings.label)? {
                        Some(pending) => pending,
                        None => mfa::begin_totp(tx, settings.sealer, user, settings.label)?,
                    };
                return Ok(Decision::Enrol { handle, enrolment });
            }
            let code = code::issue_code(
                tx,
                origin,
                &request.code,
                &user.id,
                request.auth_time,
                &access,
                settings.code,
            )?;
            if let Some(pending) = pending {
                super::finish_pending(tx, pending)?;
            }
            Ok(Decision::Code(code))
        }
        Ok(Resolution::Pick(_)) if request.no_prompt || request.picked => Ok(
            Decision::InteractionRequired("the user must choose a tenant"),
        ),
        Ok(Resolution::Pick(tenants)) => {
            let handle = hold(tx, request, None, settings)?;
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

/// The user's factors, when a code for `tenant` needs a second factor this session has
/// not given: the request asks for one, or the tenant does ([`mfa::asks`]). `None`
/// when no second factor is needed.
fn second_factor_needed(
    tx: &mut DbConnection,
    request: &Request<'_>,
    tenant: &Tenant,
) -> Result<Option<mfa::Factors>> {
    if request.code.amr.split(' ').any(|m| m == super::MFA_ACR) {
        return Ok(None);
    }
    if !request.wants_mfa && !mfa::asks(tx, tenant, request.user)? {
        return Ok(None);
    }
    mfa::factors(tx, request.user).map(Some)
}

/// Keeps the request pending for the user's next page (stored now if it came straight
/// from `GET /authorize`), narrowed to `tenant` once that is resolved.
fn hold(
    tx: &mut DbConnection,
    request: &Request<'_>,
    tenant: Option<&Tenant>,
    settings: Settings<'_>,
) -> Result<PendingHandle> {
    let user = request.user;
    let (handle, id_hash) = match &request.flow {
        Flow::Fresh(valid) => {
            let handle = super::start_pending(
                tx,
                valid,
                Some((&user.id, request.auth_time)),
                settings.pending,
            )?;
            let id_hash = crate::tokens::opaque_hash(&handle.id);
            (handle, id_hash)
        }
        Flow::Pending { row, handle } => {
            super::set_pending_user(tx, row, &user.id, request.auth_time)?;
            ((*handle).clone(), row.id_hash.clone())
        }
    };
    if let Some(tenant) = tenant {
        super::store::set_pending_tenant(tx, &id_hash, &tenant.slug)?;
    }
    Ok(handle)
}
