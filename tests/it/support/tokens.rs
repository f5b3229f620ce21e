//! Real tokens for tests: a member's access token, issued the way a login issues it,
//! and a client-credentials token from the domain operation.

use tessera::db;

/// A real access token for a member of `tenant`, issued the way a login issues it
/// (roles from the membership, recorded in the ledger).
pub fn user_token(state: &tessera::http::AppState, email: &str, tenant: &str) -> String {
    let mut conn = state.pool.get().unwrap();
    let user =
        tessera::users::find_by_email(&mut conn, &tessera::users::Email::parse(email).unwrap())
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
            },
        )
    })
    .unwrap()
    .token
}

/// A client-credentials token, straight from the domain operation.
pub fn client_token(state: &tessera::http::AppState, client_id: &str, secret: &str) -> String {
    let mut conn = state.pool.get().unwrap();
    let client = tessera::oauth::authenticate_client(
        &mut conn,
        &tessera::oauth::ClientCredentials {
            client_id: Some(client_id.to_owned()),
            client_secret: Some(secret.to_owned()),
        },
    )
    .unwrap();
    let keys = state.keys.current();
    tessera::oauth::client_credentials(
        &mut conn,
        &keys,
        &state.config,
        &tessera::audit::Origin::system(),
        &client,
        None,
    )
    .unwrap()
    .access_token
}
