//! Seeds one tenant with a large audit log and token ledger, in bulk, for the
//! scale benchmark (`bench/scale.sh`); and measures this machine's chain-hashing
//! ceiling, which verification is put next to.
//!
//! ```text
//! cargo run --release --example scale_seed -- seed DATABASE_URL TENANT_SLUG EVENTS TOKENS
//! cargo run --release --example scale_seed -- ceiling EVENTS
//! ```
//!
//! `seed` appends EVENTS chained audit events after the tenant's head (through the
//! chain code the service uses, so `audit verify` checks them as it checks any event)
//! and writes TOKENS ledger rows, 20,000 rows per transaction. With `BULK=1` it drops
//! the two tables' secondary indexes first and creates them again at the end, from
//! their own definitions, as a bulk load does (it prints the time of each step). The data is shaped like
//! a busy tenant: 10,000 actors, a few common actions and one rare one, 97 % successes,
//! one event per second of occurrence time ending now; ledger rows from five clients,
//! one per ten seconds, the newest 1,000 still live and 1 % revoked. It prints the
//! values the benchmark filters on.
//!
//! `ceiling` hashes EVENTS rows of the same shape in memory, on one core (a chain is
//! verified in order, by one thread), and prints events per second.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use chrono::{Duration, NaiveDateTime};
use tessera::audit::{self, AuditRow, Entry};
use tessera::db::{self, DatabaseUrl, DbConnection, Scope};
use tessera::tokens::store::IssuedToken;

const ACTORS: i64 = 10_000;
const PER_TX: i64 = 20_000;
/// Occurrence times run one second apart, ending at the seeding time.
const EVENT_STEP_SECS: i64 = 1;
/// Ledger rows run ten seconds apart, ending at the seeding time.
const TOKEN_STEP_SECS: i64 = 10;
const CLIENTS: [&str; 5] = [
    "scale-web",
    "scale-api",
    "scale-batch",
    "scale-cli",
    "scale-svc",
];

fn action_of(i: i64) -> (&'static str, &'static str) {
    // (action, resource type); `doc.purged` is the rare one (1 in 1,000).
    match i % 1000 {
        0 => ("doc.purged", "doc"),
        1..=599 => ("doc.read", "doc"),
        600..=849 => ("doc.updated", "doc"),
        850..=949 => ("login.succeeded", "session"),
        _ => ("invoice.sent", "invoice"),
    }
}

fn outcome_of(i: i64) -> &'static str {
    // 97 % success, 2.5 % failure, 0.5 % denied, spread through the log.
    match (i * 7919) % 1000 {
        0..=4 => "denied",
        5..=29 => "failure",
        _ => "success",
    }
}

fn entry(tenant_id: &str, i: i64, occurred_at: NaiveDateTime) -> Entry {
    let (action, resource_type) = action_of(i);
    Entry {
        tenant_id: tenant_id.to_owned(),
        occurred_at: Some(occurred_at),
        source: "api".into(),
        actor_type: "user".into(),
        actor_id: Some(format!("user-{}", (i * 31) % ACTORS)),
        action: action.into(),
        resource_type: Some(resource_type.into()),
        resource_id: Some(format!("{resource_type}-{}", i % 250_000)),
        outcome: outcome_of(i).into(),
        ip: Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256)),
        request_id: Some(format!("req-{i}")),
        details: serde_json::json!({ "bytes": i % 65_536, "via": "seed" }),
    }
}

fn token(
    tenant_id: &str,
    i: i64,
    issued_at: NaiveDateTime,
    now: NaiveDateTime,
    total: i64,
) -> IssuedToken {
    let live = i >= total - 1000;
    let grant = ["authorization_code", "refresh_token", "client_credentials"][(i % 3) as usize];
    let client = CLIENTS[(i % 5) as usize];
    let subject = if grant == "client_credentials" {
        client.to_owned()
    } else {
        format!("user-{}", (i * 31) % ACTORS)
    };
    let revoked = i % 100 == 7;
    IssuedToken {
        tenant_id: tenant_id.to_owned(),
        jti: uuid::Uuid::new_v4().to_string(),
        subject,
        client_id: client.into(),
        token_type: "access".into(),
        scope: "openid tessera:api".into(),
        kid: Some("seed".into()),
        issued_at,
        expires_at: if live {
            now + Duration::hours(1)
        } else {
            issued_at + Duration::minutes(15)
        },
        revoked_at: revoked.then_some(issued_at + Duration::minutes(1)),
        revoked_reason: revoked.then(|| "seed".to_owned()),
        family_id: (grant != "client_credentials").then(|| format!("family-{}", i / 4)),
        amr: (grant != "client_credentials")
            .then(|| if i % 2 == 0 { "pwd mfa otp" } else { "pwd" }.to_owned()),
        grant_type: Some(grant.into()),
        parent_jti: None,
        actor: None,
    }
}

