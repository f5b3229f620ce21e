-- Second factors of a user (one identity across tenants, so not tenant-scoped).
-- A TOTP seed is the one secret Tessera must read back: it is stored sealed (AEAD,
-- key in the keys folder, never in the database). `last_step` is the last accepted
-- time step: a step is never accepted twice (RFC 6238 section 5.2).
CREATE TABLE mfa_totp (
    user_id         TEXT PRIMARY KEY NOT NULL REFERENCES users(id),
    sealed_seed     TEXT NOT NULL,
    last_step       BIGINT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    confirmed_at    TIMESTAMP
);
-- Recovery codes: single use, stored hashed; regenerating replaces the whole set.
CREATE TABLE mfa_recovery_codes (
    code_hash       TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id),
    created_at      TIMESTAMP NOT NULL,
    used_at         TIMESTAMP
);
CREATE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id);
-- Per-tenant policy: off, optional or required.
ALTER TABLE tenants ADD COLUMN mfa_policy TEXT NOT NULL DEFAULT 'off';
