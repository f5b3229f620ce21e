-- One-command set-up of Tessera's two PostgreSQL roles and its database, run once by a
-- superuser:
--
--   psql -h HOST -U postgres -v owner_password=SECRET1 -v app_password=SECRET2 \
--        -v database=tessera -f deploy/postgres-roles.sql
--
-- tessera_owner  owns the schema; migrations run as it
--                (TESSERA_MIGRATION_DATABASE_URL=postgres://tessera_owner:…@HOST/tessera)
-- tessera_app    the service's login: data access only, no DDL, no ownership, no
--                BYPASSRLS, no UPDATE/DELETE on the audit log
--                (TESSERA_DATABASE_URL=postgres://tessera_app:…@HOST/tessera)
-- The grants themselves are made by the migrations, so they follow the schema.
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE tessera_owner LOGIN PASSWORD %L', :'owner_password')
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_owner') \gexec
SELECT format('CREATE ROLE tessera_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD %L', :'app_password')
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tessera_app') \gexec
SELECT format('CREATE DATABASE %I OWNER tessera_owner', :'database')
    WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \gexec
\connect :database
ALTER SCHEMA public OWNER TO tessera_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
