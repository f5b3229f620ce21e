//! Real tokens for tests: a member's access token, issued the way a login issues it,
//! and a client-credentials token from the domain operation.

use tessera::db;

/// A real access token for a member of `tenant`, issued the way a login issues it
/// (roles from the membership, recorded in the ledger).
pub fn user_token(state: &tessera::http::AppState, email: &str, tenant: &str) -> String {
    let mut conn = state.pool.get().unwrap();
    let user =
        tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse(email).unwrap())
            .unwrap()
            .unwrap();
    let access = match tessera::memberships::resolve_tenant(&mut conn, &user.id, None, Some(tenant))
        .unwrap()
    {
        tessera::memberships::Resolution::Tenant(access) => access,
        tessera::memberships::Resolution::Pick(_) => panic!("a hint resolves to one tenant"),
    };
    let roles = access.role_names();
    let keys = state.keys.current();
    let issuer = tessera::oauth::issuer(&state.config);
    db::write_tx(&mut conn, |tx| {
        tessera::tokens::issue_access_token(
            tx,
            &keys,
            &issuer,
            &tessera::audit::Origin::system(),
            &tessera::tokens::Grant {
                tenant: &access.tenant,
                subject: &user.id,
                client_id: "console",
                scope: "openid tessera:api",
                roles: &roles,
                family_id: None,
                amr: &["pwd"],
                grant_type: tessera::clients::GrantType::AuthorizationCode,
            },
        )
    })
    .unwrap()
    .token
}

/// A client-credentials token, minted the way `POST /token` mints it: the checks, then
/// the ledger row and event through the group-commit writer.
pub fn client_token(state: &tessera::http::AppState, client_id: &str, secret: &str) -> String {
    use tessera::oauth::client_credentials;
    let mut conn = state.pool.get().unwrap();
    let credentials = tessera::oauth::ClientCredentials {
        client_id: Some(client_id.to_owned()),
        client_secret: Some(secret.to_owned()),
    };
    let granted =
        client_credentials::check(&mut conn, &state.directory, &credentials, None).unwrap();
    let keys = state.keys.current();
    let issuer = tessera::oauth::issuer(&state.config);
    let origin = tessera::audit::Origin::system();
    let (response, record) = client_credentials::mint(&keys, &issuer, &origin, &granted).unwrap();
    // Tests call this from inside actix's runtime: wait for the commit on a thread of
    // its own.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(tessera::tokens::commit_issued(&state.writer, vec![record]))
            })
            .join()
            .unwrap()
    })
    .unwrap();
    response.access_token
}
