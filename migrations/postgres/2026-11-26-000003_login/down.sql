DROP INDEX issued_tokens_family;
ALTER TABLE issued_tokens DROP COLUMN family_id;
DROP TABLE refresh_tokens;
DROP TABLE auth_codes;
DROP TABLE sessions;
DROP TABLE authorization_requests;
