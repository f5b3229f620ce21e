//! WebAuthn passkeys and security keys, through `webauthn-rs` (the relying-party
//! checks: challenge, origin, RP id, signature, user verification, counter). Tessera
//! keeps each ceremony's state in the database (`webauthn_ceremonies`, single use,
//! five minutes), so any instance can finish what another began, and each credential's
//! relying-party record with its AAGUID and backup flags (`webauthn_credentials`).
//!
//! The relying party is the issuer: its host is the RP id, its origin the only origin
//! accepted. An issuer whose host is an IP address cannot have passkeys (WebAuthn
//! needs a domain); [`RelyingParty::for_issuer`] then gives `None`.

use chrono::NaiveDateTime;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::store::{self, CeremonyRow, WebauthnRow};
use crate::audit::{self, Event, Origin, Outcome};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::tenants::SYSTEM_TENANT_ID;
use crate::tokens::{opaque, opaque_hash};
use crate::users::User;

/// How long a ceremony may take.
const CEREMONY_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// At most this many credentials per user.
pub const MAX_CREDENTIALS: usize = 10;

/// The relying party: the issuer's host and origin.
pub struct RelyingParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelyingParty")
    }
}

impl RelyingParty {
    /// The relying party of `issuer`, or `None` when its host is not a domain name.
    pub fn for_issuer(issuer: &str) -> Option<Self> {
        let origin = Url::parse(issuer).ok()?;
        let host = match origin.host()? {
            url::Host::Domain(host) => host.to_owned(),
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
        };
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .ok()?
            .rp_name("Tessera")
            .build()
            .ok()?;
        Some(Self { webauthn })
    }
}

/// A ceremony begun: the handle the browser sends back, and the options for
/// `navigator.credentials.create()` / `.get()` (JSON, binary fields in base64url).
#[derive(Debug, Clone)]
pub struct Challenge {
    pub handle: String,
    pub options: serde_json::Value,
}

/// A stored credential, as the user and the auditors see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Credential {
    pub id: String,
    pub name: String,
    /// The authenticator model (all zeros when it does not say).
    pub aaguid: String,
    /// Whether the key may leave the device (a synced passkey).
    pub backup_eligible: bool,
    pub backed_up: bool,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_utc_opt")]
    pub last_used_at: Option<NaiveDateTime>,
}

