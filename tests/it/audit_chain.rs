//! The hash-chained audit log: intact chains verify, tampering is found at the right
//! sequence number, appends stay gap-free under concurrency, and an operation whose
//! audit write fails does not happen.

use crate::support::{both_backends, TestDb};
use tessera::audit::{self, Event, Origin};
use tessera::tenants::SYSTEM_TENANT_ID;

/// Four events in the system chain: tenant, two users, a client.
fn seed(db: &TestDb) {
    db.cli(&["tenant", "create", "acme"]).ok();
    for email in ["alice@example.com", "bob@example.com"] {
        db.cli_with_stdin(
            &["user", "create", email, "--password-stdin"],
            "correct horse battery\n",
        )
        .ok();
    }
    db.cli(&[
        "client",
        "create",
        "svc",
        "--confidential",
        "--grant",
        "client_credentials",
    ])
    .ok();
    db.cli(&[
        "member",
        "add",
        "acme",
        "alice@example.com",
        "--role",
        "member",
    ])
    .ok();
}

fn system_where(seq: i64) -> String {
    format!("tenant_id = '{SYSTEM_TENANT_ID}' AND seq = {seq}")
}

both_backends! {
    fn intact_chain_verifies(db) {
        seed(&db);
        let out = db.cli(&["audit", "verify"]).ok().to_owned();
        assert!(out.contains("system: ok, 4 events, head seq 4"), "{out}");
        assert!(out.contains("acme: ok, 1 events, head seq 1"), "{out}");
        let report = db.cli(&["audit", "verify", "--tenant", "acme", "--json"]).json();
        assert_eq!(report[0]["intact"], true);
        // The first verification was itself recorded.
        assert_eq!(report[0]["report"]["head_seq"], 2);
        let actions: Vec<String> = {
            use diesel::prelude::*;
            use tessera::db::schema::audit_events as a;
            a::table
                .filter(a::tenant_id.eq(SYSTEM_TENANT_ID))
                .order(a::seq.asc())
                .select(a::action)
                .load(&mut db.conn())
                .unwrap()
        };
        assert_eq!(
            actions,
            ["tenant.created", "user.created", "user.created", "client.created", "audit.verified"]
        );
    }
}

both_backends! {
    fn an_edited_event_is_found(db) {
        seed(&db);
        db.exec(&format!("UPDATE audit_events SET outcome = 'failure' WHERE {}", system_where(2)));
        let err = db.cli(&["audit", "verify"]).fails(3).to_owned();
        assert_eq!(err, "tessera: error: audit chain does not verify: tenant system: first bad seq 2");
        let out = db.cli(&["audit", "verify", "--tenant", "system"]);
        assert!(out.stdout.contains("system: BROKEN at seq 2: hash mismatch"), "{}", out.stdout);
        // The other tenant's chain is untouched.
        db.cli(&["audit", "verify", "--tenant", "acme"]).ok();
    }
}

both_backends! {
    fn an_edited_detail_is_found(db) {
        seed(&db);
        db.exec(&format!("UPDATE audit_events SET details = '{{\"x\":1}}' WHERE {}", system_where(4)));
        let err = db.cli(&["audit", "verify", "--tenant", "system"]).fails(3).to_owned();
        assert!(err.ends_with("first bad seq 4"), "{err}");
    }
}

both_backends! {
    fn a_deleted_event_is_found(db) {
        seed(&db);
        db.exec(&format!("DELETE FROM audit_events WHERE {}", system_where(2)));
        let err = db.cli(&["audit", "verify", "--tenant", "system"]).fails(3).to_owned();
        assert!(err.ends_with("first bad seq 2"), "{err}");
        let out = db.cli(&["audit", "verify", "--tenant", "system"]);
        assert!(out.stdout.contains("missing event"), "{}", out.stdout);
    }
}

both_backends! {
    fn swapped_events_are_found(db) {
        seed(&db);
        db.exec(&format!(
            "UPDATE audit_events SET seq = 1000000 WHERE {a}; \
             UPDATE audit_events SET seq = 2 WHERE {b}; \
             UPDATE audit_events SET seq = 3 WHERE {c};",
            a = system_where(2),
            b = system_where(3),
            c = system_where(1000000),
        ));
        let err = db.cli(&["audit", "verify", "--tenant", "system"]).fails(3).to_owned();
        assert!(err.ends_with("first bad seq 2"), "{err}");
    }
}

