//! `tessera stream`: create, list, pause, resume and delete audit streams. The operator
//! acts for the platform: a stream of one tenant (`--tenant`) or of every tenant.

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::streams::{self, Format, StreamView};

use super::output::{missing, print_json, print_table, CmdResult, Failure};
use super::{connect, find_tenant};

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Stream a tenant's audit chain (or every tenant's) to URL; prints the signing
    /// secret once
    Create {
        url: String,
        /// The tenant whose chain it streams; without it, every tenant's
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// ndjson (one audit item per line) or otlp (OTLP/HTTP logs, JSON)
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "otlp"])]
        format: String,
    },
    /// List streams, with their state and last delivery error
    List,
    /// Stop delivering (the position is kept)
    Pause { id: String },
    /// Deliver again from the last acknowledged event (also lifts a suspension)
    Resume { id: String },
    /// Delete a stream
    Delete { id: String },
}

pub fn run(cmd: StreamCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    let origin = Origin::cli();
    match cmd {
        StreamCommand::Create {
            url,
            tenant,
            format,
        } => {
            let sealer = crate::mfa::Sealer::open(&config.keys_dir)?;
            let format = Format::parse(&format)?;
            let created = db::write_tx(&mut conn, |tx| {
                let tenant = match &tenant {
                    Some(slug) => Some(find_tenant(tx, slug)?),
                    None => None,
                };
                let tenant_id = tenant.as_ref().map(|t| t.id.as_str());
                Ok::<_, Failure>(streams::create(
                    tx, &sealer, &origin, tenant_id, &url, format,
                )?)
            })?;
            if json {
                return print_json(&created);
            }
            println!("stream {}", created.id);
            println!("secret {}", created.secret);
            println!("(shown once: receivers verify webhook-signature with it)");
            Ok(0)
        }
        StreamCommand::List => {
            let rows = streams::list(&mut conn, None)?;
            let views: Vec<StreamView> = rows.iter().map(StreamView::from).collect();
            if json {
                return print_json(&views);
            }
            print_table(
                &["ID", "TENANT_ID", "FORMAT", "STATE", "URL", "LAST_ERROR"],
                views.into_iter().map(|s| {
                    vec![
                        s.id,
                        s.tenant_id.unwrap_or_else(|| "*".to_owned()),
                        s.format,
                        s.state,
                        s.url,
                        s.suspended_reason
                            .or(s.last_error)
                            .unwrap_or_else(|| "-".to_owned()),
                    ]
                }),
            )
        }
        StreamCommand::Pause { id } => change(&mut conn, &origin, &id, Some("paused"), json),
        StreamCommand::Resume { id } => change(&mut conn, &origin, &id, Some("active"), json),
        StreamCommand::Delete { id } => change(&mut conn, &origin, &id, None, json),
    }
}

/// Sets a stream's state, or (`None`) deletes it.
fn change(
    conn: &mut db::DbConnection,
    origin: &Origin,
    id: &str,
    state: Option<&str>,
    json: bool,
) -> CmdResult {
    let changed = db::write_tx(conn, |tx| {
        let row = streams::find(tx, None, id).map_err(missing("stream"))?;
        match state {
            Some(state) => Ok::<_, Failure>(Some(streams::set_state(tx, origin, &row, state)?)),
            None => {
                streams::delete(tx, origin, &row)?;
                Ok(None)
            }
        }
    })?;
    match (changed, json) {
        (Some(row), true) => print_json(&StreamView::from(&row)),
        (Some(row), false) => {
            println!("stream {} is {}", row.id, row.state);
            Ok(0)
        }
        (None, true) => print_json(&serde_json::json!({ "id": id, "deleted": true })),
        (None, false) => {
            println!("deleted stream {id}");
            Ok(0)
        }
    }
}
