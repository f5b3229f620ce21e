DROP INDEX issued_tokens_parent;
ALTER TABLE issued_tokens DROP COLUMN actor;
ALTER TABLE issued_tokens DROP COLUMN parent_jti;
ALTER TABLE clients DROP COLUMN exchange_audiences;
