-- Browser login: pending authorization requests, login sessions, authorization codes
-- and refresh tokens. Secrets are stored only as SHA-256 hashes.

-- An /authorize request waiting for the user to log in or pick a tenant. Its handle and
-- CSRF token travel in the login form and in a SameSite cookie; only hashes are kept.
CREATE TABLE authorization_requests (
    id_hash         TEXT PRIMARY KEY NOT NULL,
    csrf_hash       TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients(id),
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    state           TEXT,
    nonce           TEXT,
    code_challenge  TEXT NOT NULL,
    tenant_hint     TEXT,
    user_id         TEXT REFERENCES users(id),
    auth_time       TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL
);

-- Single sign-on sessions (one per browser login), across the user's tenants.
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id),
    auth_time   TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    ended_at    TIMESTAMP
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE auth_codes (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    code_hash       TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients(id),
    user_id         TEXT NOT NULL REFERENCES users(id),
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT NOT NULL,
    auth_time       TIMESTAMP NOT NULL,
    family_id       TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    used_at         TIMESTAMP,
    PRIMARY KEY (tenant_id, code_hash)
);
CREATE INDEX auth_codes_hash ON auth_codes (code_hash);

-- Rotating refresh tokens. A family starts at a code exchange; every refresh adds one
-- token to it; presenting a used token revokes the family.
CREATE TABLE refresh_tokens (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    token_hash  TEXT NOT NULL,
    family_id   TEXT NOT NULL,
    jti         TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id),
    client_id   TEXT NOT NULL REFERENCES clients(id),
    scope       TEXT NOT NULL,
    auth_time   TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP,
    revoked_at  TIMESTAMP,
    PRIMARY KEY (tenant_id, token_hash)
);
CREATE INDEX refresh_tokens_hash ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Which grant (refresh family) a ledger entry came from, so revoking a family or a
-- replayed code's tokens reaches every token issued from it.
ALTER TABLE issued_tokens ADD COLUMN family_id TEXT;
CREATE INDEX issued_tokens_family ON issued_tokens (family_id);
