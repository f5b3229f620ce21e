//! Tessera: a multi-tenant identity provider and token issuer. The tenant in every token
//! is derived from the user's membership, never from anything the client sends.

pub mod access;
pub mod audit;
pub mod bootstrap;
pub mod cli;
pub mod clients;
pub mod config;
pub mod console;
pub mod cursor;
pub mod db;
pub mod deadline;
pub mod error;
pub mod housekeeping;
pub mod http;
pub mod keys;
pub mod limits;
pub mod login;
pub mod memberships;
pub mod metrics;
pub mod mfa;
pub mod oauth;
pub mod periodic;
pub mod server;
pub mod state;
pub mod streams;
pub mod tenants;
pub mod tokens;
pub mod users;
