-- The security console: the grant each token came from (NULL for tokens issued before
-- this migration), the console's server-side sessions, each chain's last verification,
-- and hourly counts of events and tokens for the overview's charts.
ALTER TABLE issued_tokens ADD COLUMN grant_type TEXT;

-- A console session: first a sign-in in progress (the PKCE verifier and the state it
-- sent), then the reader's verified access-token claims. Only the cookie's hash is
-- stored.
CREATE TABLE console_sessions (
    id_hash       TEXT PRIMARY KEY NOT NULL,
    state_hash    TEXT,
    code_verifier TEXT,
    return_to     TEXT,
    claims        TEXT,
    time_zone     TEXT,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- The last verification of each tenant's chain, by whoever ran it (API, CLI, console).
CREATE TABLE audit_chain_checks (
    tenant_id     TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    checked_at    TIMESTAMP NOT NULL,
    events        BIGINT NOT NULL,
    head_seq      BIGINT NOT NULL,
    first_bad_seq BIGINT,
    problem       TEXT
);

-- Counts per tenant and settled hour: `series` 'event' (label "action outcome"),
-- 'grant' (label: the grant of access tokens issued), and one 'hour' row (label '')
-- marking the hour as counted, even when it had nothing.
CREATE TABLE audit_rollups (
    tenant_id TEXT NOT NULL,
    hour      TIMESTAMP NOT NULL,
    series    TEXT NOT NULL,
    label     TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, hour, series, label)
);
