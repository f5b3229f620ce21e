-- Token exchange (RFC 8693): the audiences a client may exchange tokens for, and each
-- exchanged token's parent (the subject token it came from) and actor (the client that
-- exchanged it), so revoking a token reaches every token exchanged from it.
ALTER TABLE clients ADD COLUMN exchange_audiences TEXT NOT NULL DEFAULT '';
ALTER TABLE issued_tokens ADD COLUMN parent_jti TEXT;
ALTER TABLE issued_tokens ADD COLUMN actor TEXT;
-- Partial: only exchanged tokens are indexed, so issuing other tokens costs nothing more.
CREATE INDEX issued_tokens_parent ON issued_tokens (tenant_id, parent_jti)
    WHERE parent_jti IS NOT NULL;
