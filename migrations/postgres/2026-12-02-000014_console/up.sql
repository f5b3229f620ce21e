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


ALTER TABLE audit_chain_checks ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_checks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_chain_checks
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
ALTER TABLE audit_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_rollups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_rollups
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());

-- record_issued_tokens (migrations 0005, 0012) learns the new column.
DROP FUNCTION record_issued_tokens;
CREATE FUNCTION record_issued_tokens(
    tenant text, lock_key bigint, prev_seq bigint, prev_hash text,
    t_tenant_id text[], t_jti text[], t_subject text[], t_client_id text[],
    t_token_type text[], t_scope text[], t_kid text[], t_issued_at timestamp[],
    t_expires_at timestamp[], t_revoked_at timestamp[], t_revoked_reason text[],
    t_family_id text[], t_amr text[], t_grant_type text[],
    e_tenant_id text[], e_seq bigint[], e_id text[], e_occurred_at timestamp[],
    e_received_at timestamp[], e_source text[], e_actor_type text[], e_actor_id text[],
    e_action text[], e_resource_type text[], e_resource_id text[], e_outcome text[],
    e_ip text[], e_request_id text[], e_details text[], e_prev_hash text[], e_hash text[]
) RETURNS boolean
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    PERFORM set_config('app.tenant_id', tenant, true);
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_events a
        WHERE a.tenant_id = tenant ORDER BY a.seq DESC LIMIT 1;
    IF coalesce(head_seq, 0) <> prev_seq OR (head_seq IS NOT NULL AND head_hash <> prev_hash) THEN
        RETURN false;
    END IF;
    INSERT INTO issued_tokens (tenant_id, jti, subject, client_id, token_type, scope, kid,
            issued_at, expires_at, revoked_at, revoked_reason, family_id, amr, grant_type)
        SELECT * FROM unnest(t_tenant_id, t_jti, t_subject, t_client_id, t_token_type,
            t_scope, t_kid, t_issued_at, t_expires_at, t_revoked_at, t_revoked_reason,
            t_family_id, t_amr, t_grant_type);
    INSERT INTO audit_events (tenant_id, seq, id, occurred_at, received_at, source,
            actor_type, actor_id, action, resource_type, resource_id, outcome, ip,
            request_id, details, prev_hash, hash)
        SELECT * FROM unnest(e_tenant_id, e_seq, e_id, e_occurred_at, e_received_at,
            e_source, e_actor_type, e_actor_id, e_action, e_resource_type, e_resource_id,
            e_outcome, e_ip, e_request_id, e_details, e_prev_hash, e_hash);
    RETURN true;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT EXECUTE ON FUNCTION record_issued_tokens TO tessera_app;
    END IF;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions, audit_chain_checks,
            audit_rollups TO tessera_app;
    END IF;
END
$$;
