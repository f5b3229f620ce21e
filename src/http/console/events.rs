//! Audit events: a filtered, keyset-paginated list, one event with its neighbours and
//! its request, and the export of the current filter.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Deserialize;

use super::views::{Clock, EventPage, EventRow, Events};
use super::{failure, reader, render};
use crate::access::{self, Reader, Recorded, Target};
use crate::audit::export::Format;
use crate::audit::{query, store, AuditFilter, AuditRow, Cursor};
use crate::error::{Error, Result};
use crate::http::{blocking, AppState};

/// The filter form, as typed (echoed back into the form and the links).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventsQuery {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub outcome: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub cursor: String,
    #[serde(default)]
    pub format: String,
}

impl EventsQuery {
    fn filter(&self) -> Result<AuditFilter> {
        let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let outcome = given(&self.outcome);
        if let Some(o) = &outcome {
            if !matches!(o.as_str(), "success" | "failure" | "denied") {
                return Err(Error::Invalid(
                    "outcome: expected success, failure or denied",
                ));
            }
        }
        Ok(AuditFilter {
            actor: given(&self.actor),
            action: given(&self.action),
            outcome,
            source: given(&self.source),
            resource: given(&self.resource),
            since: time_field("since", &self.since)?,
            until: time_field("until", &self.until)?,
            limit: PAGE,
            cursor: given(&self.cursor)
                .map(|c| Cursor::decode(&c))
                .transpose()?,
            ..AuditFilter::default()
        })
    }

    /// This filter as a query string, with `cursor` and `format` as given.
    fn link(&self, path: &str, cursor: Option<&str>, format: Option<&str>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("tenant", &self.tenant),
            ("actor", &self.actor),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("source", &self.source),
            ("resource", &self.resource),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.is_empty() {
                q.append_pair(name, value);
            }
        }
        if let Some(c) = cursor {
            q.append_pair("cursor", c);
        }
        if let Some(f) = format {
            q.append_pair("format", f);
        }
        let q = q.finish();
        if q.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{q}")
        }
    }

    fn selector(&self) -> Option<String> {
        Some(self.tenant.trim().to_owned()).filter(|t| !t.is_empty())
    }
}

/// Events per page.
const PAGE: i64 = 50;

/// A time as the form sends it: RFC 3339, or a browser's `datetime-local` value, read
/// as UTC.
pub fn time_field(name: &'static str, text: &str) -> Result<Option<NaiveDateTime>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.naive_utc()));
    }
    for format in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(t));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0));
    }
    Err(Error::Invalid(name))
}

/// Tenant slugs by id, for showing rows of every tenant.
pub(super) fn slugs(
    conn: &mut crate::db::DbConnection,
    target: &Target,
) -> Result<HashMap<String, String>> {
    let tenants = match target {
        Target::One(t) => vec![t.clone()],
        Target::All => crate::tenants::list(conn)?,
    };
    Ok(tenants.into_iter().map(|t| (t.id, t.slug)).collect())
}

pub(super) fn event_row(r: &AuditRow, clock: &Clock, slugs: &HashMap<String, String>) -> EventRow {
    let party = |kind: &Option<String>, id: &Option<String>| match (kind, id) {
        (Some(k), Some(i)) => format!("{k} {i}"),
        (Some(k), None) => k.clone(),
        (None, Some(i)) => i.clone(),
        (None, None) => String::new(),
    };
    EventRow {
        id: r.id.clone(),
        time: clock.show(&r.occurred_at),
        tenant: slugs
            .get(&r.tenant_id)
            .cloned()
            .unwrap_or_else(|| r.tenant_id.clone()),
        seq: r.seq,
        action: r.action.clone(),
        outcome: r.outcome.clone(),
        actor: party(&Some(r.actor_type.clone()), &r.actor_id),
        resource: party(&r.resource_type, &r.resource_id),
        source: r.source.clone(),
    }
}

