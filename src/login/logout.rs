//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), decided here and
//! rendered by `http/browser/logout.rs`. A plain link (which any site can make a browser
//! follow) must not sign anyone out: without an ID token hint issued to the signed-in
//! user, the browser is asked first, and the confirmation carries a token derived from
//! its session cookie. Afterwards the browser goes only to a URI registered for the
//! client the request or the hint names.

use super::{
    current_session, end_session, post_logout_redirect, session_csrf, session_csrf_matches,
};
use crate::audit::Origin;
use crate::db::DbConnection;
use crate::error::Result;
use crate::keys::KeySet;
use crate::tokens::{IdClaims, ID_TOKEN_TYP};

/// A sign-out request as the browser sent it.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest<'a> {
    /// The browser's session cookie.
    pub session: Option<&'a str>,
    pub id_token_hint: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

/// What a sign-out request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// Ask first, with this CSRF token in the confirmation form.
    Confirm(String),
    /// Sign out.
    Done(SignOut),
}

/// A decided sign-out: the caller ends the session `end` names (with [`end_session`],
/// in an audited write) before it sends the browser to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOut {
    /// The session cookie whose session ends; `None` when there was none to end.
    pub end: Option<String>,
    /// Where the browser may go next, if anywhere.
    pub target: Option<String>,
}

/// `GET /logout`: signs out at once only when an ID token hint of `issuer` names the
/// signed-in user; with another user's hint or none, asks.
pub fn request_logout(
    conn: &mut DbConnection,
    keys: &KeySet,
    issuer: &str,
    request: &LogoutRequest<'_>,
) -> Result<Logout> {
    let hint = request.id_token_hint.and_then(|hint| {
        keys.verify::<IdClaims>(hint, ID_TOKEN_TYP)
            .filter(|claims| claims.iss == issuer)
    });
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c.aud.0.first().filter(|_| c.aud.0.len() == 1).cloned());
    // A request naming another client than its own hint names none.
    let client_id = match (request.client_id, hinted_client.as_deref()) {
        (Some(named), Some(hinted)) if named != hinted => None,
        (named, hinted) => named.or(hinted),
    };
    let mut signed_in = None;
    if let Some(cookie) = request.session {
        if let Some((_, user)) = current_session(conn, Some(cookie))? {
            if hint.as_ref().map(|c| c.sub.as_str()) != Some(user.id.as_str()) {
                return Ok(Logout::Confirm(session_csrf("logout", cookie)));
            }
            signed_in = Some(cookie);
        }
    }
    sign_out(conn, signed_in, client_id, request).map(Logout::Done)
}

/// `POST /logout`, the confirmation: `None` unless `csrf` belongs to the session.
pub fn confirm_logout(
    conn: &mut DbConnection,
    csrf: Option<&str>,
    request: &LogoutRequest<'_>,
) -> Result<Option<SignOut>> {
    let (Some(cookie), Some(csrf)) = (request.session, csrf) else {
        return Ok(None);
    };
    if !session_csrf_matches("logout", cookie, csrf) {
        return Ok(None);
    }
    sign_out(conn, Some(cookie), request.client_id, request).map(Some)
}

/// Ends a decided sign-out's session (and its refresh tokens), if any: the write of
/// [`request_logout`] and [`confirm_logout`], for one transaction of the caller's.
pub fn finish(tx: &mut DbConnection, origin: &Origin, sign_out: &SignOut) -> Result<()> {
    if let Some(cookie) = &sign_out.end {
        end_session(tx, origin, cookie)?;
    }
    Ok(())
}

/// The sign-out of the session `cookie` names, if any, and where the browser may go
/// next.
fn sign_out(
    conn: &mut DbConnection,
    cookie: Option<&str>,
    client_id: Option<&str>,
    request: &LogoutRequest<'_>,
) -> Result<SignOut> {
    let target = post_logout_redirect(
        conn,
        client_id,
        request.post_logout_redirect_uri,
        request.state,
    )?;
    Ok(SignOut {
        end: cookie.map(str::to_owned),
        target,
    })
}
