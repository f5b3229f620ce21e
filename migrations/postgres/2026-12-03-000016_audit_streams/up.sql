-- Audit streams: deliveries of the audit chain to an outside receiver (a SIEM), with
-- the audit table itself as the outbox. A stream of one tenant, or (tenant_id NULL)
-- of every tenant. Its signing secret is sealed with the keys folder's key, never
-- stored in the clear. One instance at a time delivers a stream: the one whose lease
-- (lease_owner, lease_until) is current.
CREATE TABLE audit_streams (
    id               TEXT PRIMARY KEY NOT NULL,
    tenant_id        TEXT REFERENCES tenants(id),
    url              TEXT NOT NULL,
    format           TEXT NOT NULL,
    state            TEXT NOT NULL,
    secret_sealed    TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    failing_since    TIMESTAMP,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP,
    last_error       TEXT,
    suspended_reason TEXT,
    lease_owner      TEXT,
    lease_until      TIMESTAMP
);

-- Per stream and tenant: the last seq the receiver acknowledged; the last seq of the
-- batch in flight (resent as it was, with the same webhook-id, until acknowledged);
-- and the last checkpoint sent.
CREATE TABLE audit_stream_positions (
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    stream_id      TEXT NOT NULL REFERENCES audit_streams(id) ON DELETE CASCADE,
    acked_seq      BIGINT NOT NULL,
    pending_until  BIGINT,
    checkpoint_seq BIGINT NOT NULL,
    checkpoint_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, stream_id)
);
CREATE INDEX audit_stream_positions_stream ON audit_stream_positions (stream_id);

ALTER TABLE audit_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_streams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_streams
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
ALTER TABLE audit_stream_positions ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_stream_positions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_stream_positions
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON audit_streams, audit_stream_positions
            TO tessera_app;
    END IF;
END
$$;
