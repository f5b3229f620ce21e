//! The receiving side of Tessera's audit stream: checks, line by line and in bounded
//! memory, that every tenant's events arrive complete, in order, linked and unedited,
//! and that each signed checkpoint pins a hash this stream actually delivered.
//!
//! The stream is NDJSON. A line is either an audit item exactly as
//! [`AuditItem`] serializes, or a checkpoint `{"checkpoint": "<JWS>"}` whose JWS
//! (header `typ: checkpoint+jwt`) is signed by one of Tessera's published keys over
//! `{iss, tenant_id, tenant, seq, hash, iat}`. Tenants may interleave; within a tenant
//! events come in `seq` order from 1, the first with `prev_hash` of 64 zeros.
//!
//! The hash is recomputed exactly as the server's `audit::chain` does:
//! `hex(SHA-256(prev_hash || canonical))`, with `canonical` the compact JSON array
//! `[tenant_id, seq, id, occurred_at, received_at, source, actor_type, actor_id, action,
//! resource_type, resource_id, outcome, ip, request_id, details]`, where `details` is a
//! JSON string holding the details object with keys sorted recursively. Members of a
//! line beyond [`AuditItem`]'s are not covered by the hash and are ignored; a receiver
//! should keep the parsed item, not the raw line.
//!
//! Memory rule: per tenant the checker keeps its head (seq, hash), counters, and the
//! raw hashes of the last [`DEFAULT_RETAINED`] events (32 bytes each, configurable with
//! [`StreamChecker::with_retained`]), never the events. Tessera emits a checkpoint right
//! after the event it names, so its seq is normally the head; a checkpoint naming a seq
//! older than the retained window is reported as [`ProblemKind::CheckpointUnverifiable`]
//! rather than silently accepted.
//!
//! A line that yields a problem changes no state (only the line count), so a receiver
//! may drop a redelivered duplicate and carry on.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Read};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tessera_proto::api::AuditItem;
use tessera_proto::strict_json::no_duplicate_members;

use crate::algorithm::Algorithm;
use crate::error::JwksError;
use crate::jwks::{JwksClient, Lookup};

/// The JOSE `typ` of a checkpoint.
pub const CHECKPOINT_TYP: &str = "checkpoint+jwt";
/// `prev_hash` of the first event of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Hashes of this many recent events are kept per tenant for checking checkpoints.
pub const DEFAULT_RETAINED: usize = 4096;
/// Longer lines are refused; server events are far smaller (details ≤ 16 KiB).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Longer checkpoint JWSs are refused before any decoding.
const MAX_CHECKPOINT_LEN: usize = 16 * 1024;

/// Why a [`StreamChecker`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error(transparent)]
    Jwks(#[from] JwksError),
    #[error("invalid chain head: {0}")]
    InvalidHead(&'static str),
}

/// The first thing wrong with a stream: where, for which tenant and seq, and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {kind}", .tenant_id.as_deref().map(|t| format!(", tenant {t}")).unwrap_or_default())]
pub struct StreamProblem {
    /// 1-based, counting blank lines.
    pub line: u64,
    /// Unknown for lines that are not a readable item or a verified checkpoint.
    pub tenant_id: Option<String>,
    /// The item's seq, or the checkpoint's.
    pub seq: Option<i64>,
    pub kind: ProblemKind,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProblemKind {
    #[error("not an audit item or checkpoint line: {reason}")]
    Malformed { reason: &'static str },
    #[error(
        "seq {expected} is missing (the next event received is seq {found}): an event is missing"
    )]
    Gap { expected: i64, found: i64 },
    #[error(
        "seq {found} arrived where seq {expected} was expected: out of order or repeated \
         (a batch redelivered with the same webhook-id should be deduplicated by the receiver)"
    )]
    Repeated { expected: i64, found: i64 },
    #[error(
        "seq {seq}'s prev_hash is not the hash of the event before it (64 zeros for seq 1): \
         an earlier event was replaced or removed"
    )]
    BadLink { seq: i64 },
    #[error("seq {seq}'s hash does not match its content: the event was edited")]
    BadHash { seq: i64 },
    #[error("the checkpoint is refused: {reason}")]
    CheckpointSignature { reason: CheckpointRefusal },
    #[error(
        "the checkpoint names seq {seq}, but events were received only up to seq {head}: \
         events are missing"
    )]
    CheckpointAhead { seq: i64, head: i64 },
    #[error("the hash at seq {seq} differs from the checkpoint's: history was rewritten")]
    CheckpointMismatch { seq: i64 },
    #[error(
        "the checkpoint names seq {seq}, older than the hashes kept (from seq {oldest}): \
         it cannot be checked"
    )]
    CheckpointUnverifiable { seq: i64, oldest: i64 },
    #[error("the input could not be read ({error})")]
    Unreadable { error: std::io::ErrorKind },
}

