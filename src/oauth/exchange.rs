//! Token exchange (RFC 8693): a confidential client registered for it trades a user's
//! (or a service's) access token for one meant for the next service. The new token's
//! tenant, subject and roles come from the verified subject token, never from the
//! request (invariant 1); its scope only narrows; its audience is one the client's
//! registration allows; it carries `act` with the client as the current actor; and it
//! is recorded with its parent, so revoking the subject token revokes it. Every refusal
//! after client authentication is audited as `token.exchange_denied` in the asking
//! client's own chain, with nothing of another tenant in it.

use serde::Serialize;
use tessera_proto::{AccessClaims, Actor};

use super::{issuer, scope, OAuthError};
use crate::audit::{self, Event, Origin, Outcome};
use crate::clients::{Client, GrantType};
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::KeySet;
use crate::memberships::{self, Resolution};
use crate::tenants::{self, Tenant};
use crate::tokens::{self, Delegation, Grant};

/// The token type of an access token (RFC 8693 section 3), the only one Tessera
/// accepts and issues here.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The request's parameters (RFC 8693 section 2.1), as sent.
#[derive(Debug, Clone, Default)]
pub struct ExchangeRequest<'a> {
    pub subject_token: Option<&'a str>,
    pub subject_token_type: Option<&'a str>,
    pub actor_token: Option<&'a str>,
    pub actor_token_type: Option<&'a str>,
    pub requested_token_type: Option<&'a str>,
    /// Every `audience` and `resource` value.
    pub audiences: Vec<&'a str>,
    pub scope: Option<&'a str>,
}

