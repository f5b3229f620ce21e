-- A grant remembers the login session it came from, so that signing out ends the
-- refresh tokens issued under that session (OpenID Connect RP-initiated logout).
ALTER TABLE auth_codes ADD COLUMN session_hash TEXT;
ALTER TABLE refresh_tokens ADD COLUMN session_hash TEXT;
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_hash)
    WHERE session_hash IS NOT NULL;

-- Revocation has one record, the issued-token ledger (issued_tokens.revoked_at): every
-- path that accepts a refresh token asks it.
ALTER TABLE refresh_tokens DROP COLUMN revoked_at;
