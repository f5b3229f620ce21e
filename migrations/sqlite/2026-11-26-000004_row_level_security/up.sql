-- Row-level security is PostgreSQL's (see migrations/postgres); SQLite serves one
-- process and relies on the application's checks. Kept so both backends share the
-- same migration history.
SELECT 1;
