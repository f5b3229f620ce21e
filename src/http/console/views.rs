//! The console's templates and what they show: every value is text (askama escapes
//! it), except the charts' SVG, which `charts` draws from numbers and fixed names.

use askama::Template;
use chrono::NaiveDateTime;

/// The header of every signed-in page.
pub struct Nav {
    pub section: &'static str,
    pub tenant: String,
    pub roles: String,
    pub platform: bool,
    pub csrf: String,
    pub time_zone: String,
}

/// Shows times in UTC and, when the reader chose one, in their time zone.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub Option<chrono_tz::Tz>);

impl Clock {
    pub fn show(&self, t: &NaiveDateTime) -> String {
        let utc = t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        match self.0 {
            Some(tz) => {
                let local = t.and_utc().with_timezone(&tz);
                format!(
                    "{utc} ({} {})",
                    local.format("%Y-%m-%d %H:%M:%S"),
                    tz.name()
                )
            }
            None => utc,
        }
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
pub struct Message<'a> {
    pub nav: Option<Nav>,
    pub title: &'a str,
    pub message: &'a str,
    /// A sign-out button, for a signed-in reader who may not use the console.
    pub sign_out_csrf: Option<&'a str>,
}

/// One tenant's chain on the overview.
pub struct ChainView {
    pub tenant: String,
    pub head_seq: i64,
    /// `None`: never verified.
    pub checked_at: Option<String>,
    pub checked_head: i64,
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

impl ChainView {
    pub fn is_broken(&self) -> bool {
        self.first_bad_seq.is_some()
    }
}

pub struct ChartView {
    pub id: &'static str,
    pub title: &'static str,
    pub svg: String,
    pub columns: Vec<&'static str>,
    pub rows: Vec<(String, Vec<i64>)>,
    pub total: i64,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
pub struct Overview {
    pub csrf: String,
    pub nav: Option<Nav>,
    pub chains: Vec<ChainView>,
    pub charts: Vec<ChartView>,
    /// (window, link, current)
    pub windows: Vec<(&'static str, String, bool)>,
    /// Platform readers choose a tenant (or every tenant).
    pub scopes: Vec<Choice>,
    pub window: &'static str,
    pub scope_label: String,
    pub tenant_param: String,
    pub generated: String,
    /// The audit streams of what the reader sees, suspended ones first.
    pub streams: Vec<StreamLine>,
}

/// An audit stream on the overview.
pub struct StreamLine {
    pub url: String,
    pub format: String,
    pub state: String,
    /// Why it is suspended, or its last delivery error while it fails.
    pub problem: Option<String>,
    pub failing_since: Option<String>,
}

pub struct EventRow {
    pub id: String,
    pub time: String,
    pub tenant: String,
    pub seq: i64,
    pub action: String,
    pub outcome: String,
    pub actor: String,
    pub resource: String,
    pub source: String,
}

#[derive(Template)]
#[template(path = "console/events.html")]
pub struct Events {
    pub nav: Option<Nav>,
    pub f: super::forms::EventsQuery,
    pub platform: bool,
    pub rows: Vec<EventRow>,
    pub next: Option<String>,
    pub first: Option<String>,
    pub export_ndjson: String,
    pub export_csv: String,
}

#[derive(Template)]
#[template(path = "console/event.html")]
pub struct EventPage {
    pub nav: Option<Nav>,
    pub e: EventRow,
    pub occurred: String,
    pub received: String,
    pub tenant_id: String,
    pub ip: String,
    pub request_id: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
    pub prev: bool,
    pub next: bool,
    pub related: Vec<EventRow>,
}

pub struct TokenRow {
    pub jti: String,
    pub tenant: String,
    pub subject: String,
    pub client: String,
    pub kind: String,
    pub grant: String,
    pub issued: String,
    pub expires: String,
    pub status: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
pub struct Tokens {
    pub nav: Option<Nav>,
    pub f: super::forms::TokensQuery,
    pub platform: bool,
    pub rows: Vec<TokenRow>,
    pub next: Option<String>,
    pub first: Option<String>,
}

#[derive(Template)]
#[template(path = "console/token.html")]
pub struct TokenPage {
    pub nav: Option<Nav>,
    pub t: TokenRow,
    pub tenant_id: String,
    pub scope: String,
    pub amr: String,
    pub kid: String,
    pub family_id: Option<String>,
    pub family: Vec<TokenRow>,
    pub events: Vec<EventRow>,
    pub admin: bool,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "console/revoke.html")]
pub struct RevokePage {
    pub csrf: String,
    pub nav: Option<Nav>,
    pub t: TokenRow,
    pub family: bool,
    /// How many tokens the revocation reaches (the family's active ones, or this one).
    pub reaches: usize,
}

pub struct CheckpointResult {
    pub matches: bool,
    pub tenant: String,
    pub seq: i64,
    pub signed_at: String,
    pub head_seq: i64,
    pub problem: Option<String>,
}

#[derive(Template)]
#[template(path = "console/checkpoints.html")]
pub struct Checkpoints {
    pub csrf: String,
    pub nav: Option<Nav>,
    pub tenants: Vec<Choice>,
    pub result: Option<CheckpointResult>,
}
