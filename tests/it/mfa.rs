//! Second factors in the domain, on both backends: TOTP enrolment and codes computed by
//! an independent implementation (drift, replay), recovery codes used once, tenants'
//! policies, and a database that holds no usable seed.

use diesel::prelude::*;
use hmac::{Hmac, Mac};
use tessera::audit::Origin;
use tessera::db::write_tx;
use tessera::mfa::{self, Policy, Sealer};

use crate::support::both_backends;

/// RFC 4226/6238 with HMAC-SHA-1, written out here rather than taken from the server.
pub(crate) fn code(secret: &[u8], time: u64) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).unwrap();
    mac.update(&(time / 30).to_be_bytes());
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

/// The secret of an `otpauth://` URI (base32, RFC 4648, no padding).
pub(crate) fn secret_of(uri: &str) -> Vec<u8> {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in b32.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {b32}"),
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

both_backends! {
    fn totp_enrolment_codes_and_replay(db) {
        let user = db.user("alice@example.com", "correct horse battery");
        let sealer = Sealer::open(&db.dir.path().join("keys")).unwrap();
        let origin = Origin::system();
        let mut conn = db.conn();
        let enrolment = write_tx(&mut conn, |tx| mfa::begin_totp(tx, &sealer, &user, "Tessera")).unwrap();
        assert!(enrolment.qr_svg.contains("<svg"));
        let secret = secret_of(&enrolment.uri);
        assert_eq!(secret.len(), 20, "160-bit seeds");
        let now = 1_900_000_000u64;

        // Not a factor until confirmed; a wrong first code confirms nothing.
        assert!(!mfa::factors(&mut conn, &user).unwrap().totp);
        let right = code(&secret, now);
        let wrong: String = right.chars().map(|c| if c == '9' { '0' } else { char::from(c as u8 + 1) }).collect();
        assert!(!write_tx(&mut conn, |tx| mfa::confirm_totp(tx, &origin, &sealer, &user, &wrong, now)).unwrap());
        assert!(write_tx(&mut conn, |tx| mfa::confirm_totp(tx, &origin, &sealer, &user, &code(&secret, now), now)).unwrap());
        assert!(mfa::factors(&mut conn, &user).unwrap().totp);

        // The step used to confirm is spent; the next one works once; ±1 step drift is
        // accepted, ±2 refused.
        let check = |conn: &mut tessera::db::DbConnection, c: &str, at: u64| {
            write_tx(conn, |tx| mfa::check_totp(tx, &origin, &sealer, &user, c, at)).unwrap()
        };
        assert!(!check(&mut conn, &code(&secret, now), now), "the confirming code is spent");
        assert!(check(&mut conn, &code(&secret, now + 30), now + 30));
        assert!(!check(&mut conn, &code(&secret, now + 30), now + 30), "replay refused");
        assert!(check(&mut conn, &code(&secret, now + 120), now + 90), "one step ahead");
        assert!(check(&mut conn, &code(&secret, now + 150), now + 180), "one step behind");
        assert!(!check(&mut conn, &code(&secret, now + 300), now + 240), "two steps ahead");
        assert!(!check(&mut conn, &code(&secret, now + 180), now + 240), "two steps behind");

        // A second enrolment over a confirmed one is refused.
        let again = write_tx(&mut conn, |tx| mfa::begin_totp(tx, &sealer, &user, "Tessera"));
        assert!(matches!(again, Err(tessera::error::Error::Conflict(_))));

        // The database holds the seed only sealed: neither the raw bytes, nor their
        // base32 or hex form, nor anything that opens without the key file.
        let sealed: String = {
            use tessera::db::schema::mfa_totp::dsl as t;
            t::mfa_totp.select(t::sealed_seed).first(&mut db.conn()).unwrap()
        };
        let b32 = enrolment.uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned();
        assert!(!sealed.contains(&b32) && !sealed.contains(&hex::encode(&secret)));
        let elsewhere = Sealer::open(&db.dir.path().join("other-keys")).unwrap();
        assert!(elsewhere.open_for(&user.id, &sealed).is_err());
        assert_eq!(sealer.open_for(&user.id, &sealed).unwrap(), secret);

        // Every outcome is in the system chain, with no code or seed in it.
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        for action in ["mfa.enrolled", "mfa.verified", "mfa.failed"] {
            assert!(actions.iter().any(|(a, _)| a == action), "{action}: {actions:?}");
        }
        let details: Vec<String> = {
            use tessera::db::schema::audit_events::dsl as a;
            a::audit_events.select(a::details).load(&mut db.conn()).unwrap()
        };
        assert!(details.iter().all(|d| !d.contains(&b32) && !d.contains(&code(&secret, now + 30))));

        // Removal ends it.
        assert!(write_tx(&mut conn, |tx| mfa::remove_totp(tx, &origin, &user)).unwrap());
        assert!(!mfa::factors(&mut conn, &user).unwrap().totp);
        assert!(!check(&mut conn, &code(&secret, now + 600), now + 600));
    }
}

both_backends! {
    fn recovery_codes_work_once_and_a_new_set_replaces_the_old(db) {
        let user = db.user("bob@example.com", "correct horse battery");
        let origin = Origin::system();
        let mut conn = db.conn();
        let codes = write_tx(&mut conn, |tx| mfa::regenerate_recovery(tx, &origin, &user)).unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(mfa::factors(&mut conn, &user).unwrap().recovery_codes, 10);
        let typed = codes[0].to_lowercase().replace('-', " ");
        assert!(write_tx(&mut conn, |tx| mfa::use_recovery(tx, &origin, &user, &typed)).unwrap());
        assert!(!write_tx(&mut conn, |tx| mfa::use_recovery(tx, &origin, &user, &codes[0])).unwrap(), "single use");
        assert_eq!(mfa::factors(&mut conn, &user).unwrap().recovery_codes, 9);
        // Another user's code is not this user's.
        let carol = db.user("carol@example.com", "correct horse battery");
        assert!(!write_tx(&mut conn, |tx| mfa::use_recovery(tx, &origin, &carol, &codes[1])).unwrap());
        // Stored hashed only.
        let stored: Vec<String> = {
            use tessera::db::schema::mfa_recovery_codes::dsl as r;
            r::mfa_recovery_codes.select(r::code_hash).load(&mut db.conn()).unwrap()
        };
        assert!(codes.iter().all(|c| stored.iter().all(|s| !s.contains(&c.replace('-', "")))));
        // Regenerating invalidates the old set.
        let fresh = write_tx(&mut conn, |tx| mfa::regenerate_recovery(tx, &origin, &user)).unwrap();
        assert!(!write_tx(&mut conn, |tx| mfa::use_recovery(tx, &origin, &user, &codes[2])).unwrap());
        assert!(write_tx(&mut conn, |tx| mfa::use_recovery(tx, &origin, &user, &fresh[2])).unwrap());
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert!(actions.iter().any(|(a, _)| a == "mfa.recovery_used"));
        assert!(actions.iter().any(|(a, _)| a == "mfa.recovery_generated"));
    }
}

both_backends! {
    fn tenant_policies_default_off_and_are_audited(db) {
        let acme = db.tenant("acme");
        let origin = Origin::cli();
        let mut conn = db.conn();
        assert_eq!(mfa::policy(&acme).unwrap(), Policy::Off);
        write_tx(&mut conn, |tx| mfa::set_policy(tx, &origin, &acme, Policy::Required)).unwrap();
        let reloaded = tessera::tenants::find_by_id(&mut conn, &acme.id).unwrap().unwrap();
        assert_eq!(mfa::policy(&reloaded).unwrap(), Policy::Required);
        assert!(db.audit_actions(&acme.id).iter().any(|(a, _)| a == "mfa.policy_set"));
        assert!(matches!(Policy::parse("sometimes"), Err(tessera::error::Error::Invalid(_))));
    }
}
