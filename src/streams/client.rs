//! The blocking HTTP client that posts one batch of an audit stream and says what the
//! receiver made of it. It connects only to addresses the destination policy allows:
//! every address a name resolves to is checked before connecting, and the connection
//! uses exactly the checked addresses (so neither a name pointing at 127.0.0.1 nor DNS
//! rebinding gets through). It follows no redirect, bounds the whole exchange by a
//! timeout and reads at most 64 KiB of any answer, and its failure reasons carry
//! nothing the receiver wrote but the status code.

use std::io::{self, Read};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::{HeaderMap, Response};
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::destination::{self, Policy};

/// The most of a response body read (and dropped): enough to keep a connection
/// reusable after a chatty acknowledgement, too little for a hostile receiver to
/// exhaust memory or hold a worker reading.
const MAX_RESPONSE_BODY: u64 = 64 * 1024;
/// The longest wait a receiver's `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A 2xx: the receiver has the batch.
    Acknowledged,
    /// Not delivered this time: a non-2xx status other than 410 (a redirect included),
    /// or no answer at all. `reason` is safe to log: it holds no response body and no
    /// header value but the status.
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// A 410: the receiver asks for no more deliveries (Standard Webhooks).
    Gone,
    /// Never sent: the destination is not allowed, or the request cannot be made.
    /// Retrying will not help.
    Refused(String),
}

/// Posts batches for audit streams; one per process is enough (it pools connections).
#[derive(Debug)]
pub struct Poster {
    agent: ureq::Agent,
}

impl Poster {
    /// A client connecting only where `policy` allows, each exchange (resolution,
    /// connection, request and response) bounded by `timeout`.
    pub fn new(policy: Policy, timeout: Duration) -> Poster {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            // The system's trust store, so an operator's internal SIEM behind a
            // private CA works once the CA is installed on the host.
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let config = Config::builder()
            .http_status_as_error(false)
            // A redirect is a failure (Standard Webhooks), and following one would
            // reach a URL nobody checked.
            .max_redirects(0)
            .timeout_global(Some(timeout))
            // A proxy from the environment would be resolved instead of the
            // destination, bypassing the address check.
            .proxy(None)
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        let resolver = CheckedResolver {
            policy,
            inner: DefaultResolver::default(),
        };
        Poster {
            agent: ureq::Agent::with_parts(config, DefaultConnector::new(), resolver),
        }
    }

    /// Posts `body` to `url` with `headers` (the signature headers, for one).
    pub fn post(
        &self,
        url: &url::Url,
        headers: &[(&str, String)],
        content_type: &str,
        body: &[u8],
    ) -> Delivery {
        // The URL was checked when the stream was configured; checking again costs
        // nothing and keeps plain http to other hosts out whatever the caller did.
        if destination::parse_url(url.as_str()).is_err() {
            return Delivery::Refused("destination url not allowed".into());
        }
        let mut request = self.agent.post(url.as_str());
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        match request.content_type(content_type).send(body) {
            Ok(response) => answered(response),
            Err(e) => failed(&e),
        }
    }
}

fn answered(response: Response<ureq::Body>) -> Delivery {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let mut body = response.into_body();
    // Read (a bounded part of) the body so the connection can serve the next batch;
    // what it says is never used, and a failure to read it changes nothing.
    let _ = io::copy(
        &mut body.as_reader().take(MAX_RESPONSE_BODY),
        &mut io::sink(),
    );
    match status {
        200..=299 => Delivery::Acknowledged,
        410 => Delivery::Gone,
        300..=399 => Delivery::Retry {
            status: Some(status),
            retry_after,
            reason: format!("redirect not followed (status {status})"),
        },
        _ => Delivery::Retry {
            status: Some(status),
            retry_after,
            reason: format!("receiver answered status {status}"),
        },
    }
}

