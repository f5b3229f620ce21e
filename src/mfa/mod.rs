//! Second factors: TOTP (`totp.rs`, seeds sealed by `seal.rs`) and recovery codes
//! (`recovery.rs`), and each tenant's policy (`off`, `optional`, `required`). A user is
//! one identity across tenants, so factors belong to the user, and their events go to
//! the `system` chain; a policy belongs to its tenant, and its changes to that tenant's
//! chain. Every operation takes the transaction and writes its audit event in it; a
//! code is accepted once (the step, or the recovery code, is claimed by one statement).
//!
//! The login flow applies a tenant's policy after the tenant is resolved
//! (`login::decide`) and takes the factor in `login::factor`.

pub mod recovery;
pub mod seal;
mod store;
pub mod totp;
pub mod webauthn;

use crate::audit::{self, Event, Origin, Outcome};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::tenants::{Tenant, SYSTEM_TENANT_ID};
use crate::users::User;

pub use seal::Sealer;

/// A tenant's second-factor policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Passwords alone (the default).
    Off,
    /// Users with a factor are asked for it.
    Optional,
    /// No code is issued in the tenant without a second factor; a user without one
    /// enrols first.
    Required,
}

impl Policy {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "off" => Ok(Self::Off),
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            _ => Err(Error::Invalid(
                "mfa policy: expected off, optional or required",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }
}

/// The tenant's policy (as loaded with the tenant).
pub fn policy(tenant: &Tenant) -> Result<Policy> {
    Policy::parse(&tenant.mfa_policy)
}

/// Whether `tenant` asks `user` for a second factor: it requires one, or makes it
/// optional and the user has one (the factors are loaded only then).
pub fn asks(conn: &mut DbConnection, tenant: &Tenant, user: &User) -> Result<bool> {
    Ok(match policy(tenant)? {
        Policy::Off => false,
        Policy::Required => true,
        Policy::Optional => factors(conn, user)?.any(),
    })
}

/// Sets the tenant's policy; audited in its chain.
pub fn set_policy(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant: &Tenant,
    policy: Policy,
) -> Result<()> {
    if !store::set_policy(tx, &tenant.id, policy.as_str())? {
        return Err(Error::NotFound);
    }
    audit::record(
        tx,
        origin,
        Event::success(&tenant.id, "mfa.policy_set", "tenant", &tenant.id)
            .with_details(serde_json::json!({ "policy": policy.as_str() })),
    )?;
    Ok(())
}

/// What a user has enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factors {
    /// A confirmed TOTP credential.
    pub totp: bool,
    /// Passkeys and security keys.
    pub webauthn: usize,
    /// Unused recovery codes.
    pub recovery_codes: usize,
}

impl Factors {
    pub fn any(&self) -> bool {
        self.totp || self.webauthn > 0
    }
}

pub fn factors(conn: &mut DbConnection, user: &User) -> Result<Factors> {
    let totp = store::totp(conn, &user.id)?.is_some_and(|t| t.confirmed_at.is_some());
    let left = store::recovery_left(conn, &user.id)?;
    Ok(Factors {
        totp,
        webauthn: store::webauthn_credentials(conn, &user.id)?.len(),
        recovery_codes: usize::try_from(left).unwrap_or(0),
    })
}

/// A TOTP enrolment waiting for its first code: what the page shows.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// `otpauth://totp/…`, for authenticator apps.
    pub uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

/// Starts (or restarts) a TOTP enrolment for a user who has none confirmed; a confirmed
/// one must be removed first (`Conflict`). The new seed is stored sealed.
pub fn begin_totp(
    tx: &mut DbConnection,
    sealer: &Sealer,
    user: &User,
    issuer_label: &str,
) -> Result<Enrolment> {
    if store::totp(tx, &user.id)?.is_some_and(|t| t.confirmed_at.is_some()) {
        return Err(Error::Conflict("second factor"));
    }
    let secret = totp::new_secret();
    let shown = enrolment(&secret, issuer_label, &user.email)?;
    store::put_totp(
        tx,
        &store::TotpRow {
            user_id: user.id.clone(),
            sealed_seed: sealer.seal(&user.id, &secret)?,
            last_step: 0,
            created_at: db::now(),
            confirmed_at: None,
        },
    )?;
    Ok(shown)
}