fn seed(url: &str, slug: &str, events: i64, tokens: i64) {
    let url = DatabaseUrl::parse(url).expect("database URL");
    let mut conn = db::connect(&url).expect("connect");
    let tenant = db::scoped(&mut conn, Scope::AllTenants, |c| {
        tessera::tenants::store::by_slug(c, slug)
    })
    .expect("read tenant")
    .expect("the tenant exists (tessera tenant create)");
    let bulk = std::env::var("BULK").is_ok_and(|v| v == "1");
    let indexes = if bulk {
        drop_indexes(&mut conn)
    } else {
        Vec::new()
    };
    let now = db::now();
    let started = Instant::now();
    let mut head = audit::store::head(&mut conn, &tenant.id)
        .expect("chain head")
        .unwrap_or((0, audit::GENESIS_HASH.to_owned()));
    let first = now - Duration::seconds(events * EVENT_STEP_SECS);
    let mut i = 0;
    while i < events {
        let n = PER_TX.min(events - i);
        let entries: Vec<Entry> = (i..i + n)
            .map(|k| {
                entry(
                    &tenant.id,
                    k,
                    first + Duration::seconds(k * EVENT_STEP_SECS),
                )
            })
            .collect();
        let rows: Vec<AuditRow> = audit::link(&mut head, entries);
        write(&mut conn, |tx| audit::store::insert_many(tx, &rows));
        i += n;
        if i % 1_000_000 == 0 {
            eprintln!("seed: {i} events, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    let event_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let first = now - Duration::seconds(tokens * TOKEN_STEP_SECS);
    let mut i = 0;
    while i < tokens {
        let n = PER_TX.min(tokens - i);
        let rows: Vec<IssuedToken> = (i..i + n)
            .map(|k| {
                token(
                    &tenant.id,
                    k,
                    first + Duration::seconds(k * TOKEN_STEP_SECS),
                    now,
                    tokens,
                )
            })
            .collect();
        write(&mut conn, |tx| {
            tessera::tokens::store::insert_many(tx, &rows)
        });
        i += n;
    }
    let token_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for sql in &indexes {
        diesel::RunQueryDsl::execute(diesel::sql_query(sql.as_str()), &mut conn)
            .expect("create index");
    }
    println!("index_seconds={:.1}", started.elapsed().as_secs_f64());
    // What the benchmark filters on (key=value lines, read by bench/scale.sh).
    let mid = now - Duration::seconds(events * EVENT_STEP_SECS / 2);
    let token_mid = now - Duration::seconds(tokens * TOKEN_STEP_SECS / 2);
    println!("events={events}");
    println!("tokens={tokens}");
    println!("event_seconds={event_secs:.1}");
    println!("token_seconds={token_secs:.1}");
    println!("actor=user-42");
    println!("rare_action=doc.purged");
    println!("subject=user-42");
    println!("client=scale-batch");
    println!("since={}", rfc3339(mid));
    println!("until={}", rfc3339(mid + Duration::hours(1)));
    println!("token_since={}", rfc3339(token_mid));
    println!("token_until={}", rfc3339(token_mid + Duration::hours(1)));
}

/// Drops the secondary indexes of `audit_events` and `issued_tokens`, returning the
/// statements that create them again.
fn drop_indexes(conn: &mut DbConnection) -> Vec<String> {
    use diesel::sql_types::Text;
    #[derive(diesel::QueryableByName)]
    struct Index {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        definition: String,
    }
    let sql = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT name, sql AS definition FROM sqlite_master WHERE type = 'index' \
             AND tbl_name IN ('audit_events', 'issued_tokens') AND sql IS NOT NULL"
        }
        DbConnection::Postgres(_) => {
            "SELECT i.indexname AS name, i.indexdef AS definition FROM pg_indexes i \
             JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid \
             WHERE i.tablename IN ('audit_events', 'issued_tokens') AND NOT x.indisprimary \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
        }
    };
    let found: Vec<Index> =
        diesel::RunQueryDsl::load(diesel::sql_query(sql), conn).expect("list indexes");
    for index in &found {
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("DROP INDEX {}", index.name)),
            conn,
        )
        .expect("drop index");
    }
    found.into_iter().map(|i| i.definition).collect()
}

fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn write(conn: &mut DbConnection, f: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<()>) {
    db::write_tx(conn, f).expect("bulk write");
}

fn ceiling(events: i64) {
    let tenant = uuid::Uuid::new_v4().to_string();
    let now = db::now();
    let mut head = (0, audit::GENESIS_HASH.to_owned());
    let rows = audit::link(
        &mut head,
        (0..events.min(200_000))
            .map(|k| entry(&tenant, k, now))
            .collect(),
    );
    let started = Instant::now();
    let mut hashed = 0i64;
    while hashed < events {
        for row in &rows {
            std::hint::black_box(audit::chain_hash(&row.prev_hash, row));
        }
        hashed += rows.len() as i64;
    }
    let rate = hashed as f64 / started.elapsed().as_secs_f64();
    println!("ceiling_events_per_second={rate:.0}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> i64 { args.get(i).and_then(|a| a.parse().ok()).expect("a number") };
    match args.first().map(String::as_str) {
        Some("seed") if args.len() == 5 => seed(&args[1], &args[2], number(3), number(4)),
        Some("ceiling") if args.len() == 2 => ceiling(number(1)),
        _ => {
            eprintln!(
                "usage: scale_seed seed DATABASE_URL TENANT_SLUG EVENTS TOKENS | ceiling EVENTS"
            );
            std::process::exit(2);
        }
    }
}
