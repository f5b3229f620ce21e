//! The one integration test binary: every module drives the real application (HTTP app
//! or binary) against a fresh database per test, on SQLite and, when
//! `TESSERA_TEST_POSTGRES_URL` is set, on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod abuse;
mod api;
mod attacks;
mod audit_chain;
mod browser;
mod cli;
mod config_file;
mod console;
mod downstream;
mod exchange;
mod failover;
mod faults;
mod fuzz;
mod housekeeping;
mod http_basics;
mod idempotency;
mod keys;
mod limits;
mod log_hygiene;
mod login;
mod metrics;
mod mfa;
mod mfa_login;
mod oidc_client;
mod openapi;
mod outage;
mod postgres;
mod real_browser;
mod streams;
mod tokens;
mod webauthn;
