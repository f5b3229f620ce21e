//! The overview's counts: per tenant and hour, events by action and outcome and access
//! tokens by grant. An hour that ended more than [`SETTLE`] ago no longer changes
//! (`received_at` is the server's clock), so it is counted once into `audit_rollups`
//! and read from there; the hours after it are counted live. A week's chart of a
//! tenant with millions of events therefore reads a few thousand rollup rows and one
//! hour of events.

use std::collections::{BTreeMap, HashSet};

use chrono::{DurationRound, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::schema::{audit_events, audit_rollups, issued_tokens};
use crate::db::{self, DbConnection, Scope};
use crate::error::{Error, Result};

/// How long after its end an hour is taken as final.
pub const SETTLE: chrono::Duration = chrono::Duration::minutes(5);
/// How far back rollups are kept (the longest window, and a day).
pub const KEEP: chrono::Duration = chrono::Duration::days(8);

const HOUR: chrono::Duration = chrono::Duration::hours(1);

/// A chart's time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Hour, Window::Day, Window::Week];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "1h" => Some(Self::Hour),
            "24h" => Some(Self::Day),
            "7d" => Some(Self::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "1h",
            Self::Day => "24h",
            Self::Week => "7d",
        }
    }

    /// The width of one bar and how many there are.
    fn buckets(self) -> (chrono::Duration, i32) {
        match self {
            Self::Hour => (chrono::Duration::minutes(5), 12),
            Self::Day => (HOUR, 24),
            Self::Week => (chrono::Duration::hours(6), 28),
        }
    }

    /// The bucket boundaries ending with the bucket that holds `now`.
    pub fn spans(self, now: NaiveDateTime) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        let (width, count) = self.buckets();
        let last = now.duration_trunc(width).unwrap_or(now);
        (0..count)
            .rev()
            .map(|i| {
                let start = last - width * i;
                (start, start + width)
            })
            .collect()
    }
}

/// What happened in one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    pub start: NaiveDateTime,
    pub end: NaiveDateTime,
    /// Events by outcome (`success`, `failure`, `denied`, …).
    pub outcomes: BTreeMap<String, i64>,
    pub logins_succeeded: i64,
    pub logins_failed: i64,
    pub accounts_locked: i64,
    /// Access tokens issued, by grant (`unknown` for tokens issued before grants were kept).
    pub grants: BTreeMap<String, i64>,
    pub cross_tenant_denials: i64,
}

impl Bucket {
    fn add_event(&mut self, action: &str, outcome: &str, n: i64) {
        *self.outcomes.entry(outcome.to_owned()).or_default() += n;
        match action {
            "login.success" => self.logins_succeeded += n,
            "login.failure" => self.logins_failed += n,
            "user.locked" => self.accounts_locked += n,
            "tenant.cross_access_denied" => self.cross_tenant_denials += n,
            _ => {}
        }
    }

    fn add_grant(&mut self, grant: &str, n: i64) {
        *self.grants.entry(grant.to_owned()).or_default() += n;
    }
}

/// The hours of `tenant_id` that are final but not counted yet, counted (at most a
/// week back). Cheap when up to date: one read of the hour markers.
pub fn settle(conn: &mut DbConnection, tenant_id: &str, now: NaiveDateTime) -> Result<usize> {
    let until = (now - SETTLE)
        .duration_trunc(HOUR)
        .map_err(Error::internal)?;
    let from = until - chrono::Duration::days(7) - HOUR;
    let counted: HashSet<NaiveDateTime> = db::scoped(conn, Scope::Tenant(tenant_id), |conn| {
        audit_rollups::table
            .filter(audit_rollups::tenant_id.eq(tenant_id))
            .filter(audit_rollups::series.eq("hour"))
            .filter(audit_rollups::hour.ge(from))
            .select(audit_rollups::hour)
            .load::<NaiveDateTime>(conn)
    })?
    .into_iter()
    .collect();
    let mut hour = from;
    let mut settled = 0;
    while hour < until {
        if !counted.contains(&hour) {
            settle_hour(conn, tenant_id, hour)?;
            settled += 1;
        }
        hour += HOUR;
    }
    Ok(settled)
}

#[derive(Insertable)]
#[diesel(table_name = audit_rollups)]
struct Rollup<'a> {
    tenant_id: &'a str,
    hour: NaiveDateTime,
    series: &'a str,
    label: String,
    count: i64,
}

