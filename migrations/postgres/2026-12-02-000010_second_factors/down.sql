ALTER TABLE tenants DROP COLUMN mfa_policy;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp;
