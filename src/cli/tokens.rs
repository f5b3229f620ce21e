//! `tessera tokens`: list and revoke entries of the issued-token ledger.

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::tokens::{self, TokenFilter};

use super::connect;
use super::output::{missing, print_json, print_table, CmdResult, Failure};
use crate::access::{self, Reader, Recorded};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// List issued tokens, newest first
    List {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long, value_name = "ID")]
        subject: Option<String>,
        /// `false`: users' tokens issued without a second factor; `true`: with one
        #[arg(long, value_name = "BOOL")]
        mfa: Option<bool>,
        /// Only tokens issued by this grant
        #[arg(long, value_enum)]
        grant: Option<super::output::GrantArg>,
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
            mfa,
            grant,
            limit,
        } => {
            let rows = access::read_logs(
                &mut conn,
                Reader::Operator,
                tenant.as_deref(),
                "tokens.listed",
                |conn, target| {
                    let filter = TokenFilter {
                        tenant_id: target.tenant_id().map(str::to_owned),
                        subject,
                        mfa,
                        grant: grant
                            .map(|g| crate::clients::GrantType::from(g).as_str().to_owned()),
                        limit,
                        ..TokenFilter::default()
                    };
                    let rows = tokens::list(conn, &filter)?;
                    let details = serde_json::json!({ "rows": rows.len() });
                    Ok((rows, Recorded::Once(details)))
                },
            )
            .map_err(missing("tenant"))?;
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
                    "AMR",
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
                        t.amr.unwrap_or_else(|| "-".to_owned()),
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
