-- The issued-token ledger: metadata of every token issued, never the token itself.
CREATE TABLE issued_tokens (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    jti             TEXT NOT NULL,
    subject         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    token_type      TEXT NOT NULL,
    scope           TEXT NOT NULL,
    kid             TEXT,
    issued_at       TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    revoked_at      TIMESTAMP,
    revoked_reason  TEXT,
    PRIMARY KEY (tenant_id, jti)
);
CREATE INDEX issued_tokens_jti ON issued_tokens (jti);
CREATE INDEX issued_tokens_issued ON issued_tokens (tenant_id, issued_at);
