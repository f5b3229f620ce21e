//! A standard OpenID Connect client library (`openidconnect`) completes the browser
//! flow against the real binary, discovering everything from the issuer URL and
//! verifying the ID token from the JWKS; the access token verifies with `jsonwebtoken`.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

use crate::browser::{field, REDIRECT};
use crate::support::both_backends;
use crate::tokens::verify_with_jwks;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The library's HTTP client: ureq, no redirects, errors as data.
fn http_client(
    agent: &ureq::Agent,
) -> impl Fn(openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, ureq::Error> + '_ {
    move |request| {
        let mut response = agent.run(request)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.body_mut().read_to_vec()?;
        let mut out = http::Response::builder().status(status).body(body).unwrap();
        *out.headers_mut() = headers;
        Ok(out)
    }
}

both_backends! {
    fn a_standard_oidc_client_completes_the_flow(db) {
        db.tenant("acme");
        db.user("alice@example.com", "correct horse battery");
        db.member("acme", "alice@example.com", &["member"]);
        db.client("web", None, false, &["authorization_code", "refresh_token"], &["openid", "offline_access"], &[REDIRECT]);
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let server = db.server(&[
            ("TESSERA_LISTEN", &format!("127.0.0.1:{port}")),
            ("TESSERA_ISSUER", &issuer),
        ]);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let http = http_client(&agent);

        let metadata = CoreProviderMetadata::discover(&IssuerUrl::new(issuer.clone()).unwrap(), &http).unwrap();
        let client = CoreClient::from_provider_metadata(metadata, ClientId::new("web".into()), None)
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf_state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("offline_access".into()))
            .add_extra_param("tenant", "acme")
            .set_pkce_challenge(challenge)
            .url();

        // The user's side: a browser with cookies that submits the login form.
        let browser: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let page = browser.get(auth_url.as_str()).call().unwrap().body_mut().read_to_string().unwrap();
        let request = field(&page, "request").unwrap();
        let csrf = field(&page, "csrf").unwrap();
        let answer = browser
            .post(&format!("{issuer}/login"))
            .send_form([("request", request.as_str()), ("csrf", csrf.as_str()), ("email", "alice@example.com"), ("password", "correct horse battery")])
            .unwrap();
        assert_eq!(answer.status(), 303);
        let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
        let param = |name: &str| location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        assert_eq!(param("state").as_deref(), Some(csrf_state.secret().as_str()));
        let code = param("code").unwrap();

        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request(&http)
            .unwrap();
        let id_token = tokens.id_token().expect("an ID token");
        let id_claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("ID token verifies from the JWKS");
        assert_eq!(id_claims.email().map(|e| e.as_str()), Some("alice@example.com"));
        assert!(id_claims.auth_time().is_some());
        assert!(tokens.refresh_token().is_some());

        // The access token, with a second standard library, from the discovered JWKS.
        let discovery: Value = agent.get(&format!("{issuer}/.well-known/openid-configuration")).call().unwrap().body_mut().read_json().unwrap();
        let jwks: Value = agent.get(discovery["jwks_uri"].as_str().unwrap()).call().unwrap().body_mut().read_json().unwrap();
        let access = verify_with_jwks(tokens.access_token().secret(), &jwks, &issuer, &issuer);
        assert_eq!(access["tenant"], "acme");
        assert_eq!(access["sub"].as_str(), Some(id_claims.subject().as_str()));
        let id = verify_with_jwks(&id_token.to_string(), &jwks, &issuer, "web");
        assert_eq!(id["tenant"], "acme");
        assert!(server.stop().success());
    }
}
