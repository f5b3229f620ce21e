//! Token exchange (RFC 8693) from a downstream service's side: a service holding a
//! caller's access token trades it at Tessera for one meant for the next service, so
//! that service sees the same tenant and subject with this service as the actor.
//! Guards: the subject token and the client secret never appear in an error's text or
//! in `Debug` output; the answer is read within a size bound and used only when it is
//! a bearer access token; the blocking HTTP call never runs on an async worker
//! ([`Exchanger::exchange_async`], feature `actix`).

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::report::form_encode;

/// `grant_type` of a token-exchange request (RFC 8693 section 2.1).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an access token (RFC 8693 section 3): the only type sent and
/// accepted back.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A token endpoint's answer larger than this is refused.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// An OAuth error code longer than this, or of other characters than the registered
/// codes use, is not repeated; it is reported as [`INVALID_CODE`].
const MAX_CODE_LEN: usize = 64;
const INVALID_CODE: &str = "invalid_error_code";

/// Exchanges tokens at one token endpoint as one confidential client
/// (`client_secret_basic`). Cheap to clone: clones share the HTTP agent.
#[derive(Clone)]
pub struct Exchanger {
    token_endpoint: String,
    client_id: String,
    client_secret: String,
    timeout: Duration,
    agent: ureq::Agent,
}

impl fmt::Debug for Exchanger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchanger")
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A successful exchange (RFC 8693 section 2.2.1). `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Exchanged {
    /// The new access token, for `Authorization: Bearer`.
    pub access_token: String,
    /// Its lifetime in seconds (never beyond the subject token's), when the endpoint
    /// names one (Tessera always does).
    pub expires_in: Option<u64>,
    /// The granted scope, when the endpoint names it (Tessera always does).
    pub scope: Option<String>,
    /// Always [`ACCESS_TOKEN_TYPE`]: any other answer is an [`ExchangeError::InvalidResponse`].
    pub issued_token_type: String,
}

impl fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchanged")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("issued_token_type", &self.issued_token_type)
            .finish()
    }
}

/// Why an exchange gave no token. No variant carries the subject token or the secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The token endpoint's URL is not `http://` or `https://`.
    #[error("the token endpoint URL must start with https:// or http://")]
    InvalidUrl,
    /// The endpoint refused with an OAuth error (RFC 6749 section 5.2, RFC 8693
    /// section 2.2.2): `invalid_request` (for Tessera also a subject token that is
    /// revoked, expired or of another tenant than a tenant-bound client's),
    /// `invalid_target` (an audience not on the client's list), `invalid_scope`,
    /// `invalid_client`, `unauthorized_client`, ...
    #[error("token exchange refused: {code} (HTTP {status})")]
    Refused {
        status: u16,
        code: String,
        /// The endpoint's `error_description`, for logs; not part of the text.
        description: Option<String>,
    },
    /// The endpoint answered an HTTP status without an OAuth error body.
    #[error("the token endpoint answered HTTP {0}")]
    Status(u16),
    /// A 200 whose body is not a token-exchange response for a bearer access token.
    #[error("the token endpoint's answer is not an access token")]
    InvalidResponse,
    /// The request did not complete (connection, timeout, oversized answer).
    #[error("token exchange request failed: {0}")]
    Transport(#[from] ureq::Error),
    /// The blocking task running the exchange was lost (feature `actix`).
    #[error("token exchange did not complete")]
    Aborted,
}

impl ExchangeError {
    /// The OAuth error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Success {
    access_token: String,
    issued_token_type: String,
    token_type: String,
    expires_in: Option<u64>,
    scope: Option<String>,
}

#[derive(Deserialize)]
struct Refusal {
    error: String,
    error_description: Option<String>,
}

