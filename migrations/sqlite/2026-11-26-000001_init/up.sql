-- Tessera core schema (SQLite). Identifiers, lists and JSON are TEXT; timestamps are UTC.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  TIMESTAMP NOT NULL
);

-- The reserved tenant that holds the platform's operators.
INSERT INTO tenants (id, slug, name, status, created_at)
VALUES ('00000000-0000-4000-8000-000000000000', 'system', 'System', 'active', CURRENT_TIMESTAMP);

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'active',
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   TIMESTAMP,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

CREATE TABLE memberships (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    roles       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE clients (
    id             TEXT PRIMARY KEY NOT NULL,
    tenant_id      TEXT REFERENCES tenants(id),
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    secret_hash    TEXT,
    redirect_uris  TEXT NOT NULL,
    grant_types    TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX clients_tenant ON clients (tenant_id);

-- No foreign key on tenant_id: every appended event's tenant is checked by the
-- application (from the caller's token or an existence check), tenants are never
-- deleted, and a per-row foreign-key check costs a large share of bulk ingestion.
CREATE TABLE audit_events (
    tenant_id      TEXT NOT NULL,
    seq            BIGINT NOT NULL CHECK (seq >= 1),
    id             TEXT NOT NULL,
    occurred_at    TIMESTAMP NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    source         TEXT NOT NULL,
    actor_type     TEXT NOT NULL,
    actor_id       TEXT,
    action         TEXT NOT NULL,
    resource_type  TEXT,
    resource_id    TEXT,
    outcome        TEXT NOT NULL,
    ip             TEXT,
    request_id     TEXT,
    details        TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_occurred ON audit_events (tenant_id, occurred_at);
CREATE INDEX audit_events_received ON audit_events (received_at, tenant_id, seq);
