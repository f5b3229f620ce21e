//! The command line: parses arguments, loads the configuration, runs one command.
//! Errors go to stderr as one line with a non-zero exit code: 2 for usage and
//! configuration, 1 for a failed operation, 3 for an audit chain that does not verify.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::audit::{self, Origin};
use crate::clients::{self, ClientId, ClientView, NewClient};
use crate::config::{Config, Overrides};
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::{self, Alg, Keys, Policy};
use crate::memberships::{self, Role, Roles};
use crate::tenants::{self, Slug, Tenant};
use crate::tokens::{self, TokenFilter};
use crate::users::{self, password, Email};
use crate::{bootstrap, http};

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
    Tenant(TenantCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tenant memberships
    #[command(subcommand)]
    Member(MemberCommand),
    /// Manage OAuth clients
    #[command(subcommand)]
    Client(ClientCommand),
    /// Audit log tools
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The issued-token ledger
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the keys and their states
    List,
    /// next -> active, active -> retired, and a new next key
    Rotate {
        /// Algorithm of the new next key (default: signing_alg)
        #[arg(long, value_name = "ES256|EdDSA|RS256")]
        alg: Option<String>,
        /// Activate the next key even if it was published less than a JWKS cache
        /// lifetime ago
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// List issued tokens, newest first
    List {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long, value_name = "ID")]
        subject: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..=10000))]
        limit: i64,
    },
    /// Revoke one issued token by its jti
    Revoke { jti: String },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants
    List,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from the first line of standard input
    Create {
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users
    List,
}

#[derive(Debug, Subcommand)]
enum MemberCommand {
    /// Add a user to a tenant
    Add {
        tenant_slug: String,
        email: String,
        /// member, admin or auditor (repeatable)
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Remove a user from a tenant
    Remove { tenant_slug: String, email: String },
    /// List a tenant's members
    List { tenant_slug: String },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once
    Create(ClientCreate),
    /// List clients
    List {
        /// Only clients bound to this tenant
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Args)]
struct ClientCreate {
    client_id: String,
    /// Bind the client to one tenant
    #[arg(long, value_name = "SLUG")]
    tenant: Option<String>,
    /// A confidential client (gets a generated secret)
    #[arg(long)]
    confidential: bool,
    #[arg(long)]
    name: Option<String>,
    /// Registered redirect URI, compared by exact string (repeatable)
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// authorization_code, refresh_token or client_credentials (repeatable)
    #[arg(long = "grant", value_name = "GRANT")]
    grants: Vec<String>,
    /// Scope the client may request (repeatable)
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the hash chain of one tenant, or of every tenant
    Verify {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// Also check the chain against a checkpoint saved earlier (the JWS, or the JSON
        /// that GET /api/v1/audit/checkpoint returned)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Write the audit log to standard output, oldest first per tenant
    Export {
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        #[arg(long, default_value = "ndjson", value_name = "ndjson|csv")]
        format: String,
        /// Only events that occurred at or after this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only events that occurred before this RFC 3339 time
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
}

/// Progress on stderr, only when it is a terminal.
struct Progress {
    on: bool,
}

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            on: std::io::stderr().is_terminal(),
        }
    }

    fn show(&self, what: &str, n: i64) {
        if self.on {
            eprint!("\r{what}: {n} events");
        }
    }

    fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

fn rfc3339(name: &str, value: Option<&str>) -> Result<Option<chrono::NaiveDateTime>, Failure> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.naive_utc())
                .map_err(|_| fail(format!("invalid --{name}: expected an RFC 3339 time")))
        })
        .transpose()
}

/// A failed command: its one-line message and exit code.
struct Failure {
    message: String,
    code: i32,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // The operator's own terminal: show the cause of internal errors.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Self { message, code: 1 }
    }
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Error::from(e).into()
    }
}

fn fail(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 1,
    }
}

/// Names what was not found, so an operator knows which argument to fix.
fn missing(what: &'static str) -> impl Fn(Error) -> Failure {
    move |e| match e {
        Error::NotFound => fail(format!("{what} not found")),
        e => e.into(),
    }
}