/// Drops an enrolment still waiting for its first code (a passkey came instead).
pub(crate) fn drop_pending_totp(tx: &mut DbConnection, user: &User) -> Result<()> {
    if store::totp(tx, &user.id)?.is_some_and(|t| t.confirmed_at.is_none()) {
        store::delete_totp(tx, &user.id)?;
    }
    Ok(())
}

/// The user's enrolment waiting for its first code, shown again (the same seed: the
/// user may have scanned it already). `None` when there is none.
pub fn pending_enrolment(
    conn: &mut DbConnection,
    sealer: &Sealer,
    user: &User,
    issuer_label: &str,
) -> Result<Option<Enrolment>> {
    let Some(row) = store::totp(conn, &user.id)?.filter(|t| t.confirmed_at.is_none()) else {
        return Ok(None);
    };
    let secret = sealer.open_for(&user.id, &row.sealed_seed)?;
    enrolment(&secret, issuer_label, &user.email).map(Some)
}

fn enrolment(secret: &[u8], issuer_label: &str, email: &str) -> Result<Enrolment> {
    let uri = totp::otpauth_uri(secret, issuer_label, email)
        .ok_or(Error::Invalid("an issuer label or email with ':'"))?;
    let qr_svg = totp::qr_svg(&uri).ok_or_else(|| Error::internal("QR rendering failed"))?;
    Ok(Enrolment { uri, qr_svg })
}

/// Confirms a pending enrolment with its first code (its step is then used); audited as
/// `mfa.enrolled`. False for a wrong code or no pending enrolment.
pub fn confirm_totp(
    tx: &mut DbConnection,
    origin: &Origin,
    sealer: &Sealer,
    user: &User,
    code: &str,
    now: u64,
) -> Result<bool> {
    let Some(row) = store::totp(tx, &user.id)?.filter(|t| t.confirmed_at.is_none()) else {
        return Ok(false);
    };
    let secret = sealer.open_for(&user.id, &row.sealed_seed)?;
    let Some(step) = totp::matching_step(&secret, code, now, row.last_step) else {
        return Ok(false);
    };
    if !store::confirm_totp(tx, &user.id, step, db::now())? {
        return Ok(false);
    }
    crate::users::forget_devices(tx, &user.id)?;
    record(tx, origin, user, "mfa.enrolled", Outcome::Success, "totp")?;
    Ok(true)
}

/// Checks a TOTP code of a confirmed credential, at most once per step; the outcome is
/// audited (`mfa.verified` or `mfa.failed`).
pub fn check_totp(
    tx: &mut DbConnection,
    origin: &Origin,
    sealer: &Sealer,
    user: &User,
    code: &str,
    now: u64,
) -> Result<bool> {
    let row = store::totp(tx, &user.id)?.filter(|t| t.confirmed_at.is_some());
    let accepted = match row {
        Some(row) => {
            let secret = sealer.open_for(&user.id, &row.sealed_seed)?;
            match totp::matching_step(&secret, code, now, row.last_step) {
                Some(step) => store::use_step(tx, &user.id, step)?,
                None => false,
            }
        }
        None => false,
    };
    let (action, outcome) = if accepted {
        ("mfa.verified", Outcome::Success)
    } else {
        ("mfa.failed", Outcome::Failure)
    };
    record(tx, origin, user, action, outcome, "totp")?;
    Ok(accepted)
}

/// Removes the user's TOTP credential and, when no passkey is left either, the
/// recovery codes that stand in for them; audited as `mfa.removed`.
pub fn remove_totp(tx: &mut DbConnection, origin: &Origin, user: &User) -> Result<bool> {
    let removed = store::delete_totp(tx, &user.id)?;
    if store::webauthn_credentials(tx, &user.id)?.is_empty() {
        store::replace_recovery(tx, &user.id, &[])?;
    }
    if removed {
        record(tx, origin, user, "mfa.removed", Outcome::Success, "totp")?;
    }
    Ok(removed)
}