/// Why a checkpoint's JWS is not accepted as Tessera's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointRefusal {
    #[error("no keys were given to verify checkpoints")]
    NoKeys,
    #[error("it is not a well-formed JWS in compact form")]
    Malformed,
    #[error("its typ is not checkpoint+jwt")]
    WrongType,
    #[error("no given key has its kid")]
    UnknownKey,
    #[error("its alg is not its key's algorithm")]
    AlgorithmMismatch,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("its signed content is not a checkpoint")]
    BadContent,
    #[error("it was issued by another issuer")]
    WrongIssuer,
}

/// What a stream delivered so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSummary {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Ordered by tenant id.
    pub tenants: Vec<TenantSummary>,
}

/// One tenant's chain as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantSummary {
    pub tenant_id: String,
    /// The slug, as named by a verified checkpoint.
    pub tenant: Option<String>,
    /// Events accepted by this checker (not counting a resumed head).
    pub events: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The highest seq a verified checkpoint pinned.
    pub last_checkpoint_seq: Option<i64>,
    pub checkpoints_verified: u64,
}

/// One tenant's chain state: the head and a window of recent hashes, never events.
#[derive(Debug, Clone)]
struct Chain {
    events: u64,
    head_seq: i64,
    head_hash: String,
    /// Hashes of seqs `head_seq - recent.len() + 1 ..= head_seq`, oldest first.
    recent: VecDeque<[u8; 32]>,
    tenant: Option<String>,
    last_checkpoint_seq: Option<i64>,
    checkpoints_verified: u64,
}

impl Chain {
    fn genesis() -> Self {
        Self {
            events: 0,
            head_seq: 0,
            head_hash: GENESIS_HASH.to_owned(),
            recent: VecDeque::new(),
            tenant: None,
            last_checkpoint_seq: None,
            checkpoints_verified: 0,
        }
    }

    fn advance(&mut self, seq: i64, hash: [u8; 32], retained: usize) {
        self.events += 1;
        self.head_seq = seq;
        self.head_hash = hex::encode(hash);
        if self.recent.len() >= retained {
            self.recent.pop_front();
        }
        self.recent.push_back(hash);
    }

    /// The oldest seq whose hash is known (0: the genesis hash).
    fn oldest_known(&self) -> i64 {
        let kept = i64::try_from(self.recent.len()).unwrap_or(i64::MAX);
        self.head_seq.saturating_sub(kept).saturating_add(1).max(0)
    }

    /// The hash at `seq`, for `0 <= seq <= head_seq`, if still known.
    fn hash_at(&self, seq: i64) -> Option<[u8; 32]> {
        if seq == 0 {
            return Some([0; 32]);
        }
        let index = seq.checked_sub(self.oldest_known())?;
        self.recent.get(usize::try_from(index).ok()?).copied()
    }
}

/// Checks an audit stream as it is ingested; see the module documentation.
#[derive(Debug)]
pub struct StreamChecker {
    keys: Option<JwksClient>,
    issuer: Option<String>,
    retained: usize,
    line: u64,
    chains: HashMap<String, Chain>,
}

impl StreamChecker {
    /// `jwks`: the JWKS JSON text (Tessera's `/.well-known/jwks.json`) that verifies
    /// checkpoints; with `None` every checkpoint line is a problem, so callers must pass
    /// keys to accept checkpoints. `issuer`: when given, a checkpoint's `iss` must equal
    /// it. A JWKS that is not one, or holds no usable signing key, is an error.
    pub fn new(jwks: Option<&str>, issuer: Option<&str>) -> Result<Self, StreamError> {
        let keys = jwks.map(static_keys).transpose()?;
        Ok(Self {
            keys,
            issuer: issuer.map(str::to_owned),
            retained: DEFAULT_RETAINED,
            line: 0,
            chains: HashMap::new(),
        })
    }

    /// How many recent hashes to keep per tenant (at least 1: the head's).
    pub fn with_retained(mut self, retained: usize) -> Self {
        self.retained = retained.max(1);
        for chain in self.chains.values_mut() {
            while chain.recent.len() > self.retained {
                chain.recent.pop_front();
            }
        }
        self
    }

    /// Continues `tenant_id`'s chain after an already checked head (a receiver that
    /// restarts), instead of expecting seq 1. Replaces what was known of that tenant.
    pub fn resume(
        &mut self,
        tenant_id: &str,
        head_seq: i64,
        head_hash: &str,
    ) -> Result<(), StreamError> {
        let hash = parse_hash(head_hash).ok_or(StreamError::InvalidHead(
            "the hash is not 64 lowercase hex digits",
        ))?;
        let mut chain = Chain::genesis();
        match head_seq {
            0 if head_hash == GENESIS_HASH => {}
            0 => return Err(StreamError::InvalidHead("seq 0 has the genesis hash")),
            seq if seq < 0 => return Err(StreamError::InvalidHead("seq is negative")),
            seq => {
                chain.head_seq = seq;
                chain.head_hash = head_hash.to_owned();
                chain.recent.push_back(hash);
            }
        }
        self.chains.insert(tenant_id.to_owned(), chain);
        Ok(())
    }

