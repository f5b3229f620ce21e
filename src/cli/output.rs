//! What every command shares: the failure type and its exit code, JSON and table
//! output, progress on a terminal, and argument parsing helpers.

use std::io::Write;

use serde::Serialize;

use crate::error::Error;

/// Progress on stderr, only when it is a terminal.
pub struct Progress {
    on: bool,
}

impl Progress {
    pub fn new() -> Self {
        use std::io::IsTerminal;
        Self {
            on: std::io::stderr().is_terminal(),
        }
    }

    pub fn show(&self, what: &str, n: i64) {
        if self.on {
            eprint!("\r{what}: {n} events");
        }
    }

    pub fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

pub fn rfc3339(name: &str, value: Option<&str>) -> Result<Option<chrono::NaiveDateTime>, Failure> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.naive_utc())
                .map_err(|_| fail(format!("invalid --{name}: expected an RFC 3339 time")))
        })
        .transpose()
}

/// A failed command: its one-line message and exit code.
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        // The operator's own terminal: show the cause of internal errors.
        Self {
            message: crate::error::cause_chain(&e),
            code: 1,
        }
    }
}

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Error::from(e).into()
    }
}

pub fn fail(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 1,
    }
}

/// Names what was not found, so an operator knows which argument to fix.
pub fn missing(what: &'static str) -> impl Fn(Error) -> Failure {
    move |e| match e {
        Error::NotFound => fail(format!("{what} not found")),
        e => e.into(),
    }
}

pub type CmdResult = Result<i32, Failure>;

pub fn print_json(value: &impl Serialize) -> CmdResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| fail(e.to_string()))?;
    println!("{text}");
    Ok(0)
}

/// Prints rows as tab-separated columns under a header.
pub fn print_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> CmdResult {
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

/// `--alg`: the signature algorithms, by their JOSE names.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AlgArg {
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
    #[value(name = "RS256")]
    Rs256,
}

impl From<AlgArg> for crate::keys::Algorithm {
    fn from(arg: AlgArg) -> Self {
        match arg {
            AlgArg::Es256 => Self::Es256,
            AlgArg::EdDsa => Self::EdDsa,
            AlgArg::Rs256 => Self::Rs256,
        }
    }
}

/// `--role`: a membership role.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Member,
    Admin,
    Auditor,
}

impl From<RoleArg> for crate::memberships::Role {
    fn from(arg: RoleArg) -> Self {
        match arg {
            RoleArg::Member => Self::Member,
            RoleArg::Admin => Self::Admin,
            RoleArg::Auditor => Self::Auditor,
        }
    }
}

/// `--grant`: an OAuth grant type a client may use.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum GrantArg {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    TokenExchange,
}

impl From<GrantArg> for crate::clients::GrantType {
    fn from(arg: GrantArg) -> Self {
        match arg {
            GrantArg::AuthorizationCode => Self::AuthorizationCode,
            GrantArg::RefreshToken => Self::RefreshToken,
            GrantArg::ClientCredentials => Self::ClientCredentials,
            GrantArg::TokenExchange => Self::TokenExchange,
        }
    }
}

/// `--format` of an export.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Ndjson,
    Csv,
}

impl From<FormatArg> for crate::audit::export::Format {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Ndjson => Self::Ndjson,
            FormatArg::Csv => Self::Csv,
        }
    }
}
