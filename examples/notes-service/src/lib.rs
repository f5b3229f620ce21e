//! A small multi-tenant notes API protected by `tessera-verify`, written to be copied.
//! Guards: every route sits behind `TesseraAuth` (a verified token, and the path's
//! `{tenant_id}` must be the token's tenant); every handler takes its tenant from the
//! `TenantContext`, never from the request, and every query filters on it, so another
//! tenant's note answers exactly like a missing one. `GET .../notes/report` calls the
//! reports service on the caller's behalf with a token exchanged at Tessera
//! ([`reports`]), never with the caller's own.

pub mod reports;
pub mod store;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::result::QueryResult;
use diesel::sqlite::SqliteConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_verify::{AuthError, ExchangeError, TenantContext, TesseraAuth};

pub use reports::{reports_app, ReportsClient, ReportsError};
pub use store::{open, OpenError, Pool};

/// At most this many notes per listing (no paging in this example).
const LIST_LIMIT: i64 = 100;
const MAX_TEXT_CHARS: usize = 10_000;

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    /// `TesseraAuth::new(verifier).tenant_path_param("tenant_id")`, optionally with
    /// `.report_denials(reporter)`.
    pub auth: TesseraAuth,
    /// How to reach the reports service; `None`: `GET .../notes/report` is a 404.
    pub reports: Option<ReportsClient>,
}

/// The whole route table; `main` and the tests both serve exactly this.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state.pool))
        .app_data(web::Data::new(state.reports))
        .app_data(
            web::JsonConfig::default()
                .limit(64 * 1024)
                .error_handler(|_, _| {
                    Error::Invalid("expected a JSON body {\"text\": \"…\"}").into()
                }),
        )
        .service(
            web::scope("/tenants/{tenant_id}/notes")
                .wrap(state.auth)
                .route("", web::get().to(get_notes))
                .route("", web::post().to(post_note))
                // Before `/{note_id}`, which would match it too.
                .route("/report", web::get().to(get_notes_report))
                .route("/{note_id}", web::get().to(get_note)),
        )
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

#[derive(Deserialize)]
struct NotePath {
    note_id: String,
}

#[derive(Serialize)]
struct NoteBody {
    id: String,
    text: String,
    author: String,
    created_at: DateTime<Utc>,
}

impl From<store::Note> for NoteBody {
    fn from(note: store::Note) -> Self {
        Self {
            id: note.id,
            text: note.text,
            author: note.author,
            created_at: note.created_at.and_utc(),
        }
    }
}

async fn get_notes(ctx: TenantContext, pool: web::Data<Pool>) -> Result<HttpResponse, Error> {
    let notes = db(&pool, move |conn| {
        store::list(conn, &ctx.tenant_id, LIST_LIMIT)
    })
    .await?;
    let items: Vec<NoteBody> = notes.into_iter().map(NoteBody::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

async fn post_note(
    ctx: TenantContext,
    pool: web::Data<Pool>,
    body: web::Json<NewNote>,
) -> Result<HttpResponse, Error> {
    let text = body.into_inner().text;
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::Invalid("text must be 1 to 10000 characters"));
    }
    let note = store::Note {
        tenant_id: ctx.tenant_id,
        id: uuid::Uuid::new_v4().to_string(),
        author: ctx.subject,
        text,
        created_at: Utc::now().naive_utc().trunc_subsecs(6),
    };
    let note = db(&pool, move |conn| store::insert(conn, &note).map(|()| note)).await?;
    Ok(HttpResponse::Created().json(NoteBody::from(note)))
}

async fn get_note(
    ctx: TenantContext,
    pool: web::Data<Pool>,
    path: web::Path<NotePath>,
) -> Result<HttpResponse, Error> {
    let note_id = path.into_inner().note_id;
    let note = db(&pool, move |conn| {
        store::find(conn, &ctx.tenant_id, &note_id)
    })
    .await?
    .ok_or(Error::NotFound)?;
    Ok(HttpResponse::Ok().json(NoteBody::from(note)))
}

/// The reports service's answer for the caller's tenant, fetched with a token Tessera
/// exchanged for the reports audience.
async fn get_notes_report(
    ctx: TenantContext,
    req: HttpRequest,
    reports: web::Data<Option<ReportsClient>>,
) -> Result<HttpResponse, Error> {
    let Some(reports) = reports.get_ref().clone() else {
        return Err(Error::NotFound);
    };
    // Behind `TesseraAuth` there is exactly one bearer token: the one `ctx` came from.
    let token = tessera_verify::bearer_token(&req)
        .ok_or(Error::Unauthorized)?
        .to_owned();
    let report = web::block(move || reports.fetch(&ctx, &token))
        .await
        .map_err(Error::internal)?
        .map_err(Error::from)?;
    Ok(HttpResponse::Ok().json(report))
}

