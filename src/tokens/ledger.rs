//! The issued-token ledger: every token's row (metadata only, never its text) written
//! with its `token.issued` event, batches from the group-commit writer, revocation (one
//! token, or a refresh family across tenants), and listing with an opaque cursor. The
//! ledger is the one record of revocation.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::store::{self, IssuedToken, TokenFilter};
use std::collections::{BTreeMap, HashMap};

use crate::audit::{self, Appended, Event, Origin, Outcome};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};

/// What the group-commit writer's buffered jobs add to a batch: audit events and
/// ledger rows, per tenant, linked and written when the batch is flushed (one bulk
/// insert of each per tenant); and the last known head of each tenant's chain, kept
/// between batches, so that on PostgreSQL a tenant's share of a batch is one statement
/// (see [`store::insert_chained`]). If another writer appended to the chain meanwhile,
/// nothing is written by that statement and the share goes the general way: the chain
/// is locked, its head read and the rows linked again.
#[derive(Debug, Default)]
pub struct Pending {
    heads: HashMap<String, (i64, String)>,
    groups: BTreeMap<String, Group>,
    /// Where each buffered event landed, by the slot [`Pending::add`] gave it.
    landed: Vec<Option<Appended>>,
    /// Ledger rows buffered (each with its `token.issued` event): service events.
    issued: usize,
}

#[derive(Debug, Default)]
struct Group {
    slots: Vec<usize>,
    entries: Vec<audit::Entry>,
    rows: Vec<IssuedToken>,
}

/// The group-commit writer of short audited writes.
pub type Writer = db::group_commit::Writer<Pending>;

impl Pending {
    /// More tenants than this in the cache and it starts over (a miss costs one read).
    const MAX_HEADS: usize = 4096;

    /// Buffers events (appended in order) and ledger rows; returns the slots of the
    /// events, whose positions [`Pending::landed`] gives once flushed.
    pub fn add(
        &mut self,
        entries: Vec<audit::Entry>,
        rows: Vec<IssuedToken>,
    ) -> std::ops::Range<usize> {
        let first = self.landed.len();
        for entry in entries {
            let slot = self.landed.len();
            self.landed.push(None);
            let group = self.groups.entry(entry.tenant_id.clone()).or_default();
            group.slots.push(slot);
            group.entries.push(entry);
        }
        self.issued += rows.len();
        for row in rows {
            self.groups
                .entry(row.tenant_id.clone())
                .or_default()
                .rows
                .push(row);
        }
        first..self.landed.len()
    }

    /// Where the events of `slots` landed (after the flush that wrote them).
    pub fn landed(&self, slots: std::ops::Range<usize>) -> Option<Vec<Appended>> {
        self.landed.get(slots)?.iter().cloned().collect()
    }

    fn write_group(&mut self, tx: &mut DbConnection, tenant: &str, group: Group) -> Result<()> {
        let cached = match tx {
            DbConnection::Postgres(_) => self.heads.get(tenant).cloned(),
            DbConnection::Sqlite(_) => None,
        };
        let from = match cached {
            Some(head) => head,
            None => audit::locked_head(tx, tenant)?,
        };
        let mut head = from.clone();
        let mut events = audit::link(&mut head, group.entries);
        if !store::insert_chained(tx, tenant, &from, &group.rows, &events)? {
            self.heads.remove(tenant);
            // The chain moved since it was cached: under its lock, linked again.
            let from = audit::locked_head(tx, tenant)?;
            head = from.clone();
            audit::relink(&mut head, &mut events);
            if !store::insert_chained(tx, tenant, &from, &group.rows, &events)? {
                return Err(Error::internal("audit chain moved under its lock"));
            }
        }
        if self.heads.len() >= Self::MAX_HEADS {
            self.heads.clear();
        }
        self.heads.insert(tenant.to_owned(), head);
        for (slot, row) in group.slots.into_iter().zip(events) {
            self.landed[slot] = Some(Appended {
                id: row.id,
                seq: row.seq,
                hash: row.hash,
            });
        }
        Ok(())
    }
}

