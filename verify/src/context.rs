//! The verified caller of a request. Built only by [`crate::Verifier`] from a token whose
//! signature and claims passed every check, so code holding one may trust its tenant.

/// Who is calling, and for which tenant, as stated by a verified access token.
///
/// Every query of a tenant-scoped service filters by [`TenantContext::tenant_id`]; a
/// tenant named by the request is only ever compared with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantContext {
    /// The tenant's id (a UUID), claim `tenant_id`.
    pub tenant_id: String,
    /// The tenant's slug, claim `tenant`.
    pub tenant: String,
    /// The user id, or the client id for a client-credentials token (claim `sub`).
    pub subject: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The membership's roles in this tenant (`member`, `admin`, `auditor`).
    pub roles: Vec<String>,
    /// The granted scopes (claim `scope`, split on spaces).
    pub scope: Vec<String>,
    /// Who acts for the subject when the token came from token exchange (RFC 8693
    /// claim `act`): the current actor (the client that exchanged it) first, then the
    /// actors of the tokens it was exchanged from. Empty for a token issued directly.
    pub actors: Vec<String>,
}

impl TenantContext {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }

    /// A client-credentials token: the client itself is the subject.
    pub fn is_client(&self) -> bool {
        self.subject == self.client_id && self.roles.is_empty()
    }

    /// Whether the token was obtained by token exchange: someone acts for the subject.
    pub fn is_delegated(&self) -> bool {
        !self.actors.is_empty()
    }

    /// How many exchanges lie between the subject's own token and this one (0 for a
    /// token issued directly).
    pub fn delegation_depth(&self) -> usize {
        self.actors.len()
    }

    /// Whether a tenant named by a request (an id or a slug, as typed) is this token's.
    pub fn is_tenant(&self, selector: &str) -> bool {
        selector == self.tenant || selector.eq_ignore_ascii_case(&self.tenant_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> TenantContext {
        TenantContext {
            tenant_id: "0b6f3c4e-1111-4222-8333-444455556666".into(),
            tenant: "acme".into(),
            subject: "u1".into(),
            client_id: "web".into(),
            roles: vec!["member".into(), "admin".into()],
            scope: vec!["openid".into(), "notes:write".into()],
            actors: vec![],
        }
    }

    #[test]
    fn helpers() {
        let ctx = context();
        assert!(ctx.has_role("admin") && !ctx.has_role("auditor"));
        assert!(ctx.has_scope("notes:write") && !ctx.has_scope("notes"));
        assert!(!ctx.is_client());
        assert!(ctx.is_tenant("acme"));
        assert!(ctx.is_tenant("0B6F3C4E-1111-4222-8333-444455556666"));
        assert!(!ctx.is_tenant("Acme") && !ctx.is_tenant("globex") && !ctx.is_tenant(""));
        let client = TenantContext {
            subject: "web".into(),
            roles: vec![],
            ..context()
        };
        assert!(client.is_client());
        assert!(!ctx.is_delegated() && ctx.delegation_depth() == 0);
        let delegated = TenantContext {
            actors: vec!["notes".into(), "gateway".into()],
            ..context()
        };
        assert!(delegated.is_delegated());
        assert_eq!(delegated.delegation_depth(), 2);
    }
}
