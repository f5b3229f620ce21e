ALTER TABLE issued_tokens DROP COLUMN amr;
ALTER TABLE authorization_requests DROP COLUMN acr_values;