impl db::group_commit::Batch for Pending {
    fn flush(&mut self, tx: &mut DbConnection) -> Result<()> {
        for (tenant, group) in std::mem::take(&mut self.groups) {
            self.write_group(tx, &tenant, group)?;
        }
        Ok(())
    }

    fn end(&mut self, committed: bool) {
        if committed {
            crate::metrics::service_events_committed(self.issued);
        } else {
            self.heads.clear();
        }
        self.groups.clear();
        self.landed.clear();
        self.issued = 0;
    }
}

/// A buffered job: events and ledger rows for the next batch.
struct Buffered {
    rows: Option<(Vec<audit::Entry>, Vec<IssuedToken>)>,
    weight: usize,
    slots: std::ops::Range<usize>,
    done: tokio::sync::oneshot::Sender<Result<Vec<Appended>>>,
}

impl db::group_commit::Job<Pending> for Buffered {
    fn weight(&self) -> usize {
        self.weight
    }

    fn direct(&self) -> bool {
        false
    }

    fn abandoned(&self) -> bool {
        self.done.is_closed()
    }

    fn run(&mut self, _: &mut DbConnection, batch: &mut Pending) -> bool {
        if let Some((entries, rows)) = self.rows.take() {
            self.slots = batch.add(entries, rows);
        }
        true
    }

    fn answer(self: Box<Self>, committed: bool, batch: &Pending) {
        let Buffered { slots, done, .. } = *self;
        let landed = committed
            .then(|| batch.landed(slots))
            .flatten()
            .ok_or(Error::Unavailable);
        let _ = done.send(landed);
    }
}

/// Appends `entries` to their chains and writes `rows` to the ledger in the writer's
/// next batch; returns where the events landed, once that batch has committed.
pub async fn commit(
    writer: &Writer,
    entries: Vec<audit::Entry>,
    rows: Vec<IssuedToken>,
) -> Result<Vec<Appended>> {
    let (done, answer) = tokio::sync::oneshot::channel();
    writer.submit(Box::new(Buffered {
        weight: entries.len() + rows.len(),
        rows: Some((entries, rows)),
        slots: 0..0,
        done,
    }))?;
    crate::deadline::bound(answer)
        .await?
        .map_err(|_| Error::Unavailable)?
}

/// Records minted tokens (each ledger row with its `token.issued` event) through the
/// writer; returns once committed.
pub async fn commit_issued(
    writer: &Writer,
    records: Vec<(IssuedToken, audit::Entry)>,
) -> Result<()> {
    let (rows, entries) = split_issued(records)?;
    commit(writer, entries, rows).await.map(|_| ())
}

fn split_issued(
    records: Vec<(IssuedToken, audit::Entry)>,
) -> Result<(Vec<IssuedToken>, Vec<audit::Entry>)> {
    if records
        .iter()
        .any(|(row, entry)| row.tenant_id != entry.tenant_id)
    {
        return Err(Error::internal("token event in another tenant"));
    }
    Ok(records.into_iter().unzip())
}

/// Records a batch of minted tokens in one transaction of `conn`, through `pending`
/// (what the writer does with a batch of them).
pub fn record_batch(
    conn: &mut DbConnection,
    pending: &mut Pending,
    records: Vec<(IssuedToken, audit::Entry)>,
) -> Result<()> {
    use db::group_commit::Batch;
    let (rows, entries) = split_issued(records)?;
    let written = db::write_tx(conn, |tx| {
        pending.add(entries, rows);
        pending.flush(tx)
    });
    pending.end(written.is_ok());
    written
}

/// How a refresh family came to be revoked, for the events that record it.
#[derive(Debug, Clone, Copy)]
pub struct FamilyRevocation<'a> {
    /// The tenant whose chain records the revocation even when it revoked nothing
    /// there (where it was asked for or an attack was detected).
    pub home: Option<&'a str>,
    /// `token.revoked` when asked for; `token.code_replay`, `token.refresh_reuse` when
    /// an attack was detected.
    pub action: &'a str,
    /// The ledger's `revoked_reason`: `admin`, `client`, `operator`, `logout`, or the
    /// detection.
    pub reason: &'a str,
    pub outcome: Outcome,
}

