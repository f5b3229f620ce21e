//! Checkpoints: take one (a signed statement of a chain's head, downloaded to keep
//! elsewhere), or upload one to learn, in words, whether the history it pins is still
//! the same.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use super::views::{CheckpointResult, Checkpoints, Choice};
use super::{failure, reader, render, Console};
use crate::access::{self, Recorded, Target};
use crate::audit::checkpoint;
use crate::error::{Error, Result};
use crate::http::{blocking, AppState};

/// The largest upload: a checkpoint is well under 2 KiB.
const MAX_UPLOAD: usize = 64 * 1024;

async fn tenants(state: &web::Data<AppState>, console: &Console) -> Result<Vec<Choice>> {
    let ctx = console.ctx.clone();
    let data = state.clone().into_inner();
    blocking(move || {
        let mut conn = data.pool.get()?;
        // Which tenants the reader may take checkpoints of: the read rule itself.
        let target = access::log_target(&mut conn, &ctx, None)?;
        let tenants = match target {
            Target::One(t) => vec![t],
            Target::All => crate::tenants::list(&mut conn)?,
        };
        Ok(tenants
            .into_iter()
            .map(|t| Choice {
                value: t.slug.clone(),
                label: t.slug,
                selected: false,
            })
            .collect())
    })
    .await
}

fn page(console: &Console, tenants: Vec<Choice>, result: Option<CheckpointResult>) -> HttpResponse {
    render(
        StatusCode::OK,
        &Checkpoints {
            csrf: console.csrf(),
            nav: Some(console.nav("checkpoints")),
            tenants,
            result,
        },
    )
}

/// `GET /console/checkpoints`.
pub async fn get_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    match tenants(&state, &console).await {
        Ok(t) => page(&console, t, None),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
pub struct TakeForm {
    csrf: String,
    tenant: String,
}

/// `POST /console/checkpoints`: a checkpoint of one tenant's chain, as a file.
pub async fn post_take(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TakeForm>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    if let Err(e) = console.check_csrf(&form.csrf) {
        return failure(e);
    }
    let chosen = form.tenant.trim().to_owned();
    let taken = console
        .read_logs(
            &state,
            Some(chosen),
            "audit.checkpoint",
            move |conn, target, data| {
                let Target::One(tenant) = target else {
                    return Err(Error::Invalid("tenant: a checkpoint covers one tenant"));
                };
                let keys = data.keys.current();
                let (jws, cp) = checkpoint::issue(conn, &keys, &data.config.issuer, tenant)?;
                let details = serde_json::json!({ "seq": cp.seq });
                Ok(((jws, cp), Recorded::Once(details)))
            },
        )
        .await;
    match taken {
        Ok((jws, cp)) => {
            let name = format!("checkpoint-{}-{}.jws", cp.tenant, cp.seq);
            let mut response = HttpResponse::Ok();
            crate::http::pages::security_headers(&mut response, "'self'");
            response
                .content_type("application/jose")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ))
                .body(jws)
        }
        Err(e) => failure(e),
    }
}

/// The fields of the upload form (`csrf`, `checkpoint` pasted, `file` chosen), at most
/// [`MAX_UPLOAD`] bytes in all.
async fn read_upload(mut payload: actix_multipart::Multipart) -> Result<(String, String)> {
    let (mut csrf, mut text) = (String::new(), String::new());
    let mut total = 0usize;
    let mut fields = 0;
    while let Some(field) = payload.next().await {
        fields += 1;
        if fields > 8 {
            return Err(Error::Invalid("upload: unexpected fields"));
        }
        let mut field = field.map_err(|_| Error::Invalid("upload"))?;
        let name = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| Error::Invalid("upload"))?;
            total += chunk.len();
            if total > MAX_UPLOAD {
                return Err(Error::TooLarge);
            }
            value.extend_from_slice(&chunk);
        }
        let value =
            String::from_utf8(value).map_err(|_| Error::Invalid("checkpoint: not a text file"))?;
        match name.as_str() {
            "csrf" => csrf = value,
            "checkpoint" | "file" if !value.trim().is_empty() => text = value,
            _ => {}
        }
    }
    Ok((csrf, text))
}

/// `POST /console/checkpoints/check`: checks an uploaded checkpoint against the
/// database, for a reader who may read its tenant (another tenant's: not found).
pub async fn post_check(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: actix_multipart::Multipart,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let (csrf, text) = match read_upload(payload).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    if let Err(e) = console.check_csrf(&csrf) {
        return failure(e);
    }
    if text.trim().is_empty() {
        return failure(Error::Invalid("checkpoint: paste one or choose its file"));
    }
    let clock = console.clock();
    // Whose checkpoint it is decides who may check it: read from the verified payload.
    let claimed = checkpoint::read(&text).and_then(|jws| {
        let payload = state
            .keys
            .current()
            .verify_payload(&jws, checkpoint::TYP)
            .ok_or(Error::Invalid(
                "checkpoint: its signature does not verify with this service's published keys",
            ))?;
        let claimed: checkpoint::Checkpoint = serde_json::from_slice(&payload)
            .map_err(|_| Error::Invalid("checkpoint: unexpected content"))?;
        Ok((jws, claimed))
    });
    let (jws, claimed) = match claimed {
        Ok(c) => c,
        Err(e) => return failure(e),
    };
    let checked = console
        .read_logs(
            &state,
            Some(claimed.tenant_id),
            "audit.checkpoint_checked",
            move |conn, _, data| {
                let report = checkpoint::check(conn, &data.keys.current(), &jws)?;
                let details =
                    serde_json::json!({ "seq": report.checkpoint.seq, "matches": report.matches });
                Ok((report, Recorded::Once(details)))
            },
        )
        .await;
    let report = match checked {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let signed_at = chrono::DateTime::from_timestamp(report.checkpoint.iat, 0)
        .map(|t| clock.show(&t.naive_utc()))
        .unwrap_or_default();
    let result = CheckpointResult {
        matches: report.matches,
        tenant: report.checkpoint.tenant.clone(),
        seq: report.checkpoint.seq,
        signed_at,
        head_seq: report.head_seq,
        problem: report.problem.map(str::to_owned),
    };
    match tenants(&state, &console).await {
        Ok(t) => page(&console, t, Some(result)),
        Err(e) => failure(e),
    }
}
