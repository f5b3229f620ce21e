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
        .body(keys.jwks().to_vec())
}

/// OpenID Connect Discovery / RFC 8414 metadata: what Tessera supports, nothing more.
pub async fn get_openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.config.issuer;
    let keys = state.keys.current();
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    let document = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/token"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
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