    /// Checks one line (without its newline). Blank lines are ignored but counted.
    pub fn push_line(&mut self, line: &str) -> Result<(), StreamProblem> {
        self.line += 1;
        let text = line.trim();
        if text.is_empty() {
            return Ok(());
        }
        if text.len() > MAX_LINE_BYTES {
            return Err(self.malformed("the line is longer than 1 MiB"));
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| self.malformed("the line is not JSON"))?;
        // A repeated member could mean one thing here and another to whoever stores it.
        if !no_duplicate_members(text.as_bytes()) {
            return Err(self.malformed("a member name is repeated"));
        }
        if let Some(checkpoint) = value.get("checkpoint") {
            let jws = checkpoint
                .as_str()
                .ok_or_else(|| self.malformed("the checkpoint is not a string"))?;
            return self.push_checkpoint(jws);
        }
        let item = AuditItem::deserialize(value)
            .map_err(|_| self.malformed("the line is not an audit item"))?;
        self.push_item(&item)
    }

    /// Checks every line of `reader`, stopping at the first problem.
    pub fn check_reader(&mut self, mut reader: impl BufRead) -> Result<(), StreamProblem> {
        // Room for the longest accepted line and its `\r\n`.
        let limit = u64::try_from(MAX_LINE_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(2);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let read = reader
                .by_ref()
                .take(limit)
                .read_until(b'\n', &mut buf)
                .map_err(|e| {
                    self.line += 1;
                    self.problem(None, None, ProblemKind::Unreadable { error: e.kind() })
                })?;
            if read == 0 {
                return Ok(());
            }
            if buf.last() != Some(&b'\n') && u64::try_from(read).unwrap_or(u64::MAX) >= limit {
                self.line += 1;
                return Err(self.malformed("the line is longer than 1 MiB"));
            }
            let Ok(text) = std::str::from_utf8(&buf) else {
                self.line += 1;
                return Err(self.malformed("the line is not UTF-8"));
            };
            self.push_line(text.trim_end_matches(['\n', '\r']))?;
        }
    }

    /// Every tenant seen so far, by tenant id.
    pub fn summary(&self) -> StreamSummary {
        let mut tenants: Vec<TenantSummary> = self
            .chains
            .iter()
            .map(|(tenant_id, chain)| TenantSummary {
                tenant_id: tenant_id.clone(),
                tenant: chain.tenant.clone(),
                events: chain.events,
                head_seq: chain.head_seq,
                head_hash: chain.head_hash.clone(),
                last_checkpoint_seq: chain.last_checkpoint_seq,
                checkpoints_verified: chain.checkpoints_verified,
            })
            .collect();
        tenants.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        StreamSummary {
            lines: self.line,
            tenants,
        }
    }

    fn push_item(&mut self, item: &AuditItem) -> Result<(), StreamProblem> {
        let at = |kind| self.problem(Some(&item.tenant_id), Some(item.seq), kind);
        if item.seq < 1 {
            return Err(at(ProblemKind::Malformed {
                reason: "seq must be at least 1",
            }));
        }
        let (head_seq, head_hash) = self
            .chains
            .get(&item.tenant_id)
            .map_or((0, GENESIS_HASH), |c| (c.head_seq, c.head_hash.as_str()));
        let expected = head_seq.saturating_add(1);
        if item.seq > expected {
            return Err(at(ProblemKind::Gap {
                expected,
                found: item.seq,
            }));
        }
        if item.seq < expected {
            return Err(at(ProblemKind::Repeated {
                expected,
                found: item.seq,
            }));
        }
        if item.prev_hash != head_hash {
            return Err(at(ProblemKind::BadLink { seq: item.seq }));
        }
        let hash = digest(item);
        if hex::encode(hash) != item.hash {
            return Err(at(ProblemKind::BadHash { seq: item.seq }));
        }
        let retained = self.retained;
        self.chains
            .entry(item.tenant_id.clone())
            .or_insert_with(Chain::genesis)
            .advance(item.seq, hash, retained);
        Ok(())
    }

    fn push_checkpoint(&mut self, jws: &str) -> Result<(), StreamProblem> {
        let checkpoint = self.verify_checkpoint(jws).map_err(|reason| {
            self.problem(None, None, ProblemKind::CheckpointSignature { reason })
        })?;
        let at = |kind| self.problem(Some(&checkpoint.tenant_id), Some(checkpoint.seq), kind);
        let refused = |reason| at(ProblemKind::CheckpointSignature { reason });
        let pinned =
            parse_hash(&checkpoint.hash).ok_or_else(|| refused(CheckpointRefusal::BadContent))?;
        if checkpoint.seq < 0 {
            return Err(refused(CheckpointRefusal::BadContent));
        }
        let genesis = Chain::genesis();
        let chain = self.chains.get(&checkpoint.tenant_id).unwrap_or(&genesis);
        if checkpoint.seq > chain.head_seq {
            return Err(at(ProblemKind::CheckpointAhead {
                seq: checkpoint.seq,
                head: chain.head_seq,
            }));
        }
        match chain.hash_at(checkpoint.seq) {
            None => {
                return Err(at(ProblemKind::CheckpointUnverifiable {
                    seq: checkpoint.seq,
                    oldest: chain.oldest_known(),
                }))
            }
            Some(hash) if hash != pinned => {
                return Err(at(ProblemKind::CheckpointMismatch {
                    seq: checkpoint.seq,
                }))
            }
            Some(_) => {}
        }
        let chain = self
            .chains
            .entry(checkpoint.tenant_id)
            .or_insert_with(Chain::genesis);
        chain.tenant = Some(checkpoint.tenant);
        chain.checkpoints_verified += 1;
        chain.last_checkpoint_seq = chain.last_checkpoint_seq.max(Some(checkpoint.seq));
        Ok(())
    }

