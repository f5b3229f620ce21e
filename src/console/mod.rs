//! The security console's side of the domain: its built-in OAuth client, its
//! server-side sessions, and what its overview shows (each chain's last check, hourly
//! counts). Its pages are in `http::console`; every read they make goes through
//! `access::read_logs`, the function `/api/v1` uses.

pub mod client;
pub mod session;
pub mod stats;

/// The console's client id (ids starting with `tessera` are reserved for built-ins).
pub const CLIENT_ID: &str = "tessera-console";
/// The path under the issuer that the console lives at.
pub const PATH: &str = "/console";

/// The console's redirect URI: under the issuer, so it follows the deployment.
pub fn redirect_uri(issuer: &str) -> String {
    format!("{}{PATH}/callback", issuer.trim_end_matches('/'))
}
