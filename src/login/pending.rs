//! A validated request kept while the user logs in or picks a tenant. Its handle and
//! CSRF token are bound to the browser by a SameSite cookie.

use chrono::NaiveDateTime;
use subtle::ConstantTimeEq;

use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::tokens::{opaque, opaque_hash};

use super::store::{self, PendingRequest};
use super::ValidRequest;

/// The handle and CSRF token of a pending request, as the browser holds them.
#[derive(Debug, Clone)]
pub struct PendingHandle {
    pub id: String,
    pub csrf: String,
}

/// Stores a validated request while the user logs in or picks a tenant.
pub fn start_pending(
    tx: &mut DbConnection,
    request: &ValidRequest,
    user: Option<(&str, NaiveDateTime)>,
    ttl: std::time::Duration,
) -> Result<PendingHandle> {
    let handle = PendingHandle {
        id: opaque(),
        csrf: opaque(),
    };
    let now = db::now();
    store::insert_pending(
        tx,
        &PendingRequest {
            id_hash: opaque_hash(&handle.id),
            csrf_hash: opaque_hash(&handle.csrf),
            client_id: request.client.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            state: request.state.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            tenant_hint: request.tenant_hint.clone(),
            user_id: user.map(|(id, _)| id.to_owned()),
            auth_time: user.map(|(_, t)| t),
            acr_values: request.wants_mfa.then(|| super::MFA_ACR.to_owned()),
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10)),
        },
    )?;
    Ok(handle)
}

/// The pending request a form refers to, if its handle, the browser's cookie and the
/// CSRF token all agree and it has not expired. Anything else is `Forbidden`.
pub fn load_pending(
    conn: &mut DbConnection,
    form_id: &str,
    form_csrf: &str,
    cookie: Option<&str>,
) -> Result<PendingRequest> {
    let expected_cookie = format!("{form_id}.{form_csrf}");
    let cookie_ok: bool =
        cookie.is_some_and(|c| c.as_bytes().ct_eq(expected_cookie.as_bytes()).into());
    let row = store::pending(conn, &opaque_hash(form_id))?.ok_or(Error::Forbidden)?;
    let csrf_ok: bool = opaque_hash(form_csrf)
        .as_bytes()
        .ct_eq(row.csrf_hash.as_bytes())
        .into();
    if !cookie_ok || !csrf_ok || row.expires_at <= db::now() {
        return Err(Error::Forbidden);
    }
    Ok(row)
}

pub fn finish_pending(tx: &mut DbConnection, row: &PendingRequest) -> Result<()> {
    store::delete_pending(tx, &row.id_hash)?;
    Ok(())
}

pub fn set_pending_user(
    tx: &mut DbConnection,
    row: &PendingRequest,
    user_id: &str,
    auth_time: NaiveDateTime,
) -> Result<()> {
    store::set_pending_user(tx, &row.id_hash, user_id, auth_time)?;
    Ok(())
}