both_backends! {
    fn a_rewritten_hash_is_caught_by_the_next_link(db) {
        seed(&db);
        // Edit event 2 and recompute its own hash: event 3 still points at the old one.
        let mut conn = db.conn();
        let mut rows = tessera::audit::store::page_after(&mut conn, SYSTEM_TENANT_ID, 1, 1).unwrap();
        let mut row = rows.remove(0);
        row.action = "user.deleted".into();
        let new_hash = audit::chain_hash(&row.prev_hash, &row);
        db.exec(&format!(
            "UPDATE audit_events SET action = 'user.deleted', hash = '{new_hash}' WHERE {}",
            system_where(2)
        ));
        let err = db.cli(&["audit", "verify", "--tenant", "system"]).fails(3).to_owned();
        assert!(err.ends_with("first bad seq 3"), "{err}");
    }
}

both_backends! {
    /// A routine verification starts after the last verified event; `--full` starts at
    /// genesis. What each one finds, and what only the full one finds.
    fn verification_starts_at_the_last_verified_position(db) {
        seed(&db);
        let run = |args: &[&str]| {
            let mut all = vec!["audit", "verify", "--tenant", "system", "--json"];
            all.extend_from_slice(args);
            let out = db.cli(&all);
            assert!(out.code == 0 || out.code == 3, "{} {}", out.stdout, out.stderr);
            serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0]["report"].clone()
        };
        let first = run(&[]);
        assert_eq!((first["full"].as_bool(), first["from_seq"].as_i64()), (Some(true), Some(1)), "{first}");
        assert_eq!(first["events"], 4);
        // The next one checks only what came since: the `audit.verified` event the first
        // one appended, and the last verified event's own hash.
        let second = run(&[]);
        assert_eq!((second["full"].as_bool(), second["from_seq"].as_i64()), (Some(false), Some(5)), "{second}");
        assert_eq!((second["events"].as_i64(), second["head_seq"].as_i64()), (Some(1), Some(5)), "{second}");
        let text = db.cli(&["audit", "verify", "--tenant", "system"]).ok().to_owned();
        assert!(text.contains("system: ok, 1 events from seq 6 (after the last verified position), head seq 6"), "{text}");
        let full = run(&["--full"]);
        assert_eq!((full["full"].as_bool(), full["events"].as_i64()), (Some(true), Some(7)), "{full}");

        // A plain edit before the position: the routine check does not read that row;
        // the full one finds it, and from then on every check starts at genesis again
        // until the chain verifies.
        db.exec(&format!("UPDATE audit_events SET outcome = 'failure' WHERE {}", system_where(2)));
        let report = run(&[]);
        assert!(report["problem"].is_null(), "{report}");
        let err = db.cli(&["audit", "verify", "--tenant", "system", "--full"]).fails(3).to_owned();
        assert!(err.ends_with("first bad seq 2"), "{err}");
        let report = run(&[]);
        assert_eq!((report["full"].as_bool(), report["first_bad_seq"].as_i64()), (Some(true), Some(2)), "{report}");
        db.exec(&format!("UPDATE audit_events SET outcome = 'success' WHERE {}", system_where(2)));
        assert_eq!(run(&[])["full"], true);
        assert_eq!(run(&[])["full"], false);

        // The chain rewritten from an early event on, every hash recomputed: it links up
        // from genesis, but the last verified event changed. Both kinds say so, and keep
        // saying so (the position never moves back).
        let head = run(&[])["head_seq"].as_i64().unwrap();
        let mut conn = db.conn();
        let rows = tessera::audit::store::page_after(&mut conn, SYSTEM_TENANT_ID, 0, 10_000).unwrap();
        let mut prev = audit::GENESIS_HASH.to_owned();
        for mut row in rows.into_iter().take(head as usize) {
            if row.seq == 3 {
                row.action = "user.deleted".into();
            }
            row.prev_hash = prev;
            row.hash = audit::chain_hash(&row.prev_hash, &row);
            prev = row.hash.clone();
            db.exec(&format!(
                "UPDATE audit_events SET action = '{}', prev_hash = '{}', hash = '{}' WHERE {}",
                row.action, row.prev_hash, row.hash, system_where(row.seq)
            ));
        }
        for args in [&[][..], &["--full"], &[]] {
            let report = run(args);
            assert_eq!(report["first_bad_seq"], head, "{args:?} {report}");
            assert_eq!(report["problem"], audit::REPLACED, "{args:?} {report}");
        }

        // Events removed at the end (acme's chain): the routine check misses the last
        // verified event, and the full one sees the chain end before it.
        let acme = |args: &[&str]| {
            let mut all = vec!["audit", "verify", "--tenant", "acme", "--json"];
            all.extend_from_slice(args);
            let out = db.cli(&all);
            assert!(out.code == 0 || out.code == 3, "{} {}", out.stdout, out.stderr);
            serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0]["report"].clone()
        };
        acme(&[]);
        acme(&[]);
        // Each check appends its own `audit.verified` after it ran: the next one
        // refills the first deleted position, but not the last verified one.
        let head = acme(&[])["head_seq"].as_i64().unwrap();
        db.exec(&format!("DELETE FROM audit_events WHERE tenant_id = (SELECT id FROM tenants WHERE slug = 'acme') AND seq >= {}", head - 1));
        let report = acme(&[]);
        assert_eq!(report["problem"], "the last verified event is missing (deleted)", "{report}");
        let report = acme(&["--full"]);
        assert_eq!(report["first_bad_seq"], head, "{report}");
        assert_eq!(report["problem"], audit::TRUNCATED, "{report}");
    }
}