impl Exchanger {
    /// A client for the token endpoint `token_endpoint` (Tessera's `{issuer}/token`)
    /// authenticating as `client_id` with `client_secret`; timeout 5 s.
    ///
    /// For an `https://` URL the service must enable a TLS feature of `ureq` 3 in its
    /// own dependencies (`features = ["rustls"]` or `["native-tls"]`).
    pub fn new(
        token_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, ExchangeError> {
        let token_endpoint = token_endpoint.into();
        if !(token_endpoint.starts_with("https://") || token_endpoint.starts_with("http://")) {
            return Err(ExchangeError::InvalidUrl);
        }
        let timeout = Duration::from_secs(5);
        Ok(Self {
            token_endpoint,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            timeout,
            agent: agent(timeout),
        })
    }

    /// The usual setup: the token endpoint `{issuer}/token`.
    pub fn for_issuer(
        issuer: &str,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Result<Self, ExchangeError> {
        let url = format!("{}/token", issuer.trim_end_matches('/'));
        Self::new(url, client_id, client_secret)
    }

    /// The whole-request timeout of one exchange (connection, request and answer).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.agent = agent(timeout);
        self
    }

    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Exchanges `subject_token` (an access token, without `Bearer `) for one meant for
    /// `audience`, its scope narrowed to `scope` when given (else the subject token's).
    /// Blocks for one HTTP round trip; in async code use
    /// [`Exchanger::exchange_async`] (feature `actix`).
    pub fn exchange(
        &self,
        subject_token: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<Exchanged, ExchangeError> {
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("subject_token", subject_token),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("audience", audience),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let credentials = format!(
            "{}:{}",
            form_encode(&self.client_id),
            form_encode(&self.client_secret)
        );
        let mut response = self
            .agent
            .post(&self.token_endpoint)
            .header("Accept", "application/json")
            .header(
                "Authorization",
                &format!("Basic {}", STANDARD.encode(credentials)),
            )
            .send_form(form)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()?;
        if status == 200 {
            return accepted(&body);
        }
        match serde_json::from_slice::<Refusal>(&body) {
            Ok(refusal) => Err(ExchangeError::Refused {
                status,
                code: error_code(refusal.error),
                description: refusal.error_description,
            }),
            Err(_) => Err(ExchangeError::Status(status)),
        }
    }

    /// [`Exchanger::exchange`] for async code on an actix (tokio) runtime: the HTTP
    /// call runs on the blocking pool.
    #[cfg(feature = "actix")]
    pub async fn exchange_async(
        &self,
        subject_token: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<Exchanged, ExchangeError> {
        let exchanger = self.clone();
        let (subject_token, audience) = (subject_token.to_owned(), audience.to_owned());
        let scope = scope.map(str::to_owned);
        actix_web::rt::task::spawn_blocking(move || {
            exchanger.exchange(&subject_token, &audience, scope.as_deref())
        })
        .await
        .map_err(|_| ExchangeError::Aborted)?
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build(),
    )
}

/// A 200's body: a bearer access token, or nothing usable.
fn accepted(body: &[u8]) -> Result<Exchanged, ExchangeError> {
    let success: Success =
        serde_json::from_slice(body).map_err(|_| ExchangeError::InvalidResponse)?;
    if success.issued_token_type != ACCESS_TOKEN_TYPE
        || !success.token_type.eq_ignore_ascii_case("bearer")
        || success.access_token.is_empty()
    {
        return Err(ExchangeError::InvalidResponse);
    }
    Ok(Exchanged {
        access_token: success.access_token,
        expires_in: success.expires_in,
        scope: success.scope,
        issued_token_type: success.issued_token_type,
    })
}

/// The code as sent when it is shaped like every registered one (lowercase letters,
/// digits, `_`), so an error's text never carries whatever else an endpoint answered:
/// a token, which always holds a `.`, cannot pass for a code.
fn error_code(code: String) -> String {
    let valid = !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        code
    } else {
        INVALID_CODE.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use serde_json::json;

    use super::*;
    use crate::test_support::{Reply, StubServer};

    const SUBJECT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    const SECRET: &str = "s3cr3t:with/odd&chars";

    fn exchanger(server: &StubServer) -> Exchanger {
        Exchanger::for_issuer(&format!("{}/", server.url()), "notes-svc", SECRET).unwrap()
    }

    fn success() -> Reply {
        Reply::new(
            200,
            json!({
                "access_token": "new.access.token",
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": 240,
                "scope": "openid notes:read",
            })
            .to_string(),
        )
        .header("Cache-Control", "no-store")
    }

    /// `application/x-www-form-urlencoded` fields, decoded.
    fn form(body: &[u8]) -> Vec<(String, String)> {
        fn decode(text: &str) -> String {
            let bytes = text.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                        out.push(u8::from_str_radix(hex, 16).unwrap());
                        i += 2;
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8(out).unwrap()
        }
        std::str::from_utf8(body)
            .unwrap()
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap();
                (decode(name), decode(value))
            })
            .collect()
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn posts_the_rfc_8693_form_with_basic_client_credentials() {
        let server = StubServer::start(|_| success());
        let exchanged = exchanger(&server)
            .exchange(SUBJECT, "reports", Some("notes:read openid"))
            .unwrap();
        assert_eq!(
            exchanged,
            Exchanged {
                access_token: "new.access.token".into(),
                expires_in: Some(240),
                scope: Some("openid notes:read".into()),
                issued_token_type: ACCESS_TOKEN_TYPE.into(),
            }
        );

        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/token")
        );
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(request.header("accept"), Some("application/json"));
        // RFC 6749 section 2.3.1: id and secret form-encoded, then Base64.
        let basic = request.header("authorization").unwrap();
        let decoded = STANDARD
            .decode(basic.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "notes-svc:s3cr3t%3Awith%2Fodd%26chars"
        );
        assert_eq!(
            form(&request.body),
            owned(&[
                ("grant_type", TOKEN_EXCHANGE_GRANT),
                ("subject_token", SUBJECT),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("audience", "reports"),
                ("scope", "notes:read openid"),
            ])
        );
        // The secret travels only in the header.
        assert!(!String::from_utf8_lossy(&request.body).contains("s3cr3t"));
    }

    #[test]
    fn without_a_scope_none_is_sent_and_the_answer_may_omit_optional_members() {
        let server = StubServer::start(|_| {
            Reply::new(
                200,
                json!({
                    "access_token": "t",
                    "issued_token_type": ACCESS_TOKEN_TYPE,
                    "token_type": "bearer",
                })
                .to_string(),
            )
        });
        let exchanged = exchanger(&server)
            .exchange(SUBJECT, "reports", None)
            .unwrap();
        assert_eq!((exchanged.expires_in, exchanged.scope), (None, None));
        let fields = form(&server.requests()[0].body);
        assert!(fields.iter().all(|(name, _)| name != "scope"), "{fields:?}");
        assert_eq!(fields.len(), 4);
    }

    #[test]
    fn oauth_errors_keep_their_code_and_never_the_token_or_secret() {
        for (status, code) in [
            (400, "invalid_request"),
            (400, "invalid_target"),
            (400, "invalid_scope"),
            (400, "unauthorized_client"),
            (401, "invalid_client"),
        ] {
            let server = StubServer::start(move |_| {
                Reply::new(
                    status,
                    json!({
                        "error": code,
                        "error_description": "the subject or actor token is invalid",
                        "request_id": "req-1",
                    })
                    .to_string(),
                )
            });
            let error = exchanger(&server)
                .exchange(SUBJECT, "reports", None)
                .unwrap_err();
            assert_eq!(error.code(), Some(code));
            match &error {
                ExchangeError::Refused {
                    status: got,
                    description,
                    ..
                } => {
                    assert_eq!(*got, status);
                    assert_eq!(
                        description.as_deref(),
                        Some("the subject or actor token is invalid")
                    );
                }
                other => panic!("{other:?}"),
            }
            let text = format!("{error} {error:?}");
            assert_eq!(
                error.to_string(),
                format!("token exchange refused: {code} (HTTP {status})")
            );
            assert!(
                !text.contains(SUBJECT) && !text.contains("s3cr3t"),
                "{text}"
            );
        }
    }

    #[test]
    fn other_answers_are_statuses_or_invalid_responses() {
        let cases: Vec<(Reply, &str)> = vec![
            (Reply::new(500, "<html>oops</html>"), "HTTP 500"),
            (Reply::new(503, ""), "HTTP 503"),
            (Reply::new(200, "not json"), "not an access token"),
            (
                Reply::new(
                    200,
                    json!({ "access_token": "t", "issued_token_type": "urn:ietf:params:oauth:token-type:refresh_token", "token_type": "Bearer" }).to_string(),
                ),
                "not an access token",
            ),
            (
                Reply::new(
                    200,
                    json!({ "access_token": "t", "issued_token_type": ACCESS_TOKEN_TYPE, "token_type": "N_A" }).to_string(),
                ),
                "not an access token",
            ),
            (
                Reply::new(400, json!({ "error": SUBJECT }).to_string()),
                "refused: invalid_error_code (HTTP 400)",
            ),
            (
                Reply::new(200, vec![b' '; 70 * 1024]),
                "request failed",
            ),
        ];
        for (reply, expected) in cases {
            let reply = std::sync::Mutex::new(Some(reply));
            let server = StubServer::start(move |_| reply.lock().unwrap().take().unwrap());
            let error = exchanger(&server)
                .exchange(SUBJECT, "reports", None)
                .unwrap_err();
            let text = error.to_string();
            assert!(text.contains(expected), "{text} / {expected}");
            assert!(!format!("{text} {error:?}").contains(SUBJECT));
        }
    }

    #[test]
    fn an_unreachable_endpoint_is_a_transport_error() {
        let mut gone = StubServer::start(|_| Reply::new(500, ""));
        let url = gone.url();
        gone.stop();
        let error = Exchanger::new(format!("{url}/token"), "notes-svc", SECRET)
            .unwrap()
            .with_timeout(Duration::from_secs(2))
            .exchange(SUBJECT, "reports", None)
            .unwrap_err();
        assert!(matches!(error, ExchangeError::Transport(_)), "{error:?}");
        assert!(!format!("{error} {error:?}").contains("s3cr3t"));
    }

    #[test]
    fn configuration_is_checked_and_debug_redacts_secrets() {
        assert!(matches!(
            Exchanger::new("ftp://id.example/token", "a", "b"),
            Err(ExchangeError::InvalidUrl)
        ));
        let exchanger = Exchanger::for_issuer("https://id.example/", "notes-svc", SECRET)
            .unwrap()
            .with_timeout(Duration::from_secs(3));
        assert_eq!(exchanger.token_endpoint(), "https://id.example/token");
        assert_eq!(exchanger.client_id(), "notes-svc");
        assert_eq!(exchanger.timeout(), Duration::from_secs(3));
        let debug = format!("{exchanger:?}");
        assert!(
            debug.contains("<redacted>") && !debug.contains("s3cr3t"),
            "{debug}"
        );
        let exchanged = Exchanged {
            access_token: SUBJECT.into(),
            expires_in: Some(1),
            scope: None,
            issued_token_type: ACCESS_TOKEN_TYPE.into(),
        };
        assert!(!format!("{exchanged:?}").contains(SUBJECT));
    }

    #[cfg(feature = "actix")]
    #[actix_web::test]
    async fn the_async_wrapper_runs_the_same_exchange() {
        let server = StubServer::start(|_| success());
        let exchanged = exchanger(&server)
            .exchange_async(SUBJECT, "reports", None)
            .await
            .unwrap();
        assert_eq!(exchanged.access_token, "new.access.token");
        assert_eq!(form(&server.requests()[0].body)[1].1, SUBJECT);
    }
}
