-- The last verified position of each tenant's chain: the sequence number and hash of the
-- newest event a verification found intact. A routine verification starts there
-- (`tessera audit verify --full` and `?full=true` start from genesis).
ALTER TABLE audit_chain_checks ADD COLUMN verified_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_chain_checks ADD COLUMN verified_hash TEXT NOT NULL
    DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';
-- Where the last verification started, and whether it was a full one.
ALTER TABLE audit_chain_checks ADD COLUMN from_seq BIGINT NOT NULL DEFAULT 1;
