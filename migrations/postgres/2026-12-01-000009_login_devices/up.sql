-- Browsers a user has signed in from (OWASP "device cookies"): attempts that carry a
-- known browser's cookie are counted on its own row, so an attacker's failures, which
-- lock the account for unknown browsers, do not lock its owner out. Only hashes of the
-- cookies are kept.
CREATE TABLE login_devices (
    token_hash      TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id),
    failed_logins   INTEGER NOT NULL,
    locked_until    TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);
CREATE INDEX login_devices_expires ON login_devices (expires_at);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON login_devices TO tessera_app;
    END IF;
END
$$;