both_backends! {
    /// A check that finishes after another one began and ended records nothing that
    /// would undo it: the position never moves back, a finding of a broken chain stays.
    fn a_stale_check_does_not_undo_a_newer_one(db) {
        seed(&db);
        let mut conn = db.conn();
        let tenant = SYSTEM_TENANT_ID;
        audit::verify(&mut conn, tenant, audit::Mode::Full).unwrap();
        let before = audit::checks::verified_position(&mut conn, tenant).unwrap().unwrap();
        tessera::db::write_tx(&mut conn, |tx| {
            audit::record(tx, &Origin::system(), Event::success(tenant, "test.append", "worker", "x"))
        })
        .unwrap();
        let stale = audit::verify(&mut conn, tenant, audit::Mode::FromLastVerified).unwrap();
        let newer = audit::checks::verified_position(&mut conn, tenant).unwrap().unwrap();
        assert!(newer.seq > before.seq, "{newer:?} {before:?}");
        // The stale one began when the position was `before`, and ends now.
        let intact = audit::Verification { verified: Some((before.seq, before.hash.clone())), ..stale.clone() };
        audit::checks::record(&mut conn, &intact, Some(&before)).unwrap();
        assert_eq!(audit::checks::verified_position(&mut conn, tenant).unwrap().unwrap(), newer);
        // A stale finding of a broken chain is recorded, without moving the position.
        let broken = audit::Verification { first_bad_seq: Some(2), problem: Some("hash mismatch (edited event)"), verified: None, ..stale.clone() };
        audit::checks::record(&mut conn, &broken, Some(&before)).unwrap();
        let now = audit::checks::verified_position(&mut conn, tenant).unwrap().unwrap();
        assert_eq!((now.seq, now.hash.as_str(), now.broken), (newer.seq, newer.hash.as_str(), true));
        // And a stale intact result does not clear it.
        audit::checks::record(&mut conn, &intact, Some(&newer)).unwrap();
        assert!(audit::checks::verified_position(&mut conn, tenant).unwrap().unwrap().broken);
    }
}

both_backends! {
    fn concurrent_appends_stay_gap_free(db) {
        let pool = db.pool();
        let origin = Origin::system();
        std::thread::scope(|scope| {
            for worker in 0..4 {
                let pool = pool.clone();
                let origin = origin.clone();
                scope.spawn(move || {
                    let mut conn = pool.get().unwrap();
                    for i in 0..25 {
                        tessera::db::write_tx(&mut conn, |tx| {
                            audit::record(
                                tx,
                                &origin,
                                Event::success(SYSTEM_TENANT_ID, "test.append", "worker", &format!("{worker}-{i}")),
                            )
                        })
                        .unwrap();
                    }
                });
            }
        });
        let report = audit::verify(&mut pool.get().unwrap(), SYSTEM_TENANT_ID, audit::Mode::Full).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 100);
        assert_eq!(report.head_seq, 100);
    }
}

both_backends! {
    fn a_failing_audit_write_rolls_the_change_back(db) {
        db.conn();
        if db.is_postgres() {
            db.exec(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$; \
                 CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit();",
            );
        } else {
            db.exec(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;",
            );
        }
        let out = db.cli(&["tenant", "create", "acme"]);
        let err = out.fails(1);
        assert!(err.contains("audit store unavailable"), "{err}");
        db.cli_with_stdin(&["user", "create", "alice@example.com", "--password-stdin"], "correct horse battery\n")
            .fails(1);
        db.cli(&["client", "create", "svc", "--confidential", "--grant", "client_credentials"]).fails(1);

        db.exec(if db.is_postgres() {
            "DROP TRIGGER refuse_audit ON audit_events"
        } else {
            "DROP TRIGGER refuse_audit"
        });
        let tenants = db.cli(&["tenant", "list", "--json"]).json();
        assert_eq!(tenants.as_array().unwrap().len(), 1, "only system: {tenants}");
        assert_eq!(db.cli(&["user", "list", "--json"]).json(), serde_json::json!([]));
        assert_eq!(db.cli(&["client", "list", "--json"]).json(), serde_json::json!([]));
    }
}

