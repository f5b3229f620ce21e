//! `tessera audit`: export the log and verify the chains (and a checkpoint).

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::audit::{self, Origin};
use crate::config::Config;
use crate::db;
use crate::error::Error;
use crate::keys::Keys;
use crate::tenants;

use super::output::{fail, print_json, rfc3339, CmdResult, Failure, FormatArg, Progress};
use super::{connect, find_tenant};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of one tenant, or of every tenant
    Verify {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// Also check the chain against a checkpoint saved earlier (the JWS, or the JSON
        /// that GET /api/v1/audit/checkpoint returned)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Write the audit log to standard output, oldest first per tenant
    Export {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long, value_enum, default_value_t = FormatArg::Ndjson)]
        format: FormatArg,
        /// Only events that occurred at or after this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only events that occurred before this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
}

pub fn run(cmd: AuditCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        AuditCommand::Export {
            tenant,
            format,
            since,
            until,
        } => {
            let format = audit::export::Format::from(format);
            let since = rfc3339("since", since.as_deref())?;
            let until = rfc3339("until", until.as_deref())?;
            let tenant = match tenant {
                Some(slug) => Some(find_tenant(&mut conn, &slug)?),
                None => None,
            };
            let chain = tenant
                .as_ref()
                .map_or(crate::tenants::SYSTEM_TENANT_ID, |t| t.id.as_str())
                .to_owned();
            let origin = Origin::cli();
            db::write_tx(&mut conn, |tx| {
                audit::record(
                    tx,
                    &origin,
                    audit::Event::new(&chain, "audit.exported", audit::Outcome::Success),
                )
            })?;
            let progress = Progress::new();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut written = 0i64;
            let mut io_error = None;
            audit::export::run(
                &mut conn,
                tenant.as_ref().map(|t| t.id.as_str()),
                since,
                until,
                format,
                |chunk| {
                    if let Err(e) = out.write_all(&chunk) {
                        io_error = Some(e);
                        return false;
                    }
                    written += chunk.iter().filter(|b| **b == b'\n').count() as i64;
                    progress.show("exported", written);
                    true
                },
            )?;
            progress.done();
            if let Some(e) = io_error {
                return Err(fail(format!("cannot write the export: {e}")));
            }
            out.flush()
                .map_err(|e| fail(format!("cannot write the export: {e}")))?;
            Ok(0)
        }
        AuditCommand::Verify { tenant, checkpoint } => {
            let checkpoint = match checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                    Some(audit::checkpoint::read(&text)?)
                }
                None => None,
            };
            let targets = match tenant {
                Some(slug) => vec![find_tenant(&mut conn, &slug)?],
                None => tenants::list(&mut conn)?,
            };
            let progress = Progress::new();
            let mut reports = Vec::with_capacity(targets.len());
            for t in &targets {
                let report = audit::verify_with_progress(&mut conn, &t.id, &mut |n| {
                    progress.show(&t.slug, n)
                })?;
                progress.done();
                reports.push((t.slug.clone(), report));
            }
            if let Some(jws) = checkpoint {
                let keys =
                    Keys::open(&config.keys_dir).map_err(|e| fail(format!("signing keys: {e}")))?;
                let report = audit::checkpoint::check(&mut conn, &keys.current(), &jws)?;
                let cp = &report.checkpoint;
                if report.matches {
                    println!(
                        "checkpoint: tenant {} at seq {} matches (chain now at seq {})",
                        cp.tenant, cp.seq, report.head_seq
                    );
                } else {
                    return Err(Failure {
                        message: format!(
                            "checkpoint of tenant {} at seq {} does not match: {}",
                            cp.tenant,
                            cp.seq,
                            report.problem.unwrap_or("mismatch")
                        ),
                        code: 3,
                    });
                }
            }
            // Reading the log is itself audited (after verifying, so the check sees the
            // chain as it was).
            let origin = Origin::cli();
            db::write_tx(&mut conn, |tx| {
                for (t, (_, report)) in targets.iter().zip(&reports) {
                    audit::record(
                        tx,
                        &origin,
                        audit::Event::new(&t.id, "audit.verified", audit::Outcome::Success)
                            .with_details(serde_json::json!({
                                "intact": report.is_intact(),
                                "head_seq": report.head_seq,
                            })),
                    )?;
                }
                Ok::<_, Error>(())
            })?;
            let intact = reports.iter().all(|(_, r)| r.is_intact());
            if json {
                let items: Vec<_> = reports
                    .iter()
                    .map(|(slug, r)| serde_json::json!({ "tenant": slug, "intact": r.is_intact(), "report": r }))
                    .collect();
                print_json(&items)?;
            } else {
                for (slug, r) in &reports {
                    match r.first_bad_seq {
                        None => {
                            println!("{slug}: ok, {} events, head seq {}", r.events, r.head_seq)
                        }
                        Some(seq) => println!(
                            "{slug}: BROKEN at seq {seq}: {}",
                            r.problem.unwrap_or("invalid event")
                        ),
                    }
                }
            }
            if intact {
                Ok(0)
            } else {
                let first = reports
                    .iter()
                    .find_map(|(slug, r)| {
                        r.first_bad_seq
                            .map(|seq| format!("tenant {slug}: first bad seq {seq}"))
                    })
                    .unwrap_or_default();
                Err(Failure {
                    message: format!("audit chain does not verify: {first}"),
                    code: 3,
                })
            }
        }
    }
}
