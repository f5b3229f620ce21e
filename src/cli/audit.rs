//! `tessera audit`: export the log and verify the chains (and a checkpoint).

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;

use crate::audit::{self};
use crate::config::Config;
use crate::keys::Keys;
use crate::tenants;

use super::connect;
use super::output::{fail, missing, print_json, rfc3339, CmdResult, Failure, FormatArg, Progress};
use crate::access::{self, Reader, Recorded, Target};

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
            // Recorded before the first byte is read: the export streams afterwards.
            let target = access::read_logs(
                &mut conn,
                Reader::Operator,
                tenant.as_deref(),
                "audit.exported",
                |_, target| Ok((target.clone(), Recorded::Once(serde_json::json!({})))),
            )
            .map_err(missing("tenant"))?;
            let progress = Progress::new();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut written = 0i64;
            let mut io_error = None;
            audit::export::run(
                &mut conn,
                &audit::AuditFilter {
                    tenant_id: target.tenant_id().map(str::to_owned),
                    since,
                    until,
                    ..audit::AuditFilter::default()
                },
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
            if let Some(jws) = checkpoint {
                let keys =
                    Keys::open(&config.keys_dir).map_err(|e| fail(format!("signing keys: {e}")))?;
                let report = audit::checkpoint::check(&mut conn, &keys.current(), &jws)?;
                let cp = &report.checkpoint;
                if !report.matches {
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
                println!(
                    "checkpoint: tenant {} at seq {} matches (chain now at seq {})",
                    cp.tenant, cp.seq, report.head_seq
                );
            }
            let progress = Progress::new();
            // Each tenant's verification is recorded in its own chain, after it ran, so
            // the check sees the chain as it was.
            let reports = access::read_logs(
                &mut conn,
                Reader::Operator,
                tenant.as_deref(),
                "audit.verified",
                |conn, target| {
                    let targets = match target {
                        Target::One(t) => vec![t.clone()],
                        Target::All => tenants::list(conn)?,
                    };
                    let mut reports = Vec::with_capacity(targets.len());
                    let mut recorded = Vec::with_capacity(targets.len());
                    for t in &targets {
                        let report = audit::verify_with_progress(conn, &t.id, &mut |n| {
                            progress.show(&t.slug, n)
                        })?;
                        progress.done();
                        recorded.push((
                            t.id.clone(),
                            serde_json::json!({
                                "intact": report.is_intact(),
                                "head_seq": report.head_seq,
                            }),
                        ));
                        reports.push((t.slug.clone(), report));
                    }
                    Ok((reports, Recorded::PerTenant(recorded)))
                },
            )
            .map_err(missing("tenant"))?;
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
