-- Idempotent ingestion: the answer to an ingestion request sent with an
-- `Idempotency-Key`, kept for `idempotency_window_secs` in the same transaction as its
-- events, so a retry stores nothing new and gets the original ids and seqs back.
-- Keys are the caller's own: its tenant, and its client and subject.
CREATE TABLE ingest_keys (
    tenant_id       TEXT NOT NULL,
    caller          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    events          TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, caller, idempotency_key)
);
CREATE INDEX ingest_keys_created ON ingest_keys (created_at);

ALTER TABLE ingest_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON ingest_keys
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT SELECT, INSERT, DELETE ON ingest_keys TO tessera_app;
    END IF;
END
$$;
