//! Who did what: the event types every operation records ([`Origin`], [`Event`]), the
//! [`Entry`] they become before chaining, and where an appended event landed.

use chrono::NaiveDateTime;
use serde::Serialize;

/// Who performed an operation, and through what.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `tessera` for the service itself, `cli` for the command line, or the client id of
    /// a downstream service that sent the event.
    pub source: String,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    /// An operator at the command line.
    pub fn cli() -> Self {
        Self {
            source: "cli".to_owned(),
            actor_type: ActorType::Operator,
            actor_id: std::env::var("USER").ok().filter(|u| !u.is_empty()),
            ip: None,
            request_id: None,
        }
    }

    /// The service acting on its own (start-up, schedules).
    pub fn system() -> Self {
        Self {
            source: "tessera".to_owned(),
            actor_type: ActorType::System,
            actor_id: None,
            ip: None,
            request_id: None,
        }
    }

    /// A request over HTTP by `actor_id` of `actor_type` (a user, or a client acting
    /// for itself; a browser before login has no user yet), from `ip`.
    pub fn request(
        actor_type: ActorType,
        actor_id: Option<&str>,
        ip: Option<String>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            source: "tessera".to_owned(),
            actor_type,
            actor_id: actor_id.map(str::to_owned),
            ip,
            request_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    User,
    Client,
    Operator,
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::Operator => "operator",
            Self::System => "system",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// What happened, to which resource, in which tenant's chain.
#[derive(Debug, Clone)]
pub struct Event {
    pub tenant_id: String,
    pub action: String,
    pub outcome: Outcome,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub occurred_at: Option<NaiveDateTime>,
    pub details: serde_json::Value,
}

impl Event {
    /// An action with no resource and no details.
    pub fn new(tenant_id: &str, action: &str, outcome: Outcome) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            action: action.to_owned(),
            outcome,
            resource_type: None,
            resource_id: None,
            occurred_at: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// A successful action on one resource, with no details.
    pub fn success(tenant_id: &str, action: &str, resource_type: &str, resource_id: &str) -> Self {
        Self::new(tenant_id, action, Outcome::Success).on(resource_type, resource_id)
    }

    /// The same action with another outcome.
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn on(mut self, resource_type: &str, resource_id: &str) -> Self {
        self.resource_type = Some(resource_type.to_owned());
        self.resource_id = Some(resource_id.to_owned());
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// Where a stored event landed in its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appended {
    pub id: String,
    pub seq: i64,
    pub hash: String,
}

/// One event ready to be chained: everything but its sequence number, hashes and
/// receipt time, which [`append`](super::append) assigns.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tenant_id: String,
    pub occurred_at: Option<NaiveDateTime>,
    pub source: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl Entry {
    pub fn new(origin: &Origin, event: Event) -> Self {
        Self {
            tenant_id: event.tenant_id,
            occurred_at: event.occurred_at,
            source: origin.source.clone(),
            actor_type: origin.actor_type.as_str().to_owned(),
            actor_id: origin.actor_id.clone(),
            action: event.action,
            resource_type: event.resource_type,
            resource_id: event.resource_id,
            outcome: event.outcome.as_str().to_owned(),
            ip: origin.ip.clone(),
            request_id: origin.request_id.clone(),
            details: event.details,
        }
    }
}
