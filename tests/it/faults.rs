//! Faults under sustained load, on the real `tessera serve`: `kill -9` during ingestion
//! (single events and batches) and token issuance, `SIGTERM` under load, and SQLite on a
//! filesystem that fills up. After each, every event acknowledged with 202 is stored
//! exactly once, the chain's seqs are contiguous and `audit verify --full` passes, every
//! token returned to a client is in the ledger, and every failed answer was a prompt 503
//! with the generic body or no answer at all (while no server was running).
//! Database outages and failover are in `outage.rs` and `failover.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera::db::DbConnection;

use crate::support::load::{Load, Mix, Record};
use crate::support::{both_backends, Server, TestDb};

/// A tenant `acme` with a client-credentials client `svc` (scope `audit:write`); returns
/// its secret.
pub fn service_client(cli: impl Fn(&[&str]) -> crate::support::CliOutput) -> String {
    cli(&["tenant", "create", "acme"]).ok();
    let created = cli(&[
        "client",
        "create",
        "svc",
        "--tenant",
        "acme",
        "--confidential",
        "--grant",
        "client_credentials",
        "--scope",
        "audit:write",
        "--json",
    ])
    .json();
    created["client_secret"].as_str().unwrap().to_owned()
}

/// An access token for `svc`, from a running server.
pub fn access_token(server: &Server, secret: &str) -> String {
    let mut res = ureq::post(server.url("/token"))
        .header("authorization", crate::support::basic("svc", secret))
        .send_form([("grant_type", "client_credentials")])
        .unwrap();
    let body: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Every acknowledged event is stored exactly once, the tenant's seqs run 1..=n without
/// a gap, and every returned token is in the ledger. Returns how many load events are
/// stored (acknowledged ones plus any whose answer was lost with the server).
pub fn assert_nothing_lost(conn: &mut DbConnection, record: &Record) -> usize {
    use diesel::prelude::*;
    use tessera::db::schema::{audit_events as a, issued_tokens as t};
    assert!(
        record.unexpected.is_empty(),
        "unexpected answers: {:?}",
        record.unexpected
    );
    let details: Vec<String> = a::table
        .filter(a::action.eq("load.event"))
        .select(a::details)
        .load(conn)
        .unwrap();
    let mut stored: BTreeMap<String, usize> = BTreeMap::new();
    for d in &details {
        let v: Value = serde_json::from_str(d).unwrap();
        *stored
            .entry(v["n"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<&String> = stored
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| n)
        .collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let missing: Vec<&String> = record
        .acked
        .iter()
        .filter(|n| !stored.contains_key(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let heads: Vec<(String, i64, i64)> = a::table
        .group_by(a::tenant_id)
        .select((
            a::tenant_id,
            diesel::dsl::count_star(),
            diesel::dsl::max(a::seq),
        ))
        .load::<(String, i64, Option<i64>)>(conn)
        .unwrap()
        .into_iter()
        .map(|(tenant, n, max)| (tenant, n, max.unwrap_or(0)))
        .collect();
    for (tenant, count, max) in heads {
        assert_eq!(
            count, max,
            "tenant {tenant}: {count} events but head seq {max}"
        );
    }
    let jtis: Vec<String> = t::table.select(t::jti).load(conn).unwrap();
    let ledger: std::collections::HashSet<String> = jtis.into_iter().collect();
    let unrecorded = record
        .tokens
        .iter()
        .filter(|j| !ledger.contains(*j))
        .count();
    assert_eq!(
        unrecorded,
        0,
        "{unrecorded} of {} returned tokens are not in the ledger",
        record.tokens.len()
    );
    details.len()
}

/// [`assert_nothing_lost`] on the database at `url`, then `audit verify --full` of the
/// tenant's chain with the CLI, and no panic in the server's log. Returns how many load
/// events are stored.
pub fn assert_whole(url: &str, dir: &std::path::Path, server: &Server, record: &Record) -> usize {
    let parsed = tessera::db::DatabaseUrl::parse(url).unwrap();
    let stored = assert_nothing_lost(&mut tessera::db::connect(&parsed).unwrap(), record);
    let env = [("TESSERA_DATABASE_URL", url)];
    let verified = crate::support::run_binary(
        dir,
        &env,
        &["audit", "verify", "--tenant", "acme", "--full"],
        "",
    );
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert_eq!(server.log_count("panicked"), 0);
    stored
}

const MIX: Mix = Mix {
    single: 3,
    batches: 1,
    tokens: 2,
};

both_backends! {
    fn kill_9_under_load_loses_nothing_acknowledged(db) {
        let secret = service_client(|args| db.cli(args));
        let server = db.server(&[]);
        let access = access_token(&server, &secret);
        let load = Load::start(&server.url(""), &access, ("svc", &secret), MIX);
        let mut server = Some(server);
        for _ in 0..3 {
            load.wait_for_successes(200, Duration::from_secs(60));
            let old = server.take().unwrap();
            let _ = std::process::Command::new("kill").args(["-9", &old.pid().to_string()]).status();
            drop(old);
            let restarted = db.server(&[]);
            load.retarget(&restarted.url(""));
            server = Some(restarted);
        }
        load.wait_for_successes(200, Duration::from_secs(60));
        let record = load.stop();
        let stored = assert_nothing_lost(&mut db.conn(), &record);
        assert!(record.acked.len() > 500 && !record.tokens.is_empty(), "{}", record.summary());
        db.cli(&["audit", "verify", "--tenant", "acme", "--full"]).ok();
        eprintln!("kill -9 x3: {}; {stored} load events stored", record.summary());
    }
}

both_backends! {
    fn sigterm_under_load_completes_what_it_acknowledges(db) {
        let secret = service_client(|args| db.cli(args));
        let server = db.server(&[]);
        let access = access_token(&server, &secret);
        let load = Load::start(&server.url(""), &access, ("svc", &secret), MIX);
        load.wait_for_successes(300, Duration::from_secs(60));
        let started = Instant::now();
        let status = server.stop();
        let stopped_in = started.elapsed();
        assert!(status.success(), "{status:?}");
        // Nothing answers now: let the load see that, then stop it.
        std::thread::sleep(Duration::from_millis(300));
        let record = load.stop();
        let stored = assert_nothing_lost(&mut db.conn(), &record);
        // A graceful stop answers what it took in: whatever was stored was acknowledged
        // (up to the requests a closing keep-alive connection refused before reading).
        assert!(stored >= record.acked.len(), "{stored} < {}", record.acked.len());
        db.cli(&["audit", "verify", "--tenant", "acme", "--full"]).ok();
        eprintln!("SIGTERM: stopped in {stopped_in:?}; {}; {stored} load events stored", record.summary());
    }
}

/// SQLite on a small tmpfs that fills up: ingestion answers prompt 503s, the server keeps
/// running, and writes work again once space is freed; the chain verifies. Needs to
/// mount a tmpfs (root); says so and skips where that is refused.
#[test]
fn a_full_filesystem_is_an_outage_and_writes_resume_when_space_is_freed() {
    let mount = tempfile::tempdir().unwrap();
    let path = mount.path().to_str().unwrap().to_owned();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tessera-test", &path])
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "SKIPPED: a_full_filesystem_is_an_outage…: cannot mount a tmpfs here (needs root)"
        );
        return;
    }
    let _unmount = crate::support::Unmount(path.clone());
    let db = TestDb::sqlite_at(&mount.path().join("tessera.db"));
    let secret = service_client(|args| db.cli(args));
    let server = db.server(&[]);
    let access = access_token(&server, &secret);
    let load = Load::start(
        &server.url(""),
        &access,
        ("svc", &secret),
        Mix {
            single: 2,
            batches: 1,
            tokens: 1,
        },
    );
    load.wait_for_successes(100, Duration::from_secs(60));
    // Fill what is left of the filesystem.
    let filler = mount.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let full_at = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let health = ureq::get(server.url("/healthz")).call().unwrap().status();
    assert_eq!(health, 200, "the server keeps running");
    std::fs::remove_file(&filler).unwrap();
    let freed_at = Instant::now();
    load.wait_for_successes(100, Duration::from_secs(30));
    let record = load.stop();
    let refused = record.statuses.get(&503).copied().unwrap_or(0);
    assert!(
        refused > 0,
        "no write was refused on a full filesystem: {}",
        record.summary()
    );
    assert!(record.successes_since(freed_at) >= 100);
    let stored = assert_nothing_lost(&mut db.conn(), &record);
    db.cli(&["audit", "verify", "--tenant", "acme", "--full"])
        .ok();
    assert_eq!(server.log_count("panicked"), 0);
    eprintln!(
        "full filesystem: {}; {stored} stored; writes back {:?} after space was freed ({:?} full)",
        record.summary(),
        record.longest_gap(freed_at, Instant::now()),
        freed_at - full_at
    );
}
