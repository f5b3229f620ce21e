ALTER TABLE refresh_tokens ADD COLUMN revoked_at TIMESTAMP;
DROP INDEX refresh_tokens_session;
ALTER TABLE refresh_tokens DROP COLUMN session_hash;
ALTER TABLE auth_codes DROP COLUMN session_hash;
