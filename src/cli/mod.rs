//! The command line: parses arguments, loads the configuration, runs one command. One
//! file per command family; [`output`] holds what they share. Errors go to stderr as one
//! line with a non-zero exit code: 2 for usage and configuration (clap refuses a value
//! outside a closed set before anything runs), 1 for a failed operation, 3 for an audit
//! chain that does not verify.

mod audit;
mod client;
mod keys;
mod member;
pub mod output;
mod stream;
mod tenant;
mod tokens;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::db::DbConnection;
use crate::tenants::{self, Slug, Tenant};
use output::{fail, CmdResult, Failure};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Multi-tenant identity provider and token issuer"
)]
pub struct Cli {
    /// TOML configuration file (see tessera.example.toml)
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB
    #[arg(
        long,
        global = true,
        env = "TESSERA_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// The schema owner's URL, for migrations (PostgreSQL with a restricted service role)
    #[arg(
        long,
        global = true,
        env = "TESSERA_MIGRATION_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    migration_database_url: Option<String>,
    /// Folder holding the signing keys
    #[arg(long, global = true, env = "TESSERA_KEYS_DIR", value_name = "DIR")]
    keys_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080
    #[arg(long, global = true, env = "TESSERA_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Issuer URL written into tokens and discovery
    #[arg(long, global = true, env = "TESSERA_ISSUER", value_name = "URL")]
    issuer: Option<String>,
    /// Machine-readable JSON output for listing and create commands
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (the default)
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage tenants
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Manage users
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage tenant memberships
    #[command(subcommand)]
    Member(member::MemberCommand),
    /// Manage OAuth clients
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Audit log tools
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Signing keys
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The issued-token ledger
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Audit streams to a SIEM
    #[command(subcommand)]
    Stream(stream::StreamCommand),
}

/// Parses the process arguments and runs; returns the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let serving = matches!(cli.command, None | Some(Command::Serve));
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(if serving {
        "info"
    } else {
        "warn"
    }))
    // webauthn-rs traces ceremony data (client data, credential ids) at debug level:
    // never into Tessera's log, whatever `RUST_LOG` says.
    .filter_module("webauthn_rs", log::LevelFilter::Warn)
    .filter_module("webauthn_rs_core", log::LevelFilter::Warn)
    .init();

    let overrides = Overrides {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
        migration_database_url: cli.migration_database_url.clone(),
        keys_dir: cli.keys_dir.clone(),
        listen: cli.listen.clone(),
        issuer: cli.issuer.clone(),
    };
    let config = match Config::load(&overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tessera: {e}");
            return 2;
        }
    };
    match dispatch(cli, config) {
        Ok(code) => code,
        Err(failure) => {
            let message = failure
                .message
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("tessera: error: {message}");
            failure.code
        }
    }
}

fn dispatch(cli: Cli, config: Config) -> CmdResult {
    let json = cli.json;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            crate::server::serve(config).map_err(|e| fail(crate::error::cause_chain(&e)))?;
            Ok(0)
        }
        Command::Migrate => {
            let ran = migrate(&config)?;
            println!("applied {ran} migration(s)");
            Ok(0)
        }
        Command::Tenant(cmd) => tenant::run(cmd, &config, json),
        Command::User(cmd) => user::run(cmd, &config, json),
        Command::Member(cmd) => member::run(cmd, &config, json),
        Command::Client(cmd) => client::run(cmd, &config, json),
        Command::Audit(cmd) => audit::run(cmd, &config, json),
        Command::Keys(cmd) => keys::run(cmd, &config, json),
        Command::Tokens(cmd) => tokens::run(cmd, &config, json),
        Command::Stream(cmd) => stream::run(cmd, &config, json),
    }
}

fn migrate(config: &Config) -> Result<usize, Failure> {
    crate::server::migrate(config).map_err(|e| fail(e.to_string()))
}

/// One connection (the service's own) with the schema up to date.
fn connect(config: &Config) -> Result<DbConnection, Failure> {
    migrate(config)?;
    crate::db::connect(&config.database_url).map_err(fail)
}

fn find_tenant(conn: &mut DbConnection, slug: &str) -> Result<Tenant, Failure> {
    tenants::find_by_slug(conn, &Slug::parse(slug)?)?.ok_or_else(|| fail("tenant not found"))
}
