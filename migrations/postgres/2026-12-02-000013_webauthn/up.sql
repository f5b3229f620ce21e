-- WebAuthn credentials (passkeys, security keys) of a user: one identity across
-- tenants, so not tenant-scoped. `passkey` is the relying-party record (public key,
-- counter, backup flags; no secret); `aaguid` and the backup flags are kept apart
-- for review (which authenticator model; whether the key can leave the device).
CREATE TABLE webauthn_credentials (
    credential_id   TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id),
    name            TEXT NOT NULL,
    passkey         TEXT NOT NULL,
    aaguid          TEXT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backed_up       BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    last_used_at    TIMESTAMP
);
CREATE INDEX webauthn_credentials_user ON webauthn_credentials (user_id);
-- A ceremony in progress (its challenge), kept in the database so that any instance
-- can finish it; single use, short-lived. `user_id` is NULL for a passwordless
-- sign-in, where the authenticator names the user.
CREATE TABLE webauthn_ceremonies (
    id_hash         TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT REFERENCES users(id),
    kind            TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON webauthn_credentials, webauthn_ceremonies
            TO tessera_app;
    END IF;
END
$$;
