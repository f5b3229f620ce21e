//! Passwordless sign-in with a discoverable passkey: the authenticator names the user
//! and proves possession with user verification, so the session holds two factors
//! (`hwk`/`swk` and `mfa`) without a password.

use crate::audit::{self, Event, Origin, Outcome};
use crate::db::{self, DbConnection};
use crate::error::Result;
use crate::mfa::webauthn::{self, RelyingParty};
use crate::tenants::SYSTEM_TENANT_ID;
use crate::users::{self, User};

use super::session::create_session;
use super::SignedIn;

/// Finishes the passwordless ceremony `handle` with the browser's answer and opens a
/// session (returned with its `amr`); `None` (recorded as `login.failure`) when the
/// answer does not verify.
pub fn sign_in_with_passkey(
    tx: &mut DbConnection,
    origin: &Origin,
    rp: &RelyingParty,
    handle: &str,
    answer: &str,
    session_ttl: std::time::Duration,
) -> Result<Option<(User, SignedIn, String)>> {
    let Some((user, method)) = webauthn::finish_discoverable(tx, origin, rp, handle, answer)?
    else {
        audit::record(
            tx,
            origin,
            Event::new(SYSTEM_TENANT_ID, "login.failure", Outcome::Failure)
                .with_details(serde_json::json!({ "reason": "passkey" })),
        )?;
        return Ok(None);
    };
    let auth_time = db::now();
    let amr = format!("{method} {}", super::MFA_ACR);
    let session = create_session(tx, &user.id, auth_time, session_ttl, &amr)?;
    let device = Some(users::remember_device(tx, &user.id)?);
    let mut origin = origin.clone();
    origin.actor_id = Some(user.id.clone());
    audit::record(
        tx,
        &origin,
        Event::success(SYSTEM_TENANT_ID, "login.success", "user", &user.id)
            .with_details(serde_json::json!({ "method": "passkey" })),
    )?;
    Ok(Some((
        user,
        SignedIn {
            session,
            auth_time,
            device,
            first_factor_only: false,
        },
        amr,
    )))
}
