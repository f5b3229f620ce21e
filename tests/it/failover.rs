//! PostgreSQL failover under load: a pg_auto_failover formation made by
//! `deploy/pg-auto-failover/formation` (a monitor, a primary and a synchronous secondary
//! on loopback ports of the test's own), Tessera on the multi-host URL with
//! `target_session_attrs=read-write`, ingestion and token load throughout; a planned
//! failover, then the primary killed (`kill -9` of its keeper and PostgreSQL). Tessera
//! is never restarted: failures are prompt 503s with the generic body, service resumes,
//! every acknowledged event and returned token is on the new primary, the chain verifies.
//! Runs when `TESSERA_TEST_POSTGRES_URL` is set; needs `pg_autoctl` then
//! (`postgresql-15-auto-failover`, which `.ci/run` installs).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::load::{Load, Mix};
use crate::support::{run_binary, Server, PG_ENV};

struct Formation {
    dir: tempfile::TempDir,
}

impl Formation {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/pg-auto-failover/formation")
    }

    /// `None` when PostgreSQL tests are off; a panic when they are on and the formation
    /// cannot be made.
    fn up() -> Option<Self> {
        std::env::var(PG_ENV).ok()?;
        assert!(
            Command::new("pg_autoctl").arg("--version").output().is_ok(),
            "{PG_ENV} is set but pg_autoctl is missing: apt-get install postgresql-15-auto-failover"
        );
        let formation = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        formation.run(&["up", &formation.path(), &free_ports(3).to_string()]);
        Some(formation)
    }

    fn path(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(Self::script()).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "formation {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn url(&self) -> String {
        self.run(&["url", &self.path()]).trim().to_owned()
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["down", &self.path()])
            .output();
    }
}

/// The first of `n` consecutive free loopback ports.
fn free_ports(n: u16) -> u16 {
    for _ in 0..100 {
        let base = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if base > 60000 {
            continue;
        }
        if (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn a_failover_under_load_loses_nothing_acknowledged() {
    let Some(formation) = Formation::up() else {
        return;
    };
    let url = formation.url();
    assert!(url.contains("target_session_attrs=read-write"), "{url}");
    let dir = tempfile::tempdir().unwrap();
    let env = [("TESSERA_DATABASE_URL", url.as_str())];
    let secret = crate::faults::service_client(|args| run_binary(dir.path(), &env, args, ""));
    let server = Server::start_with(
        dir.path(),
        &url,
        &[
            ("TESSERA_DB_TIMEOUT_SECS", "2"),
            ("TESSERA_DB_POOL_SIZE", "4"),
        ],
    );
    let access = crate::faults::access_token(&server, &secret);
    let mix = Mix {
        single: 3,
        batches: 1,
        tokens: 2,
    };
    let load = Load::start(&server.url(""), &access, ("svc", &secret), mix);
    load.wait_for_successes(200, Duration::from_secs(60));

    let planned = Instant::now();
    formation.run(&["failover", &formation.path()]);
    load.wait_for_successes(200, Duration::from_secs(60));
    let killed = Instant::now();
    let said = formation.run(&["kill-primary", &formation.path()]);
    load.wait_for_successes(200, Duration::from_secs(60));
    let record = load.stop();

    let planned_gap = record.longest_gap(planned, killed);
    let killed_gap = record.longest_gap(killed, Instant::now());
    assert!(
        record.slowest_failure < Duration::from_secs(5),
        "{}",
        record.summary()
    );
    assert!(
        killed_gap < Duration::from_secs(30),
        "{killed_gap:?}: {}",
        record.summary()
    );
    let stored = crate::faults::assert_whole(&url, dir.path(), &server, &record);
    eprintln!(
        "failover under load: {}; {stored} stored; longest pause {planned_gap:?} (planned), {killed_gap:?} ({})",
        record.summary(),
        said.lines().next().unwrap_or("")
    );
}
