//! TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA-1, 6 digits, 30-second
//! steps, 160-bit secrets. The arithmetic is `totp-rs`'s; what is decided here is which
//! steps a code may match (one step of drift either way) and that a step already
//! accepted for the credential is never accepted again (section 5.2).

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Seconds per step.
pub const STEP: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Secret length: 160 bits, RFC 4226's recommendation.
pub const SECRET_BYTES: usize = 20;

/// A new secret from the thread's CSPRNG.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::fill(secret.as_mut_slice());
    secret
}

fn totp(secret: &[u8], issuer: Option<&str>, account: &str) -> Option<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP,
        secret.to_vec(),
        issuer.map(str::to_owned),
        account.to_owned(),
    )
    .ok()
}

/// The `otpauth://totp/…` URI an authenticator app enrols from (`issuer` and `account`
/// may not contain `:`; `None` if they do).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> Option<String> {
    Some(totp(secret, Some(issuer), account)?.get_url())
}

/// The URI as a QR code: an `<svg>` element rendered here (no external service).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let document = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // The `<svg>` element alone, to be placed in a page.
    let start = document.find("<svg")?;
    Some(document[start..].to_owned())
}

/// Whether `code` has a TOTP code's shape (six digits), as opposed to a recovery code.
pub fn is_code_shaped(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// The step `code` matches at `now` (seconds since the epoch): the current one or one
/// either side, and only a step after `last_step`. `None` for anything else.
pub fn matching_step(secret: &[u8], code: &str, now: u64, last_step: i64) -> Option<i64> {
    if !is_code_shaped(code) {
        return None;
    }
    let totp = totp(secret, None, "")?;
    let current = now / STEP;
    let mut found = None;
    // Every candidate is computed and compared, so the time taken does not say which
    // one matched.
    for step in [
        current.saturating_sub(1),
        current,
        current.saturating_add(1),
    ] {
        let expected = totp.generate(step.saturating_mul(STEP));
        let matches: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        if matches && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    /// RFC 4226 section 5.3, written out independently of `totp-rs`.
    fn reference(secret: &[u8], step: u64) -> String {
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!("{:06}", binary % 1_000_000)
    }

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B (SHA-1 seed), last six digits of the 8-digit values.
        let seed = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
        ] {
            assert_eq!(reference(seed, time / STEP), code);
            assert_eq!(
                matching_step(seed, code, time, 0),
                Some((time / STEP) as i64)
            );
        }
    }

    #[test]
    fn one_step_of_drift_each_way_and_never_twice() {
        let secret = new_secret();
        assert_eq!(secret.len(), 20, "160 bits");
        let now = 1_800_000_015;
        let current = now / STEP;
        for (step, accepted) in [
            (current - 2, false),
            (current - 1, true),
            (current, true),
            (current + 1, true),
            (current + 2, false),
        ] {
            let code = reference(&secret, step);
            let found = matching_step(&secret, &code, now, 0);
            assert_eq!(found.is_some(), accepted, "step {step} (now {current})");
        }
        let code = reference(&secret, current);
        let step = matching_step(&secret, &code, now, 0).unwrap();
        assert_eq!(matching_step(&secret, &code, now, step), None, "replay");
        assert_eq!(matching_step(&secret, "12345", now, 0), None);
        assert_eq!(matching_step(&secret, "abcdef", now, 0), None);
    }

    #[test]
    fn enrolment_uri_and_qr() {
        let secret = new_secret();
        let uri = otpauth_uri(&secret, "Tessera", "alice@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Tessera:alice%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains("issuer=Tessera") && uri.contains("secret="),
            "{uri}"
        );
        assert!(otpauth_uri(&secret, "a:b", "x").is_none());
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }
}
