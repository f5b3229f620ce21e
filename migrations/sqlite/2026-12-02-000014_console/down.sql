DROP TABLE audit_rollups;
DROP TABLE audit_chain_checks;
DROP TABLE console_sessions;
ALTER TABLE issued_tokens DROP COLUMN grant_type;