type CmdResult = Result<i32, Failure>;

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
        Command::Serve => serve(config),
        Command::Migrate => {
            let ran = migrate(&config)?;
            println!("applied {ran} migration(s)");
            Ok(0)
        }
        Command::Tenant(cmd) => tenant(cmd, &config, json),
        Command::User(cmd) => user(cmd, &config, json),
        Command::Member(cmd) => member(cmd, &config, json),
        Command::Client(cmd) => client(cmd, &config, json),
        Command::Audit(cmd) => audit_cmd(cmd, &config, json),
        Command::Keys(cmd) => keys_cmd(cmd, &config, json),
        Command::Tokens(cmd) => tokens_cmd(cmd, &config, json),
    }
}

/// One pooled connection with the schema up to date.
/// Applies pending migrations, as the schema owner when a migration URL is set.
fn migrate(config: &Config) -> Result<usize, Failure> {
    let url = config
        .migration_database_url
        .as_ref()
        .unwrap_or(&config.database_url);
    let mut conn = db::connect(url).map_err(fail)?;
    db::migrate(&mut conn).map_err(fail)
}

/// One connection (the service's own) with the schema up to date.
fn connect(config: &Config) -> Result<DbConnection, Failure> {
    migrate(config)?;
    db::connect(&config.database_url).map_err(fail)
}

fn serve(config: Config) -> CmdResult {
    // Migrate before the pool opens its connections.
    let ran = migrate(&config)?;
    if ran > 0 {
        log::info!("applied {ran} migration(s)");
    }
    let pool =
        db::pool(&config.database_url, config.db_pool_size, config.db_timeout).map_err(fail)?;
    if bootstrap::ensure_platform_admin(&pool, &config)? {
        log::info!("created the bootstrap platform admin");
    }
    let keys = {
        let mut conn = pool
            .get()
            .map_err(|e| fail(format!("cannot connect to the database: {e}")))?;
        if keys::init(
            &mut conn,
            &config.keys_dir,
            config.signing_alg,
            &Origin::system(),
        )
        .map_err(|e| fail(format!("signing keys: {e}")))?
        {
            log::info!("created signing keys in {}", config.keys_dir.display());
        }
        Keys::open(&config.keys_dir).map_err(|e| fail(format!("signing keys: {e}")))?
    };
    log::info!(
        "starting with {:?}, active signing key {}",
        config.database_url,
        keys.current().active().kid
    );
    http::run(config, pool, keys).map_err(|e| fail(format!("server: {e}")))?;
    Ok(0)
}

fn print_json(value: &impl Serialize) -> CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| fail(e.to_string()))?;
    println!("{text}");
    Ok(0)
}

/// Prints rows as tab-separated columns under a header.
fn print_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> CmdResult {
    let mut out = std::io::stdout().lock();
    let line =
        |out: &mut std::io::StdoutLock, cells: &[String]| writeln!(out, "{}", cells.join("\t"));
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    line(&mut out, &header).map_err(|e| fail(e.to_string()))?;
    for row in rows {
        line(&mut out, &row).map_err(|e| fail(e.to_string()))?;
    }
    Ok(0)
}

fn find_tenant(conn: &mut DbConnection, slug: &str) -> Result<Tenant, Failure> {
    tenants::find_by_slug(conn, &Slug::parse(slug)?).map_err(missing("tenant"))
}

fn tenant(cmd: TenantCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        TenantCommand::Create { slug, name } => {
            let slug = Slug::parse(&slug)?;
            if slug.as_str() == tenants::SYSTEM_SLUG {
                return Err(Error::Conflict("tenant").into());
            }
            let origin = Origin::cli();
            let tenant = db::write_tx(&mut conn, |tx| {
                tenants::create(tx, &origin, &slug, name.as_deref())
            })?;
            if json {
                return print_json(&tenant);
            }
            println!("created tenant {} ({})", tenant.slug, tenant.id);
            Ok(0)
        }
        TenantCommand::List => {
            let all = tenants::list(&mut conn)?;
            if json {
                return print_json(&all);
            }
            print_table(
                &["ID", "SLUG", "NAME", "STATUS"],
                all.into_iter()
                    .map(|t| vec![t.id, t.slug, t.name, t.status]),
            )
        }
    }
}

fn read_password_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| fail(format!("cannot read the password from standard input: {e}")))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(fail("no password on standard input"));
    }
    Ok(password)
}