fn settle_hour(conn: &mut DbConnection, tenant_id: &str, hour: NaiveDateTime) -> Result<()> {
    let mut bucket = Bucket::default();
    count_live(conn, Some(tenant_id), hour, hour + HOUR, &mut bucket, true)?;
    let events = std::mem::take(&mut bucket.outcomes);
    let mut rows: Vec<Rollup<'_>> = events
        .into_iter()
        .map(|(label, count)| Rollup {
            tenant_id,
            hour,
            series: "event",
            label,
            count,
        })
        .collect();
    rows.extend(bucket.grants.into_iter().map(|(label, count)| Rollup {
        tenant_id,
        hour,
        series: "grant",
        label,
        count,
    }));
    rows.push(Rollup {
        tenant_id,
        hour,
        series: "hour",
        label: String::new(),
        count: 0,
    });
    db::write_tx(conn, |tx| {
        db::scoped(tx, Scope::Tenant(tenant_id), |tx| {
            // Another reader may have counted the same hour a moment ago: the same rows.
            // A few rows an hour: one statement each (SQLite has no batch upsert).
            let mut written = 0;
            for row in &rows {
                written += match tx {
                    DbConnection::Sqlite(c) => diesel::insert_into(audit_rollups::table)
                        .values(row)
                        .on_conflict_do_nothing()
                        .execute(c)?,
                    DbConnection::Postgres(c) => diesel::insert_into(audit_rollups::table)
                        .values(row)
                        .on_conflict_do_nothing()
                        .execute(c)?,
                };
            }
            Ok::<_, diesel::result::Error>(written)
        })
    })?;
    Ok(())
}

/// Counts events and tokens received in `[from, to)` into `bucket`. With `raw`, the
/// events are keyed "action outcome" (how rollups keep them) instead of by outcome.
fn count_live(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    from: NaiveDateTime,
    to: NaiveDateTime,
    bucket: &mut Bucket,
    raw: bool,
) -> Result<()> {
    let scope = tenant_id.map_or(Scope::AllTenants, Scope::Tenant);
    let (events, grants) = db::scoped(conn, scope, |conn| {
        let mut events = audit_events::table
            .group_by((audit_events::action, audit_events::outcome))
            .select((audit_events::action, audit_events::outcome, count_star()))
            .into_boxed();
        events = match tenant_id {
            // One tenant's chain is in received order: the span is a range of its
            // primary key, found by bisection (a database would otherwise pick the
            // tenant's other index for the equality and read every event it has).
            Some(tenant_id) => {
                let first = first_received_at_or_after(conn, tenant_id, from)?;
                let end = first_received_at_or_after(conn, tenant_id, to)?;
                events
                    .filter(audit_events::tenant_id.eq(tenant_id.to_owned()))
                    .filter(audit_events::seq.ge(first))
                    .filter(audit_events::seq.lt(end))
            }
            None => events
                .filter(audit_events::received_at.ge(from))
                .filter(audit_events::received_at.lt(to)),
        };
        let mut grants = issued_tokens::table
            .filter(issued_tokens::issued_at.ge(from))
            .filter(issued_tokens::issued_at.lt(to))
            .filter(issued_tokens::token_type.eq("access_token"))
            .group_by(issued_tokens::grant_type)
            .select((issued_tokens::grant_type, count_star()))
            .into_boxed();
        if let Some(tenant_id) = tenant_id {
            grants = grants.filter(issued_tokens::tenant_id.eq(tenant_id.to_owned()));
        }
        let events: Vec<(String, String, i64)> = events.load(conn)?;
        let grants: Vec<(Option<String>, i64)> = grants.load(conn)?;
        Ok::<_, diesel::result::Error>((events, grants))
    })?;
    for (action, outcome, n) in events {
        if raw {
            *bucket
                .outcomes
                .entry(format!("{action} {outcome}"))
                .or_default() += n;
        } else {
            bucket.add_event(&action, &outcome, n);
        }
    }
    for (grant, n) in grants {
        bucket.add_grant(grant.as_deref().unwrap_or("unknown"), n);
    }
    Ok(())
}

