//! Audit events: a filtered, keyset-paginated list, one event with its neighbours and
//! its request, and the export of the current filter.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::forms::EventsQuery;
use super::rows::{event_row, slugs};
use super::views::{EventPage, EventRow, Events};
use super::{failure, reader, render};
use crate::access::Recorded;
use crate::audit::export::Format;
use crate::audit::{query, store, AuditRow};
use crate::error::Error;
use crate::http::AppState;

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
    let read = console
        .read_logs(&state, chosen, "audit.read", move |conn, target, _| {
            filter.tenant_id = target.tenant_id().map(str::to_owned);
            let (rows, next) = query::list(conn, &filter)?;
            let slugs = slugs(conn, target)?;
            let rows: Vec<EventRow> = rows.iter().map(|r| event_row(r, &clock, &slugs)).collect();
            let details = serde_json::json!({ "events": rows.len() });
            Ok(((rows, next), Recorded::Once(details)))
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
    prev: bool,
    next: bool,
    related: Vec<AuditRow>,
}

/// `GET /console/events/{tenant}/{seq}`: one event, every field; its neighbours in
/// the chain; the events of the same request. The tenant is a selector like any other:
/// another tenant's is the same 404 as a missing event.
pub async fn get_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let (tenant, seq) = path.into_inner();
    let Ok(seq) = seq.parse::<i64>() else {
        return failure(Error::NotFound);
    };
    let clock = console.clock();
    let read = console
        .read_logs(
            &state,
            Some(tenant),
            "audit.read",
            move |conn, target, _| {
                let Some(tenant_id) = target.tenant_id() else {
                    return Err(Error::NotFound);
                };
                let row = store::at(conn, tenant_id, seq)?.ok_or(Error::NotFound)?;
                let prev = store::at(conn, tenant_id, seq - 1)?.is_some();
                let next = store::at(conn, tenant_id, seq + 1)?.is_some();
                let related = match &row.request_id {
                    Some(request) => store::of_request(conn, tenant_id, request, seq, 1000, 50)?
                        .into_iter()
                        .filter(|r| r.seq != row.seq)
                        .collect(),
                    None => Vec::new(),
                };
                let slugs = slugs(conn, target)?;
                let details = serde_json::json!({ "event": row.id, "seq": row.seq });
                Ok((
                    Detail {
                        row,
                        slugs,
                        prev,
                        next,
                        related,
                    },
                    Recorded::Once(details),
                ))
            },
        )
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
