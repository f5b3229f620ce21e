DROP INDEX issued_tokens_family;
CREATE INDEX issued_tokens_family ON issued_tokens (family_id);
DROP FUNCTION record_issued_tokens;