/// Revokes the live tokens of a refresh family: in every tenant, or only in `only` (a
/// tenant administrator acts on its tenant's tokens alone). The revocation is recorded
/// in the chain of every tenant whose tokens it revoked, and in `how.home`'s in any
/// case. Returns how many tokens were revoked.
pub fn revoke_family(
    tx: &mut DbConnection,
    origin: &Origin,
    family_id: &str,
    only: Option<&str>,
    how: &FamilyRevocation<'_>,
) -> Result<usize> {
    let now = db::now();
    let mut chains: Vec<(String, usize)> = Vec::new();
    for tenant_id in store::family_tenants(tx, family_id)? {
        if only.is_some_and(|t| t != tenant_id) {
            continue;
        }
        // The chain's lock before the rows, as in `revoke`.
        audit::locked_head(tx, &tenant_id)?;
        let n = store::revoke_family(tx, family_id, &tenant_id, how.reason, now)?;
        let members = store::family_jtis(tx, &tenant_id, family_id)?;
        let exchanged = revoke_exchanged(tx, origin, &tenant_id, members)?;
        chains.push((tenant_id, n + exchanged));
    }
    if let Some(home) = how.home.filter(|h| !chains.iter().any(|(t, _)| t == h)) {
        chains.push((home.to_owned(), 0));
    }
    let mut total = 0;
    for (tenant_id, n) in &chains {
        total += n;
        audit::record(
            tx,
            origin,
            Event::success(tenant_id, how.action, "grant", family_id)
                .with_outcome(how.outcome)
                .with_details(serde_json::json!({ "tokens_revoked": n, "reason": how.reason })),
        )?;
    }
    Ok(total)
}

/// Whether a ledger entry is revoked (or missing, which accepts nothing either). The
/// ledger is the one record of revocation: the refresh grant asks this, and
/// [`super::verify_access_token`] reads the same row.
pub fn is_revoked(conn: &mut DbConnection, tenant_id: &str, jti: &str) -> Result<bool> {
    Ok(store::find(conn, tenant_id, jti)?.is_none_or(|row| row.revoked_at.is_some()))
}

/// Writes a ledger row and its `token.issued` event.
pub fn record_issued(tx: &mut DbConnection, origin: &Origin, row: IssuedToken) -> Result<()> {
    store::insert(tx, &row)?;
    audit::record(tx, origin, issued_event(&row))?;
    Ok(())
}

pub(super) fn issued_event(row: &IssuedToken) -> Event {
    Event::success(&row.tenant_id, "token.issued", "token", &row.jti).with_details(
        serde_json::json!({
            "token_type": row.token_type,
            "client_id": row.client_id,
            "subject": row.subject,
            "scope": row.scope,
            "kid": row.kid,
            "grant": row.grant_type,
        }),
    )
}

/// Revokes one token of `tenant_id` (idempotent: revoking twice records once).
/// Returns whether a live token was revoked.
pub fn revoke(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant_id: &str,
    jti: &str,
    reason: &str,
) -> Result<bool> {
    // The chain's lock first, then rows: token exchange takes them in this order too
    // (see `oauth::exchange`), so a revocation cascading to a token being exchanged
    // waits instead of deadlocking.
    audit::locked_head(tx, tenant_id)?;
    let changed = store::revoke(tx, tenant_id, jti, reason, db::now())?;
    if changed {
        audit::record(
            tx,
            origin,
            Event::success(tenant_id, "token.revoked", "token", jti)
                .with_details(serde_json::json!({ "reason": reason })),
        )?;
    }
    revoke_exchanged(tx, origin, tenant_id, vec![jti.to_owned()])?;
    Ok(changed)
}