/// The first seq of `tenant_id`'s chain received at or after `at` (one past the head
/// when none was): a bisection over the primary key, about 20 reads for a million
/// events. `received_at` only grows along a chain (each append takes the chain's lock
/// and the server's clock), which is what makes the bisection exact.
fn first_received_at_or_after(
    conn: &mut DbConnection,
    tenant_id: &str,
    at: NaiveDateTime,
) -> QueryResult<i64> {
    let head: Option<i64> = audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .select(diesel::dsl::max(audit_events::seq))
        .first(conn)?;
    let (mut low, mut high) = (1, head.unwrap_or(0) + 1);
    while low < high {
        let mid = low + (high - low) / 2;
        let received: Option<NaiveDateTime> = audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id))
            .filter(audit_events::seq.eq(mid))
            .select(audit_events::received_at)
            .first(conn)
            .optional()?;
        match received {
            Some(t) if t < at => low = mid + 1,
            _ => high = mid,
        }
    }
    Ok(low)
}

/// The buckets of `window` ending now, for one tenant or (`None`) every tenant, whose
/// hours must have been [`settle`]d.
pub fn counts(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    window: Window,
    now: NaiveDateTime,
) -> Result<Vec<Bucket>> {
    let spans = window.spans(now);
    let mut buckets: Vec<Bucket> = spans
        .iter()
        .map(|&(start, end)| Bucket {
            start,
            end,
            ..Bucket::default()
        })
        .collect();
    let Some(&(start, _)) = spans.first() else {
        return Ok(buckets);
    };
    // Settled hours from the rollups; everything after them live.
    let settled_until = (now - SETTLE)
        .duration_trunc(HOUR)
        .map_err(Error::internal)?
        .max(start);
    if window != Window::Hour && settled_until > start {
        let scope = tenant_id.map_or(Scope::AllTenants, Scope::Tenant);
        let rows: Vec<(NaiveDateTime, String, String, i64)> = db::scoped(conn, scope, |conn| {
            let mut query = audit_rollups::table
                .filter(audit_rollups::hour.ge(start))
                .filter(audit_rollups::hour.lt(settled_until))
                .filter(audit_rollups::series.ne("hour"))
                .select((
                    audit_rollups::hour,
                    audit_rollups::series,
                    audit_rollups::label,
                    audit_rollups::count,
                ))
                .into_boxed();
            if let Some(tenant_id) = tenant_id {
                query = query.filter(audit_rollups::tenant_id.eq(tenant_id.to_owned()));
            }
            query.load(conn)
        })?;
        for (hour, series, label, n) in rows {
            let Some(bucket) = buckets.iter_mut().find(|b| b.start <= hour && hour < b.end) else {
                continue;
            };
            match series.as_str() {
                "event" => {
                    let (action, outcome) = label.rsplit_once(' ').unwrap_or((&label, ""));
                    bucket.add_event(action, outcome, n);
                }
                _ => bucket.add_grant(&label, n),
            }
        }
    }
    let live_from = if window == Window::Hour {
        start
    } else {
        settled_until
    };
    for bucket in &mut buckets {
        if bucket.end <= live_from {
            continue;
        }
        let (from, to) = (bucket.start.max(live_from), bucket.end);
        count_live(conn, tenant_id, from, to, bucket, false)?;
    }
    Ok(buckets)
}

/// Deletes rollups older than [`KEEP`] (housekeeping; at most `limit` rows).
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    db::scoped(conn, Scope::AllTenants, |conn| {
        let hours: Vec<(String, NaiveDateTime)> = audit_rollups::table
            .filter(audit_rollups::hour.lt(before - KEEP))
            .select((audit_rollups::tenant_id, audit_rollups::hour))
            .distinct()
            .limit(limit)
            .load(conn)?;
        let mut deleted = 0;
        for (tenant_id, hour) in hours {
            deleted += diesel::delete(
                audit_rollups::table
                    .filter(audit_rollups::tenant_id.eq(tenant_id))
                    .filter(audit_rollups::hour.eq(hour)),
            )
            .execute(conn)?;
        }
        Ok(deleted)
    })
}

/// Counts the final hours of every tenant (housekeeping, so a reader's first overview
/// does not count a week). Returns how many hours were counted.
pub fn settle_all(conn: &mut DbConnection) -> Result<usize> {
    let now = db::now();
    let mut settled = 0;
    for tenant in crate::tenants::list(conn)? {
        settled += settle(conn, &tenant.id, now)?;
    }
    Ok(settled)
}