/// `GET /console/events`.
pub async fn get_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<EventsQuery>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let q = q.into_inner();
    let mut filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return failure(e),
    };
    let chosen = q.selector();
    let clock = console.clock();
    let ctx = console.ctx.clone();
    let data = state.into_inner();
    let read = blocking(move || {
        let mut conn = data.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "audit.read",
            |conn, target| {
                filter.tenant_id = target.tenant_id().map(str::to_owned);
                let (rows, next) = query::list(conn, &filter)?;
                let slugs = slugs(conn, target)?;
                let rows: Vec<EventRow> =
                    rows.iter().map(|r| event_row(r, &clock, &slugs)).collect();
                let details = serde_json::json!({ "events": rows.len() });
                Ok(((rows, next), Recorded::Once(details)))
            },
        )
    })
    .await;
    let (rows, next) = match read {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let page = Events {
        nav: Some(console.nav("events")),
        platform: console.ctx.is_platform(),
        rows,
        next: next.map(|c| q.link("/console/events", Some(&c), None)),
        first: (!q.cursor.is_empty()).then(|| q.link("/console/events", None, None)),
        export_ndjson: q.link("/console/events/export", None, Some("ndjson")),
        export_csv: q.link("/console/events/export", None, Some("csv")),
        f: q,
    };
    render(StatusCode::OK, &page)
}

/// `GET /console/events/export`: the current filter as NDJSON or CSV, streamed by the
/// API's own export (same authorization, same record).
pub async fn get_export(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<EventsQuery>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let format = match Format::parse(if q.format.is_empty() {
        "ndjson"
    } else {
        &q.format
    }) {
        Ok(f) => f,
        Err(e) => return failure(e),
    };
    let mut filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return failure(e),
    };
    // An export is the whole selection, not a page of it.
    filter.cursor = None;
    let name = match format {
        Format::Csv => "audit-events.csv",
        Format::Ndjson => "audit-events.ndjson",
    };
    match crate::http::api::audit::export_response(state, console.ctx, q.selector(), filter, format)
        .await
    {
        Ok(mut response) => {
            response.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                    .unwrap_or(header::HeaderValue::from_static("attachment")),
            );
            response
        }
        Err(e) => failure(e),
    }
}

struct Detail {
    row: AuditRow,
    slugs: HashMap<String, String>,
    prev: Option<String>,
    next: Option<String>,
    related: Vec<AuditRow>,
}

/// `GET /console/events/{id}`: one event, every field; its neighbours in the chain;
/// the events of the same request.
pub async fn get_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let id = id.into_inner();
    // Only a UUID can be an event id: anything else is not found without a query.
    if uuid::Uuid::parse_str(&id).is_err() {
        return failure(Error::NotFound);
    }
    let clock = console.clock();
    let ctx = console.ctx.clone();
    let data = state.into_inner();
    let read = blocking(move || {
        let mut conn = data.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            None,
            "audit.read",
            |conn, target| {
                let row = store::by_id(conn, target.tenant_id(), &id)?.ok_or(Error::NotFound)?;
                let neighbour = |conn: &mut crate::db::DbConnection, seq: i64| {
                    store::at(conn, &row.tenant_id, seq).map(|r| r.map(|r| r.id))
                };
                let prev = neighbour(conn, row.seq - 1)?;
                let next = neighbour(conn, row.seq + 1)?;
                let related = match &row.request_id {
                    Some(request) => store::of_request(conn, &row.tenant_id, request, 50)?
                        .into_iter()
                        .filter(|r| r.id != row.id)
                        .collect(),
                    None => Vec::new(),
                };
                let slugs = slugs(conn, target)?;
                let details = serde_json::json!({ "event": row.id, "seq": row.seq });
                // Recorded in the event's own chain, whoever reads it.
                let chain = row.tenant_id.clone();
                Ok((
                    Detail {
                        row,
                        slugs,
                        prev,
                        next,
                        related,
                    },
                    Recorded::PerTenant(vec![(chain, details)]),
                ))
            },
        )
    })
    .await;
    let d = match read {
        Ok(d) => d,
        Err(e) => return failure(e),
    };
    let r = &d.row;
    let details = serde_json::from_str::<serde_json::Value>(&r.details)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| r.details.clone());
    let page = EventPage {
        nav: Some(console.nav("events")),
        e: event_row(r, &clock, &d.slugs),
        occurred: clock.show(&r.occurred_at),
        received: clock.show(&r.received_at),
        tenant_id: r.tenant_id.clone(),
        ip: r.ip.clone().unwrap_or_default(),
        request_id: r.request_id.clone().unwrap_or_default(),
        details,
        prev_hash: r.prev_hash.clone(),
        hash: r.hash.clone(),
        prev: d.prev,
        next: d.next,
        related: d
            .related
            .iter()
            .map(|x| event_row(x, &clock, &d.slugs))
            .collect(),
    };
    render(StatusCode::OK, &page)
}
