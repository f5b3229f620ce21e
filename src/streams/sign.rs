//! Standard Webhooks 1.0 symmetric signatures (HMAC-SHA256 over `{id}.{timestamp}.{body}`)
//! for audit stream deliveries, so a receiver's existing Standard Webhooks library
//! verifies what we send. The secret never appears in `Debug` output, and verification
//! compares in constant time.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// How the specification serializes a symmetric secret.
const SECRET_PREFIX: &str = "whsec_";
/// The specification's identifier of an HMAC-SHA256 signature.
const SIGNATURE_VERSION: &str = "v1";
/// The specification asks for at least 24 random bytes and at most 512 bits; outside
/// that range a text is more likely a paste error than a key.
const MIN_SECRET_BYTES: usize = 24;
const MAX_SECRET_BYTES: usize = 64;
/// Bytes of digest kept in a message id: 144 bits, ample against collisions.
const MESSAGE_ID_BYTES: usize = 18;

/// A stream's signing key (raw bytes).
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Secret {
    /// A fresh random 256-bit key.
    pub fn generate() -> Secret {
        let mut key = vec![0u8; 32];
        rand::fill(key.as_mut_slice());
        Secret(key)
    }

    /// A key in the specification's text form, `whsec_<standard base64>`.
    pub fn parse(text: &str) -> Result<Secret> {
        text.strip_prefix(SECRET_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|key| (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&key.len()))
            .map(Secret)
            .ok_or(Error::Invalid("stream secret"))
    }

    /// The text form that [`Secret::parse`] reads, to show the receiver's operator once.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The keyed MAC over the signed content, before finalization.
fn mac(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this arm never runs; a constant key keeps
    // the function total without a panic path.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for one delivery: `v1,<base64 HMAC-SHA256>`.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, msg_id, timestamp, body).finalize().into_bytes();
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(tag))
}

/// Whether any `v1` signature in a `webhook-signature` header (several are sent, space
/// separated, while a secret is rotated) was made with `secret` over this delivery.
/// Signatures of other schemes are skipped. This checks no timestamp tolerance; the
/// caller compares `timestamp` with its clock.
pub fn verify(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = mac(secret, msg_id, timestamp, body);
    header
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
        // `verify_slice` compares in constant time.
        .any(|tag| expected.clone().verify_slice(&tag).is_ok())
}

/// A delivery id derived from what the delivery carries (`parts`), so a retried batch
/// keeps its id and the receiver can drop the duplicate. Parts are joined with a NUL
/// byte, which none of them contains, so distinct part lists give distinct inputs. The
/// result holds no `.`, which the signed content uses as its delimiter.
pub fn message_id(parts: &[&str]) -> String {
    let mut digest = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            digest.update([0u8]);
        }
        digest.update(part.as_bytes());
    }
    let digest = digest.finalize();
    format!(
        "msg_{}",
        URL_SAFE_NO_PAD.encode(&digest[..MESSAGE_ID_BYTES])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vectors of the reference implementations in
    // github.com/standard-webhooks/standard-webhooks: `testSignFunctionWorks` in
    // libraries/php/tests/WebhookTest.php (also in the other libraries' suites), and
    // `test_sign` in libraries/rust/src/lib.rs. The specification document itself
    // (spec/standard-webhooks.md) publishes no full input/output pair.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn reproduces_the_reference_test_vectors() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, MSG_ID, TIMESTAMP, BODY), SIGNATURE);

        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            sign(
                &secret,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn verify_accepts_the_vector_and_rejects_any_change() {
        let secret = Secret::parse(SECRET).unwrap();
        assert!(verify(&secret, MSG_ID, TIMESTAMP, BODY, SIGNATURE));
        assert!(!verify(
            &secret,
            MSG_ID,
            TIMESTAMP,
            br#"{"test": 2432232315}"#,
            SIGNATURE
        ));
        assert!(!verify(&secret, MSG_ID, TIMESTAMP + 1, BODY, SIGNATURE));
        assert!(!verify(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJel",
            TIMESTAMP,
            BODY,
            SIGNATURE
        ));
        assert!(!verify(
            &Secret::generate(),
            MSG_ID,
            TIMESTAMP,
            BODY,
            SIGNATURE
        ));
        assert!(!verify(&secret, MSG_ID, TIMESTAMP, BODY, ""));
        assert!(!verify(&secret, MSG_ID, TIMESTAMP, BODY, "v1,"));
        assert!(!verify(&secret, MSG_ID, TIMESTAMP, BODY, "junk"));
    }

    #[test]
    fn verify_finds_the_matching_signature_among_several() {
        let secret = Secret::parse(SECRET).unwrap();
        let (_, tag) = SIGNATURE.split_once(',').unwrap();
        let header = format!(
            "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1a,{tag} v1,not-base64 {SIGNATURE}"
        );
        assert!(verify(&secret, MSG_ID, TIMESTAMP, BODY, &header));
        // The right tag under another scheme's identifier does not count.
        assert!(!verify(
            &secret,
            MSG_ID,
            TIMESTAMP,
            BODY,
            &format!("v1a,{tag} v2,{tag}")
        ));
    }

    #[test]
    fn parse_rejects_junk() {
        for text in [
            "",
            "whsec_",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            "whsec_c2hvcnQ=",
            " whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert!(
                matches!(Secret::parse(text), Err(Error::Invalid("stream secret"))),
                "{text:?}"
            );
        }
        let too_long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        assert!(Secret::parse(&too_long).is_err());
    }

    #[test]
    fn text_form_round_trips_and_debug_is_redacted() {
        let secret = Secret::generate();
        assert_eq!(secret.as_bytes().len(), 32);
        let text = secret.to_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text).unwrap().as_bytes(), secret.as_bytes());
        assert_eq!(Secret::parse(SECRET).unwrap().to_text(), SECRET);
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_ne!(Secret::generate().as_bytes(), secret.as_bytes());
    }

    #[test]
    fn message_ids_are_stable_and_distinguish_their_parts() {
        let id = message_id(&["tenant", "1", "20"]);
        assert_eq!(id, message_id(&["tenant", "1", "20"]));
        assert!(id.starts_with("msg_"));
        assert_eq!(id.len(), 4 + 24);
        assert!(!id.contains('.') && !id.contains('='));
        assert_ne!(id, message_id(&["tenant", "12", "0"]));
        assert_ne!(id, message_id(&["tenant1", "20"]));
        assert_ne!(message_id(&["a"]), message_id(&["a", ""]));
    }
}