fn user(cmd: UserCommand, config: &Config, json: bool) -> CmdResult {
    match cmd {
        UserCommand::Create { email, .. } => {
            let email = Email::parse(&email)?;
            let secret = read_password_line()?;
            let hash = password::hash(&secret, config.bcrypt_cost)?;
            let mut conn = connect(config)?;
            let origin = Origin::cli();
            let user = db::write_tx(&mut conn, |tx| users::create(tx, &origin, &email, hash))?;
            if json {
                return print_json(&user);
            }
            println!("created user {} ({})", user.email, user.id);
            Ok(0)
        }
        UserCommand::List => {
            let mut conn = connect(config)?;
            let all = users::list(&mut conn)?;
            if json {
                return print_json(&all);
            }
            print_table(
                &["ID", "EMAIL", "STATUS"],
                all.into_iter().map(|u| vec![u.id, u.email, u.status]),
            )
        }
    }
}

fn member(cmd: MemberCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    let origin = Origin::cli();
    match cmd {
        MemberCommand::Add {
            tenant_slug,
            email,
            roles,
        } => {
            let roles = Roles::new(
                roles
                    .iter()
                    .map(|r| Role::parse(r))
                    .collect::<Result<Vec<_>, _>>()?,
            )?;
            let email = Email::parse(&email)?;
            let membership = db::write_tx(&mut conn, |tx| {
                let tenant = find_tenant(tx, &tenant_slug)?;
                let user = users::find_by_email(tx, &email).map_err(missing("user"))?;
                Ok::<_, Failure>(memberships::add(tx, &origin, &tenant, &user, &roles)?)
            })?;
            if json {
                return print_json(&membership);
            }
            println!(
                "added {} to {} as {}",
                email.as_str(),
                tenant_slug,
                roles.names().join(", ")
            );
            Ok(0)
        }
        MemberCommand::Remove { tenant_slug, email } => {
            let email = Email::parse(&email)?;
            db::write_tx(&mut conn, |tx| {
                let tenant = find_tenant(tx, &tenant_slug)?;
                let user = users::find_by_email(tx, &email).map_err(missing("membership"))?;
                memberships::remove(tx, &origin, &tenant, &user).map_err(missing("membership"))
            })?;
            if json {
                return print_json(&serde_json::json!({ "removed": true }));
            }
            println!("removed {} from {}", email.as_str(), tenant_slug);
            Ok(0)
        }
        MemberCommand::List { tenant_slug } => {
            let tenant = find_tenant(&mut conn, &tenant_slug)?;
            let members = memberships::list(&mut conn, &tenant)?;
            if json {
                return print_json(&members);
            }
            print_table(
                &["USER_ID", "EMAIL", "ROLES", "STATUS"],
                members
                    .into_iter()
                    .map(|m| vec![m.user_id, m.email, m.roles, m.status]),
            )
        }
    }
}

fn client(cmd: ClientCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        ClientCommand::Create(args) => {
            let id = ClientId::parse(&args.client_id)?;
            let input = NewClient {
                name: args.name,
                confidential: args.confidential,
                redirect_uris: args.redirect_uris,
                grants: args.grants,
                scopes: args.scopes,
            };
            let origin = Origin::cli();
            let (client, secret) = db::write_tx(&mut conn, |tx| {
                let tenant = match &args.tenant {
                    Some(slug) => Some(find_tenant(tx, slug)?),
                    None => None,
                };
                Ok::<_, Failure>(clients::create(tx, &origin, &id, tenant.as_ref(), input)?)
            })?;
            let view = ClientView::from(&client);
            if json {
                #[derive(Serialize)]
                struct Created<'a> {
                    #[serde(flatten)]
                    client: &'a ClientView,
                    client_secret: Option<&'a str>,
                }
                return print_json(&Created {
                    client: &view,
                    client_secret: secret.as_deref(),
                });
            }
            println!("created {} client {}", view.kind, view.client_id);
            if let Some(secret) = secret {
                println!("client_secret: {secret}");
                println!("(shown once: store it now; only its hash is kept)");
            }
            Ok(0)
        }
        ClientCommand::List { tenant } => {
            let tenant = match tenant {
                Some(slug) => Some(find_tenant(&mut conn, &slug)?),
                None => None,
            };
            let views: Vec<ClientView> = clients::list(&mut conn, tenant.as_ref())?
                .iter()
                .map(ClientView::from)
                .collect();
            if json {
                return print_json(&views);
            }
            print_table(
                &["CLIENT_ID", "KIND", "TENANT_ID", "GRANTS", "REDIRECT_URIS"],
                views.into_iter().map(|c| {
                    vec![
                        c.client_id,
                        c.kind,
                        c.tenant_id.unwrap_or_else(|| "-".to_owned()),
                        c.grant_types.join(","),
                        c.redirect_uris.join(","),
                    ]
                }),
            )
        }
    }
}

