//! Test support: a fresh database per test on each backend, the real binary, and a
//! macro that runs one test body against SQLite and PostgreSQL.
//!
//! `db.rs` holds the per-test database and the backend macros; `app.rs` the application
//! state over it; `http.rs` the helpers that call the in-process app; `world.rs` the
//! builders of tenants, users, members and clients; `tokens.rs` real tokens for them;
//! `cli.rs` and `server.rs` the real binary as a command and as a server; `webdriver.rs`
//! a real, headless Chromium.

mod app;
mod cli;
mod db;
mod http;
pub mod load;
mod server;
mod tokens;
mod webdriver;
mod world;

pub use cli::{binary, run_binary, CliOutput};
pub(crate) use db::{both_backends, both_backends_async};
pub use db::{TestDb, APP_ROLE, PG_ENV};
pub use http::{basic, bearer, call, form_post, get, Reply};
pub use server::Server;
pub use tokens::{client_token, user_token};
pub use webdriver::Browser as RealBrowser;

/// Unmounts a test's mount point (a tmpfs, a read-only bind mount) when dropped.
pub struct Unmount(pub String);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.0])
            .status();
    }
}
