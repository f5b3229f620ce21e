-- A login that asked for a second factor (`acr_values=mfa`) keeps the request while
-- the user gives one; the ledger keeps how each token's user authenticated (RFC 8176
-- values, space-separated; NULL for a client's own token), so tokens issued without a
-- second factor are one query.
ALTER TABLE authorization_requests ADD COLUMN acr_values TEXT;
ALTER TABLE issued_tokens ADD COLUMN amr TEXT;