impl From<WebauthnRow> for Credential {
    fn from(row: WebauthnRow) -> Self {
        Self {
            id: row.credential_id,
            name: row.name,
            aaguid: row.aaguid,
            backup_eligible: row.backup_eligible,
            backed_up: row.backed_up,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// The user's credentials, oldest first.
pub fn credentials(conn: &mut DbConnection, user: &User) -> Result<Vec<Credential>> {
    Ok(store::webauthn_credentials(conn, &user.id)?
        .into_iter()
        .map(Credential::from)
        .collect())
}

fn user_handle(user: &User) -> Result<Uuid> {
    Uuid::parse_str(&user.id).map_err(|_| Error::internal("a user id that is not a UUID"))
}

fn begin(
    tx: &mut DbConnection,
    user: Option<&User>,
    kind: &str,
    state: &impl serde::Serialize,
    options: &impl serde::Serialize,
) -> Result<Challenge> {
    let handle = opaque();
    let now = db::now();
    store::insert_ceremony(
        tx,
        &CeremonyRow {
            id_hash: opaque_hash(&handle),
            user_id: user.map(|u| u.id.clone()),
            kind: kind.to_owned(),
            state: serde_json::to_string(state).map_err(Error::internal)?,
            created_at: now,
            expires_at: now + CEREMONY_TTL,
        },
    )?;
    Ok(Challenge {
        handle,
        options: serde_json::to_value(options).map_err(Error::internal)?,
    })
}

/// The state of the ceremony `handle` if it is `user`'s, of `kind`, and live; taken
/// (it cannot be answered twice). `None` for anything else.
fn take<T: serde::de::DeserializeOwned>(
    tx: &mut DbConnection,
    handle: &str,
    user: Option<&User>,
    kind: &str,
) -> Result<Option<T>> {
    let Some(row) = store::take_ceremony(tx, &opaque_hash(handle))? else {
        return Ok(None);
    };
    let owner_ok = row.user_id.as_deref() == user.map(|u| u.id.as_str());
    if !owner_ok || row.kind != kind || row.expires_at <= db::now() {
        return Ok(None);
    }
    Ok(serde_json::from_str(&row.state).ok())
}

/// Starts registering a passkey or security key for `user` (a signed-in, recently
/// authenticated user: the caller checks).
pub fn begin_registration(
    tx: &mut DbConnection,
    rp: &RelyingParty,
    user: &User,
) -> Result<Challenge> {
    let existing = store::webauthn_credentials(tx, &user.id)?;
    if existing.len() >= MAX_CREDENTIALS {
        return Err(Error::Invalid("at most 10 passkeys per user"));
    }
    let exclude = existing
        .iter()
        .filter_map(|row| serde_json::from_str::<Passkey>(&row.passkey).ok())
        .map(|pk| pk.cred_id().clone())
        .collect();
    let (options, state): (CreationChallengeResponse, PasskeyRegistration) = rp
        .webauthn
        .start_passkey_registration(user_handle(user)?, &user.email, &user.email, Some(exclude))
        .map_err(|e| Error::internal(format!("webauthn registration: {e}")))?;
    let mut options = serde_json::to_value(&options).map_err(Error::internal)?;
    // A key that stores itself on the authenticator can later sign in without a
    // password (`begin_discoverable`); preferred, not required, so any security key
    // still registers as a second factor.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(serde_json::Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "preferred".into());
    }
    begin(tx, Some(user), "register", &state, &options)
}

/// What the authenticator data of a registration says about the authenticator.
struct Described {
    aaguid: String,
    backup_eligible: bool,
    backed_up: bool,
}

fn describe(response: &RegisterPublicKeyCredential) -> Option<Described> {
    let object: ciborium::Value =
        ciborium::from_reader(response.response.attestation_object.as_slice()).ok()?;
    let auth_data = object.as_map()?.iter().find_map(|(k, v)| {
        (k.as_text() == Some("authData"))
            .then(|| v.as_bytes())
            .flatten()
    })?;
    let data = webauthn_rs_core::internals::AuthenticatorData::<
        webauthn_rs_core::proto::Registration,
    >::try_from(auth_data.as_slice())
    .ok()?;
    Some(Described {
        aaguid: Uuid::from_bytes(data.acd.as_ref()?.aaguid).to_string(),
        backup_eligible: data.backup_eligible,
        backed_up: data.backup_state,
    })
}

/// Finishes a registration with the browser's answer (JSON of the
/// `PublicKeyCredential`); the credential is stored under `name`, audited as
/// `mfa.enrolled`. False when the answer does not verify, the ceremony is not this
/// user's or expired, or the credential is registered already.
pub fn finish_registration(
    tx: &mut DbConnection,
    origin: &Origin,
    rp: &RelyingParty,
    user: &User,
    handle: &str,
    answer: &str,
    name: &str,
) -> Result<bool> {
    let name: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    let name = if name.is_empty() {
        "Passkey".to_owned()
    } else {
        name
    };
    let Some(state) = take::<PasskeyRegistration>(tx, handle, Some(user), "register")? else {
        return Ok(false);
    };
    // Checked again here: several ceremonies may have begun at once.
    if store::webauthn_credentials(tx, &user.id)?.len() >= MAX_CREDENTIALS {
        return Ok(false);
    }
    let Ok(response) = serde_json::from_str::<RegisterPublicKeyCredential>(answer) else {
        return Ok(false);
    };
    let Ok(passkey) = rp.webauthn.finish_passkey_registration(&response, &state) else {
        return Ok(false);
    };
    let Some(described) = describe(&response) else {
        return Ok(false);
    };
    use base64::Engine;
    let credential_id =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice());
    let row = WebauthnRow {
        credential_id: credential_id.clone(),
        user_id: user.id.clone(),
        name,
        passkey: serde_json::to_string(&passkey).map_err(Error::internal)?,
        aaguid: described.aaguid.clone(),
        backup_eligible: described.backup_eligible,
        backed_up: described.backed_up,
        created_at: db::now(),
        last_used_at: None,
    };
    if !store::insert_webauthn(tx, &row)? {
        return Ok(false);
    }
    // A half-done TOTP enrolment must not stay behind to be confirmed by someone else,
    // nor a browser known from before keep its own attempt row.
    super::drop_pending_totp(tx, user)?;
    crate::users::forget_devices(tx, &user.id)?;
    audit::record(
        tx,
        origin,
        Event::success(SYSTEM_TENANT_ID, "mfa.enrolled", "user", &user.id).with_details(
            serde_json::json!({
                "factor": "webauthn",
                "credential_id": credential_id,
                "aaguid": described.aaguid,
                "backup_eligible": described.backup_eligible,
                "backed_up": described.backed_up,
            }),
        ),
    )?;
    Ok(true)
}

/// Starts an authentication with one of the user's credentials; `None` when the user
/// has none.
pub fn begin_authentication(
    tx: &mut DbConnection,
    rp: &RelyingParty,
    user: &User,
) -> Result<Option<Challenge>> {
    let passkeys: Vec<Passkey> = store::webauthn_credentials(tx, &user.id)?
        .iter()
        .filter_map(|row| serde_json::from_str(&row.passkey).ok())
        .collect();
    if passkeys.is_empty() {
        return Ok(None);
    }
    let (options, state): (RequestChallengeResponse, PasskeyAuthentication) = rp
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| Error::internal(format!("webauthn authentication: {e}")))?;
    begin(tx, Some(user), "authenticate", &state, &options).map(Some)
}