fn audit_cmd(cmd: AuditCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        AuditCommand::Export {
            tenant,
            format,
            since,
            until,
        } => {
            let format = audit::export::Format::parse(&format)?;
            let since = rfc3339("since", since.as_deref())?;
            let until = rfc3339("until", until.as_deref())?;
            let tenant = match tenant {
                Some(slug) => Some(find_tenant(&mut conn, &slug)?),
                None => None,
            };
            let chain = tenant
                .as_ref()
                .map_or(crate::tenants::SYSTEM_TENANT_ID, |t| t.id.as_str())
                .to_owned();
            let origin = Origin::cli();
            db::write_tx(&mut conn, |tx| {
                audit::record(
                    tx,
                    &origin,
                    audit::Event::new(&chain, "audit.exported", audit::Outcome::Success),
                )
            })?;
            let progress = Progress::new();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut written = 0i64;
            let mut io_error = None;
            audit::export::run(
                &mut conn,
                tenant.as_ref().map(|t| t.id.as_str()),
                since,
                until,
                format,
                |chunk| {
                    if let Err(e) = out.write_all(&chunk) {
                        io_error = Some(e);
                        return false;
                    }
                    written += chunk.iter().filter(|b| **b == b'\n').count() as i64;
                    progress.show("exported", written);
                    true
                },
            )?;
            progress.done();
            if let Some(e) = io_error {
                return Err(fail(format!("cannot write the export: {e}")));
            }
            out.flush()
                .map_err(|e| fail(format!("cannot write the export: {e}")))?;
            Ok(0)
        }
        AuditCommand::Verify { tenant, checkpoint } => {
            let checkpoint = match checkpoint {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                    Some(audit::checkpoint::read(&text)?)
                }
                None => None,
            };
            let targets = match tenant {
                Some(slug) => vec![find_tenant(&mut conn, &slug)?],
                None => tenants::list(&mut conn)?,
            };
            let progress = Progress::new();
            let mut reports = Vec::with_capacity(targets.len());
            for t in &targets {
                let report = audit::verify_with_progress(&mut conn, &t.id, &mut |n| {
                    progress.show(&t.slug, n)
                })?;
                progress.done();
                reports.push((t.slug.clone(), report));
            }
            if let Some(jws) = checkpoint {
                let keys =
                    Keys::open(&config.keys_dir).map_err(|e| fail(format!("signing keys: {e}")))?;
                let report = audit::checkpoint::check(&mut conn, &keys.current(), &jws)?;
                let cp = &report.checkpoint;
                if report.matches {
                    println!(
                        "checkpoint: tenant {} at seq {} matches (chain now at seq {})",
                        cp.tenant, cp.seq, report.head_seq
                    );
                } else {
                    return Err(Failure {
                        message: format!(
                            "checkpoint of tenant {} at seq {} does not match: {}",
                            cp.tenant,
                            cp.seq,
                            report.problem.unwrap_or("mismatch")
                        ),
                        code: 3,
                    });
                }
            }
            // Reading the log is itself audited (after verifying, so the check sees the
            // chain as it was).
            let origin = Origin::cli();
            db::write_tx(&mut conn, |tx| {
                for (t, (_, report)) in targets.iter().zip(&reports) {
                    audit::record(
                        tx,
                        &origin,
                        audit::Event::new(&t.id, "audit.verified", audit::Outcome::Success)
                            .with_details(serde_json::json!({
                                "intact": report.is_intact(),
                                "head_seq": report.head_seq,
                            })),
                    )?;
                }
                Ok::<_, Error>(())
            })?;
            let intact = reports.iter().all(|(_, r)| r.is_intact());
            if json {
                let items: Vec<_> = reports
                    .iter()
                    .map(|(slug, r)| serde_json::json!({ "tenant": slug, "intact": r.is_intact(), "report": r }))
                    .collect();
                print_json(&items)?;
            } else {
                for (slug, r) in &reports {
                    match r.first_bad_seq {
                        None => {
                            println!("{slug}: ok, {} events, head seq {}", r.events, r.head_seq)
                        }
                        Some(seq) => println!(
                            "{slug}: BROKEN at seq {seq}: {}",
                            r.problem.unwrap_or("invalid event")
                        ),
                    }
                }
            }
            if intact {
                Ok(0)
            } else {
                let first = reports
                    .iter()
                    .find_map(|(slug, r)| {
                        r.first_bad_seq
                            .map(|seq| format!("tenant {slug}: first bad seq {seq}"))
                    })
                    .unwrap_or_default();
                Err(Failure {
                    message: format!("audit chain does not verify: {first}"),
                    code: 3,
                })
            }
        }
    }
}

