//! Server-rendered pages (askama; every value is HTML-escaped) and the headers every
//! page carries: no caching, no framing, no referrer, and a CSP that allows only
//! Tessera's own forms (plus the client's origin, where a form's answer redirects).

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use askama::Template;

use crate::tenants::Tenant;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
    /// The script's nonce, when passkeys can sign in.
    pub nonce: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "tenant_picker.html")]
pub struct PickerPage<'a> {
    pub client_name: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    pub tenants: &'a [Tenant],
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage<'a> {
    pub client_name: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    pub error: Option<&'a str>,
    /// The script's nonce, when the user has a passkey to offer.
    pub nonce: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "enrol.html")]
pub struct EnrolPage<'a> {
    pub client_name: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
    /// Where the code goes: `/login/enrol` or `/account/totp/confirm`.
    pub action: &'a str,
    pub uri: &'a str,
    /// Rendered by `mfa::totp::qr_svg` from the URI alone: no user text.
    pub qr_svg: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub struct RecoveryCodesPage<'a> {
    pub codes: &'a [String],
    /// Where "I have saved them" goes: a form post with `request` and `csrf`, or a
    /// link when `request` is empty.
    pub action: &'a str,
    pub request: &'a str,
    pub csrf: &'a str,
}

/// What `/account` shows of the signed-in user.
pub struct AccountView {
    pub email: String,
    pub totp: bool,
    pub recovery_codes: usize,
    /// Authenticated recently enough (with the second factor, if any) to change it.
    pub fresh: bool,
    pub passkeys: Vec<crate::mfa::webauthn::Credential>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    /// `None`: nobody is signed in (the sign-in form).
    pub user: Option<AccountView>,
    pub csrf: &'a str,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The script's nonce, when passkeys can be added (a fresh session, a relying party).
    pub nonce: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub csrf: &'a str,
    pub client_id: Option<&'a str>,
    pub post_logout_redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// The CSP source for where a redirect URI points: its origin for http(s), its scheme
/// for an app's own scheme.
pub fn csp_source(redirect_uri: &str) -> Option<String> {
    let url = url::Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => Some(url.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

/// Renders a page with the security headers. `form_target` is an extra `form-action`
/// source (browsers apply `form-action` to the redirect a form submission leads to).
pub fn render(status: StatusCode, page: &impl Template, form_target: Option<&str>) -> HttpResponse {
    render_with_script(status, page, form_target, None)
}

/// [`render`] for a page that loads Tessera's one script (`/assets/webauthn.js`), under
/// `nonce`: the CSP allows that script element only, and requests to Tessera itself.
pub fn render_with_script(
    status: StatusCode,
    page: &impl Template,
    form_target: Option<&str>,
    nonce: Option<&str>,
) -> HttpResponse {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            log::error!("page rendering failed: {e}");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let form_action = match form_target {
        Some(target) => format!("'self' {target}"),
        None => "'self'".to_owned(),
    };
    let mut response = HttpResponse::build(status);
    security_headers(&mut response, &form_action);
    if let Some(nonce) = nonce {
        response.insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "{}; script-src 'nonce-{nonce}'; connect-src 'self'",
                csp(&form_action)
            ),
        ));
    }
    response.content_type("text/html; charset=utf-8").body(body)
}

fn csp(form_action: &str) -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// A fresh script nonce (128 random bits).
pub fn nonce() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `Cache-Control: no-store`, CSP with `frame-ancestors 'none'`, `X-Frame-Options: DENY`,
/// `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`.
pub fn security_headers(response: &mut actix_web::HttpResponseBuilder, form_action: &str) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, csp(form_action)))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
}

/// A page that only says something (errors before the client is trusted, logout).
pub fn message(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    render(status, &MessagePage { title, message }, None)
}

/// `GET /assets/webauthn.js`: the pages' one script, embedded in the binary.
pub async fn get_webauthn_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(include_str!("../../assets/webauthn.js"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_escaped() {
        let html = LoginPage {
            client_name: "<script>alert(1)</script>",
            request: "r",
            csrf: "c",
            email: "\"><img src=x onerror=alert(1)>",
            error: None,
            nonce: None,
        }
        .render()
        .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&#60;script&#62;"), "{html}");
    }

    #[test]
    fn csp_sources() {
        assert_eq!(
            csp_source("https://app.example.com:8443/cb?x=1").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(
            csp_source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
    }
}