    /// The checkpoint's content, only once its header, key, signature and issuer are
    /// right. The key is chosen by `kid` and its own algorithm decides, never the header.
    fn verify_checkpoint(&self, jws: &str) -> Result<Checkpoint, CheckpointRefusal> {
        use CheckpointRefusal::{
            AlgorithmMismatch, BadContent, BadSignature, Malformed, NoKeys, UnknownKey,
            WrongIssuer, WrongType,
        };
        let keys = self.keys.as_ref().ok_or(NoKeys)?;
        if jws.len() > MAX_CHECKPOINT_LEN {
            return Err(Malformed);
        }
        let mut parts = jws.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed);
        };
        let header_bytes = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| Malformed)?;
        if !no_duplicate_members(&header_bytes) {
            return Err(Malformed);
        }
        let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| Malformed)?;
        // No JWS extension is understood, so none may be critical (RFC 7515 4.1.11).
        if header.crit.is_some() {
            return Err(Malformed);
        }
        let typ = header.typ.as_deref().ok_or(WrongType)?;
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case(CHECKPOINT_TYP) {
            return Err(WrongType);
        }
        let kid = header.kid.ok_or(UnknownKey)?;
        let Lookup::Found { key, .. } = keys.lookup(&kid, false) else {
            return Err(UnknownKey);
        };
        if header.alg.as_deref().and_then(Algorithm::parse) != Some(key.alg) {
            return Err(AlgorithmMismatch);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| Malformed)?;
        let signing_input = &jws[..header_b64.len() + 1 + payload_b64.len()];
        key.verifier
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| BadSignature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| Malformed)?;
        if !no_duplicate_members(&payload) {
            return Err(BadContent);
        }
        let checkpoint: Checkpoint = serde_json::from_slice(&payload).map_err(|_| BadContent)?;
        if self
            .issuer
            .as_deref()
            .is_some_and(|issuer| issuer != checkpoint.iss)
        {
            return Err(WrongIssuer);
        }
        Ok(checkpoint)
    }

    fn problem(
        &self,
        tenant_id: Option<&str>,
        seq: Option<i64>,
        kind: ProblemKind,
    ) -> StreamProblem {
        StreamProblem {
            line: self.line,
            tenant_id: tenant_id.map(str::to_owned),
            seq,
            kind,
        }
    }

    fn malformed(&self, reason: &'static str) -> StreamProblem {
        self.problem(None, None, ProblemKind::Malformed { reason })
    }
}

/// The signed content of a checkpoint (the server's `audit::checkpoint::Checkpoint`).
/// `iat` is not read: a checkpoint states history, so it does not expire.
#[derive(Deserialize)]
struct Checkpoint {
    iss: String,
    tenant_id: String,
    tenant: String,
    seq: i64,
    hash: String,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<IgnoredAny>,
}

/// A never-fetching key set from JWKS text, refused when no key in it is usable.
fn static_keys(jwks: &str) -> Result<JwksClient, StreamError> {
    let client = JwksClient::from_jwks(jwks.as_bytes())?;
    // The client skips unusable keys silently; a set where all were skipped would
    // make every checkpoint fail, which is a configuration error worth saying early.
    let doc: serde_json::Value = serde_json::from_str(jwks)
        .map_err(|e| JwksError::Invalid(format!("not a JWK set: {e}")))?;
    let usable = doc
        .get("keys")
        .and_then(|keys| keys.as_array())
        .into_iter()
        .flatten()
        .filter_map(|key| key.get("kid").and_then(|kid| kid.as_str()))
        .any(|kid| matches!(client.lookup(kid, false), Lookup::Found { .. }));
    if usable {
        Ok(client)
    } else {
        Err(JwksError::NoUsableKeys.into())
    }
}

/// 64 lowercase hex digits, as the server writes hashes (it compares them as text).
fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// The chain hash of `item` after its own `prev_hash`, exactly as the server computes
/// it for the stored event (`audit::chain::chain_hash`).
pub fn item_hash(item: &AuditItem) -> String {
    hex::encode(digest(item))
}

fn digest(item: &AuditItem) -> [u8; 32] {
    let mut buf = Vec::with_capacity(1024);
    buf.extend_from_slice(item.prev_hash.as_bytes());
    write_canonical(item, &mut buf);
    Sha256::digest(&buf).into()
}

