-- DESIGN invariant 7: row-level security on every tenant-scoped table, as a backstop
-- behind the application's own checks. Policies read transaction-local settings that
-- the service sets with set_config(name, value, true) (src/db/mod.rs, `Scope`):
--   app.tenant_id    one tenant's rows (reads and writes)
--   app.all_tenants  'on': every tenant's rows, for platform-wide reads and operators
--   app.user_id      one user's memberships (tenant resolution at login)
--   app.client_id    one client (client authentication)
--   app.code_hash    one authorization code, by hash
--   app.token_hash   one refresh token, by hash
--   app.family_id    one refresh family (may span tenants after a tenant switch)
--   app.jti          one ledger entry (an operator revoking it)
-- With nothing set, tenant-scoped tables show no rows. FORCE applies the policies to
-- the owner too; only superusers and BYPASSRLS roles skip them, and the service runs
-- as neither (see deploy/postgres-roles.sql).

CREATE FUNCTION app_setting(name text) RETURNS text
    LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting(name, true), '') $$;
CREATE FUNCTION app_all_tenants() RETURNS boolean
    LANGUAGE sql STABLE AS $$ SELECT coalesce(app_setting('app.all_tenants') = 'on', false) $$;

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON memberships
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
CREATE POLICY own_memberships ON memberships FOR SELECT
    USING (user_id = app_setting('app.user_id'));

ALTER TABLE clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE clients FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON clients
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
CREATE POLICY client_lookup ON clients FOR SELECT
    USING (id = app_setting('app.client_id'));

ALTER TABLE auth_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_codes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON auth_codes
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
CREATE POLICY code_lookup ON auth_codes FOR SELECT
    USING (code_hash = app_setting('app.code_hash'));

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON refresh_tokens
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
CREATE POLICY token_lookup ON refresh_tokens FOR SELECT
    USING (token_hash = app_setting('app.token_hash'));
CREATE POLICY family_rows ON refresh_tokens
    USING (family_id = app_setting('app.family_id'))
    WITH CHECK (family_id = app_setting('app.family_id'));

ALTER TABLE issued_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE issued_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON issued_tokens
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants())
    WITH CHECK (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
CREATE POLICY family_rows ON issued_tokens
    USING (family_id = app_setting('app.family_id'))
    WITH CHECK (family_id = app_setting('app.family_id'));
CREATE POLICY jti_lookup ON issued_tokens
    USING (jti = app_setting('app.jti'))
    WITH CHECK (jti = app_setting('app.jti'));

-- The audit log is append-only: reads and inserts only (and no UPDATE or DELETE
-- privilege for the service either).
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON audit_events FOR SELECT
    USING (tenant_id = app_setting('app.tenant_id') OR app_all_tenants());
CREATE POLICY tenant_append ON audit_events FOR INSERT
    WITH CHECK (tenant_id = app_setting('app.tenant_id'));

-- Least privilege for the service role, when it exists (deploy/postgres-roles.sql
-- creates it): data access only, no DDL, no ownership, nothing but SELECT and INSERT
-- on the audit log.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT USAGE ON SCHEMA public TO tessera_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, memberships, clients,
            authorization_requests, sessions, auth_codes, refresh_tokens, issued_tokens
            TO tessera_app;
        GRANT SELECT, INSERT ON audit_events TO tessera_app;
        GRANT SELECT ON __diesel_schema_migrations TO tessera_app;
        GRANT EXECUTE ON FUNCTION app_setting(text), app_all_tenants() TO tessera_app;
    END IF;
END
$$;
