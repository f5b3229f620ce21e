//! Which engine answers a `postgres://` URL, and whether Tessera may run on it. Tessera
//! needs four things of the engine (docs/databases.md, "Distributed PostgreSQL-compatible
//! engines"): row-level security fed by `set_config()` settings where the policies are
//! evaluated, cluster-wide advisory locks, Read Committed (so the chain head read after
//! the chain's lock sees its previous holder's append), and PL/pgSQL with `PERFORM`.
//! PostgreSQL has all four; for the engines known to lack one, start-up stops with the
//! reason rather than running with a guarantee missing. One query, at migration time.

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::RunQueryDsl;

/// What the server said about itself.
#[derive(Debug, diesel::QueryableByName)]
struct Probe {
    #[diesel(sql_type = Text)]
    version: String,
    #[diesel(sql_type = Bool)]
    citus: bool,
    /// YugabyteDB's effective isolation for `READ COMMITTED` (NULL elsewhere).
    #[diesel(sql_type = Nullable<Text>)]
    yb_isolation: Option<String>,
}

/// Refuses an engine that lacks a guarantee Tessera relies on; `Ok` names the engine.
pub fn check(conn: &mut diesel::pg::PgConnection) -> Result<&'static str, String> {
    let probe: Probe = diesel::sql_query(
        "SELECT version() AS version, \
         EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') AS citus, \
         current_setting('yb_effective_transaction_isolation_level', true) AS yb_isolation",
    )
    .get_result(conn)
    .map_err(|e| format!("cannot identify the database engine: {e}"))?;
    classify(&probe.version, probe.citus, probe.yb_isolation.as_deref())
}

/// The decision, from what the server reports.
fn classify(
    version: &str,
    citus: bool,
    yb_isolation: Option<&str>,
) -> Result<&'static str, String> {
    if version.starts_with("CockroachDB") {
        return Err(
            "CockroachDB is not supported: it lacks PL/pgSQL PERFORM and advisory locks \
                    (docs/databases.md)"
                .into(),
        );
    }
    if citus {
        return Err(
            "Citus is not supported: it does not forward set_config() settings to the \
                    workers, so row-level security would see no tenant, and its advisory locks \
                    are per node (docs/databases.md)"
                .into(),
        );
    }
    if version.contains("-YB-") {
        return match yb_isolation {
            Some(level) if level.eq_ignore_ascii_case("read committed") => Ok("YugabyteDB"),
            _ => Err(
                "YugabyteDB needs yb_enable_read_committed_isolation=true (without it READ \
                      COMMITTED runs as snapshot isolation and concurrent appends to one audit \
                      chain collide) and ysql_yb_enable_advisory_locks (docs/databases.md)"
                    .into(),
            ),
        };
    }
    Ok("PostgreSQL")
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn engines_missing_a_guarantee_are_refused() {
        let pg = "PostgreSQL 15.19 (Debian 15.19-0+deb12u1) on x86_64-pc-linux-gnu";
        assert_eq!(classify(pg, false, None), Ok("PostgreSQL"));
        assert!(classify(pg, true, None).unwrap_err().starts_with("Citus"));
        let crdb = "CockroachDB CCL v25.2.1 (x86_64-pc-linux-gnu, built 2025/06/01)";
        assert!(classify(crdb, false, None)
            .unwrap_err()
            .starts_with("CockroachDB"));
        let yb = "PostgreSQL 15.2-YB-2025.1.0.0-b0 on x86_64-pc-linux-gnu";
        assert_eq!(
            classify(yb, false, Some("read committed")),
            Ok("YugabyteDB")
        );
        assert!(classify(yb, false, Some("repeatable read")).is_err());
        assert!(classify(yb, false, None).is_err());
    }
}