/// One issued token's ledger row and `token.issued` event, as the group-commit writer
/// receives them.
fn token_record(
    tenant: &tessera::tenants::Tenant,
    n: usize,
) -> (tessera::tokens::IssuedToken, audit::Entry) {
    let now = chrono::Utc::now().naive_utc();
    let row = tessera::tokens::IssuedToken {
        tenant_id: tenant.id.clone(),
        jti: format!("jti-{}-{n}", tenant.slug),
        subject: "svc".into(),
        client_id: "svc".into(),
        token_type: "access_token".into(),
        scope: "read".into(),
        kid: Some("kid".into()),
        issued_at: now,
        expires_at: now + chrono::Duration::minutes(5),
        revoked_at: None,
        revoked_reason: None,
        family_id: None,
        amr: None,
        grant_type: None,
        parent_jti: None,
        actor: None,
    };
    let event = Event::success(&tenant.id, "token.issued", "token", &row.jti);
    (row, audit::Entry::new(&Origin::system(), event))
}

both_backends! {
    /// The token writer keeps each chain's head between batches (on PostgreSQL a batch
    /// is then one statement); when another writer appended meanwhile, or a batch spans
    /// tenants, it still writes every row once, gap-free, and the chains verify.
    fn token_batches_chain_correctly_around_other_writers(db) {
        let (acme, globex) = (db.tenant("acme"), db.tenant("globex"));
        let pool = db.pool();
        let mut heads = tessera::tokens::Pending::default();
        let mut conn = pool.get().unwrap();
        let batch = |range: std::ops::Range<usize>, tenant: &tessera::tenants::Tenant| {
            range.map(|n| token_record(tenant, n)).collect::<Vec<_>>()
        };
        tessera::tokens::record_batch(&mut conn, &mut heads, batch(0..3, &acme)).unwrap();
        tessera::tokens::record_batch(&mut conn, &mut heads, batch(3..5, &acme)).unwrap();

        // Other writers append to the same chain while the token writer runs.
        std::thread::scope(|scope| {
            let other = pool.clone();
            let acme_id = acme.id.clone();
            scope.spawn(move || {
                let mut conn = other.get().unwrap();
                for i in 0..30 {
                    tessera::db::write_tx(&mut conn, |tx| {
                        audit::record(tx, &Origin::system(), Event::success(&acme_id, "user.login", "user", &i.to_string()))
                    })
                    .unwrap();
                }
            });
            for round in 0..30 {
                let from = 5 + round * 2;
                tessera::tokens::record_batch(&mut conn, &mut heads, batch(from..from + 2, &acme)).unwrap();
            }
        });

        // A batch spanning tenants, then one more after a foreign append.
        let mut mixed = batch(100..102, &globex);
        mixed.extend(batch(100..103, &acme));
        tessera::tokens::record_batch(&mut conn, &mut heads, mixed).unwrap();
        let mut tx_conn = pool.get().unwrap();
        tessera::db::write_tx(&mut tx_conn, |tx| {
            audit::record(tx, &Origin::system(), Event::success(&acme.id, "user.logout", "user", "x"))
        })
        .unwrap();
        tessera::tokens::record_batch(&mut conn, &mut heads, batch(200..201, &acme)).unwrap();

        // A record whose event names another tenant is refused whole.
        let (row, _) = token_record(&acme, 300);
        let (_, foreign) = token_record(&globex, 300);
        assert!(tessera::tokens::record_batch(&mut conn, &mut heads, vec![(row, foreign)]).is_err());

        // acme: 69 tokens and 31 other events; globex: 2 tokens.
        for (tenant, events, tokens) in [(&acme, 100, 69), (&globex, 2, 2)] {
            let report = audit::verify(&mut conn, &tenant.id, audit::Mode::Full).unwrap();
            assert!(report.is_intact(), "{report:?}");
            assert_eq!((report.events, report.head_seq), (events, events), "{}", tenant.slug);
            let issued = db
                .audit_actions(&tenant.id)
                .iter()
                .filter(|(action, _)| action == "token.issued")
                .count();
            assert_eq!(issued, tokens, "{}", tenant.slug);
            let listed = tessera::tokens::list(
                &mut conn,
                &tessera::tokens::TokenFilter { tenant_id: Some(tenant.id.clone()), limit: 1000, ..Default::default() },
            )
            .unwrap();
            assert_eq!(listed.len(), tokens, "{}", tenant.slug);
        }
    }
}