impl From<ReportsError> for Error {
    /// A subject token Tessera no longer accepts (revoked, or the member removed) is
    /// the caller's problem, a refused delegation too; anything else is this service's
    /// configuration or the next hop's, and logged.
    fn from(e: ReportsError) -> Self {
        match &e {
            ReportsError::Exchange(refused) if refused.code() == Some("invalid_request") => {
                log::info!("reports: {e}");
                Self::Unauthorized
            }
            ReportsError::Status(403) => {
                log::info!("reports: {e}");
                Self::Forbidden
            }
            ReportsError::Exchange(ExchangeError::Refused { .. }) | ReportsError::Status(_) => {
                log::warn!("reports: {e}");
                Self::Upstream
            }
            _ => {
                log::error!("reports: {e}");
                Self::Upstream
            }
        }
    }
}

/// Runs a query on the blocking pool: diesel is synchronous, async workers must not wait.
async fn db<T: Send + 'static>(
    pool: &Pool,
    query: impl FnOnce(&mut SqliteConnection) -> QueryResult<T> + Send + 'static,
) -> Result<T, Error> {
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get().map_err(Error::internal)?;
        query(&mut conn).map_err(Error::internal)
    })
    .await
    .map_err(Error::internal)?
}

/// What a handler can fail with; the only place that chooses statuses and bodies.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Invalid(&'static str),
    /// The middleware's own 401, for a token only the next hop found out about.
    #[error("invalid token")]
    Unauthorized,
    /// The middleware's own 403.
    #[error("forbidden")]
    Forbidden,
    /// The reports service (or the exchange before it) did not answer as expected.
    #[error("bad gateway")]
    Upstream,
    #[error("internal error")]
    Internal,
}

