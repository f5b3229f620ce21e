//! The overview: each visible chain's state, and charts of the last hour, day or week.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::charts::{self, Series};
use super::views::{ChainView, ChartView, Choice, Overview, StreamLine};
use super::{failure, reader, render, see_other, Console};
use crate::access::{self, Reader, Recorded, Target};
use crate::console::stats::{self, Bucket, Window};
use crate::error::Error;
use crate::http::AppState;
use crate::tenants::{self, Tenant};

#[derive(Deserialize)]
pub struct OverviewQuery {
    tenant: Option<String>,
    window: Option<String>,
}

struct Read {
    tenants: Vec<Tenant>,
    choices: Vec<Tenant>,
    chains: Vec<ChainView>,
    buckets: Vec<Bucket>,
    all: bool,
    streams: Vec<crate::streams::StreamRow>,
}

/// `GET /console`.
pub async fn get_overview(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<OverviewQuery>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let window = match q.window.as_deref().filter(|w| !w.is_empty()) {
        None => Window::Day,
        Some(w) => match Window::parse(w) {
            Some(w) => w,
            None => return failure(Error::Invalid("window: expected 1h, 24h or 7d")),
        },
    };
    let chosen = q.tenant.clone().filter(|t| !t.is_empty());
    let clock = console.clock();
    let platform = console.ctx.is_platform();
    let read = console
        .read_logs(&state, chosen, "audit.read", move |conn, target, _| {
            let tenants = match target {
                Target::One(t) => vec![t.clone()],
                Target::All => tenants::list(conn)?,
            };
            // A platform reader chooses among every tenant: listed once.
            let choices = match target {
                Target::One(_) if platform => tenants::list(conn)?,
                _ => tenants.clone(),
            };
            let ids: Vec<&str> = tenants.iter().map(|t| t.id.as_str()).collect();
            let checks = crate::audit::checks::latest(conn, &ids)?;
            let now = crate::db::now();
            let mut chains = Vec::new();
            for t in &tenants {
                let head = crate::audit::store::head(conn, &t.id)?.map_or(0, |(seq, _)| seq);
                let check = checks.iter().find(|c| c.tenant_id == t.id);
                chains.push(ChainView {
                    tenant: t.slug.clone(),
                    head_seq: head,
                    checked_at: check.map(|c| clock.show(&c.checked_at)),
                    checked_head: check.map_or(0, |c| c.head_seq),
                    first_bad_seq: check.and_then(|c| c.first_bad_seq),
                    problem: check.and_then(|c| c.problem.clone()),
                });
                stats::settle(conn, &t.id, now)?;
            }
            let buckets = stats::counts(conn, target.tenant_id(), window, now)?;
            let streams = crate::streams::list(conn, target.tenant_id())?;
            let details = serde_json::json!({ "view": "overview", "window": window.as_str() });
            Ok((
                Read {
                    tenants,
                    choices,
                    chains,
                    buckets,
                    all: matches!(target, Target::All),
                    streams,
                },
                Recorded::Once(details),
            ))
        })
        .await;
    let read = match read {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let tenant_param = if read.all {
        String::new()
    } else {
        read.tenants
            .first()
            .map(|t| t.slug.clone())
            .unwrap_or_default()
    };
    let link = |w: Window| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !tenant_param.is_empty() && console.ctx.is_platform() {
            query.append_pair("tenant", &tenant_param);
        }
        query.append_pair("window", w.as_str());
        format!("/console?{}", query.finish())
    };
    let windows = Window::ALL
        .iter()
        .map(|&w| (w.as_str(), link(w), w == window))
        .collect();
    let mut scopes = Vec::new();
    if console.ctx.is_platform() {
        scopes.push(Choice {
            value: String::new(),
            label: "Every tenant".to_owned(),
            selected: read.all,
        });
        scopes.extend(read.choices.iter().map(|t| Choice {
            value: t.slug.clone(),
            label: t.slug.clone(),
            selected: !read.all && t.slug == tenant_param,
        }));
    }
    let scope_label = if read.all {
        "every tenant".to_owned()
    } else {
        tenant_param.clone()
    };
    let mut chains = read.chains;
    // Broken chains first: they are what the reader must see.
    chains.sort_by_key(|c| !c.is_broken());
    let mut streams: Vec<StreamLine> = read
        .streams
        .iter()
        .map(|s| StreamLine {
            url: s.url.clone(),
            format: s.format.clone(),
            state: s.state.clone(),
            problem: s.suspended_reason.clone().or_else(|| s.last_error.clone()),
            failing_since: s.failing_since.as_ref().map(|t| clock.show(t)),
        })
        .collect();
    streams.sort_by_key(|s| s.state != "suspended");
    let page = Overview {
        csrf: console.csrf(),
        nav: Some(console.nav("overview")),
        chains,
        charts: charts_of(&read.buckets, window),
        windows,
        scopes,
        window: window.as_str(),
        scope_label,
        tenant_param,
        generated: clock.show(&crate::db::now()),
        streams,
    };
    render(StatusCode::OK, &page)
}

