//! Browser login: validating `/authorize` requests, keeping a pending request while the
//! user logs in or picks a tenant (its handle and CSRF token are bound to the browser by
//! a SameSite cookie), credential checks with lockout, and single-sign-on sessions.
//! Errors found before the client and redirect URI are known show a page; later ones go
//! back to the client (RFC 6749 section 4.1.2.1).

mod attempt;
mod authorize;
pub mod decide;
mod factor;
pub mod logout;
mod passkey;
mod pending;
mod session;
pub mod store;
pub mod throttle;

pub use store::{PendingRequest, Session};

/// The `amr` (RFC 8176) of a session opened by a password alone.
pub const PASSWORD_AMR: &str = "pwd";
/// The `acr` of two factors, and the `acr_values` that asks for them.
pub const MFA_ACR: &str = "mfa";

use crate::audit::{ActorType, Origin};

pub use attempt::{begin_login, complete_without_factor, finish_login, Attempt, SignedIn};
pub use authorize::{validate, AuthorizeError, AuthorizeParams, ValidRequest};
pub use factor::{
    confirm_enrolment, give_second_factor, reset_factors, Accepted, Enrolled, Given, Proof,
};
pub use passkey::sign_in_with_passkey;
pub use pending::{finish_pending, load_pending, set_pending_user, start_pending, PendingHandle};
pub use session::{
    current_session, end_session, end_user_sessions, is_fresh, post_logout_redirect,
    record_throttled, session_csrf, session_csrf_matches,
};

/// An origin for events of a browser request before (or without) a known user.
pub fn browser_origin(
    user_id: Option<&str>,
    ip: Option<String>,
    request_id: Option<String>,
) -> Origin {
    Origin::request(ActorType::User, user_id, ip, request_id)
}
