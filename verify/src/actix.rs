//! actix-web integration. [`TesseraAuth`] verifies the bearer token of every request it
//! wraps, compares any tenant the request names (a declared path parameter, the
//! `X-Tenant-ID` header) with the token's tenant, and hands handlers a [`TenantContext`]
//! through the extractor. Guards: no handler behind it runs without a verified token;
//! a request naming another tenant is a 403 whose body never echoes that tenant; every
//! token failure is the same 401; JWKS fetches never run on an async worker.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{header, StatusCode};
use actix_web::rt::task::spawn_blocking;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::context::TenantContext;
use crate::error::VerifyError;
use crate::jwks::Lookup;
use crate::report::{Denial, DenialReporter};
use crate::verifier::Verifier;

/// A request header naming a tenant; when present it must be the token's.
pub const TENANT_HEADER: &str = "X-Tenant-ID";
const REQUEST_ID_HEADER: &str = "X-Request-ID";

/// What the client is told. Deliberately coarse: the reason is only logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401 `invalid_token`: missing, malformed, forged, expired or foreign token.
    #[error("invalid token")]
    Unauthorized,
    /// 403 `forbidden`: the request names a tenant that is not the token's.
    #[error("forbidden")]
    Forbidden,
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unauthorized => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({
                    "error": "invalid_token",
                    "error_description": "The access token is missing, invalid or expired.",
                })),
            Self::Forbidden => HttpResponse::Forbidden()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({ "error": "forbidden", "error_description": "forbidden" })),
        }
    }
}

/// The middleware's configuration; `App::wrap`/`Scope::wrap` it.
///
/// Path parameters exist only once routing reached them: wrap the scope or resource
/// whose pattern holds the tenant parameter (`web::scope("/tenants/{tenant_id}")`).
/// Where the middleware wraps the whole app, the [`TenantContext`] extractor still
/// compares the path parameter before the handler runs.
#[derive(Clone)]
pub struct TesseraAuth {
    verifier: Arc<Verifier>,
    policy: Arc<Policy>,
}

struct Policy {
    tenant_param: Option<String>,
    reporter: Option<DenialReporter>,
    /// The longest `act` chain accepted; `Some(0)` refuses every delegated token.
    max_delegation: Option<usize>,
}

impl TesseraAuth {
    pub fn new(verifier: impl Into<Arc<Verifier>>) -> Self {
        Self {
            verifier: verifier.into(),
            policy: Arc::new(Policy {
                tenant_param: None,
                reporter: None,
                max_delegation: None,
            }),
        }
    }

    /// Declares the path match parameter (e.g. `tenant_id` of `/tenants/{tenant_id}`)
    /// that names a tenant, by id or slug; it must be the token's tenant.
    pub fn tenant_path_param(self, name: &str) -> Self {
        self.with_policy(|p| p.tenant_param = Some(name.to_owned()))
    }

    /// Reports each 403 to Tessera's audit log as `tenant.cross_access_denied`.
    pub fn report_denials(self, reporter: DenialReporter) -> Self {
        self.with_policy(|p| p.reporter = Some(reporter))
    }

    /// Refuses (403) tokens obtained by token exchange: the route serves only callers
    /// holding the subject's own token.
    pub fn refuse_delegated(self) -> Self {
        self.max_delegation_depth(0)
    }

