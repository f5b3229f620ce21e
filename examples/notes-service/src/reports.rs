//! The "reports" example service, the next hop of the notes service, and the client the
//! notes service calls it with. Guards: the reports route accepts only tokens meant
//! for it (audience `reports`) exchanged at most once, and only for the tenant they
//! name; the notes side never forwards its caller's token, only one Tessera exchanged
//! for the reports audience, and it asks for the tenant of its own verified context.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpResponse};
use serde_json::{json, Value};
use tessera_verify::{ExchangeError, Exchanger, TenantContext, TesseraAuth};

/// The audience the reports service verifies, and the one the notes service asks for.
pub const AUDIENCE: &str = "reports";
/// A report answer larger than this is refused.
const MAX_REPORT_BYTES: u64 = 256 * 1024;

/// The reports service's route table; its binary and the tests serve exactly this.
/// `auth` is `TesseraAuth::new(verifier)` for a verifier of audience [`AUDIENCE`]; the
/// tenant path check and the one-exchange limit are added here, so they cannot be
/// forgotten.
pub fn reports_app(
    auth: TesseraAuth,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let auth = auth.tenant_path_param("tenant_id").max_delegation_depth(1);
    App::new().service(
        web::scope("/tenants/{tenant_id}")
            .wrap(auth)
            .route("/report", web::get().to(get_report)),
    )
}

/// Who the report is for, as the verified token says: the tenant, the subject, and
/// who acts for the subject.
async fn get_report(ctx: TenantContext) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "tenant_id": ctx.tenant_id,
        "tenant": ctx.tenant,
        "subject": ctx.subject,
        "client_id": ctx.client_id,
        "actors": ctx.actors,
        "scope": ctx.scope,
    }))
}

/// How the notes service reaches the reports service: an exchange at Tessera, then one
/// call with the new token. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReportsClient {
    exchanger: Exchanger,
    base_url: String,
    agent: ureq::Agent,
}

/// Why no report came back; each is logged, the caller sees a generic answer.
#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    /// Tessera would not exchange the caller's token.
    #[error("{0}")]
    Exchange(#[from] ExchangeError),
    #[error("reports service request failed: {0}")]
    Transport(#[from] ureq::Error),
    #[error("reports service answered HTTP {0}")]
    Status(u16),
    #[error("reports service answered something other than JSON")]
    Invalid,
}

impl ReportsClient {
    /// `base_url`: the reports service, e.g. `http://127.0.0.1:8091`.
    pub fn new(exchanger: Exchanger, base_url: &str) -> Self {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(exchanger.timeout()))
                .http_status_as_error(false)
                .build(),
        );
        Self {
            exchanger,
            base_url: base_url.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// The report of `ctx`'s tenant, fetched on behalf of the holder of `caller_token`
    /// (the token `ctx` was verified from). Blocks: run it on the blocking pool.
    pub fn fetch(&self, ctx: &TenantContext, caller_token: &str) -> Result<Value, ReportsError> {
        let exchanged = self.exchanger.exchange(caller_token, AUDIENCE, None)?;
        // The token's own tenant id (a UUID), never the tenant as the request named it.
        let url = format!("{}/tenants/{}/report", self.base_url, ctx.tenant_id);
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .header(
                "Authorization",
                &format!("Bearer {}", exchanged.access_token),
            )
            .call()?;
        match response.status().as_u16() {
            200 => response
                .body_mut()
                .with_config()
                .limit(MAX_REPORT_BYTES)
                .read_json()
                .map_err(|_| ReportsError::Invalid),
            status => Err(ReportsError::Status(status)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use actix_web::http::{header, StatusCode};
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use tessera_verify::testing::TestIssuer;

    use super::*;

    const ACME: &str = "0b6f3c4e-1111-4222-8333-444455556666";
    const GLOBEX: &str = "7d1e2a3b-1111-4222-8333-444455556666";

    fn issuer() -> TestIssuer {
        TestIssuer::new("https://id.example", AUDIENCE).unwrap()
    }

    fn token(issuer: &TestIssuer, act: Option<Value>) -> String {
        let mut claims = issuer.claims(ACME, "acme", "alice");
        claims.insert("client_id".into(), json!("notes-svc"));
        if let Some(act) = act {
            claims.insert("act".into(), act);
        }
        issuer.sign(&claims).unwrap()
    }

    async fn get(issuer: &TestIssuer, path: &str, token: &str) -> (StatusCode, Value) {
        let app = init_service(reports_app(TesseraAuth::new(issuer.verifier().unwrap()))).await;
        let request = TestRequest::get()
            .uri(path)
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            .to_request();
        let response = call_service(&app, request).await;
        let status = response.status();
        let body = read_body(response).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[actix_web::test]
    async fn the_report_names_the_tokens_tenant_subject_and_actors() {
        let issuer = issuer();
        let exchanged = token(&issuer, Some(json!({ "sub": "notes-svc" })));
        for tenant in ["acme", ACME] {
            let (status, body) =
                get(&issuer, &format!("/tenants/{tenant}/report"), &exchanged).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                body,
                json!({
                    "tenant_id": ACME, "tenant": "acme", "subject": "alice",
                    "client_id": "notes-svc", "actors": ["notes-svc"], "scope": ["openid"],
                })
            );
        }
    }

    #[actix_web::test]
    async fn another_tenant_a_longer_chain_or_another_audience_is_refused() {
        let issuer = issuer();
        let exchanged = token(&issuer, Some(json!({ "sub": "notes-svc" })));
        for path in [
            format!("/tenants/{GLOBEX}/report"),
            "/tenants/globex/report".to_owned(),
        ] {
            let (status, body) = get(&issuer, &path, &exchanged).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(
                body,
                json!({ "error": "forbidden", "error_description": "forbidden" })
            );
        }
        let twice = token(
            &issuer,
            Some(json!({ "sub": "notes-svc", "act": { "sub": "gateway" } })),
        );
        let (status, _) = get(&issuer, "/tenants/acme/report", &twice).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // A token for another audience (the notes service's own) is not one for reports.
        let mut claims = issuer.claims(ACME, "acme", "alice");
        claims.insert("aud".into(), json!("http://127.0.0.1:8080"));
        let for_notes = issuer.sign(&claims).unwrap();
        let (status, body) = get(&issuer, "/tenants/acme/report", &for_notes).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_token");
    }
}