fn failed(e: &ureq::Error) -> Delivery {
    use ureq::Error as E;
    let retry = |reason: String| Delivery::Retry {
        status: None,
        retry_after: None,
        reason,
    };
    match e {
        E::Io(io) if is_refusal(io) => Delivery::Refused("destination address not allowed".into()),
        E::BadUri(_) | E::Http(_) => Delivery::Refused("invalid request".into()),
        E::Timeout(_) => retry("timed out".into()),
        E::HostNotFound => retry("host not found".into()),
        // The kind ("connection refused", "connection reset") is ours to describe;
        // the message may not be.
        E::Io(io) => retry(format!("connection failed: {}", io.kind())),
        E::ConnectionFailed => retry("connection failed".into()),
        E::Protocol(_) => retry("malformed response".into()),
        E::Tls(_) | E::NativeTls(_) | E::Der(_) | E::Pem(_) => retry("tls failure".into()),
        E::TooManyRedirects | E::RedirectFailed => retry("redirect not followed".into()),
        _ => retry("request failed".into()),
    }
}

/// A receiver's `Retry-After` (delta-seconds or an HTTP-date), at most an hour.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is "longer than the cap".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The wait before retry `attempt` (0 for the first retry): exponential with full
/// jitter, uniformly random in [0, min(cap, base * 2^attempt)], so receivers
/// recovering from an outage are not hit by every sender at once.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = 2u32
        .checked_pow(attempt)
        .and_then(|factor| base.checked_mul(factor))
        .map_or(cap, |d| d.min(cap));
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::random_range(0..=nanos))
}

/// The marker of a connection refused by the destination policy, carried through
/// ureq's error type.
#[derive(Debug)]
struct Refusal;

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stream destination address is not allowed")
    }
}

impl std::error::Error for Refusal {}

fn is_refusal(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refusal>())
}