/// The server's canonical array, from the API shape: a missing resource is a null type
/// and id (the server turns that pair into `resource: null`), and the details are the
/// stored text, which is the canonical JSON of the object the API shows.
fn write_canonical(item: &AuditItem, out: &mut Vec<u8>) {
    let (resource_type, resource_id) = item
        .resource
        .as_ref()
        .map_or((None, None), |r| (r.kind.as_deref(), r.id.as_deref()));
    let fields = (
        &item.tenant_id,
        item.seq,
        &item.id,
        &item.occurred_at,
        &item.received_at,
        &item.source,
        item.actor.kind.as_deref(),
        item.actor.id.as_deref(),
        &item.action,
        resource_type,
        resource_id,
        &item.outcome,
        item.ip.as_deref(),
        item.request_id.as_deref(),
        canonical_json(&item.details),
    );
    // Serializing strings, integers and options into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &fields);
}

use tessera_proto::canonical::canonical_json;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::testing::TestIssuer;
    use serde_json::json;
    use tessera_proto::api::Party;

    const ISS: &str = "https://id.example";
    const TENANTS: [&str; 3] = ["tenant-a", "tenant-b", "tenant-c"];

    fn item(tenant_id: &str, seq: i64, prev_hash: &str) -> AuditItem {
        let mut item = AuditItem {
            id: format!("{tenant_id}-e{seq}"),
            tenant_id: tenant_id.to_owned(),
            seq,
            occurred_at: "2026-11-18T11:06:40.123456Z".to_owned(),
            received_at: "2026-11-18T11:06:40.223456Z".to_owned(),
            source: "tessera".to_owned(),
            actor: Party {
                kind: Some("user".to_owned()),
                id: Some(format!("user-{seq}")),
            },
            action: "user.login".to_owned(),
            outcome: "success".to_owned(),
            resource: (seq % 2 == 0).then(|| Party {
                kind: Some("client".to_owned()),
                id: Some("web".to_owned()),
            }),
            request_id: Some(format!("req-{seq}")),
            ip: (seq % 3 == 0).then(|| "192.0.2.7".to_owned()),
            details: json!({"z": seq, "a": {"y": [{"b": 2, "a": 1}], "x": null}, "note": "é \"q\""}),
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        item.hash = item_hash(&item);
        item
    }

    /// A signer of checkpoints, and its JWKS.
    fn signer() -> TestIssuer {
        TestIssuer::new(ISS, "unused").unwrap()
    }

    fn checkpoint_line(signer: &TestIssuer, tenant_id: &str, seq: i64, hash: &str) -> String {
        checkpoint_with(signer, CHECKPOINT_TYP, ISS, tenant_id, seq, hash)
    }

    fn checkpoint_with(
        signer: &TestIssuer,
        typ: &str,
        iss: &str,
        tenant_id: &str,
        seq: i64,
        hash: &str,
    ) -> String {
        let alg = signer.public_jwk()["alg"].clone();
        let header = json!({"typ": typ, "kid": signer.kid(), "alg": alg});
        let payload = json!({
            "iss": iss, "tenant_id": tenant_id, "tenant": format!("slug-{tenant_id}"),
            "seq": seq, "hash": hash, "iat": 1_795_000_000,
        });
        let jws = signer
            .sign_bytes(&header, payload.to_string().as_bytes())
            .unwrap();
        json!({ "checkpoint": jws }).to_string()
    }

    /// Three tenants' chains of 5 events, interleaved, each followed by a checkpoint
    /// of its head after seq 3 and seq 5.
    fn stream(signer: &TestIssuer) -> Vec<String> {
        let mut heads: Vec<String> = vec![GENESIS_HASH.to_owned(); TENANTS.len()];
        let mut lines = Vec::new();
        for seq in 1..=5 {
            for (t, tenant) in TENANTS.iter().enumerate() {
                let item = item(tenant, seq, &heads[t]);
                heads[t] = item.hash.clone();
                lines.push(serde_json::to_string(&item).unwrap());
                if seq == 3 || seq == 5 {
                    lines.push(checkpoint_line(signer, tenant, seq, &heads[t]));
                }
            }
        }
        lines
    }

    fn checker(signer: &TestIssuer) -> StreamChecker {
        StreamChecker::new(Some(&signer.jwks()), Some(ISS)).unwrap()
    }

    fn run(checker: &mut StreamChecker, lines: &[String]) -> Result<(), StreamProblem> {
        checker.check_reader(lines.join("\n").as_bytes())
    }

    fn problem(signer: &TestIssuer, lines: &[String]) -> StreamProblem {
        run(&mut checker(signer), lines).unwrap_err()
    }

    /// The index of `tenant`'s line with `seq`.
    fn line_of(lines: &[String], tenant: &str, seq: i64) -> usize {
        lines
            .iter()
            .position(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["tenant_id"] == tenant && v["seq"] == seq
            })
            .unwrap()
    }

    #[test]
    fn canonical_encoding_equals_the_servers() {
        // The server's `canonical_encoding_is_fixed` row, in the API's shape.
        let item = AuditItem {
            id: "e1".into(),
            tenant_id: "t1".into(),
            seq: 1,
            occurred_at: "2026-11-18T11:06:40.123456Z".into(),
            received_at: "2026-11-18T11:06:40.123456Z".into(),
            source: "cli".into(),
            actor: Party {
                kind: Some("operator".into()),
                id: None,
            },
            action: "tenant.created".into(),
            outcome: "success".into(),
            resource: Some(Party {
                kind: Some("tenant".into()),
                id: Some("x".into()),
            }),
            request_id: None,
            ip: None,
            details: json!({}),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        let mut out = Vec::new();
        write_canonical(&item, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"["t1",1,"e1","2026-11-18T11:06:40.123456Z","2026-11-18T11:06:40.123456Z","cli","operator",null,"tenant.created","tenant","x","success",null,null,"{}"]"#
        );
        assert_eq!(
            canonical_json(&json!({"z":1,"a":{"y":[{"b":2,"a":1}],"x":null}})),
            r#"{"a":{"x":null,"y":[{"a":1,"b":2}]},"z":1}"#
        );
    }

    #[test]
    fn an_intact_stream_passes_with_a_summary() {
        let signer = signer();
        let lines = stream(&signer);
        let mut checker = checker(&signer);
        // Blank lines and CRLF endings are tolerated.
        let text = format!("\n{}\r\n\n", lines.join("\r\n"));
        checker.check_reader(text.as_bytes()).unwrap();
        let summary = checker.summary();
        assert_eq!(summary.lines, lines.len() as u64 + 2);
        assert_eq!(summary.tenants.len(), 3);
        for (tenant, t) in TENANTS.iter().zip(&summary.tenants) {
            let head = &lines[line_of(&lines, tenant, 5)];
            let head: AuditItem = serde_json::from_str(head).unwrap();
            assert_eq!(t.tenant_id, *tenant);
            assert_eq!(t.tenant.as_deref(), Some(format!("slug-{tenant}").as_str()));
            assert_eq!(t.events, 5);
            assert_eq!(t.head_seq, 5);
            assert_eq!(t.head_hash, head.hash);
            assert_eq!(t.last_checkpoint_seq, Some(5));
            assert_eq!(t.checkpoints_verified, 2);
        }
    }

    #[test]
    fn an_edited_field_is_a_bad_hash_at_its_seq() {
        let signer = signer();
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-b", 3);
        lines[at] = lines[at].replace("\"success\"", "\"failure\"");
        let p = problem(&signer, &lines);
        assert_eq!(p.kind, ProblemKind::BadHash { seq: 3 });
        assert_eq!(
            (p.line, p.tenant_id.as_deref(), p.seq),
            (at as u64 + 1, Some("tenant-b"), Some(3))
        );
        assert!(p.to_string().contains("seq 3"), "{p}");
        assert!(p.to_string().contains("edited"), "{p}");
        // Details count too.
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-c", 2);
        lines[at] = lines[at].replace("\"z\":2", "\"z\":20");
        assert_eq!(
            problem(&signer, &lines).kind,
            ProblemKind::BadHash { seq: 2 }
        );
    }

    #[test]
    fn an_edited_and_rehashed_event_breaks_the_next_link() {
        let signer = signer();
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-a", 2);
        let mut edited: AuditItem = serde_json::from_str(&lines[at]).unwrap();
        edited.outcome = "denied".into();
        edited.hash = item_hash(&edited);
        lines[at] = serde_json::to_string(&edited).unwrap();
        assert_eq!(
            problem(&signer, &lines).kind,
            ProblemKind::BadLink { seq: 3 }
        );
    }

    #[test]
    fn a_dropped_line_is_a_gap_naming_the_missing_seq() {
        let signer = signer();
        let mut lines = stream(&signer);
        lines.remove(line_of(&lines, "tenant-a", 2));
        let p = problem(&signer, &lines);
        assert_eq!(
            p.kind,
            ProblemKind::Gap {
                expected: 2,
                found: 3
            }
        );
        assert_eq!(p.tenant_id.as_deref(), Some("tenant-a"));
        let text = p.to_string();
        assert!(text.contains("seq 2") && text.contains("missing"), "{text}");
    }

    #[test]
    fn swapped_lines_are_a_gap_naming_the_seq() {
        let signer = signer();
        let mut lines = stream(&signer);
        let (a, b) = (
            line_of(&lines, "tenant-b", 1),
            line_of(&lines, "tenant-b", 2),
        );
        lines.swap(a, b);
        let p = problem(&signer, &lines);
        assert_eq!(
            p.kind,
            ProblemKind::Gap {
                expected: 1,
                found: 2
            }
        );
        assert_eq!(p.line, a as u64 + 1);
    }

    #[test]
    fn a_repeated_line_is_reported_and_changes_nothing() {
        let signer = signer();
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-c", 4);
        lines.insert(at + 2, lines[at].clone());
        let mut checker = checker(&signer);
        let p = run(&mut checker, &lines).unwrap_err();
        assert_eq!(
            p.kind,
            ProblemKind::Repeated {
                expected: 5,
                found: 4
            }
        );
        assert_eq!(p.seq, Some(4));
        assert!(p.to_string().contains("webhook-id"), "{p}");
        // A receiver that drops the duplicate goes on.
        for line in &lines[at + 3..] {
            checker.push_line(line).unwrap();
        }
        assert!(checker.summary().tenants.iter().all(|t| t.head_seq == 5));
    }

    #[test]
    fn a_checkpoint_with_another_hash_is_a_mismatch() {
        let signer = signer();
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-a", 3) + 1;
        lines[at] = checkpoint_line(&signer, "tenant-a", 3, &"ab".repeat(32));
        let p = problem(&signer, &lines);
        assert_eq!(p.kind, ProblemKind::CheckpointMismatch { seq: 3 });
        assert_eq!(p.tenant_id.as_deref(), Some("tenant-a"));
        assert!(p.to_string().contains("rewritten"), "{p}");
    }

    #[test]
    fn a_checkpoint_of_another_key_is_refused() {
        let signer = signer();
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-b", 3) + 1;
        let hash = serde_json::from_str::<AuditItem>(&lines[at - 1])
            .unwrap()
            .hash;
        // Same kid, another key.
        let impostor = TestIssuer::new(ISS, "unused").unwrap();
        lines[at] = checkpoint_line(&impostor, "tenant-b", 3, &hash);
        let p = problem(&signer, &lines);
        assert_eq!(
            p.kind,
            ProblemKind::CheckpointSignature {
                reason: CheckpointRefusal::BadSignature
            }
        );
        assert_eq!(p.line, at as u64 + 1);
        // Another kid.
        let other = TestIssuer::with_key(ISS, "unused", Algorithm::Es256, "other").unwrap();
        lines[at] = checkpoint_line(&other, "tenant-b", 3, &hash);
        assert_eq!(
            problem(&signer, &lines).kind,
            ProblemKind::CheckpointSignature {
                reason: CheckpointRefusal::UnknownKey
            }
        );
    }

    #[test]
    fn checkpoints_need_keys_the_right_typ_and_issuer() {
        let signer = signer();
        let item = item("t", 1, GENESIS_HASH);
        let first = serde_json::to_string(&item).unwrap();
        let refused = |checker: &mut StreamChecker, line: String| {
            checker.push_line(&first).unwrap();
            match checker.push_line(&line).unwrap_err().kind {
                ProblemKind::CheckpointSignature { reason } => reason,
                other => panic!("{other:?}"),
            }
        };
        let good = checkpoint_line(&signer, "t", 1, &item.hash);
        let mut keyless = StreamChecker::new(None, None).unwrap();
        assert_eq!(
            refused(&mut keyless, good.clone()),
            CheckpointRefusal::NoKeys
        );
        let jwt = checkpoint_with(&signer, "JWT", ISS, "t", 1, &item.hash);
        assert_eq!(
            refused(&mut checker(&signer), jwt),
            CheckpointRefusal::WrongType
        );
        let at = checkpoint_with(&signer, "at+jwt", ISS, "t", 1, &item.hash);
        assert_eq!(
            refused(&mut checker(&signer), at),
            CheckpointRefusal::WrongType
        );
        let elsewhere =
            checkpoint_with(&signer, CHECKPOINT_TYP, "https://evil", "t", 1, &item.hash);
        assert_eq!(
            refused(&mut checker(&signer), elsewhere.clone()),
            CheckpointRefusal::WrongIssuer
        );
        // Without an expected issuer, any issuer's checkpoint signed by the keys passes.
        let mut any = StreamChecker::new(Some(&signer.jwks()), None).unwrap();
        any.push_line(&first).unwrap();
        any.push_line(&elsewhere).unwrap();
        // The header's alg must be the key's.
        let header = json!({"typ": CHECKPOINT_TYP, "kid": signer.kid(), "alg": "RS256"});
        let payload = json!({"iss": ISS, "tenant_id": "t", "tenant": "t", "seq": 1, "hash": item.hash, "iat": 1});
        let forged = signer
            .sign_bytes(&header, payload.to_string().as_bytes())
            .unwrap();
        assert_eq!(
            refused(
                &mut checker(&signer),
                json!({"checkpoint": forged}).to_string()
            ),
            CheckpointRefusal::AlgorithmMismatch
        );
        let mut ok = checker(&signer);
        ok.push_line(&first).unwrap();
        ok.push_line(&good).unwrap();
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        for alg in [Algorithm::EdDsa, Algorithm::Rs256] {
            let signer = TestIssuer::with_key(ISS, "unused", alg, "k").unwrap();
            let item = item("t", 1, GENESIS_HASH);
            let mut checker = checker(&signer);
            checker
                .push_line(&serde_json::to_string(&item).unwrap())
                .unwrap();
            checker
                .push_line(&checkpoint_line(&signer, "t", 1, &item.hash))
                .unwrap();
            assert_eq!(checker.summary().tenants[0].checkpoints_verified, 1);
        }
    }

    #[test]
    fn a_checkpoint_ahead_of_the_stream_is_reported() {
        let signer = signer();
        let mut lines = stream(&signer);
        let at = line_of(&lines, "tenant-c", 3) + 1;
        lines[at] = checkpoint_line(&signer, "tenant-c", 4, &"cd".repeat(32));
        let p = problem(&signer, &lines);
        assert_eq!(p.kind, ProblemKind::CheckpointAhead { seq: 4, head: 3 });
        assert!(p.to_string().contains("seq 4"), "{p}");
        // A tenant never seen has received nothing; its empty chain may be pinned.
        let mut checker = checker(&signer);
        checker
            .push_line(&checkpoint_line(&signer, "new", 0, GENESIS_HASH))
            .unwrap();
        let p = checker
            .push_line(&checkpoint_line(&signer, "new", 1, &"cd".repeat(32)))
            .unwrap_err();
        assert_eq!(p.kind, ProblemKind::CheckpointAhead { seq: 1, head: 0 });
    }

    #[test]
    fn checkpoints_older_than_the_window_are_unverifiable() {
        let signer = signer();
        let mut checker = checker(&signer).with_retained(2);
        let mut hashes = vec![GENESIS_HASH.to_owned()];
        for seq in 1..=4 {
            let item = item("t", seq, &hashes[seq as usize - 1]);
            checker
                .push_line(&serde_json::to_string(&item).unwrap())
                .unwrap();
            hashes.push(item.hash);
        }
        for seq in [3, 4, 0] {
            let line = checkpoint_line(&signer, "t", seq, &hashes[seq as usize]);
            checker.push_line(&line).unwrap();
        }
        let line = checkpoint_line(&signer, "t", 2, &hashes[2]);
        assert_eq!(
            checker.push_line(&line).unwrap_err().kind,
            ProblemKind::CheckpointUnverifiable { seq: 2, oldest: 3 }
        );
        let t = &checker.summary().tenants[0];
        assert_eq!(
            (t.checkpoints_verified, t.last_checkpoint_seq),
            (3, Some(4))
        );
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        let signer = signer();
        let mut lines = stream(&signer);
        lines[4] = "{\"id\": ".into();
        let p = problem(&signer, &lines);
        assert_eq!(p.line, 5);
        assert!(matches!(p.kind, ProblemKind::Malformed { .. }));
        assert!(p.to_string().starts_with("line 5:"), "{p}");
        for bad in [
            "[1, 2]",
            "{\"id\": \"x\"}",
            "{\"checkpoint\": 7}",
            "{\"checkpoint\": \"a.b\"}",
        ] {
            let mut checker = checker(&signer);
            checker.push_line("").unwrap();
            let p = checker.push_line(bad).unwrap_err();
            assert_eq!(p.line, 2, "{bad}");
        }
        // A repeated member is refused, even one the hash would catch.
        let item = serde_json::to_string(&item("t", 1, GENESIS_HASH)).unwrap();
        let twice = format!("{},\"outcome\":\"failure\"}}", item.trim_end_matches('}'));
        assert_eq!(
            checker(&signer).push_line(&twice).unwrap_err().kind,
            ProblemKind::Malformed {
                reason: "a member name is repeated"
            }
        );
    }

    #[test]
    fn long_and_non_utf8_lines_are_malformed() {
        let signer = signer();
        let long = format!("{}\n", " ".repeat(MAX_LINE_BYTES + 10));
        let p = checker(&signer).check_reader(long.as_bytes()).unwrap_err();
        assert_eq!(p.line, 1);
        assert!(matches!(p.kind, ProblemKind::Malformed { .. }));
        let bytes: &[u8] = b"\n\xff\xfe\n";
        let p = checker(&signer).check_reader(bytes).unwrap_err();
        assert_eq!(p.line, 2);
    }

    #[test]
    fn a_resumed_chain_continues_after_its_head() {
        let signer = signer();
        let first = item("t", 1, GENESIS_HASH);
        let second = item("t", 2, &first.hash);
        let mut checker = checker(&signer);
        checker.resume("t", 1, &first.hash).unwrap();
        checker
            .push_line(&checkpoint_line(&signer, "t", 1, &first.hash))
            .unwrap();
        checker
            .push_line(&serde_json::to_string(&second).unwrap())
            .unwrap();
        let t = &checker.summary().tenants[0];
        assert_eq!((t.events, t.head_seq), (1, 2));
        assert!(checker.resume("t", 1, &first.hash.to_uppercase()).is_err());
        assert!(checker.resume("t", 0, &first.hash).is_err());
    }

    #[test]
    fn an_unusable_jwks_is_an_error() {
        assert!(StreamChecker::new(Some("not json"), None).is_err());
        assert!(StreamChecker::new(Some(r#"{"keys": []}"#), None).is_err());
        let signer = signer();
        let mut enc = signer.public_jwk();
        enc.insert("use".into(), "enc".into());
        let doc = json!({ "keys": [enc] }).to_string();
        assert!(StreamChecker::new(Some(&doc), None).is_err());
    }
}