fn label(bucket: &Bucket, window: Window) -> String {
    match window {
        Window::Hour => bucket.start.format("%H:%M").to_string(),
        Window::Day => bucket.start.format("%H:00").to_string(),
        Window::Week => bucket.start.format("%a %H:00").to_string(),
    }
}

fn charts_of(buckets: &[Bucket], window: Window) -> Vec<ChartView> {
    let labels: Vec<String> = buckets.iter().map(|b| label(b, window)).collect();
    let outcome = |name: &str| -> Vec<i64> {
        buckets
            .iter()
            .map(|b| b.outcomes.get(name).copied().unwrap_or(0))
            .collect()
    };
    let grant = |name: &str| -> Vec<i64> {
        buckets
            .iter()
            .map(|b| b.grants.get(name).copied().unwrap_or(0))
            .collect()
    };
    let of = |f: fn(&Bucket) -> i64| -> Vec<i64> { buckets.iter().map(f).collect() };
    let specs: Vec<(&'static str, &'static str, Vec<Series>)> = vec![
        (
            "events",
            "Events by outcome",
            vec![
                Series {
                    name: "success",
                    color: charts::GREEN,
                    values: outcome("success"),
                },
                Series {
                    name: "failure",
                    color: charts::RED,
                    values: outcome("failure"),
                },
                Series {
                    name: "denied",
                    color: charts::AMBER,
                    values: outcome("denied"),
                },
            ],
        ),
        (
            "logins",
            "Sign-ins",
            vec![
                Series {
                    name: "succeeded",
                    color: charts::GREEN,
                    values: of(|b| b.logins_succeeded),
                },
                Series {
                    name: "failed",
                    color: charts::RED,
                    values: of(|b| b.logins_failed),
                },
                Series {
                    name: "locked",
                    color: charts::PURPLE,
                    values: of(|b| b.accounts_locked),
                },
            ],
        ),
        (
            "tokens",
            "Access tokens issued, by grant",
            vec![
                Series {
                    name: "authorization_code",
                    color: charts::BLUE,
                    values: grant("authorization_code"),
                },
                Series {
                    name: "refresh_token",
                    color: charts::GREEN,
                    values: grant("refresh_token"),
                },
                Series {
                    name: "client_credentials",
                    color: charts::PURPLE,
                    values: grant("client_credentials"),
                },
                Series {
                    name: "unknown",
                    color: charts::GREY,
                    values: grant("unknown"),
                },
            ],
        ),
        (
            "denials",
            "Cross-tenant denials",
            vec![Series {
                name: "denied",
                color: charts::AMBER,
                values: of(|b| b.cross_tenant_denials),
            }],
        ),
    ];
    specs
        .into_iter()
        .map(|(id, title, series)| {
            let rows = buckets
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let label = b.start.format("%Y-%m-%d %H:%M").to_string();
                    (label, series.iter().map(|s| s.values[i]).collect())
                })
                .collect();
            let total = series.iter().flat_map(|s| s.values.iter()).sum();
            ChartView {
                id,
                title,
                svg: charts::stacked_bars(&labels, &series),
                columns: series.iter().map(|s| s.name).collect(),
                rows,
                total,
            }
        })
        .collect()
}

#[derive(Deserialize)]
pub struct VerifyForm {
    csrf: String,
    tenant: Option<String>,
}

/// `POST /console/verify`: verifies the chains now (a long read, like the API's).
pub async fn post_verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<VerifyForm>,
) -> HttpResponse {
    let console: Console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    if let Err(e) = console.check_csrf(&form.csrf) {
        return failure(e);
    }
    let chosen = form.tenant.clone().filter(|t| !t.is_empty());
    let slot = match state.long_reads.admit(&console.ctx.subject) {
        Ok(slot) => slot,
        Err(e) => return failure(e),
    };
    let ctx = console.ctx.clone();
    let data = state.into_inner();
    let back = chosen.clone();
    let verified = crate::http::api::audit::long_read(slot, move || {
        let mut conn = data.long_reads.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "audit.verified",
            |conn, target| {
                let tenants = match target {
                    Target::One(t) => vec![t.clone()],
                    Target::All => tenants::list(conn)?,
                };
                let ids = tenants.iter().map(|t| (t.id.as_str(), t.slug.as_str()));
                let report =
                    crate::audit::verify_report(conn, ids, crate::audit::Mode::FromLastVerified)?;
                let details = serde_json::json!({ "intact": report.intact });
                Ok(((), Recorded::Once(details)))
            },
        )
    })
    .await;
    match verified {
        Ok(()) => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            if let Some(t) = back.filter(|_| console.ctx.is_platform()) {
                query.append_pair("tenant", &t);
            }
            let query = query.finish();
            if query.is_empty() {
                see_other("/console")
            } else {
                see_other(&format!("/console?{query}"))
            }
        }
        Err(e) => failure(e),
    }
}
