//! The console's filter forms, as typed (echoed back into the form and its links),
//! and the filters they make.

use chrono::NaiveDateTime;
use serde::Deserialize;

use crate::audit::{AuditFilter, Cursor};
use crate::error::{Error, Result};
use crate::http::api::time_param;
use crate::http::api::tokens::{bool_param, grant_param};
use crate::tokens::{self, TokenFilter};

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
    pub fn filter(&self) -> Result<AuditFilter> {
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
            limit: EVENTS_PAGE,
            cursor: given(&self.cursor)
                .map(|c| Cursor::decode(&c))
                .transpose()?,
            ..AuditFilter::default()
        })
    }

    /// This filter as a link to `path`, with `cursor` and `format` as given.
    pub fn link(&self, path: &str, cursor: Option<&str>, format: Option<&str>) -> String {
        link(
            path,
            &[
                ("tenant", &self.tenant),
                ("actor", &self.actor),
                ("action", &self.action),
                ("outcome", &self.outcome),
                ("source", &self.source),
                ("resource", &self.resource),
                ("since", &self.since),
                ("until", &self.until),
                ("cursor", cursor.unwrap_or_default()),
                ("format", format.unwrap_or_default()),
            ],
        )
    }

    pub fn selector(&self) -> Option<String> {
        selector(&self.tenant)
    }
}

/// A typed tenant selector (empty: none).
fn selector(tenant: &str) -> Option<String> {
    Some(tenant.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `path` with the pairs that have a value as its query.
fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if !value.is_empty() {
            q.append_pair(name, value);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// Events per page.
pub const EVENTS_PAGE: i64 = 50;

/// A time as the form sends it: RFC 3339, or a browser's `datetime-local` value, read
/// as UTC.
pub fn time_field(name: &'static str, text: &str) -> Result<Option<NaiveDateTime>> {
    let text = text.trim();
    if let Ok(t) = time_param(name, Some(text)) {
        return Ok(t);
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

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokensQuery {
    #[serde(default)]
    pub tenant: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub active: String,
    #[serde(default)]
    pub grant: String,
    #[serde(default)]
    pub since: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub cursor: String,
}

/// Tokens per page.
pub const TOKENS_PAGE: i64 = 50;

impl TokensQuery {
    pub fn filter(&self) -> Result<TokenFilter> {
        let given = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(TokenFilter {
            tenant_id: None,
            subject: given(&self.subject),
            client_id: given(&self.client),
            active: bool_param(Some(&self.active), "active: expected true or false")?,
            mfa: None,
            grant: grant_param(Some(self.grant.trim()))?,
            since: time_field("since", &self.since)?,
            until: time_field("until", &self.until)?,
            limit: TOKENS_PAGE,
            after: given(&self.cursor)
                .map(|c| tokens::decode_cursor(&c))
                .transpose()?,
        })
    }

    /// This filter as a link to the tokens page, with `cursor` as given.
    pub fn link(&self, cursor: Option<&str>) -> String {
        link(
            "/console/tokens",
            &[
                ("tenant", &self.tenant),
                ("subject", &self.subject),
                ("client", &self.client),
                ("active", &self.active),
                ("grant", &self.grant),
                ("since", &self.since),
                ("until", &self.until),
                ("cursor", cursor.unwrap_or_default()),
            ],
        )
    }

    pub fn selector(&self) -> Option<String> {
        selector(&self.tenant)
    }
}
