//! Builders: what a test needs, created through the domain operations as an operator
//! would, instead of SQL fixtures.

use tessera::db;

use super::TestDb;

/// Builders: create what a test needs through the domain operations, as an operator.
impl TestDb {
    pub fn tenant(&self, slug: &str) -> tessera::tenants::Tenant {
        let mut conn = self.conn();
        let slug = tessera::tenants::Slug::parse(slug).unwrap();
        db::write_tx(&mut conn, |tx| {
            tessera::tenants::create(tx, &tessera::audit::Origin::cli(), &slug, None)
        })
        .unwrap()
    }

    /// An existing tenant, as stored now.
    pub fn tenant_by_slug(&self, slug: &str) -> tessera::tenants::Tenant {
        let slug = tessera::tenants::Slug::parse(slug).unwrap();
        tessera::tenants::find_by_slug(&mut self.conn(), &slug)
            .unwrap()
            .unwrap()
    }

    /// An existing user.
    pub fn user_by_email(&self, email: &str) -> tessera::users::User {
        let email = tessera::users::Email::parse(email).unwrap();
        tessera::users::find_by_email(&mut self.conn(), &email)
            .unwrap()
            .unwrap()
    }

    /// A client; returns its secret when confidential.
    pub fn client(
        &self,
        id: &str,
        tenant: Option<&str>,
        confidential: bool,
        grants: &[&str],
        scopes: &[&str],
        redirect_uris: &[&str],
    ) -> Option<String> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        self.register(
            id,
            tenant,
            tessera::clients::NewClient {
                name: None,
                confidential,
                redirect_uris: owned(redirect_uris),
                grants: owned(grants),
                scopes: owned(scopes),
                exchange_audiences: Vec::new(),
            },
        )
    }

    /// A confidential token-exchange client allowed `audiences`; returns its secret.
    pub fn exchange_client(
        &self,
        id: &str,
        tenant: Option<&str>,
        scopes: &[&str],
        audiences: &[&str],
    ) -> String {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        self.register(
            id,
            tenant,
            tessera::clients::NewClient {
                name: None,
                confidential: true,
                redirect_uris: Vec::new(),
                grants: vec!["token_exchange".into(), "client_credentials".into()],
                scopes: owned(scopes),
                exchange_audiences: owned(audiences),
            },
        )
        .unwrap()
    }

    /// Registers a client as an operator would; returns its secret when confidential.
    pub fn register(
        &self,
        id: &str,
        tenant: Option<&str>,
        input: tessera::clients::NewClient,
    ) -> Option<String> {
        let mut conn = self.conn();
        db::write_tx(&mut conn, |tx| {
            let tenant = tenant
                .map(|slug| {
                    tessera::tenants::find_by_slug(
                        tx,
                        &tessera::tenants::Slug::parse(slug).unwrap(),
                    )
                    .map(Option::unwrap)
                })
                .transpose()?;
            tessera::clients::create(
                tx,
                &tessera::audit::Origin::cli(),
                &tessera::clients::ClientId::parse(id).unwrap(),
                tenant.as_ref(),
                input,
            )
        })
        .unwrap()
        .1
    }

    /// A confidential client-credentials client; returns its secret.
    pub fn service_client(&self, id: &str, tenant: Option<&str>, scopes: &[&str]) -> String {
        self.client(id, tenant, true, &["client_credentials"], scopes, &[])
            .unwrap()
    }

    #[allow(dead_code)]
    pub fn user(&self, email: &str, password: &str) -> tessera::users::User {
        let hash = tessera::users::password::hash(password, 4).unwrap();
        let email = tessera::users::Email::parse(email).unwrap();
        let mut conn = self.conn();
        db::write_tx(&mut conn, |tx| {
            tessera::users::create(tx, &tessera::audit::Origin::cli(), &email, hash)
        })
        .unwrap()
    }

    #[allow(dead_code)]
    pub fn member(&self, slug: &str, email: &str, roles: &[&str]) {
        let mut conn = self.conn();
        let roles = tessera::memberships::Roles::new(
            roles
                .iter()
                .map(|r| tessera::memberships::Role::parse(r).unwrap()),
        )
        .unwrap();
        db::write_tx(&mut conn, |tx| {
            let tenant =
                tessera::tenants::find_by_slug(tx, &tessera::tenants::Slug::parse(slug).unwrap())?
                    .unwrap();
            let user =
                tessera::users::find_by_email(tx, &tessera::users::Email::parse(email).unwrap())?
                    .unwrap();
            tessera::memberships::add(tx, &tessera::audit::Origin::cli(), &tenant, &user, &roles)
        })
        .unwrap();
    }

    /// Actions recorded in a tenant's chain, in order.
    pub fn audit_actions(&self, tenant_id: &str) -> Vec<(String, String)> {
        use diesel::prelude::*;
        use tessera::db::schema::audit_events as a;
        a::table
            .filter(a::tenant_id.eq(tenant_id))
            .order(a::seq.asc())
            .select((a::action, a::outcome))
            .load(&mut self.conn())
            .unwrap()
    }
}