impl Error {
    /// Logs the cause; the client sees only a generic 500.
    fn internal(cause: impl std::fmt::Display) -> Self {
        log::error!("notes: {cause}");
        Self::Internal
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Upstream => StatusCode::BAD_GATEWAY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, description) = match self {
            Self::NotFound => ("not_found", "not found"),
            Self::Invalid(why) => ("invalid_request", *why),
            Self::Unauthorized => return AuthError::Unauthorized.error_response(),
            Self::Forbidden => return AuthError::Forbidden.error_response(),
            Self::Upstream => ("bad_gateway", "the reports service is unavailable"),
            Self::Internal => ("server_error", "internal error"),
        };
        HttpResponse::build(self.status_code())
            .json(json!({ "error": code, "error_description": description }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use actix_web::http::header;
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use serde_json::Value;
    use tessera_verify::testing::TestIssuer;

    use super::*;

    const ACME: &str = "0b6f3c4e-1111-4222-8333-444455556666";
    const GLOBEX: &str = "7d1e2a3b-1111-4222-8333-444455556666";

    struct Fixture {
        issuer: TestIssuer,
        _dir: tempfile::TempDir,
        state: AppState,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(&format!(
            "sqlite://{}",
            dir.path().join("notes.db").display()
        ))
        .unwrap();
        let issuer = TestIssuer::new("https://id.example", "notes").unwrap();
        let auth = TesseraAuth::new(issuer.verifier().unwrap()).tenant_path_param("tenant_id");
        Fixture {
            issuer,
            _dir: dir,
            state: AppState {
                pool,
                auth,
                reports: None,
            },
        }
    }

    fn request(method: &str, path: &str, token: Option<&str>) -> TestRequest {
        let request = match method {
            "POST" => TestRequest::post(),
            _ => TestRequest::get(),
        }
        .uri(path);
        match token {
            Some(token) => {
                request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
            }
            None => request,
        }
    }

    macro_rules! send {
        ($app:expr, $request:expr) => {{
            let response = call_service(&$app, $request.to_request()).await;
            let status = response.status();
            let body = read_body(response).await;
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }};
    }

    #[actix_web::test]
    async fn notes_are_created_listed_and_read_in_the_callers_tenant() {
        let f = fixture();
        let app = init_service(app(f.state.clone())).await;
        let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
        let (status, created) = send!(
            app,
            request("POST", "/tenants/acme/notes", Some(&alice)).set_json(json!({"text": "hello"}))
        );
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["text"], "hello");
        assert_eq!(created["author"], "alice");
        let id = created["id"].as_str().unwrap();
        let (status, listed) = send!(
            app,
            request("GET", &format!("/tenants/{ACME}/notes"), Some(&alice))
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed["items"], json!([created]));
        let (status, read) = send!(
            app,
            request("GET", &format!("/tenants/acme/notes/{id}"), Some(&alice))
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read, created);
    }

    #[actix_web::test]
    async fn another_tenants_note_answers_like_a_missing_one() {
        let f = fixture();
        let app = init_service(app(f.state.clone())).await;
        let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
        let bob = f.issuer.token(GLOBEX, "globex", "bob").unwrap();
        let (_, created) = send!(
            app,
            request("POST", "/tenants/acme/notes", Some(&alice))
                .set_json(json!({"text": "acme only"}))
        );
        let id = created["id"].as_str().unwrap();
        let foreign = send!(
            app,
            request("GET", &format!("/tenants/globex/notes/{id}"), Some(&bob))
        );
        let missing = send!(
            app,
            request(
                "GET",
                &format!("/tenants/globex/notes/{}", uuid::Uuid::new_v4()),
                Some(&bob)
            )
        );
        assert_eq!(foreign.0, StatusCode::NOT_FOUND);
        assert_eq!(foreign, missing);
        assert_eq!(
            foreign.1,
            json!({"error": "not_found", "error_description": "not found"})
        );
        let (_, listed) = send!(app, request("GET", "/tenants/globex/notes", Some(&bob)));
        assert_eq!(listed["items"], json!([]));
    }

    #[actix_web::test]
    async fn naming_another_tenant_is_forbidden() {
        let f = fixture();
        let app = init_service(app(f.state.clone())).await;
        let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
        for (method, path) in [
            ("GET", "/tenants/globex/notes".to_owned()),
            ("GET", format!("/tenants/{GLOBEX}/notes/some-id")),
            ("POST", "/tenants/globex/notes".to_owned()),
        ] {
            let request = request(method, &path, Some(&alice)).set_json(json!({"text": "x"}));
            let (status, body) = send!(app, request);
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(
                body,
                json!({"error": "forbidden", "error_description": "forbidden"})
            );
        }
        let (_, listed) = send!(app, request("GET", "/tenants/acme/notes", Some(&alice)));
        assert_eq!(
            listed["items"],
            json!([]),
            "the forbidden POST wrote nothing"
        );
    }

    #[actix_web::test]
    async fn without_a_valid_token_nothing_is_served() {
        let f = fixture();
        let app = init_service(app(f.state.clone())).await;
        let stranger = TestIssuer::new("https://id.example", "notes").unwrap();
        let forged = stranger.token(ACME, "acme", "alice").unwrap();
        for token in [None, Some("not-a-token"), Some(forged.as_str())] {
            let (status, body) = send!(app, request("GET", "/tenants/acme/notes", token));
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(body["error"], "invalid_token");
        }
    }

    #[actix_web::test]
    async fn bad_bodies_get_a_generic_400() {
        let f = fixture();
        let app = init_service(app(f.state.clone())).await;
        let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
        let post = || request("POST", "/tenants/acme/notes", Some(&alice));
        let cases = [
            post()
                .set_payload("{\"text\": ")
                .insert_header((header::CONTENT_TYPE, "application/json")),
            post().set_json(json!({"txt": "typo"})),
            post().set_json(json!({"text": "   "})),
            post().set_json(json!({"text": "x".repeat(MAX_TEXT_CHARS + 1)})),
        ];
        for case in cases {
            let (status, body) = send!(app, case);
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["error"], "invalid_request");
            assert!(!body.to_string().contains("line"), "no parser text: {body}");
        }
    }