/// Finishes an authentication with the browser's answer. On success returns the
/// RFC 8176 method it proves: `swk` for a key that may be synced between devices,
/// `hwk` for one bound to its device. Audited either way (`mfa.verified` or
/// `mfa.failed`, `{"factor": "webauthn"}`). A counter that did not grow (a cloned
/// authenticator) fails.
pub fn finish_authentication(
    tx: &mut DbConnection,
    origin: &Origin,
    rp: &RelyingParty,
    user: &User,
    handle: &str,
    answer: &str,
) -> Result<Option<&'static str>> {
    let method = verify_assertion(tx, rp, user, handle, answer)?;
    let (action, outcome) = match method {
        Some(_) => ("mfa.verified", Outcome::Success),
        None => ("mfa.failed", Outcome::Failure),
    };
    audit::record(
        tx,
        origin,
        Event::new(SYSTEM_TENANT_ID, action, outcome)
            .on("user", &user.id)
            .with_details(serde_json::json!({ "factor": "webauthn" })),
    )?;
    Ok(method)
}

fn verify_assertion(
    tx: &mut DbConnection,
    rp: &RelyingParty,
    user: &User,
    handle: &str,
    answer: &str,
) -> Result<Option<&'static str>> {
    let Some(state) = take::<PasskeyAuthentication>(tx, handle, Some(user), "authenticate")? else {
        return Ok(None);
    };
    let Ok(response) = serde_json::from_str::<PublicKeyCredential>(answer) else {
        return Ok(None);
    };
    let Ok(result) = rp.webauthn.finish_passkey_authentication(&response, &state) else {
        return Ok(None);
    };
    use base64::Engine;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(result.cred_id().as_slice());
    let Some(row) = store::webauthn_credential(tx, &id)?.filter(|r| r.user_id == user.id) else {
        return Ok(None);
    };
    let passkey: Passkey = serde_json::from_str(&row.passkey).map_err(Error::internal)?;
    record_use(tx, &row, passkey, &result)
}

/// Records a verified assertion on its credential: refused (`None`) when the counter
/// did not grow (a cloned authenticator); else the relying-party record is updated and
/// the method it proves returned: `swk` for a key that may be synced, `hwk` otherwise.
fn record_use(
    tx: &mut DbConnection,
    row: &WebauthnRow,
    mut passkey: Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<Option<&'static str>> {
    if result.counter() > 0 && result.counter() <= stored_counter(&row.passkey) {
        return Ok(None);
    }
    passkey.update_credential(result);
    store::used_webauthn(
        tx,
        &row.credential_id,
        &serde_json::to_string(&passkey).map_err(Error::internal)?,
        result.backup_state(),
        db::now(),
    )?;
    Ok(Some(if row.backup_eligible || result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    }))
}

