ALTER TABLE audit_chain_checks DROP COLUMN from_seq;
ALTER TABLE audit_chain_checks DROP COLUMN verified_hash;
ALTER TABLE audit_chain_checks DROP COLUMN verified_seq;
