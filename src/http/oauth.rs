//! `POST /token`, `POST /introspect`, `POST /revoke`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::form::Form;
use super::{request_meta, run_blocking, AppState};
use crate::oauth::client_credentials;
use crate::oauth::{self, OAuthError};

fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    response
}

/// [`run_blocking`] for work that fails with an OAuth error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OAuthError> + Send + 'static,
) -> Result<T, OAuthError> {
    run_blocking(f).await
}

pub async fn post_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let form = Form::parse(&req, &body)?;
    let credentials = form.client_credentials(&req)?;
    let (ip, request_id) = request_meta(&req);
    let grant_type = form
        .get("grant_type")
        .ok_or(OAuthError::InvalidRequest("grant_type is required"))?
        .to_owned();
    let scope = form.get("scope").map(str::to_owned);
    let code = form.get("code").map(str::to_owned);
    let redirect_uri = form.get("redirect_uri").map(str::to_owned);
    let code_verifier = form.get("code_verifier").map(str::to_owned);
    let refresh_token = form.get("refresh_token").map(str::to_owned);
    let tenant = form.get("tenant").map(str::to_owned);
    let state = state.into_inner();
    if grant_type == "client_credentials" {
        return post_client_credentials(state, credentials, scope, ip, request_id).await;
    }
    if grant_type == crate::clients::grant::TOKEN_EXCHANGE_URN {
        return post_token_exchange(state, form, credentials, ip, request_id).await;
    }
    let grant: &'static str = match grant_type.as_str() {
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        _ => return Err(OAuthError::UnsupportedGrantType),
    };
    let code = match grant {
        "authorization_code" => Some(code.ok_or(OAuthError::InvalidRequest("code is required"))?),
        _ => None,
    };
    let refresh_token = match grant {
        "refresh_token" => {
            Some(refresh_token.ok_or(OAuthError::InvalidRequest("refresh_token is required"))?)
        }
        _ => None,
    };
    // The client is authenticated on a pooled connection (a confidential client's
    // secret costs a bcrypt verification); the grant is an audited write (on SQLite in
    // the group-commit writer; on PostgreSQL in parallel transactions: measured, the
    // writer's serialized savepoints gave 127 exchanges/s and 114 refreshes/s, parallel
    // transactions 203/s and 231/s, BENCHMARKS.md).
    let checks = state.clone();
    let (client, origin) = blocking(move || {
        let mut conn = checks.pool.get().map_err(crate::error::Error::from)?;
        let client = oauth::authenticate_any_client(&mut conn, &credentials)?;
        let origin = oauth::client_origin(&client, ip, request_id);
        Ok((client, origin))
    })
    .await?;
    let keys = state.keys.current();
    let config = state.config.clone();
    let grant_in = move |tx: &mut crate::db::DbConnection| match &code {
        Some(code) => oauth::code::exchange_code_in(
            tx,
            &keys,
            &config,
            &origin,
            &client,
            &oauth::code::CodeExchange {
                code,
                redirect_uri: redirect_uri.as_deref(),
                code_verifier: code_verifier.as_deref(),
            },
        ),
        None => oauth::code::refresh_in(
            tx,
            &keys,
            &config,
            &origin,
            &client,
            &oauth::code::Refresh {
                refresh_token: refresh_token.as_deref().unwrap_or_default(),
                scope: scope.as_deref(),
                tenant: tenant.as_deref(),
            },
        ),
    };
    let response = crate::http::audited_write(&state, grant_in).await??;
    crate::metrics::token_issued(grant);
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// Client credentials: the checks on a pooled connection, then the ledger row and its
/// audit event through the group-commit writer (one commit for every token issued
/// meanwhile); the token is returned only after that commit.
async fn post_client_credentials(
    state: std::sync::Arc<AppState>,
    credentials: oauth::ClientCredentials,
    scope: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
) -> Result<HttpResponse, OAuthError> {
    let granted =
        match client_credentials::check_cached(&state.directory, &credentials, scope.as_deref()) {
            // A client seen in the last few seconds: checked without leaving this thread.
            Some(checked) => checked?,
            None => {
                let checks = state.clone();
                blocking(move || {
                    let mut conn = checks.pool.get().map_err(crate::error::Error::from)?;
                    client_credentials::check(
                        &mut conn,
                        &checks.directory,
                        &credentials,
                        scope.as_deref(),
                    )
                })
                .await?
            }
        };
    let origin = oauth::client_origin(&granted.client, ip, request_id);
    let keys = state.keys.current();
    let (response, record) =
        client_credentials::mint(&keys, &oauth::issuer(&state.config), &origin, &granted)?;
    crate::tokens::commit_issued(&state.writer, vec![record]).await?;
    crate::metrics::token_issued("client_credentials");
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// Token exchange (RFC 8693): the client authenticates with its secret, the checks and
/// the new token's ledger row and audit event run in one transaction.
async fn post_token_exchange(
    state: std::sync::Arc<AppState>,
    form: Form,
    credentials: oauth::ClientCredentials,
    ip: Option<String>,
    request_id: Option<String>,
) -> Result<HttpResponse, OAuthError> {
    let response = blocking(move || {
        let mut conn = state.pool.get().map_err(crate::error::Error::from)?;
        let client = oauth::authenticate_client(&mut conn, &credentials)?;
        let origin = oauth::client_origin(&client, ip, request_id);
        let keys = state.keys.current();
        let request = oauth::exchange::ExchangeRequest {
            subject_token: form.get("subject_token"),
            subject_token_type: form.get("subject_token_type"),
            actor_token: form.get("actor_token"),
            actor_token_type: form.get("actor_token_type"),
            requested_token_type: form.get("requested_token_type"),
            audiences: ["audience", "resource"]
                .into_iter()
                .filter_map(|name| form.get(name))
                .collect(),
            scope: form.get("scope"),
        };
        oauth::exchange::exchange(&mut conn, &keys, &state.config, &origin, &client, &request)
    })
    .await?;
    crate::metrics::token_issued("token_exchange");
    Ok(no_store(HttpResponse::Ok()).json(response))
}

/// The body of an introspection or revocation request: the client's credentials and
/// the `token` asked about.
fn token_request(
    req: &HttpRequest,
    body: &[u8],
) -> Result<(oauth::ClientCredentials, String), OAuthError> {
    let form = Form::parse(req, body)?;
    let credentials = form.client_credentials(req)?;
    let token = form
        .get("token")
        .ok_or(OAuthError::InvalidRequest("token is required"))?
        .to_owned();
    Ok((credentials, token))
}

pub async fn post_introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let (credentials, token) = token_request(&req, &body)?;
    let state = state.into_inner();
    let answer = blocking(move || {
        let mut conn = state.pool.get().map_err(crate::error::Error::from)?;
        let client = oauth::authenticate_client(&mut conn, &credentials)?;
        let keys = state.keys.current();
        oauth::introspect(&mut conn, &keys, &state.config, &client, &token)
    })
    .await?;
    Ok(no_store(HttpResponse::Ok()).json(answer))
}

pub async fn post_revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let (credentials, token) = token_request(&req, &body)?;
    let (ip, request_id) = request_meta(&req);
    let state = state.into_inner();
    // A public client revokes its own tokens by its id (RFC 7009 section 2.1): the
    // token itself is the proof, and it must have been issued to that client. The
    // client and the token's signature are checked on a blocking thread; the
    // revocation runs in the group-commit writer's next transaction.
    let checks = state.clone();
    let (client, origin, presented) = blocking(move || {
        let mut conn = checks.pool.get().map_err(crate::error::Error::from)?;
        let client = oauth::authenticate_any_client(&mut conn, &credentials)?;
        let origin = oauth::client_origin(&client, ip, request_id);
        let presented = oauth::RevokedToken::read(&checks.keys.current(), &token);
        Ok((client, origin, presented))
    })
    .await?;
    let allowed = state
        .writer
        .run(move |tx| oauth::revoke_in(tx, &origin, &client, &presented))
        .await?;
    if !allowed {
        return Err(OAuthError::UnauthorizedClient);
    }
    Ok(no_store(HttpResponse::Ok()).finish())
}