    /// Refuses (403) tokens exchanged more than `depth` times (the length of their
    /// `act` chain).
    pub fn max_delegation_depth(self, depth: usize) -> Self {
        self.with_policy(|p| p.max_delegation = Some(depth))
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    fn with_policy(self, change: impl FnOnce(&mut Policy)) -> Self {
        let mut policy = Policy {
            tenant_param: self.policy.tenant_param.clone(),
            reporter: self.policy.reporter.clone(),
            max_delegation: self.policy.max_delegation,
        };
        change(&mut policy);
        Self {
            verifier: self.verifier,
            policy: Arc::new(policy),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for TesseraAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = TesseraAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(TesseraAuthMiddleware {
            service: Rc::new(service),
            auth: self.clone(),
        }))
    }
}

pub struct TesseraAuthMiddleware<S> {
    service: Rc<S>,
    auth: TesseraAuth,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for TesseraAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let auth = self.auth.clone();
        Box::pin(async move {
            let checked = match authenticate(&auth.verifier, req.request()).await {
                Ok(context) => auth.policy.check(req.request(), &context).map(|()| context),
                Err(e) => Err(e),
            };
            match checked {
                Ok(context) => {
                    req.extensions_mut().insert(Verified {
                        context,
                        policy: Arc::clone(&auth.policy),
                    });
                    service
                        .call(req)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(e) => Ok(req.error_response(e).map_into_right_body()),
            }
        })
    }
}

/// What the middleware leaves for the extractor.
struct Verified {
    context: TenantContext,
    policy: Arc<Policy>,
}

/// A handler argument; only routes behind [`TesseraAuth`] can produce it.
impl FromRequest for TenantContext {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = req.extensions();
        let result = match extensions.get::<Verified>() {
            // Routing is complete here, so the path parameter is known even when the
            // middleware wraps the whole app.
            Some(verified) => verified
                .policy
                .check(req, &verified.context)
                .map(|()| verified.context.clone()),
            None => {
                log::error!("TenantContext extracted on a route not wrapped by TesseraAuth");
                Err(AuthError::Unauthorized)
            }
        };
        ready(result.map_err(Into::into))
    }
}

async fn authenticate(verifier: &Verifier, req: &HttpRequest) -> Result<TenantContext, AuthError> {
    let Some(token) = bearer_token(req) else {
        log::debug!("request without a bearer token refused");
        return Err(AuthError::Unauthorized);
    };
    verifier.verify_async(token).await.map_err(|e| {
        match e {
            VerifyError::JwksUnavailable => log::warn!("access token not verifiable: {e}"),
            _ => log::debug!("access token refused: {e}"),
        }
        AuthError::Unauthorized
    })
}

/// The token of the one `Authorization: Bearer` header (RFC 6750 2.1), exactly as the
/// middleware reads it: for a handler that passes the caller's token on, e.g. to
/// [`crate::Exchanger::exchange_async`].
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let value = values.next()?.to_str().ok()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Policy {
    fn check(&self, req: &HttpRequest, context: &TenantContext) -> Result<(), AuthError> {
        if self
            .max_delegation
            .is_some_and(|max| context.delegation_depth() > max)
        {
            log::info!(
                "delegated token refused (depth {})",
                context.delegation_depth()
            );
            return Err(AuthError::Forbidden);
        }
        let Some((selector, requested)) = self.mismatch(req, context) else {
            return Ok(());
        };
        log::info!("cross-tenant request denied ({selector})");
        if let Some(reporter) = &self.reporter {
            let mut denial = Denial::new(context, selector, &requested, req.method().as_str());
            denial.route = req.match_pattern();
            denial.request_id = req
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .map(str::to_owned);
            denial.ip = req.peer_addr().map(|addr| addr.ip());
            reporter.report(denial);
        }
        Err(AuthError::Forbidden)
    }

    /// The first tenant the request names that is not the token's, with how it was named.
    fn mismatch(&self, req: &HttpRequest, context: &TenantContext) -> Option<(String, String)> {
        if let Some(param) = &self.tenant_param {
            if let Some(value) = req.match_info().get(param) {
                if !context.is_tenant(value) {
                    return Some((format!("path:{param}"), value.to_owned()));
                }
            }
        }
        req.headers()
            .get_all(TENANT_HEADER)
            .find(|value| !value.to_str().is_ok_and(|v| context.is_tenant(v.trim())))
            .map(|value| {
                let requested = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (format!("header:{TENANT_HEADER}"), requested)
            })
    }
}

