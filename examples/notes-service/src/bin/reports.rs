//! `reports`: the example reports service, the next hop of the notes service. It
//! accepts only tokens of one Tessera issuer exchanged for its audience, at most once,
//! for the tenant its path names.
//!
//! Environment: `REPORTS_LISTEN` (default `127.0.0.1:8091`), `TESSERA_ISSUER` (default
//! `http://127.0.0.1:8080`), `REPORTS_AUDIENCE` (default `reports`: the audience the
//! notes service's exchange client is registered for).

use std::process::ExitCode;

use actix_web::{web, HttpServer};
use tessera_verify::{TesseraAuth, Verifier};

#[actix_web::main]
async fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reports: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let listen = var("REPORTS_LISTEN").unwrap_or_else(|| "127.0.0.1:8091".into());
    let issuer = var("TESSERA_ISSUER").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let audience =
        var("REPORTS_AUDIENCE").unwrap_or_else(|| notes_service::reports::AUDIENCE.into());

    let verifier = Verifier::for_issuer(&issuer, &audience)?;
    let jwks = verifier.jwks().clone();
    if let Ok(Err(e)) = web::block(move || jwks.refresh()).await {
        log::warn!("Tessera's keys not loaded yet ({e}); retrying on the first request");
    }
    let auth = TesseraAuth::new(verifier);
    log::info!("reports listening on {listen}");
    HttpServer::new(move || notes_service::reports_app(auth.clone()))
        .bind(listen.as_str())?
        .run()
        .await?;
    Ok(())
}
