//! Audit ingestion (validation + per-tenant chaining + commit) in batches of 100 and
//! 1000 events, against plain multi-row inserts of the same number of rows in one
//! transaction, measured in the same run. SQLite always; PostgreSQL too when
//! `TESSERA_BENCH_POSTGRES_URL` (or `TESSERA_TEST_POSTGRES_URL`) names a server, in a
//! scratch database dropped afterwards.
//!
//! `cargo bench --bench ingest`
#![allow(clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use diesel::{Connection, RunQueryDsl};
use tessera::access::TenantContext;
use tessera::audit::{self, ingest, AuditRow, GENESIS_HASH};
use tessera::db::{self, DatabaseUrl, DbConnection};

struct Backend {
    name: &'static str,
    conn: DbConnection,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .expect("url");
    let mut out = vec![Backend {
        name: "sqlite",
        conn: db::connect(&url).expect("sqlite"),
        cleanup: None,
        _dir: Some(dir),
    }];
    let pg = std::env::var("TESSERA_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TESSERA_TEST_POSTGRES_URL"))
        .ok();
    if let Some(admin_url) = pg {
        let name = format!("tessera_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = diesel::pg::PgConnection::establish(&admin_url).expect("postgres");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create database");
        let mut url = url::Url::parse(&admin_url).expect("postgres url");
        url.set_path(&name);
        out.push(Backend {
            name: "postgres",
            conn: db::connect(&DatabaseUrl::parse(url.as_str()).expect("url")).expect("postgres"),
            cleanup: Some((admin_url, name)),
            _dir: None,
        });
    }
    out
}

fn tenant(conn: &mut DbConnection, slug: &str) -> String {
    let slug = tessera::tenants::Slug::parse(slug).expect("slug");
    db::write_tx(conn, |tx| {
        tessera::tenants::create(tx, &audit::Origin::system(), &slug, None)
    })
    .expect("tenant")
    .id
}

fn events(n: usize) -> Vec<ingest::IngestEvent> {
    let batch: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "action": "invoice.read",
                "outcome": "success",
                "actor": { "type": "service", "id": "billing" },
                "resource": { "type": "invoice", "id": format!("inv_{i}") },
                "request_id": "req-1",
                "ip": "10.0.0.1",
                "details": { "amount": i, "currency": "EUR" }
            })
        })
        .collect();
    ingest::parse(serde_json::to_string(&batch).expect("json").as_bytes()).expect("valid events")
}

/// Rows shaped like ingested ones, for the plain-insert baseline.
fn plain_rows(tenant_id: &str, first_seq: i64, n: usize) -> Vec<AuditRow> {
    let now = db::now();
    (0..n as i64)
        .map(|i| AuditRow {
            tenant_id: tenant_id.to_owned(),
            seq: first_seq + i,
            id: uuid::Uuid::new_v4().to_string(),
            occurred_at: now,
            received_at: now,
            source: "bench".into(),
            actor_type: "service".into(),
            actor_id: Some("billing".into()),
            action: "invoice.read".into(),
            resource_type: Some("invoice".into()),
            resource_id: Some(format!("inv_{i}")),
            outcome: "success".into(),
            ip: Some("10.0.0.1".into()),
            request_id: Some("req-1".into()),
            details: r#"{"amount":1,"currency":"EUR"}"#.into(),
            prev_hash: GENESIS_HASH.into(),
            hash: GENESIS_HASH.into(),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for mut backend in backends() {
        db::migrate(&mut backend.conn).expect("migrate");
        let ingest_tenant = tenant(&mut backend.conn, "bench-ingest");
        let plain_tenant = tenant(&mut backend.conn, "bench-plain");
        let ctx = TenantContext {
            tenant_id: ingest_tenant.clone(),
            tenant: "bench-ingest".into(),
            subject: "bench-svc".into(),
            client_id: "bench-svc".into(),
            roles: Vec::new(),
            scope: vec![ingest::WRITE_SCOPE.into()],
            jti: "bench".into(),
            ip: None,
            request_id: None,
        };
        let mut group = c.benchmark_group(format!("ingest/{}", backend.name));
        let mut next_seq = 1i64;
        for size in [100usize, 1000] {
            group.throughput(Throughput::Elements(size as u64));
            let batch = events(size);
            // Building the input (rows, or a copy of the parsed events) is set-up, not
            // measured, on both sides.
            group.bench_with_input(BenchmarkId::new("plain_insert", size), &size, |b, &size| {
                b.iter_batched(
                    || {
                        let rows = plain_rows(&plain_tenant, next_seq, size);
                        next_seq += size as i64;
                        rows
                    },
                    |rows| {
                        db::write_tx(&mut backend.conn, |tx| {
                            audit::store::insert_many(tx, black_box(&rows))
                        })
                        .expect("insert")
                    },
                    BatchSize::LargeInput,
                )
            });
            group.bench_with_input(BenchmarkId::new("ingest", size), &size, |b, _| {
                b.iter_batched(
                    || batch.clone(),
                    |events| {
                        ingest::ingest_batch(
                            &mut backend.conn,
                            &ctx,
                            black_box(events),
                            None,
                            std::time::Duration::ZERO,
                        )
                        .expect("ingest")
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
        assert!(
            audit::verify(&mut backend.conn, &ingest_tenant, audit::Mode::Full)
                .expect("verify")
                .is_intact()
        );
        if let Some((admin_url, name)) = backend.cleanup.take() {
            drop(backend.conn);
            if let Ok(mut admin) = diesel::pg::PgConnection::establish(&admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
