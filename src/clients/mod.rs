//! OAuth clients. A client bound to a tenant serves only that tenant; an unbound client
//! serves every tenant's users and its own client-credentials tokens carry `system`.
//! Secrets are generated here (256 random bits), shown once, and stored as SHA-256
//! hashes compared in constant time: no raw secret is ever stored.

pub mod directory;
pub mod grant;
pub mod store;

use subtle::ConstantTimeEq;

use crate::audit::{self, Event, Origin};
use crate::db::{self, DbConnection};
use crate::error::{is_unique_violation, Error, Result};
use crate::tenants::{Tenant, SYSTEM_TENANT_ID};

pub use grant::GrantType;
pub use store::Client;

/// A client id: 1–64 characters of `A-Z a-z 0-9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Result<Self> {
        let valid = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(Error::Invalid(
                "client id: use 1-64 characters A-Z, a-z, 0-9, '.', '_' and '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Ids a new client may not take: the service's own names (`source` of its audit
    /// events, the command line's, built-in clients'), so no client's events read back
    /// like the service's; and UUID-shaped ids, the shape of user ids, so a client's
    /// token subject can never be a user's (RFC 9068 section 5).
    fn is_reserved(&self) -> bool {
        let lower = self.0.to_ascii_lowercase();
        uuid::Uuid::parse_str(&self.0).is_ok()
            || matches!(lower.as_str(), "cli" | "system" | "service")
            || lower.starts_with("tessera")
    }
}

/// A tenant administrator's client ids start with the tenant's slug and a dot
/// (`acme.web`): each tenant has a namespace of its own, so creating a client never
/// answers differently because of another tenant's clients.
pub fn check_tenant_namespace(id: &ClientId, tenant: &Tenant) -> Result<()> {
    let in_namespace = id
        .as_str()
        .strip_prefix(tenant.slug.as_str())
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| !rest.is_empty());
    if in_namespace {
        Ok(())
    } else {
        Err(Error::Invalid(
            "client id: a tenant's client ids start with the tenant's slug and a dot",
        ))
    }
}

/// What an operator asks for; validated by [`create`].
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: Option<String>,
    pub confidential: bool,
    pub redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    /// The audiences a token-exchange client may ask for (RFC 8693 `audience`).
    pub exchange_audiences: Vec<String>,
}

/// A client as shown to operators (never the secret hash): the wire contract's type.
pub use tessera_proto::api::ClientView;

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        let list = |s: &str| s.split_whitespace().map(str::to_owned).collect();
        Self {
            client_id: c.id.clone(),
            tenant_id: c.tenant_id.clone(),
            name: c.name.clone(),
            kind: c.kind.clone(),
            redirect_uris: list(&c.redirect_uris),
            grant_types: list(&c.grant_types),
            scopes: list(&c.scopes),
            exchange_audiences: list(&c.exchange_audiences),
            created_at: db::format_utc(&c.created_at),
        }
    }
}

/// Checks a redirect URI: absolute, no fragment, no whitespace, not a script or data URL.
pub fn validate_redirect_uri(text: &str) -> Result<()> {
    const INVALID: Error = Error::Invalid(
        "redirect URI: must be an absolute URI without fragment (https, http or an app scheme)",
    );
    if text.is_empty()
        || text.len() > 2000
        || text.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(INVALID);
    }
    let url = url::Url::parse(text).map_err(|_| INVALID)?;
    if url.fragment().is_some() || text.contains('#') {
        return Err(INVALID);
    }
    match url.scheme() {
        "javascript" | "data" | "vbscript" | "file" | "blob" => Err(INVALID),
        // As written, not as parsed: `https:///cb` parses with host `cb`.
        "http" | "https"
            if url.host_str().is_none_or(str::is_empty)
                || text[url.scheme().len()..].starts_with(":///") =>
        {
            Err(INVALID)
        }
        // Plain http only to the user's own machine (RFC 8252 section 7.3, OAuth 2.1).
        "http" if !is_loopback(&url) => Err(Error::Invalid(
            "redirect URI: http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https",
        )),
        _ => Ok(()),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks one scope token (RFC 6749 section 3.3).
pub fn validate_scope(text: &str) -> Result<()> {
    let valid = (1..=128).contains(&text.len())
        && text
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(
            "scope: use printable ASCII without spaces, quotes or backslashes",
        ))
    }
}

/// Checks an audience a client may exchange tokens for: a service's name or URI, 1-256
/// printable characters without spaces (it is one value of the `aud` claim).
pub fn validate_audience(text: &str) -> Result<()> {
    let valid = (1..=256).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(
            "exchange audience: 1-256 printable characters without spaces",
        ))
    }
}

