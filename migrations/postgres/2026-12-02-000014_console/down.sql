DROP TABLE audit_rollups;
DROP TABLE audit_chain_checks;
DROP TABLE console_sessions;
DROP FUNCTION record_issued_tokens;
CREATE FUNCTION record_issued_tokens(
    tenant text, lock_key bigint, prev_seq bigint, prev_hash text,
    t_tenant_id text[], t_jti text[], t_subject text[], t_client_id text[],
    t_token_type text[], t_scope text[], t_kid text[], t_issued_at timestamp[],
    t_expires_at timestamp[], t_revoked_at timestamp[], t_revoked_reason text[],
    t_family_id text[], t_amr text[],
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
            issued_at, expires_at, revoked_at, revoked_reason, family_id, amr)
        SELECT * FROM unnest(t_tenant_id, t_jti, t_subject, t_client_id, t_token_type,
            t_scope, t_kid, t_issued_at, t_expires_at, t_revoked_at, t_revoked_reason,
            t_family_id, t_amr);
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

ALTER TABLE issued_tokens DROP COLUMN grant_type;
