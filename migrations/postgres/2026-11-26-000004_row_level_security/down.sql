DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        REVOKE ALL ON tenants, users, memberships, clients, authorization_requests, sessions,
            auth_codes, refresh_tokens, issued_tokens, audit_events, __diesel_schema_migrations
            FROM tessera_app;
    END IF;
END
$$;
DROP POLICY tenant_read ON audit_events;
DROP POLICY tenant_append ON audit_events;
ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON issued_tokens;
DROP POLICY family_rows ON issued_tokens;
DROP POLICY jti_lookup ON issued_tokens;
ALTER TABLE issued_tokens NO FORCE ROW LEVEL SECURITY;
ALTER TABLE issued_tokens DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON refresh_tokens;
DROP POLICY token_lookup ON refresh_tokens;
DROP POLICY family_rows ON refresh_tokens;
ALTER TABLE refresh_tokens NO FORCE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON auth_codes;
DROP POLICY code_lookup ON auth_codes;
ALTER TABLE auth_codes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE auth_codes DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON clients;
DROP POLICY client_lookup ON clients;
ALTER TABLE clients NO FORCE ROW LEVEL SECURITY;
ALTER TABLE clients DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant_rows ON memberships;
DROP POLICY own_memberships ON memberships;
ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY;
ALTER TABLE memberships DISABLE ROW LEVEL SECURITY;
DROP FUNCTION app_all_tenants();
DROP FUNCTION app_setting(text);