/// Validates the request, generates the secret for a confidential client, stores the
/// client and records `client.created` in its tenant's chain (or `system`'s).
/// Returns the client and, once, its secret.
pub fn create(
    tx: &mut DbConnection,
    origin: &Origin,
    id: &ClientId,
    tenant: Option<&Tenant>,
    input: NewClient,
) -> Result<(Client, Option<String>)> {
    if id.is_reserved() {
        return Err(Error::Invalid(
            "client id: UUID-shaped ids and the names tessera*, cli, system and service are reserved",
        ));
    }
    let mut grants = input
        .grants
        .iter()
        .map(|g| GrantType::parse(g))
        .collect::<Result<Vec<_>>>()?;
    if grants.is_empty() {
        grants.push(GrantType::AuthorizationCode);
    }
    grants.sort();
    grants.dedup();
    let has = |g| grants.contains(&g);
    if has(GrantType::ClientCredentials) && !input.confidential {
        return Err(Error::Invalid(
            "grant: client_credentials needs a confidential client",
        ));
    }
    if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
        return Err(Error::Invalid(
            "grant: refresh_token needs authorization_code",
        ));
    }
    if has(GrantType::TokenExchange) && !input.confidential {
        return Err(Error::Invalid(
            "grant: token_exchange needs a confidential client",
        ));
    }
    let mut audiences = input.exchange_audiences.clone();
    for audience in &audiences {
        validate_audience(audience)?;
    }
    audiences.sort();
    audiences.dedup();
    match (has(GrantType::TokenExchange), audiences.is_empty()) {
        (true, true) => {
            return Err(Error::Invalid(
                "exchange audience: token_exchange needs at least one",
            ))
        }
        (false, false) => {
            return Err(Error::Invalid(
                "exchange audience: only for a client with the token_exchange grant",
            ))
        }
        _ => {}
    }
    for uri in &input.redirect_uris {
        validate_redirect_uri(uri)?;
    }
    if has(GrantType::AuthorizationCode) && input.redirect_uris.is_empty() {
        return Err(Error::Invalid(
            "redirect URI: authorization_code needs at least one",
        ));
    }
    let mut scopes = input.scopes.clone();
    if scopes.is_empty() && has(GrantType::AuthorizationCode) {
        scopes.push("openid".to_owned());
    }
    for scope in &scopes {
        validate_scope(scope)?;
    }
    scopes.sort();
    scopes.dedup();
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(id.as_str());
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "client name: at most 200 printable characters",
        ));
    }

    let secret = input.confidential.then(generate_secret);
    let client = Client {
        id: id.as_str().to_owned(),
        tenant_id: tenant.map(|t| t.id.clone()),
        name: name.to_owned(),
        kind: if input.confidential {
            "confidential"
        } else {
            "public"
        }
        .to_owned(),
        secret_hash: secret.as_deref().map(hash_secret),
        redirect_uris: input.redirect_uris.join(" "),
        grant_types: grants
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        scopes: scopes.join(" "),
        created_at: db::now(),
        exchange_audiences: audiences.join(" "),
    };
    store::insert(tx, &client).map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict("client")
        } else {
            e.into()
        }
    })?;
    let chain = tenant.map_or(SYSTEM_TENANT_ID, |t| t.id.as_str());
    audit::record(
        tx,
        origin,
        Event::success(chain, "client.created", "client", &client.id).with_details(
            serde_json::json!({
                "kind": client.kind,
                "grant_types": client.grant_types,
                "exchange_audiences": client.exchange_audiences,
            }),
        ),
    )?;
    Ok((client, secret))
}

/// The client with this id. An id that cannot be one (bad characters, too long) is
/// simply not found: it never reaches the database.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Client>> {
    let Ok(id) = ClientId::parse(id) else {
        return Ok(None);
    };
    Ok(store::by_id(conn, id.as_str())?)
}

impl Client {
    pub fn is_confidential(&self) -> bool {
        self.kind == "confidential"
    }

    pub fn has_grant(&self, grant: GrantType) -> bool {
        self.grant_types
            .split_whitespace()
            .any(|g| g == grant.as_str())
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.split_whitespace()
    }

    /// Whether the client may exchange a token for `audience` (RFC 8693 section 2.1).
    pub fn allows_audience(&self, audience: &str) -> bool {
        self.exchange_audiences
            .split_whitespace()
            .any(|a| a == audience)
    }

    /// Whether `uri` is one of the client's registered redirect URIs, compared as exact
    /// strings (RFC 9700 2.1): the one rule for `/authorize` and for logout.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.split_whitespace().any(|r| r == uri)
    }

    /// The tenant whose chain records this client's events: its own, or `system`.
    pub fn home_tenant_id(&self) -> &str {
        self.tenant_id.as_deref().unwrap_or(SYSTEM_TENANT_ID)
    }
}

pub fn list(conn: &mut DbConnection, tenant: Option<&Tenant>) -> Result<Vec<Client>> {
    Ok(store::list(conn, tenant.map(|t| t.id.as_str()))?)
}

/// 256 random bits, base64url without padding (43 characters).
fn generate_secret() -> String {
    crate::tokens::opaque()
}

/// Lower-case hex SHA-256 of a client secret, the only form that is stored.
pub fn hash_secret(secret: &str) -> String {
    crate::tokens::opaque_hash(secret)
}

/// Compares a presented secret with a stored hash in constant time.
pub fn secret_matches(presented: &str, stored_hash: &str) -> bool {
    hash_secret(presented)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example.com/cb",
            "http://127.0.0.1:3000/callback",
            "http://[::1]:3000/callback",
            "http://localhost:3000/callback",
            "com.example.app:/oauth2redirect",
            "https://app.example.com/cb?x=1",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/relative/cb",
            "app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://app.example.com/a b",
            "https:///cb",
            "http://app.example.com/cb",
            "http://127.0.0.1.example.com/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        let h = hash_secret(&a);
        assert_eq!(h.len(), 64);
        assert!(secret_matches(&a, &h));
        assert!(!secret_matches(&b, &h));
    }

    #[test]
    fn scopes() {
        assert!(validate_scope("audit:write").is_ok());
        assert!(validate_scope("openid").is_ok());
        assert!(validate_scope("a b").is_err());
        assert!(validate_scope("a\"b").is_err());
        assert!(validate_scope("").is_err());
    }
}