/// A new set of recovery codes (the old set stops working); shown once, stored hashed.
pub fn regenerate_recovery(
    tx: &mut DbConnection,
    origin: &Origin,
    user: &User,
) -> Result<Vec<String>> {
    let codes = recovery::generate();
    let now = db::now();
    let rows: Vec<store::RecoveryRow> = codes
        .iter()
        .filter_map(|code| recovery::stored(code))
        .map(|code_hash| store::RecoveryRow {
            code_hash,
            user_id: user.id.clone(),
            created_at: now,
            used_at: None,
        })
        .collect();
    if rows.len() != codes.len() {
        return Err(Error::internal(
            "a generated recovery code does not normalize",
        ));
    }
    store::replace_recovery(tx, &user.id, &rows)?;
    record(
        tx,
        origin,
        user,
        "mfa.recovery_generated",
        Outcome::Success,
        "recovery",
    )?;
    Ok(codes)
}

/// Uses one recovery code (it counts as a second factor); audited either way.
pub fn use_recovery(
    tx: &mut DbConnection,
    origin: &Origin,
    user: &User,
    typed: &str,
) -> Result<bool> {
    let used = match recovery::stored(typed) {
        Some(hash) => store::use_recovery(tx, &user.id, &hash, db::now())?,
        None => false,
    };
    let (action, outcome) = if used {
        ("mfa.recovery_used", Outcome::Success)
    } else {
        ("mfa.failed", Outcome::Failure)
    };
    record(tx, origin, user, action, outcome, "recovery")?;
    Ok(used)
}

/// Why a platform admin resets a user's factors, as stated: required, one line of at
/// most 500 printable characters.
pub fn reset_reason(text: &str) -> Result<&str> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "reason: one line of 1 to 500 printable characters",
        ));
    }
    Ok(text)
}

/// Removes every factor of the user (TOTP, pending enrolment, recovery codes), for a
/// platform admin with a stated reason (the caller checks who may). A user is one
/// identity across tenants, so the reset is recorded in the `system` chain and in the
/// chain of every tenant the user belongs to: each tenant's auditors see that their
/// member's protection changed. Returns whether there was anything to remove.
pub fn reset(tx: &mut DbConnection, origin: &Origin, user: &User, reason: &str) -> Result<bool> {
    let reason = reset_reason(reason)?;
    crate::users::forget_devices(tx, &user.id)?;
    let had_totp =
        store::delete_totp(tx, &user.id)? | (store::delete_all_webauthn(tx, &user.id)? > 0);
    let had_codes = store::recovery_left(tx, &user.id)? > 0;
    store::replace_recovery(tx, &user.id, &[])?;
    let details = serde_json::json!({ "reason": reason, "removed": had_totp || had_codes });
    let mut chains = vec![SYSTEM_TENANT_ID.to_owned()];
    for (tenant, _) in crate::memberships::store::user_tenants(tx, &user.id)? {
        if !chains.contains(&tenant.id) {
            chains.push(tenant.id);
        }
    }
    for chain in &chains {
        audit::record(
            tx,
            origin,
            Event::success(chain, "mfa.reset", "user", &user.id).with_details(details.clone()),
        )?;
    }
    Ok(had_totp || had_codes)
}

/// Records a second factor refused without being checked (the account is locked):
/// `mfa.failed`, like a wrong code.
pub fn record_refused(tx: &mut DbConnection, origin: &Origin, user: &User) -> Result<()> {
    audit::record(
        tx,
        origin,
        Event::new(SYSTEM_TENANT_ID, "mfa.failed", Outcome::Failure)
            .on("user", &user.id)
            .with_details(serde_json::json!({ "reason": "locked" })),
    )?;
    Ok(())
}

fn record(
    tx: &mut DbConnection,
    origin: &Origin,
    user: &User,
    action: &str,
    outcome: Outcome,
    factor: &str,
) -> Result<()> {
    audit::record(
        tx,
        origin,
        Event::new(SYSTEM_TENANT_ID, action, outcome)
            .on("user", &user.id)
            .with_details(serde_json::json!({ "factor": factor })),
    )?;
    Ok(())
}
