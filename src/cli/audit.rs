//! `tessera audit`: export the log, verify the chains (and a checkpoint), and check a
//! received copy of an audit stream, which needs no database: only the keys that signed
//! its checkpoints.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use tessera_verify::{ProblemKind, StreamChecker};

use crate::audit::{self};
use crate::config::Config;
use crate::keys::Keys;
use crate::tenants;

use super::connect;
use super::output::{fail, missing, print_json, rfc3339, CmdResult, Failure, FormatArg, Progress};
use crate::access::{self, Reader, Recorded, Target};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain of one tenant, or of every tenant; or, with --stream, a
    /// received copy of an audit stream
    Verify {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// Also check the chain against a checkpoint saved earlier (the JWS, or the JSON
        /// that GET /api/v1/audit/checkpoint returned)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Verify from genesis instead of from the last verified position: also finds an
        /// event edited before that position
        #[arg(long, conflicts_with = "stream")]
        full: bool,
        /// Check a received audit stream (NDJSON; `-` reads standard input) instead of
        /// the database
        #[arg(long, value_name = "FILE", conflicts_with_all = ["tenant", "checkpoint"])]
        stream: Option<PathBuf>,
        /// The JWKS that verifies the stream's checkpoints, a file or an http(s) URL
        /// (default: the public keys of the local keys folder)
        #[arg(long, value_name = "FILE|URL", requires = "stream")]
        jwks: Option<String>,
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

/// The most of a JWKS read, from a file or a URL.
const MAX_JWKS_BYTES: u64 = 1024 * 1024;
/// The whole fetch of a JWKS URL, connection included.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(cmd: AuditCommand, config: &Config, json: bool) -> CmdResult {
    if let AuditCommand::Verify {
        stream: Some(stream),
        jwks,
        ..
    } = &cmd
    {
        return verify_stream(config, stream, jwks.as_deref(), json);
    }
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
        AuditCommand::Verify {
            tenant,
            checkpoint,
            full,
            ..
        } => {
            let mode = if full {
                audit::Mode::Full
            } else {
                audit::Mode::FromLastVerified
            };
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
                        let report = audit::verify_with_progress(conn, &t.id, mode, &mut |n| {
                            progress.show(&t.slug, n)
                        })?;
                        progress.done();
                        recorded.push((
                            t.id.clone(),
                            serde_json::json!({
                                "intact": report.is_intact(),
                                "head_seq": report.head_seq,
                                "full": report.full,
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
                        None if r.full => {
                            println!("{slug}: ok, {} events, head seq {}", r.events, r.head_seq)
                        }
                        None => println!(
                            "{slug}: ok, {} events from seq {} (after the last verified \
                             position), head seq {}",
                            r.events, r.from_seq, r.head_seq
                        ),
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

/// `audit verify --stream`: every tenant's chain in the file complete, in order, linked
/// and unedited, and each checkpoint signed by `jwks` (or the local keys) for this
/// issuer and matching what the file delivered. Reads nothing from the database, so it
/// records no `audit.verified`.
fn verify_stream(config: &Config, stream: &Path, jwks: Option<&str>, json: bool) -> CmdResult {
    let (name, input): (String, Box<dyn std::io::BufRead>) = if stream.as_os_str() == "-" {
        ("standard input".into(), Box::new(std::io::stdin().lock()))
    } else {
        let file = std::fs::File::open(stream)
            .map_err(|e| fail(format!("cannot read {}: {e}", stream.display())))?;
        (
            stream.display().to_string(),
            Box::new(std::io::BufReader::new(file)),
        )
    };
    let jwks = match jwks {
        Some(source) => read_jwks(source)?,
        None => local_jwks(config)?,
    };
    let mut checker = StreamChecker::new(Some(&jwks), Some(&config.issuer))
        .map_err(|e| fail(format!("the JWKS cannot verify checkpoints: {e}")))?;
    if let Err(problem) = checker.check_reader(input) {
        return Err(match problem.kind {
            ProblemKind::Unreadable { .. } => fail(format!("cannot read {name}: {problem}")),
            _ => Failure {
                message: format!("audit stream {name} does not verify: {problem}"),
                code: 3,
            },
        });
    }
    let summary = checker.summary();
    if json {
        return print_json(&summary);
    }
    if summary.tenants.is_empty() {
        println!("{name}: no audit events in {} lines", summary.lines);
    }
    for t in &summary.tenants {
        let slug = t.tenant.as_deref().map(|s| format!(" ({s})"));
        println!(
            "tenant {}{}: ok, {} events, head seq {}, {} checkpoints verified",
            t.tenant_id,
            slug.unwrap_or_default(),
            t.events,
            t.head_seq,
            t.checkpoints_verified
        );
    }
    Ok(0)
}

/// The published JWKS of the keys folder: on the Tessera host, no network needed.
fn local_jwks(config: &Config) -> Result<String, Failure> {
    let keys = Keys::open(&config.keys_dir).map_err(|e| {
        fail(format!(
            "signing keys: {e} (give --jwks FILE|URL to use published keys instead)"
        ))
    })?;
    Ok(String::from_utf8_lossy(keys.current().jwks()).into_owned())
}

/// A JWKS from an `http(s)://` URL (10 s in all) or a file, at most 1 MiB either way.
fn read_jwks(source: &str) -> Result<String, Failure> {
    if source.starts_with("https://") || source.starts_with("http://") {
        use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(JWKS_TIMEOUT))
                .tls_config(tls)
                .build(),
        );
        return agent
            .get(source)
            .header("Accept", "application/jwk-set+json, application/json")
            .call()
            .and_then(|mut response| {
                response
                    .body_mut()
                    .with_config()
                    .limit(MAX_JWKS_BYTES)
                    .read_to_string()
            })
            .map_err(|e| fail(format!("cannot fetch the JWKS {source}: {e}")));
    }
    let mut text = String::new();
    std::fs::File::open(source)
        .and_then(|file| file.take(MAX_JWKS_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| fail(format!("cannot read {source}: {e}")))?;
    if text.len() as u64 > MAX_JWKS_BYTES {
        return Err(fail(format!("{source}: a JWKS is at most 1 MiB")));
    }
    Ok(text)
}