/// The signature counter in a stored relying-party record (0 when it keeps none).
fn stored_counter(passkey_json: &str) -> u32 {
    serde_json::from_str::<serde_json::Value>(passkey_json)
        .ok()
        .and_then(|v| v.get("cred")?.get("counter")?.as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

/// Removes one of the user's credentials and, when no factor is left, the recovery
/// codes that stood in for them; audited as `mfa.removed`.
pub fn remove(
    tx: &mut DbConnection,
    origin: &Origin,
    user: &User,
    credential_id: &str,
) -> Result<bool> {
    let removed = store::delete_webauthn(tx, &user.id, credential_id)?;
    if removed && !super::factors(tx, user)?.any() {
        store::replace_recovery(tx, &user.id, &[])?;
    }
    if removed {
        audit::record(
            tx,
            origin,
            Event::success(SYSTEM_TENANT_ID, "mfa.removed", "user", &user.id).with_details(
                serde_json::json!({ "factor": "webauthn", "credential_id": credential_id }),
            ),
        )?;
    }
    Ok(removed)
}

/// Starts a passwordless sign-in: the authenticator chooses the credential (a
/// discoverable one) and so names the user.
pub fn begin_discoverable(tx: &mut DbConnection, rp: &RelyingParty) -> Result<Challenge> {
    let (options, state) = rp
        .webauthn
        .start_discoverable_authentication()
        .map_err(|e| Error::internal(format!("webauthn discoverable: {e}")))?;
    begin(tx, None, "discover", &state, &options)
}

/// Finishes a passwordless sign-in: the user the credential belongs to, and the method
/// it proves (`hwk` or `swk`; user verification was required). Audited either way in
/// the `system` chain (`mfa.verified` or `mfa.failed`, `{"factor": "webauthn",
/// "passwordless": true}`). `None` for an unknown credential, a credential of another
/// user than its handle names, a failed signature, a spent or expired ceremony.
pub fn finish_discoverable(
    tx: &mut DbConnection,
    origin: &Origin,
    rp: &RelyingParty,
    handle: &str,
    answer: &str,
) -> Result<Option<(User, &'static str)>> {
    let found = verify_discoverable(tx, rp, handle, answer)?;
    let event = match &found {
        Some((user, _)) => Event::success(SYSTEM_TENANT_ID, "mfa.verified", "user", &user.id),
        None => Event::new(SYSTEM_TENANT_ID, "mfa.failed", Outcome::Failure),
    };
    audit::record(
        tx,
        origin,
        event.with_details(serde_json::json!({ "factor": "webauthn", "passwordless": true })),
    )?;
    Ok(found)
}

fn verify_discoverable(
    tx: &mut DbConnection,
    rp: &RelyingParty,
    handle: &str,
    answer: &str,
) -> Result<Option<(User, &'static str)>> {
    let Some(state) =
        take::<webauthn_rs::prelude::DiscoverableAuthentication>(tx, handle, None, "discover")?
    else {
        return Ok(None);
    };
    let Ok(response) = serde_json::from_str::<PublicKeyCredential>(answer) else {
        return Ok(None);
    };
    let Ok((user_handle, credential_id)) =
        rp.webauthn.identify_discoverable_authentication(&response)
    else {
        return Ok(None);
    };
    use base64::Engine;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id);
    let Some(row) =
        store::webauthn_credential(tx, &id)?.filter(|r| r.user_id == user_handle.to_string())
    else {
        return Ok(None);
    };
    let passkey: Passkey = serde_json::from_str(&row.passkey).map_err(Error::internal)?;
    let Ok(result) = rp
        .webauthn
        .finish_discoverable_authentication_v2(&response, state, &passkey)
    else {
        return Ok(None);
    };
    let Some(user) = crate::users::find(tx, &row.user_id)?.filter(|u| u.status == "active") else {
        return Ok(None);
    };
    Ok(record_use(tx, &row, passkey, &result)?.map(|method| (user, method)))
}