    /// Serves `factory` on a free loopback port; its base URL and a handle to stop it.
    macro_rules! serve {
        ($factory:expr) => {{
            let server = actix_web::HttpServer::new($factory)
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0))
                .unwrap();
            let url = format!("http://{}", server.addrs()[0]);
            let server = server.run();
            let handle = server.handle();
            actix_web::rt::spawn(server);
            (url, handle)
        }};
    }

    /// A stand-in for Tessera's token endpoint: checks the exchange form, verifies the
    /// subject token as a notes token and mints a reports token for the same tenant and
    /// subject with `act`, as Tessera does; or refuses with `refusal`.
    async fn fake_token_endpoint(
        form: web::Form<std::collections::HashMap<String, String>>,
        fake: web::Data<FakeTessera>,
    ) -> HttpResponse {
        if let Some(code) = fake.refusal {
            return HttpResponse::BadRequest()
                .json(json!({ "error": code, "error_description": "refused" }));
        }
        assert_eq!(
            form.get("grant_type").map(String::as_str),
            Some(tessera_verify::TOKEN_EXCHANGE_GRANT)
        );
        assert_eq!(form.get("audience").map(String::as_str), Some("reports"));
        let Ok(ctx) = fake.notes.verify(&form["subject_token"]) else {
            return HttpResponse::BadRequest().json(json!({ "error": "invalid_request" }));
        };
        let mut claims = fake
            .reports
            .claims(&ctx.tenant_id, &ctx.tenant, &ctx.subject);
        claims.insert("client_id".into(), json!("notes-svc"));
        claims.insert("act".into(), json!({ "sub": "notes-svc" }));
        HttpResponse::Ok().json(json!({
            "access_token": fake.reports.sign(&claims).unwrap(),
            "issued_token_type": tessera_verify::ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid",
        }))
    }

    struct FakeTessera {
        /// Verifies the subject tokens (the notes fixture's).
        notes: tessera_verify::Verifier,
        /// Signs the exchanged tokens (audience `reports`).
        reports: TestIssuer,
        refusal: Option<&'static str>,
    }

    /// A fake Tessera and a real reports service on loopback ports, and the notes
    /// fixture configured to use them.
    async fn with_reports(
        refusal: Option<&'static str>,
    ) -> (
        Fixture,
        actix_web::dev::ServerHandle,
        actix_web::dev::ServerHandle,
    ) {
        let mut f = fixture();
        let reports = TestIssuer::new("https://id.example", reports::AUDIENCE).unwrap();
        let reports_verifier = reports.verifier().unwrap();
        let fake = web::Data::new(FakeTessera {
            notes: f.issuer.verifier().unwrap(),
            reports,
            refusal,
        });
        let (tessera, tessera_handle) = serve!(move || App::new()
            .app_data(fake.clone())
            .route("/token", web::post().to(fake_token_endpoint)));
        let (reports_url, reports_handle) =
            serve!(move || reports_app(TesseraAuth::new(reports_verifier.clone())));
        let exchanger =
            tessera_verify::Exchanger::for_issuer(&tessera, "notes-svc", "s3cret").unwrap();
        f.state.reports = Some(ReportsClient::new(exchanger, &reports_url));
        (f, tessera_handle, reports_handle)
    }

    #[actix_web::test]
    async fn the_report_route_calls_the_reports_service_with_an_exchanged_token() {
        let (f, tessera, reports) = with_reports(None).await;
        let app = init_service(app(f.state.clone())).await;
        let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
        let (status, body) = send!(
            app,
            request("GET", "/tenants/acme/notes/report", Some(&alice))
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["tenant_id"], ACME);
        assert_eq!(body["subject"], "alice");
        assert_eq!(body["actors"], json!(["notes-svc"]));
        // Another tenant in the path never reaches the exchange.
        let (status, body) = send!(
            app,
            request(
                "GET",
                &format!("/tenants/{GLOBEX}/notes/report"),
                Some(&alice)
            )
        );
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            json!({"error": "forbidden", "error_description": "forbidden"})
        );
        tessera.stop(false).await;
        reports.stop(false).await;
    }

    #[actix_web::test]
    async fn a_refused_exchange_or_a_missing_configuration_is_answered_cleanly() {
        let f = fixture();
        let app = init_service(app(f.state.clone())).await;
        let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
        let (status, body) = send!(
            app,
            request("GET", "/tenants/acme/notes/report", Some(&alice))
        );
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"error": "not_found", "error_description": "not found"})
        );

        for (refusal, expected, error) in [
            ("invalid_request", StatusCode::UNAUTHORIZED, "invalid_token"),
            ("invalid_target", StatusCode::BAD_GATEWAY, "bad_gateway"),
        ] {
            let (f, tessera, reports) = with_reports(Some(refusal)).await;
            let app = init_service(super::app(f.state.clone())).await;
            let alice = f.issuer.token(ACME, "acme", "alice").unwrap();
            let (status, body) = send!(
                app,
                request("GET", "/tenants/acme/notes/report", Some(&alice))
            );
            assert_eq!(
                (status, body["error"].as_str()),
                (expected, Some(error)),
                "{refusal}"
            );
            assert!(!body.to_string().contains(refusal), "{body}");
            tessera.stop(false).await;
            reports.stop(false).await;
        }
    }

    #[test]
    fn open_needs_a_sqlite_url() {
        assert!(matches!(open("postgres://x"), Err(OpenError::Url)));
        assert!(matches!(open("sqlite://"), Err(OpenError::Url)));
    }
}
