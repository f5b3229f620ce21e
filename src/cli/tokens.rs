//! `tessera tokens`: list and revoke entries of the issued-token ledger.

use clap::Subcommand;

use crate::audit::{self, Origin};
use crate::config::Config;
use crate::db;
use crate::error::Error;
use crate::tokens::{self, TokenFilter};

use super::output::{missing, print_json, print_table, CmdResult, Failure};
use super::{connect, find_tenant};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// List issued tokens, newest first
    List {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long, value_name = "ID")]
        subject: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10000))]
        limit: i64,
    },
    /// Revoke one issued token by its jti
    Revoke { jti: String },
}

pub fn run(cmd: TokensCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        TokensCommand::List {
            tenant,
            subject,
            limit,
        } => {
            let tenant = match tenant {
                Some(slug) => Some(find_tenant(&mut conn, &slug)?),
                None => None,
            };
            let chain = tenant
                .as_ref()
                .map_or(crate::tenants::SYSTEM_TENANT_ID, |t| t.id.as_str())
                .to_owned();
            let filter = TokenFilter {
                tenant_id: tenant.map(|t| t.id),
                subject,
                limit,
                ..TokenFilter::default()
            };
            let origin = Origin::cli();
            let rows = db::write_tx(&mut conn, |tx| {
                let rows = tokens::list(tx, &filter)?;
                audit::record(
                    tx,
                    &origin,
                    audit::Event::new(&chain, "tokens.listed", audit::Outcome::Success)
                        .with_details(serde_json::json!({ "rows": rows.len() })),
                )?;
                Ok::<_, Error>(rows)
            })?;
            if json {
                return print_json(&rows);
            }
            print_table(
                &[
                    "JTI",
                    "TENANT_ID",
                    "TYPE",
                    "SUBJECT",
                    "CLIENT_ID",
                    "EXPIRES_AT",
                    "REVOKED_AT",
                ],
                rows.into_iter().map(|t| {
                    vec![
                        t.jti,
                        t.tenant_id,
                        t.token_type,
                        t.subject,
                        t.client_id,
                        db::format_utc(&t.expires_at),
                        t.revoked_at
                            .map_or_else(|| "-".to_owned(), |r| db::format_utc(&r)),
                    ]
                }),
            )
        }
        TokensCommand::Revoke { jti } => {
            let origin = Origin::cli();
            let revoked = db::write_tx(&mut conn, |tx| {
                let token = tokens::find_by_jti(tx, &jti).map_err(missing("token"))?;
                Ok::<_, Failure>(tokens::revoke(
                    tx,
                    &origin,
                    &token.tenant_id,
                    &token.jti,
                    "operator",
                )?)
            })?;
            if json {
                return print_json(&serde_json::json!({ "jti": jti, "revoked": revoked }));
            }
            if revoked {
                println!("revoked {jti}");
            } else {
                println!("{jti} was already revoked");
            }
            Ok(0)
        }
    }
}