both_backends! {
    /// The group-commit writer: concurrent buffered and direct jobs share batches; a
    /// direct job that fails is rolled back alone (its event is gone, its caller gets
    /// its own error), and every other job's rows are committed once, gap-free.
    fn a_failing_job_does_not_fail_its_batch(db) {
        let acme = db.tenant("acme");
        let writer = std::sync::Arc::new(
            tessera::tokens::Writer::start(db.pool(), 256, tessera::tokens::Pending::default()).unwrap(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcomes = runtime.block_on(async {
            let mut jobs = Vec::new();
            for n in 0..120usize {
                let writer = writer.clone();
                let tenant = acme.clone();
                jobs.push(tokio::spawn(async move {
                    match n % 3 {
                        // Buffered: a token and its event.
                        0 => tessera::tokens::commit_issued(&writer, vec![token_record(&tenant, n)])
                            .await
                            .map(|_| "issued"),
                        // Direct, succeeds.
                        1 => writer
                            .run(move |tx| {
                                audit::record(tx, &Origin::system(), Event::success(&tenant.id, "user.login", "user", &n.to_string()))
                                    .map(|_| "recorded")
                            })
                            .await,
                        // Direct, writes and then fails: rolled back to its savepoint.
                        _ => writer
                            .run(move |tx| {
                                audit::record(tx, &Origin::system(), Event::success(&tenant.id, "user.logout", "user", &n.to_string()))?;
                                Err::<&str, _>(tessera::error::Error::NotFound)
                            })
                            .await,
                    }
                }));
            }
            let mut outcomes = Vec::new();
            for job in jobs {
                outcomes.push(job.await.unwrap());
            }
            outcomes
        });
        for (n, outcome) in outcomes.iter().enumerate() {
            match n % 3 {
                0 => assert_eq!(outcome.as_ref().ok(), Some(&"issued"), "job {n}"),
                1 => assert_eq!(outcome.as_ref().ok(), Some(&"recorded"), "job {n}"),
                _ => assert!(matches!(outcome, Err(tessera::error::Error::NotFound)), "job {n}: {outcome:?}"),
            }
        }
        let actions = db.audit_actions(&acme.id);
        let count = |name: &str| actions.iter().filter(|(action, _)| action == name).count();
        assert_eq!((count("token.issued"), count("user.login"), count("user.logout")), (40, 40, 0));
        let mut conn = db.pool().get().unwrap();
        let report = audit::verify(&mut conn, &acme.id, audit::Mode::Full).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.events, report.head_seq), (80, 80));
    }
}

/// A job that notes whether the writer ran it.
struct Probe {
    abandoned: bool,
    ran: std::sync::mpsc::Sender<(bool, bool)>,
    did_run: bool,
}

impl tessera::db::group_commit::Job<tessera::tokens::Pending> for Probe {
    fn direct(&self) -> bool {
        true
    }
    fn abandoned(&self) -> bool {
        self.abandoned
    }
    fn run(&mut self, _: &mut tessera::db::DbConnection, _: &mut tessera::tokens::Pending) -> bool {
        self.did_run = true;
        true
    }
    fn answer(self: Box<Self>, committed: bool, _: &tessera::tokens::Pending) {
        self.ran.send((self.did_run, committed)).unwrap();
    }
}

both_backends! {
    /// A job whose request stopped waiting (answered 503 at its deadline) is not run:
    /// a retry of that request must not find it done.
    fn an_abandoned_job_is_skipped(db) {
        let writer = tessera::tokens::Writer::start(db.pool(), 16, tessera::tokens::Pending::default()).unwrap();
        let (ran, outcomes) = std::sync::mpsc::channel();
        for abandoned in [true, false] {
            writer.submit(Box::new(Probe { abandoned, ran: ran.clone(), did_run: false })).unwrap();
        }
        let timeout = std::time::Duration::from_secs(30);
        assert_eq!(outcomes.recv_timeout(timeout).unwrap(), (false, true), "the abandoned job");
        assert_eq!(outcomes.recv_timeout(timeout).unwrap(), (true, true), "the waiting job");
    }
}