fn keys_cmd(cmd: KeysCommand, config: &Config, json: bool) -> CmdResult {
    match cmd {
        KeysCommand::List => {
            let keys =
                Keys::open(&config.keys_dir).map_err(|e| fail(format!("signing keys: {e}")))?;
            let set = keys.current();
            let metas: Vec<_> = set.metas().cloned().collect();
            if json {
                return print_json(&metas);
            }
            print_table(
                &[
                    "KID",
                    "ALG",
                    "STATE",
                    "CREATED_AT",
                    "ACTIVATED_AT",
                    "RETIRED_AT",
                ],
                metas.into_iter().map(|k| {
                    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
                        t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
                    };
                    vec![
                        k.kid,
                        k.alg.as_str().to_owned(),
                        format!("{:?}", k.state).to_lowercase(),
                        k.created_at.to_rfc3339(),
                        time(k.activated_at),
                        time(k.retired_at),
                    ]
                }),
            )
        }
        KeysCommand::Rotate { alg, force } => {
            let alg = match alg {
                Some(text) => Alg::parse(&text)
                    .ok_or_else(|| fail("invalid --alg: expected ES256, EdDSA or RS256"))?,
                None => config.signing_alg,
            };
            let mut conn = connect(config)?;
            let rotation = keys::rotate(
                &mut conn,
                &config.keys_dir,
                &Policy::from_config(config),
                alg,
                &Origin::cli(),
                force,
            )
            .map_err(|e| fail(format!("signing keys: {e}")))?;
            if json {
                return print_json(&rotation);
            }
            println!("activated {}", rotation.activated);
            if let Some(retired) = &rotation.retired {
                println!("retired {retired}");
            }
            println!("created next {} ({})", rotation.created, alg.as_str());
            for kid in &rotation.dropped {
                println!("dropped {kid}");
            }
            Ok(0)
        }
    }
}

fn tokens_cmd(cmd: TokensCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        TokensCommand::List {
            tenant,
            subject,
            limit,
        } => {
            let tenant = match tenant {
                Some(slug) => Some(find_tenant(&mut conn, &slug)?),
                None => None,
            };
            let chain = tenant
                .as_ref()
                .map_or(crate::tenants::SYSTEM_TENANT_ID, |t| t.id.as_str())
                .to_owned();
            let filter = TokenFilter {
                tenant_id: tenant.map(|t| t.id),
                subject,
                limit,
                ..TokenFilter::default()
            };
            let origin = Origin::cli();
            let rows = db::write_tx(&mut conn, |tx| {
                let rows = tokens::list(tx, &filter)?;
                audit::record(
                    tx,
                    &origin,
                    audit::Event::new(&chain, "tokens.listed", audit::Outcome::Success)
                        .with_details(serde_json::json!({ "rows": rows.len() })),
                )?;
                Ok::<_, Error>(rows)
            })?;
            if json {
                return print_json(&rows);
            }
            print_table(
                &[
                    "JTI",
                    "TENANT_ID",
                    "TYPE",
                    "SUBJECT",
                    "CLIENT_ID",
                    "EXPIRES_AT",
                    "REVOKED_AT",
                ],
                rows.into_iter().map(|t| {
                    vec![
                        t.jti,
                        t.tenant_id,
                        t.token_type,
                        t.subject,
                        t.client_id,
                        db::format_utc(&t.expires_at),
                        t.revoked_at
                            .map_or_else(|| "-".to_owned(), |r| db::format_utc(&r)),
                    ]
                }),
            )
        }
        TokensCommand::Revoke { jti } => {
            let origin = Origin::cli();
            let revoked = db::write_tx(&mut conn, |tx| {
                let token = tokens::find_by_jti(tx, &jti).map_err(missing("token"))?;
                Ok::<_, Failure>(tokens::revoke(
                    tx,
                    &origin,
                    &token.tenant_id,
                    &token.jti,
                    "operator",
                )?)
            })?;
            if json {
                return print_json(&serde_json::json!({ "jti": jti, "revoked": revoked }));
            }
            if revoked {
                println!("revoked {jti}");
            } else {
                println!("{jti} was already revoked");
            }
            Ok(0)
        }
    }
}
