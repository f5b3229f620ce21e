-- A login for an unknown email reserves and settles its attempt on one of these rows
-- (chosen by a hash of the email) exactly as a known account does on its `users` row,
-- so both answers take the same work and the same time. They hold no data about
-- anyone; their count is fixed.
CREATE TABLE login_decoys (
    slot            INTEGER PRIMARY KEY NOT NULL,
    failed_logins   INTEGER NOT NULL,
    locked_until    TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL
);
INSERT INTO login_decoys (slot, failed_logins, locked_until, updated_at)
SELECT n, 0, NULL, '1970-01-01 00:00:00' FROM generate_series(0, 63) AS n;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') THEN
        GRANT SELECT, UPDATE ON login_decoys TO tessera_app;
    END IF;
END
$$;
