//! `tessera user`: create (password on standard input) and list users.

use std::io::BufRead;

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::users::{self, password, Email};

use super::connect;
use super::output::{fail, print_json, print_table, CmdResult, Failure};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from the first line of standard input
    Create {
        email: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users
    List,
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

pub fn run(cmd: UserCommand, config: &Config, json: bool) -> CmdResult {
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