/// The system resolver, failing unless every address it returns is allowed. All
/// rather than any: the connector tries the addresses in turn, so one allowed address
/// must not carry a forbidden one through.
#[derive(Debug)]
struct CheckedResolver {
    policy: Policy,
    inner: DefaultResolver,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if addrs
            .iter()
            .any(|addr| destination::check_ip(addr.ip(), &self.policy).is_err())
        {
            return Err(ureq::Error::Io(io::Error::new(
                io::ErrorKind::PermissionDenied,
                Refusal,
            )));
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::thread::JoinHandle;
    use std::time::Instant;

    const LOOPBACK: Policy = Policy {
        allow_private: true,
    };
    const STRICT: Policy = Policy {
        allow_private: false,
    };

    /// A loopback receiver answering each connection with the next of `answers`
    /// (`None`: accept and never answer), stopping after the last or after `window`,
    /// whichever comes first. Joining yields what each connection sent (empty for a
    /// connection that sent nothing).
    struct Receiver {
        port: u16,
        handle: JoinHandle<Vec<String>>,
    }

    impl Receiver {
        fn start(answers: Vec<Option<String>>, window: Duration) -> Receiver {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let handle = std::thread::spawn(move || {
                let deadline = Instant::now() + window;
                let mut seen = Vec::new();
                let mut answers = answers.into_iter();
                let mut next = answers.next();
                while let Some(answer) = &next {
                    if Instant::now() >= deadline {
                        break;
                    }
                    match listener.accept() {
                        Ok((stream, _)) => {
                            seen.push(exchange(stream, answer.as_deref(), deadline));
                            next = answers.next();
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
                seen
            });
            Receiver { port, handle }
        }

        fn url(&self, path: &str) -> url::Url {
            url::Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap()
        }

        fn requests(self) -> Vec<String> {
            self.handle.join().unwrap()
        }
    }

    fn exchange(mut stream: TcpStream, answer: Option<&str>, deadline: Instant) -> String {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let request = read_request(&mut stream);
        match answer {
            Some(answer) => {
                let _ = stream.write_all(answer.as_bytes());
            }
            // Hold the connection open, silent, until the window closes.
            None => std::thread::sleep(deadline.saturating_duration_since(Instant::now())),
        }
        request
    }

    fn read_request(stream: &mut TcpStream) -> String {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    break;
                }
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&data).into_owned()
    }

    fn answer(status: &str, headers: &str, body: &str) -> Option<String> {
        Some(format!(
            "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    fn post(poster: &Poster, url: &url::Url) -> Delivery {
        let headers = [
            ("webhook-id", "msg_abc".to_owned()),
            ("webhook-timestamp", "1614265330".to_owned()),
        ];
        poster.post(url, &headers, "application/json", br#"{"batch":1}"#)
    }

    fn poster(policy: Policy) -> Poster {
        Poster::new(policy, Duration::from_secs(5))
    }

    #[test]
    fn a_2xx_is_acknowledged() {
        let receiver = Receiver::start(
            vec![answer("200 OK", "", "thanks")],
            Duration::from_secs(10),
        );
        let url = receiver.url("/ingest");
        assert_eq!(post(&poster(LOOPBACK), &url), Delivery::Acknowledged);
        let requests = receiver.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert!(
            request.starts_with("POST /ingest HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(lower.contains("webhook-id: msg_abc\r\n"), "{request}");
        assert!(lower.contains("webhook-timestamp: 1614265330\r\n"));
        assert!(lower.contains("content-type: application/json\r\n"));
        assert!(request.ends_with("\r\n\r\n{\"batch\":1}"), "{request}");
    }

    #[test]
    fn a_huge_acknowledgement_is_read_only_in_part() {
        let body = "x".repeat(4 * 1024 * 1024);
        let receiver = Receiver::start(
            vec![answer("202 Accepted", "", &body)],
            Duration::from_secs(10),
        );
        assert_eq!(
            post(&poster(LOOPBACK), &receiver.url("/")),
            Delivery::Acknowledged
        );
        receiver.requests();
    }

    #[test]
    fn a_503_is_retried_after_the_receiver_s_delay() {
        let receiver = Receiver::start(
            vec![answer(
                "503 Service Unavailable",
                "retry-after: 7\r\n",
                "secret internals",
            )],
            Duration::from_secs(10),
        );
        match post(&poster(LOOPBACK), &receiver.url("/")) {
            Delivery::Retry {
                status,
                retry_after,
                reason,
            } => {
                assert_eq!(status, Some(503));
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
                assert!(!reason.contains("internals"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        receiver.requests();
    }

    #[test]
    fn a_429_without_delay_and_a_400_are_retried() {
        let receiver = Receiver::start(
            vec![
                answer("429 Too Many Requests", "", ""),
                answer("400 Bad Request", "", ""),
            ],
            Duration::from_secs(10),
        );
        let poster = poster(LOOPBACK);
        for expected in [429, 400] {
            match post(&poster, &receiver.url("/")) {
                Delivery::Retry {
                    status,
                    retry_after,
                    ..
                } => {
                    assert_eq!(status, Some(expected));
                    assert_eq!(retry_after, None);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(receiver.requests().len(), 2);
    }

    #[test]
    fn a_410_means_gone() {
        let receiver = Receiver::start(vec![answer("410 Gone", "", "")], Duration::from_secs(10));
        assert_eq!(post(&poster(LOOPBACK), &receiver.url("/")), Delivery::Gone);
        receiver.requests();
    }

    #[test]
    fn redirects_are_not_followed() {
        let target = Receiver::start(vec![answer("200 OK", "", "")], Duration::from_secs(2));
        let location = format!("location: {}\r\n", target.url("/elsewhere"));
        let receiver = Receiver::start(
            vec![answer("302 Found", &location, "")],
            Duration::from_secs(10),
        );
        match post(&poster(LOOPBACK), &receiver.url("/")) {
            Delivery::Retry { status, .. } => assert_eq!(status, Some(302)),
            other => panic!("{other:?}"),
        }
        assert_eq!(receiver.requests().len(), 1);
        assert!(
            target.requests().is_empty(),
            "the redirect target got nothing"
        );
    }

    #[test]
    fn a_private_address_is_refused_before_connecting() {
        let receiver = Receiver::start(vec![answer("200 OK", "", "")], Duration::from_millis(500));
        let delivery = post(&poster(STRICT), &receiver.url("/"));
        assert!(matches!(delivery, Delivery::Refused(_)), "{delivery:?}");
        assert!(receiver.requests().is_empty(), "no connection was made");
    }

    #[test]
    fn a_name_resolving_to_loopback_is_refused() {
        let receiver = Receiver::start(vec![answer("200 OK", "", "")], Duration::from_millis(500));
        let url = url::Url::parse(&format!("http://localhost:{}/", receiver.port)).unwrap();
        let delivery = post(&poster(STRICT), &url);
        assert!(matches!(delivery, Delivery::Refused(_)), "{delivery:?}");
        assert!(receiver.requests().is_empty(), "no connection was made");
    }

    #[test]
    fn plain_http_elsewhere_is_refused() {
        let url = url::Url::parse("http://192.0.2.1/").unwrap();
        let delivery = post(&poster(LOOPBACK), &url);
        assert!(matches!(delivery, Delivery::Refused(_)), "{delivery:?}");
    }

    #[test]
    fn a_silent_receiver_times_out_and_is_retried() {
        let receiver = Receiver::start(vec![None], Duration::from_secs(3));
        let poster = Poster::new(LOOPBACK, Duration::from_millis(500));
        let started = Instant::now();
        let delivery = post(&poster, &receiver.url("/"));
        let took = started.elapsed();
        match delivery {
            Delivery::Retry { status, reason, .. } => {
                assert_eq!(status, None);
                assert_eq!(reason, "timed out");
            }
            other => panic!("{other:?}"),
        }
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        receiver.requests();
    }

    #[test]
    fn https_goes_through_native_tls() {
        // A receiver that answers a TLS handshake with plain HTTP: the handshake fails,
        // which shows the native-tls provider is wired in (a missing provider panics).
        let receiver = Receiver::start(
            vec![answer("400 Bad Request", "", "")],
            Duration::from_secs(10),
        );
        let url = url::Url::parse(&format!("https://127.0.0.1:{}/", receiver.port)).unwrap();
        match post(&poster(LOOPBACK), &url) {
            Delivery::Retry { status, reason, .. } => {
                assert_eq!(status, None);
                assert!(
                    reason.contains("tls") || reason.starts_with("connection"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        receiver.requests();
    }

    #[test]
    fn a_closed_port_is_retried() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        match post(&poster(LOOPBACK), &url) {
            Delivery::Retry { status, reason, .. } => {
                assert_eq!(status, None);
                assert!(reason.starts_with("connection"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_capped_at_an_hour() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", value.parse().unwrap());
            retry_after(&headers)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with(" 0 "), Some(Duration::ZERO));
        assert_eq!(with("86400"), Some(MAX_RETRY_AFTER));
        assert_eq!(with("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(with("-5"), None);
        assert_eq!(with("soon"), None);
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let wait = with(&later).unwrap();
        assert!(
            wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        let far = (chrono::Utc::now() + chrono::Duration::days(2))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(with(&far), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_stays_within_its_bounds() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(300);
        for attempt in 0..10 {
            let ceiling = (base * 2u32.pow(attempt)).min(cap);
            for _ in 0..50 {
                assert!(backoff(attempt, base, cap) <= ceiling);
            }
        }
        for attempt in [31, 32, 64, 1000, u32::MAX] {
            assert!(backoff(attempt, base, cap) <= cap);
            assert!(backoff(attempt, Duration::MAX, Duration::MAX) <= Duration::MAX);
        }
        assert_eq!(backoff(5, Duration::ZERO, cap), Duration::ZERO);
        assert_eq!(backoff(5, base, Duration::ZERO), Duration::ZERO);
        // Full jitter: the waits spread over the range rather than clustering at it.
        let waits: Vec<_> = (0..200).map(|_| backoff(8, base, cap)).collect();
        assert!(waits.iter().any(|w| *w < cap / 4));
        assert!(waits.iter().any(|w| *w > cap * 3 / 4));
    }
}
