//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::AppState;

/// Precomputed bytes with a strong `ETag`; `304` when the client's copy is current.
pub async fn get_jwks(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let keys = state.keys.current();
    let cache_control = format!("public, max-age={}", state.config.jwks_max_age.as_secs());
    let current = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == keys.etag() || t.trim() == "*")
        });
    let mut response = if current {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, keys.etag()))
        .insert_header((header::CACHE_CONTROL, cache_control));
    if current {
        return response.finish();
    }
    response
        .content_type("application/jwk-set+json")
        .body(keys.jwks_bytes())
}

/// OpenID Connect Discovery / RFC 8414 metadata: what Tessera supports, nothing more.
pub async fn get_openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.config.issuer;
    let keys = state.keys.current();
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let document = serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "scopes_supported": ["openid", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials",
            crate::clients::grant::TOKEN_EXCHANGE_URN
        ],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "email",
            "tenant_id", "tenant", "roles", "amr", "acr", "act"
        ],
        // `pwd`: a password alone; `mfa`: a second factor too (asked for with
        // `acr_values=mfa`).
        "acr_values_supported": ["pwd", "mfa"],
        "authorization_response_iss_parameter_supported": true,
        // Public clients authenticate with `none` (PKCE protects their codes).
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic", "client_secret_post", "none"
        ],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "id_token_signing_alg_values_supported": keys.algorithms(),
        "access_token_signing_alg_values_supported": keys.algorithms(),
        "subject_types_supported": ["public"],
    });
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(document)
}