/// A successful exchange (RFC 8693 section 2.2.1).
#[derive(Debug, Clone, Serialize)]
pub struct ExchangeResponse {
    pub access_token: String,
    pub issued_token_type: &'static str,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// Why an exchange was refused: the answer, and the reason kept in the audit event.
struct Denial {
    error: OAuthError,
    reason: &'static str,
}

fn deny(error: OAuthError, reason: &'static str) -> Denial {
    Denial { error, reason }
}

/// The generic answer for a subject or actor token that cannot be used: forged,
/// expired, revoked, of another tenant than the client's, or of a former member. One
/// text for all, so the answer tells nothing about which.
const INVALID_TOKEN: &str = "the subject or actor token is invalid";

/// Exchanges `request.subject_token` for a token for another audience. The refusal's
/// audit event is committed even though the request fails.
pub fn exchange(
    conn: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    origin: &Origin,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<ExchangeResponse, OAuthError> {
    if !client.has_grant(GrantType::TokenExchange) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let outcome = db::write_tx(conn, |tx| {
        let planned = match plan(tx, keys, config, client, request)? {
            Ok(planned) => planned,
            Err(denial) => {
                audit::record(
                    tx,
                    origin,
                    Event::success(
                        client.home_tenant_id(),
                        "token.exchange_denied",
                        "client",
                        &client.id,
                    )
                    .with_outcome(Outcome::Denied)
                    .with_details(serde_json::json!({ "reason": denial.reason })),
                )?;
                return Ok(Err(denial.error));
            }
        };
        // The tenant's chain lock, then the subject token's ledger row, held until
        // commit (revocation takes them in the same order): a revocation running now
        // either comes first (and the exchange is refused) or waits and then finds
        // this token among the ones to cascade to.
        audit::locked_head(tx, &planned.tenant.id)?;
        if !tokens::hold_live(tx, &planned.tenant.id, &planned.subject.jti)? {
            audit::record(
                tx,
                origin,
                Event::success(
                    client.home_tenant_id(),
                    "token.exchange_denied",
                    "client",
                    &client.id,
                )
                .with_outcome(Outcome::Denied)
                .with_details(serde_json::json!({ "reason": "subject_token" })),
            )?;
            return Ok(Err(OAuthError::InvalidRequest(INVALID_TOKEN)));
        }
        let roles: Vec<&str> = planned.roles.iter().map(String::as_str).collect();
        let amr: Vec<&str> = planned.subject.amr.iter().map(String::as_str).collect();
        let issued = tokens::issue_exchanged_token(
            tx,
            keys,
            &issuer(config),
            origin,
            &Grant {
                tenant: &planned.tenant,
                subject: &planned.subject.sub,
                client_id: &client.id,
                scope: &planned.scope,
                roles: &roles,
                family_id: None,
                amr: &amr,
                grant_type: GrantType::TokenExchange,
            },
            &Delegation {
                act: &planned.act,
                parent_jti: &planned.subject.jti,
                audience: &planned.audience,
                not_after: planned.subject.exp,
            },
        )?;
        Ok::<_, OAuthError>(Ok(ExchangeResponse {
            access_token: issued.token,
            issued_token_type: ACCESS_TOKEN_TYPE,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: planned.scope,
        }))
    })?;
    outcome
}

/// Everything checked, ready to issue.
struct Planned {
    subject: AccessClaims,
    tenant: Tenant,
    roles: Vec<String>,
    scope: String,
    audience: String,
    act: Actor,
}

/// The checks, in the order a careful reader would make them: the request's shape, the
/// subject token (verified like `/api/v1` does, ledger included), its tenant against
/// the client's binding, the audience, the scope, the actor token, the chain's depth,
/// and a fresh look at the subject's membership.
fn plan(
    tx: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<Result<Planned, Denial>, OAuthError> {
    use OAuthError::{InvalidRequest, InvalidScope, InvalidTarget};
    let Some(subject_token) = request.subject_token else {
        return Ok(Err(deny(
            InvalidRequest("subject_token is required"),
            "request",
        )));
    };
    if request.subject_token_type != Some(ACCESS_TOKEN_TYPE) {
        return Ok(Err(deny(
            InvalidRequest("subject_token_type must be an access token's"),
            "request",
        )));
    }
    if request
        .requested_token_type
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Ok(Err(deny(
            InvalidRequest("requested_token_type must be an access token's"),
            "request",
        )));
    }
    if request.actor_token.is_some() != request.actor_token_type.is_some()
        || request
            .actor_token_type
            .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Ok(Err(deny(
            InvalidRequest("actor_token and actor_token_type go together"),
            "request",
        )));
    }
    let audience = match request.audiences.as_slice() {
        [one] => (*one).to_owned(),
        [] => {
            let mut allowed = client.exchange_audiences.split_whitespace();
            match (allowed.next(), allowed.next()) {
                (Some(only), None) => only.to_owned(),
                _ => return Ok(Err(deny(InvalidRequest("audience is required"), "request"))),
            }
        }
        _ => return Ok(Err(deny(InvalidTarget, "audience"))),
    };

    let Some(subject) = tokens::verify_access_token(tx, keys, &config.issuer, subject_token)?
    else {
        return Ok(Err(deny(InvalidRequest(INVALID_TOKEN), "subject_token")));
    };
    let subject = subject.claims;
    if client
        .tenant_id
        .as_deref()
        .is_some_and(|own| own != subject.tenant_id)
    {
        return Ok(Err(deny(InvalidRequest(INVALID_TOKEN), "tenant")));
    }
    if !client.allows_audience(&audience) {
        return Ok(Err(deny(InvalidTarget, "audience")));
    }
    // Tessera's own API scope passes only to a client registered for it: an exchange
    // must not turn a user's console token into an API credential of another client.
    let api_allowed = client.scopes().any(|s| s == tessera_proto::API_SCOPE);
    let allowed: Vec<&str> = subject
        .scopes()
        .filter(|s| api_allowed || *s != tessera_proto::API_SCOPE)
        .collect();
    let scope = match request.scope {
        None => scope::narrow(allowed.iter().copied(), &allowed.join(" ")).unwrap_or_default(),
        Some(requested) => match scope::narrow(allowed.iter().copied(), requested) {
            Some(scope) => scope,
            None => return Ok(Err(deny(InvalidScope, "scope"))),
        },
    };
    if let Some(actor_token) = request.actor_token {
        let actor = tokens::verify_access_token(tx, keys, &config.issuer, actor_token)?;
        // The actor token proves who acts: it must be the asking client's own.
        if actor.is_none_or(|a| a.claims.client_id != client.id || a.claims.sub != client.id) {
            return Ok(Err(deny(InvalidRequest(INVALID_TOKEN), "actor_token")));
        }
    }
    let act = Actor {
        sub: client.id.clone(),
        act: subject.act.clone().map(Box::new),
    };
    if act.depth() > config.token_exchange_max_depth {
        return Ok(Err(deny(
            InvalidRequest("the delegation chain is too long"),
            "depth",
        )));
    }
    let Some((tenant, roles)) = current_access(tx, client, &subject)? else {
        return Ok(Err(deny(InvalidRequest(INVALID_TOKEN), "membership")));
    };
    Ok(Ok(Planned {
        subject,
        tenant,
        roles,
        scope,
        audience,
        act,
    }))
}

/// The tenant (still active) and the roles the new token may carry: for a user, the
/// subject token's roles that the membership still holds, so an exchange never widens
/// what a login granted and a removed member's token no longer exchanges; for a
/// service's own token, none. `None` when the subject may no longer act in the tenant.
fn current_access(
    tx: &mut DbConnection,
    client: &Client,
    subject: &AccessClaims,
) -> Result<Option<(Tenant, Vec<String>)>, Error> {
    let is_service = subject.sub == subject.client_id && subject.roles.is_empty();
    if is_service {
        return Ok(tenants::find_by_id(tx, &subject.tenant_id)?
            .filter(|t| t.status == "active")
            .map(|t| (t, Vec::new())));
    }
    let Some(user) = crate::users::find(tx, &subject.sub)?.filter(|u| u.status == "active") else {
        return Ok(None);
    };
    let binding = client.tenant_id.as_deref();
    match memberships::resolve_tenant(tx, &user.id, binding, Some(&subject.tenant)) {
        Ok(Resolution::Tenant(access)) if access.tenant.id == subject.tenant_id => {
            let current = access.role_names();
            let roles = subject
                .roles
                .iter()
                .filter(|r| current.contains(&r.as_str()))
                .cloned()
                .collect();
            Ok(Some((access.tenant, roles)))
        }
        Ok(_) | Err(Error::Forbidden) => Ok(None),
        Err(e) => Err(e),
    }
}
