//! `notes-service`: serves the notes API, trusting access tokens of one Tessera issuer.
//!
//! Environment: `NOTES_DATABASE_URL` (default `sqlite://notes.db`), `NOTES_LISTEN`
//! (default `127.0.0.1:8090`), `TESSERA_ISSUER` (default `http://127.0.0.1:8080`),
//! `TESSERA_AUDIENCE` (default: the issuer, as Tessera's own default), and optionally
//! `NOTES_CLIENT_ID` + `NOTES_CLIENT_SECRET`: a Tessera client allowed the
//! `client_credentials` grant with scope `audit:write`, used to report cross-tenant
//! denials to Tessera's audit log. With `REPORTS_URL` too (the `reports` binary, e.g.
//! `http://127.0.0.1:8091`), `GET /tenants/{tenant_id}/notes/report` exchanges the
//! caller's token at Tessera for one of audience `reports` and calls that service with
//! it; the client then also needs the `token_exchange` grant and the exchange audience
//! `reports`. Without `REPORTS_URL` that route answers 404.

use std::process::ExitCode;

use actix_web::{web, HttpServer};
use notes_service::{AppState, ReportsClient};
use tessera_verify::report::{DenialReporter, ReporterConfig};
use tessera_verify::{Exchanger, TesseraAuth, Verifier};

struct Config {
    database_url: String,
    listen: String,
    issuer: String,
    audience: String,
    credentials: Option<(String, String)>,
    reports_url: Option<String>,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let issuer = var("TESSERA_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let credentials = match (var("NOTES_CLIENT_ID"), var("NOTES_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            _ => return Err("set both NOTES_CLIENT_ID and NOTES_CLIENT_SECRET, or neither".into()),
        };
        let reports_url = var("REPORTS_URL");
        if reports_url.is_some() && credentials.is_none() {
            return Err("REPORTS_URL needs NOTES_CLIENT_ID and NOTES_CLIENT_SECRET".into());
        }
        Ok(Self {
            database_url: var("NOTES_DATABASE_URL").unwrap_or_else(|| "sqlite://notes.db".into()),
            listen: var("NOTES_LISTEN").unwrap_or_else(|| "127.0.0.1:8090".into()),
            audience: var("TESSERA_AUDIENCE").unwrap_or_else(|| issuer.clone()),
            issuer,
            credentials,
            reports_url,
        })
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("notes-service: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let pool = notes_service::open(&config.database_url)?;

    let verifier = Verifier::for_issuer(&config.issuer, &config.audience)?;
    let jwks = verifier.jwks().clone();
    if let Ok(Err(e)) = web::block(move || jwks.refresh()).await {
        log::warn!("Tessera's keys not loaded yet ({e}); retrying on the first request");
    }
    let mut auth = TesseraAuth::new(verifier).tenant_path_param("tenant_id");
    let mut reports = None;
    if let Some((client_id, client_secret)) = config.credentials {
        if let Some(url) = &config.reports_url {
            let exchanger = Exchanger::for_issuer(&config.issuer, &client_id, &client_secret)?;
            reports = Some(ReportsClient::new(exchanger, url));
            log::info!("reports at {url}, through token exchange as {client_id}");
        }
        let reporter = ReporterConfig::new(&config.issuer, client_id, client_secret);
        auth = auth.report_denials(DenialReporter::start(reporter)?);
    }

    let state = AppState {
        pool,
        auth,
        reports,
    };
    log::info!("notes-service listening on {}", config.listen);
    HttpServer::new(move || notes_service::app(state.clone()))
        .bind(config.listen.as_str())?
        .run()
        .await?;
    Ok(())
}