impl Verifier {
    /// [`Verifier::verify`] for async code on an actix (tokio) runtime: a JWKS fetch runs
    /// on the blocking pool, and a stale key set is refreshed in the background while
    /// the cached keys keep verifying.
    pub async fn verify_async(&self, token: &str) -> Result<TenantContext, VerifyError> {
        let parsed = self.parse(token)?;
        let jwks = self.jwks();
        let key = match jwks.lookup(&parsed.kid, true) {
            Lookup::Found { key, stale } => {
                if stale && jwks.claim_background_refresh() {
                    let jwks = jwks.clone();
                    drop(spawn_blocking(move || jwks.background_refresh()));
                }
                key
            }
            Lookup::Fetch(reason) => {
                let jwks = jwks.clone();
                spawn_blocking(move || jwks.fetch_for(reason))
                    .await
                    .map_err(|_| VerifyError::JwksUnavailable)?;
                self.key_after_fetch(&parsed.kid)?
            }
            Lookup::Unknown => return Err(VerifyError::UnknownKey),
            Lookup::Unavailable => return Err(VerifyError::JwksUnavailable),
        };
        self.check(&parsed, &key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::Mutex;
    use std::time::Duration;

    use actix_web::{test, web, App, HttpResponse};
    use serde_json::{json, Value};

    use super::*;
    use crate::report::{DenialReporter, ReporterConfig};
    use crate::test_support::{jwks_server, wait_until, Reply, StubServer};
    use crate::testing::TestIssuer;
    use crate::JwksClient;

    const ISS: &str = "https://id.example";
    const AUD: &str = "notes";
    const ACME: &str = "0b6f3c4e-1111-4222-8333-444455556666";
    const GLOBEX: &str = "7d1e2a3b-1111-4222-8333-444455556666";

    async fn whoami(ctx: TenantContext) -> HttpResponse {
        HttpResponse::Ok().json(json!({ "tenant_id": ctx.tenant_id, "subject": ctx.subject }))
    }

    fn scoped(
        auth: TesseraAuth,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        App::new().service(
            web::scope("/tenants/{tenant_id}")
                .wrap(auth)
                .route("/whoami", web::get().to(whoami)),
        )
    }

    fn issuer() -> TestIssuer {
        TestIssuer::new(ISS, AUD).unwrap()
    }

    fn auth(issuer: &TestIssuer) -> TesseraAuth {
        TesseraAuth::new(issuer.verifier().unwrap()).tenant_path_param("tenant_id")
    }

    fn get(path: &str, token: Option<&str>) -> test::TestRequest {
        let request = test::TestRequest::get().uri(path);
        match token {
            Some(token) => {
                request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            }
            None => request,
        }
    }

    async fn call<S, B>(app: &S, request: test::TestRequest) -> (StatusCode, Option<String>, Value)
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let response = test::call_service(app, request.to_request()).await;
        let status = response.status();
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = test::read_body(response).await;
        (status, challenge, serde_json::from_slice(&body).unwrap())
    }

    #[actix_web::test]
    async fn missing_or_invalid_tokens_get_one_generic_401() {
        let issuer = issuer();
        let app = test::init_service(scoped(auth(&issuer))).await;
        let mut expired = issuer.claims(ACME, "acme", "user-1");
        expired.insert("exp".into(), json!(1_000_000));
        let mut foreign = issuer.claims(ACME, "acme", "user-1");
        foreign.insert("aud".into(), json!("billing"));
        let path = format!("/tenants/{ACME}/whoami");
        let requests = [
            get(&path, None),
            get(&path, Some("garbage")),
            get(&path, Some(&issuer.sign(&expired).unwrap())),
            get(&path, Some(&issuer.sign(&foreign).unwrap())),
            get(
                &path,
                Some(
                    &TestIssuer::new(ISS, AUD)
                        .unwrap()
                        .token(ACME, "acme", "u")
                        .unwrap(),
                ),
            ),
            test::TestRequest::get()
                .uri(&path)
                .insert_header((header::AUTHORIZATION, "Basic dXNlcjpwYXNz")),
        ];
        for request in requests {
            let (status, challenge, body) = call(&app, request).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                challenge.as_deref(),
                Some(r#"Bearer error="invalid_token""#)
            );
            assert_eq!(
                body,
                json!({"error": "invalid_token",
                       "error_description": "The access token is missing, invalid or expired."})
            );
        }
    }

    #[actix_web::test]
    async fn the_own_tenant_by_id_or_slug_passes() {
        let issuer = issuer();
        let app = test::init_service(scoped(auth(&issuer))).await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        for tenant in [ACME, "acme", &ACME.to_uppercase()] {
            let request = get(&format!("/tenants/{tenant}/whoami"), Some(&token))
                .insert_header((TENANT_HEADER, "acme"));
            let (status, _, body) = call(&app, request).await;
            assert_eq!(status, StatusCode::OK, "{tenant}");
            assert_eq!(body, json!({"tenant_id": ACME, "subject": "user-1"}));
        }
    }

    #[actix_web::test]
    async fn routes_can_refuse_delegated_tokens_or_cap_their_depth() {
        async fn actors(ctx: TenantContext) -> HttpResponse {
            HttpResponse::Ok()
                .json(json!({ "actors": ctx.actors, "delegated": ctx.is_delegated() }))
        }
        let issuer = issuer();
        let verifier = Arc::new(issuer.verifier().unwrap());
        let app = test::init_service(
            App::new()
                .service(
                    web::scope("/any")
                        .wrap(TesseraAuth::new(Arc::clone(&verifier)))
                        .route("", web::get().to(actors)),
                )
                .service(
                    web::scope("/direct")
                        .wrap(TesseraAuth::new(Arc::clone(&verifier)).refuse_delegated())
                        .route("", web::get().to(actors)),
                )
                .service(
                    web::scope("/one-hop")
                        .wrap(TesseraAuth::new(Arc::clone(&verifier)).max_delegation_depth(1))
                        .route("", web::get().to(actors)),
                ),
        )
        .await;
        let direct = issuer.token(ACME, "acme", "user-1").unwrap();
        let mut claims = issuer.claims(ACME, "acme", "user-1");
        claims.insert("act".into(), json!({ "sub": "notes" }));
        let one = issuer.sign(&claims).unwrap();
        claims.insert(
            "act".into(),
            json!({ "sub": "reports", "act": { "sub": "notes" } }),
        );
        let two = issuer.sign(&claims).unwrap();

        let (status, _, body) = call(&app, get("/any", Some(&two))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({ "actors": ["reports", "notes"], "delegated": true })
        );
        let (_, _, body) = call(&app, get("/any", Some(&direct))).await;
        assert_eq!(body, json!({ "actors": [], "delegated": false }));

        for (path, token, expected) in [
            ("/direct", &direct, StatusCode::OK),
            ("/direct", &one, StatusCode::FORBIDDEN),
            ("/one-hop", &one, StatusCode::OK),
            ("/one-hop", &two, StatusCode::FORBIDDEN),
        ] {
            let (status, _, body) = call(&app, get(path, Some(token))).await;
            assert_eq!(status, expected, "{path}");
            if expected == StatusCode::FORBIDDEN {
                assert_eq!(
                    body,
                    json!({ "error": "forbidden", "error_description": "forbidden" })
                );
            }
        }
    }

    #[actix_web::test]
    async fn another_tenant_in_path_or_header_is_a_403_that_echoes_nothing() {
        let issuer = issuer();
        let app = test::init_service(scoped(auth(&issuer))).await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        let requests = [
            get(&format!("/tenants/{GLOBEX}/whoami"), Some(&token)),
            get("/tenants/globex/whoami", Some(&token)),
            get(&format!("/tenants/{ACME}/whoami"), Some(&token))
                .insert_header((TENANT_HEADER, "globex")),
            get(&format!("/tenants/{ACME}/whoami"), Some(&token))
                .insert_header((TENANT_HEADER, "")),
        ];
        for request in requests {
            let (status, challenge, body) = call(&app, request).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
            assert_eq!(challenge, None);
            assert_eq!(
                body,
                json!({"error": "forbidden", "error_description": "forbidden"})
            );
        }
    }

    #[actix_web::test]
    async fn wrapping_the_whole_app_still_checks_the_path_before_the_handler() {
        let issuer = issuer();
        let app = test::init_service(
            App::new()
                .wrap(auth(&issuer))
                .route("/tenants/{tenant_id}/whoami", web::get().to(whoami)),
        )
        .await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        let (status, _, _) = call(&app, get("/tenants/acme/whoami", Some(&token))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, body) = call(&app, get("/tenants/globex/whoami", Some(&token))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body["error"], "forbidden");
    }

    #[actix_web::test]
    async fn the_extractor_outside_the_middleware_refuses() {
        let app = test::init_service(App::new().route("/whoami", web::get().to(whoami))).await;
        let (status, _, _) = call(&app, get("/whoami", None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[actix_web::test]
    async fn keys_are_fetched_from_the_issuer_off_the_async_workers() {
        let issuer = issuer();
        let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 300);
        let jwks = JwksClient::new(format!("{}/.well-known/jwks.json", server.url())).unwrap();
        let auth = TesseraAuth::new(Verifier::new(jwks, ISS, AUD)).tenant_path_param("tenant_id");
        let app = test::init_service(scoped(auth)).await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        for _ in 0..3 {
            let (status, _, _) = call(&app, get("/tenants/acme/whoami", Some(&token))).await;
            assert_eq!(status, StatusCode::OK);
        }
        let stranger = TestIssuer::with_key(ISS, AUD, crate::Algorithm::Es256, "other").unwrap();
        for _ in 0..10 {
            let token = stranger.token(ACME, "acme", "user-1").unwrap();
            let (status, _, _) = call(&app, get("/tenants/acme/whoami", Some(&token))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            server.count("/.well-known/jwks.json"),
            2,
            "initial fetch + one unknown-kid refetch"
        );
    }

    #[actix_web::test]
    async fn a_stale_key_set_is_refreshed_in_the_background() {
        let issuer = issuer();
        let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 0);
        let config = crate::JwksConfig {
            min_ttl: Duration::ZERO,
            ..crate::JwksConfig::default()
        };
        let url = format!("{}/.well-known/jwks.json", server.url());
        let jwks = JwksClient::with_config(url, config).unwrap();
        let auth = TesseraAuth::new(Verifier::new(jwks, ISS, AUD));
        let app = test::init_service(scoped(auth)).await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        let (status, _, _) = call(&app, get("/tenants/acme/whoami", Some(&token))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(server.count("/.well-known/jwks.json"), 1);
        // Served from the stale set at once; the refresh happens off the request path.
        let (status, _, _) = call(&app, get("/tenants/acme/whoami", Some(&token))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(wait_until(Duration::from_secs(5), || {
            server.count("/.well-known/jwks.json") == 2
        }));
    }

    #[actix_web::test]
    async fn denials_are_reported_to_the_audit_log() {
        let client_token = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
        let ingestion = StubServer::start(move |request| match request.path.as_str() {
            "/token" => Reply::new(
                200,
                json!({"access_token": client_token, "expires_in": 300}).to_string(),
            ),
            _ => Reply::new(202, "{}"),
        });
        let reporter = DenialReporter::start(ReporterConfig::new(
            &ingestion.url(),
            "notes-service",
            "secret",
        ))
        .unwrap();
        let issuer = issuer();
        let app = test::init_service(scoped(auth(&issuer).report_denials(reporter.clone()))).await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        let (status, _, _) =
            call(&app, get(&format!("/tenants/{ACME}/whoami"), Some(&token))).await;
        assert_eq!(status, StatusCode::OK);
        let denied = [
            get("/tenants/globex/whoami", Some(&token)),
            get("/tenants/acme/whoami", Some(&token))
                .insert_header((TENANT_HEADER, GLOBEX))
                .insert_header((REQUEST_ID_HEADER, "req-42")),
        ];
        for request in denied {
            let (status, _, _) = call(&app, request).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        assert!(wait_until(Duration::from_secs(5), || reporter.stats().sent == 2));
        assert_eq!(ingestion.count("/token"), 1);
        let events: Vec<Value> = ingestion
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v1/audit/events")
            .flat_map(|r| r.json().as_array().unwrap().clone())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["action"], "tenant.cross_access_denied");
        assert_eq!(events[0]["outcome"], "denied");
        assert_eq!(events[0]["actor"], json!({"type": "user", "id": "user-1"}));
        assert_eq!(
            events[0]["details"],
            json!({"requested_tenant": "globex", "selector": "path:tenant_id",
                   "method": "GET", "route": "/tenants/{tenant_id}/whoami"})
        );
        assert_eq!(events[1]["details"]["requested_tenant"], GLOBEX);
        assert_eq!(events[1]["details"]["selector"], "header:X-Tenant-ID");
        assert_eq!(events[1]["request_id"], "req-42");
        assert!(events.iter().all(|e| e.get("tenant_id").is_none()));
    }

    #[actix_web::test]
    async fn an_unreachable_audit_endpoint_never_fails_the_request() {
        let mut gone = StubServer::start(|_| Reply::new(500, "{}"));
        let url = gone.url();
        gone.stop();
        let reporter =
            DenialReporter::start(ReporterConfig::new(&url, "notes-service", "secret")).unwrap();
        let issuer = issuer();
        let app = test::init_service(scoped(auth(&issuer).report_denials(reporter.clone()))).await;
        let token = issuer.token(ACME, "acme", "user-1").unwrap();
        let (status, _, _) = call(&app, get("/tenants/globex/whoami", Some(&token))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(wait_until(Duration::from_secs(5), || reporter
            .stats()
            .failed
            == 1));
    }
}
