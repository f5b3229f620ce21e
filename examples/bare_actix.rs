//! The ceiling for serving a JWKS on this machine, for `bench/run.sh`: a bare actix-web
//! server (one worker per core, no middleware) that answers every request with the
//! bytes of one file, as `Content-Type: application/json`.
//!
//!     cargo run --release --example bare_actix -- 127.0.0.1:18090 jwks.json

use actix_web::{web, App, HttpResponse, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_actix ADDR FILE");
        std::process::exit(2);
    };
    let body = web::Bytes::from(std::fs::read(file)?);
    HttpServer::new(move || {
        let body = body.clone();
        App::new().default_service(web::to(move || {
            let body = body.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(body)
            }
        }))
    })
    .bind(addr)?
    .run()
    .await
}