/// Revokes every live token exchanged from `parents` (RFC 8693), and from those, down
/// the chain; each is recorded as `token.revoked` with reason `parent_revoked`. An
/// exchanged token is always in its parent's tenant. Returns how many were revoked.
fn revoke_exchanged(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant_id: &str,
    parents: Vec<String>,
) -> Result<usize> {
    // Each round goes one exchange deeper; the depth cap (at most 10) bounds the chain,
    // and this bounds the loop even if the ledger were edited into a cycle.
    const MAX_ROUNDS: usize = 16;
    let now = db::now();
    let mut frontier = parents;
    let mut total = 0;
    for _ in 0..MAX_ROUNDS {
        if frontier.is_empty() {
            break;
        }
        let children = store::live_children(tx, tenant_id, &frontier)?;
        if children.is_empty() {
            break;
        }
        total += store::revoke_many(tx, tenant_id, &children, "parent_revoked", now)?;
        let events = children
            .iter()
            .map(|jti| {
                audit::Entry::new(
                    origin,
                    Event::success(tenant_id, "token.revoked", "token", jti)
                        .with_details(serde_json::json!({ "reason": "parent_revoked" })),
                )
            })
            .collect();
        audit::append(tx, events)?;
        frontier = children;
    }
    Ok(total)
}

/// Records a refused revocation (the token belongs to another client).
pub fn record_revoke_denied(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant_id: &str,
    jti: &str,
) -> Result<()> {
    let event = Event::success(tenant_id, "token.revoke_denied", "token", jti)
        .with_outcome(Outcome::Denied);
    audit::record(tx, origin, event)?;
    Ok(())
}

/// Finds a token by `jti` alone (operators' tools).
pub fn find_by_jti(conn: &mut DbConnection, jti: &str) -> Result<IssuedToken> {
    store::by_jti(conn, jti)?.ok_or(Error::NotFound)
}

pub fn list(conn: &mut DbConnection, filter: &TokenFilter) -> Result<Vec<IssuedToken>> {
    Ok(store::list(conn, filter)?)
}

/// An opaque position in the ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
struct LedgerCursor {
    i: NaiveDateTime,
    t: String,
    j: String,
}

impl crate::cursor::Position for LedgerCursor {
    fn is_valid(&self) -> bool {
        uuid::Uuid::parse_str(&self.t).is_ok() && uuid::Uuid::parse_str(&self.j).is_ok()
    }
}

/// A ledger cursor's position: issued at, tenant, jti. Anything else is a 400.
pub fn decode_cursor(text: &str) -> Result<(NaiveDateTime, String, String)> {
    let c: LedgerCursor = crate::cursor::decode(text)?;
    Ok((c.i, c.t, c.j))
}

/// One page of the ledger, newest first, and the next page's cursor.
pub fn page(
    conn: &mut DbConnection,
    filter: &TokenFilter,
) -> Result<(Vec<IssuedToken>, Option<String>)> {
    let limit = filter.limit.clamp(1, 1000);
    let mut query = filter.clone();
    query.limit = limit + 1;
    let mut rows = store::list(conn, &query)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            crate::cursor::encode(&LedgerCursor {
                i: r.issued_at,
                t: r.tenant_id.clone(),
                j: r.jti.clone(),
            })
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// Revokes one ledger entry of `tenant_id` by an administrator; with `family`, every
/// token of its refresh family too (a tenant administrator's reaches only its own
/// tenant's tokens of the family; a platform administrator's, `tenant_id` `None`, every
/// tenant's). `NotFound` for a token of another tenant, exactly as for one that does
/// not exist.
pub fn revoke_by_admin(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant_id: Option<&str>,
    jti: &str,
    family: bool,
) -> Result<usize> {
    // An id that cannot be a jti is simply not found: it never reaches the database.
    if jti.len() > 64 || uuid::Uuid::parse_str(jti).is_err() {
        return Err(Error::NotFound);
    }
    let Some(row) = store::by_jti(tx, jti)? else {
        return Err(Error::NotFound);
    };
    if tenant_id.is_some_and(|t| t != row.tenant_id) {
        return Err(Error::NotFound);
    }
    if family {
        if let Some(family_id) = &row.family_id {
            return revoke_family(
                tx,
                origin,
                family_id,
                tenant_id,
                &FamilyRevocation {
                    home: Some(&row.tenant_id),
                    action: "token.revoked",
                    reason: "admin",
                    outcome: Outcome::Success,
                },
            );
        }
    }
    Ok(usize::from(revoke(
        tx,
        origin,
        &row.tenant_id,
        &row.jti,
        "admin",
    )?))
}
