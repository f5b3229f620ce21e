//! WebAuthn ceremonies in the domain, on both backends, against a software
//! authenticator (`webauthn-authenticator-rs`'s `SoftPasskey`): registration with the
//! AAGUID and backup flags kept, authentication, single-use challenges, ceremonies
//! bound to their user, and resets.

use tessera::audit::Origin;
use tessera::db::write_tx;
use tessera::mfa::webauthn::{self, RelyingParty};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::support::both_backends;

const ISSUER: &str = "http://localhost:8080";

fn register(
    db: &crate::support::TestDb,
    rp: &RelyingParty,
    key: &mut SoftPasskey,
    user: &tessera::users::User,
) -> (String, String) {
    let mut conn = db.conn();
    let challenge = write_tx(&mut conn, |tx| webauthn::begin_registration(tx, rp, user)).unwrap();
    let options: CreationChallengeResponse = serde_json::from_value(challenge.options).unwrap();
    let answer = key
        .do_registration(Url::parse(ISSUER).unwrap(), options)
        .unwrap();
    (challenge.handle, serde_json::to_string(&answer).unwrap())
}

fn assertion(
    db: &crate::support::TestDb,
    rp: &RelyingParty,
    key: &mut SoftPasskey,
    user: &tessera::users::User,
) -> (String, String) {
    let mut conn = db.conn();
    let challenge = write_tx(&mut conn, |tx| webauthn::begin_authentication(tx, rp, user))
        .unwrap()
        .unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(challenge.options).unwrap();
    let answer = key
        .do_authentication(Url::parse(ISSUER).unwrap(), options)
        .unwrap();
    (challenge.handle, serde_json::to_string(&answer).unwrap())
}

both_backends! {
    fn passkeys_register_authenticate_once_and_stay_with_their_user(db) {
        assert!(RelyingParty::for_issuer("http://127.0.0.1:8080").is_none(), "an IP address cannot be an RP id");
        let rp = RelyingParty::for_issuer(ISSUER).unwrap();
        let alice = db.user("alice@example.com", "correct horse battery");
        let bob = db.user("bob@example.com", "correct horse battery");
        let origin = Origin::system();
        let mut key = SoftPasskey::new(true);
        let mut conn = db.conn();
        assert!(write_tx(&mut conn, |tx| webauthn::begin_authentication(tx, &rp, &alice)).unwrap().is_none());

        // Registration: the answer of alice's ceremony does not register for bob, and a
        // ceremony is answered once.
        let (handle, answer) = register(&db, &rp, &mut key, &alice);
        assert!(!write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &bob, &handle, &answer, "Bob's")).unwrap());
        let (handle, _) = register(&db, &rp, &mut key, &alice);
        assert!(!write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &alice, &handle, "{\"not\": \"a credential\"}", "x")).unwrap());
        let (handle, answer) = register(&db, &rp, &mut key, &alice);
        assert!(write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &alice, &handle, &answer, " Laptop\u{7} ")).unwrap());
        assert!(!write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &alice, &handle, &answer, "again")).unwrap());
        let creds = webauthn::credentials(&mut conn, &alice).unwrap();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].name, "Laptop");
        assert_eq!(creds[0].aaguid, "00000000-0000-0000-0000-000000000000", "the software key's model");
        assert!(!creds[0].backup_eligible && !creds[0].backed_up);
        assert!(tessera::mfa::factors(&mut conn, &alice).unwrap().any());

        // Authentication: a device-bound key proves `hwk`; its challenge is spent.
        let (handle, answer) = assertion(&db, &rp, &mut key, &alice);
        assert_eq!(write_tx(&mut conn, |tx| webauthn::finish_authentication(tx, &origin, &rp, &alice, &handle, &answer)).unwrap(), Some("hwk"));
        assert_eq!(write_tx(&mut conn, |tx| webauthn::finish_authentication(tx, &origin, &rp, &alice, &handle, &answer)).unwrap(), None);
        // An answer to alice's challenge is no answer to bob's ceremony.
        let (handle, answer) = assertion(&db, &rp, &mut key, &alice);
        assert_eq!(write_tx(&mut conn, |tx| webauthn::finish_authentication(tx, &origin, &rp, &bob, &handle, &answer)).unwrap(), None);
        let actions = db.audit_actions(tessera::tenants::SYSTEM_TENANT_ID);
        assert!(actions.contains(&("mfa.enrolled".into(), "success".into())));
        assert!(actions.contains(&("mfa.verified".into(), "success".into())));
        assert!(actions.contains(&("mfa.failed".into(), "failure".into())));
        assert!(webauthn::credentials(&mut conn, &alice).unwrap()[0].last_used_at.is_some());

        // A reset removes passkeys too; the user removes one with its id.
        let (handle, answer) = register(&db, &rp, &mut SoftPasskey::new(true), &alice);
        assert!(write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &alice, &handle, &answer, "Phone")).unwrap());
        let id = webauthn::credentials(&mut conn, &alice).unwrap()[1].id.clone();
        assert!(!write_tx(&mut conn, |tx| webauthn::remove(tx, &origin, &bob, &id)).unwrap());
        assert!(write_tx(&mut conn, |tx| webauthn::remove(tx, &origin, &alice, &id)).unwrap());
        // Recovery codes outlive a removed key while another factor is left, not after.
        write_tx(&mut conn, |tx| tessera::mfa::regenerate_recovery(tx, &origin, &alice)).unwrap();
        let first = webauthn::credentials(&mut conn, &alice).unwrap()[0].id.clone();
        let (handle, answer) = register(&db, &rp, &mut SoftPasskey::new(true), &alice);
        assert!(write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &alice, &handle, &answer, "Spare")).unwrap());
        assert!(write_tx(&mut conn, |tx| webauthn::remove(tx, &origin, &alice, &first)).unwrap());
        assert_eq!(tessera::mfa::factors(&mut conn, &alice).unwrap().recovery_codes, 10);
        assert!(write_tx(&mut conn, |tx| tessera::mfa::reset(tx, &origin, &alice, "lost keys")).unwrap());
        assert!(webauthn::credentials(&mut conn, &alice).unwrap().is_empty());
        let left = tessera::mfa::factors(&mut conn, &alice).unwrap();
        assert!(!left.any() && left.recovery_codes == 0);
        // The last key removed by its user takes the recovery codes with it.
        let (handle, answer) = register(&db, &rp, &mut SoftPasskey::new(true), &alice);
        assert!(write_tx(&mut conn, |tx| webauthn::finish_registration(tx, &origin, &rp, &alice, &handle, &answer, "Only")).unwrap());
        write_tx(&mut conn, |tx| tessera::mfa::regenerate_recovery(tx, &origin, &alice)).unwrap();
        let only = webauthn::credentials(&mut conn, &alice).unwrap()[0].id.clone();
        assert!(write_tx(&mut conn, |tx| webauthn::remove(tx, &origin, &alice, &only)).unwrap());
        assert_eq!(tessera::mfa::factors(&mut conn, &alice).unwrap().recovery_codes, 0);
    }
}
