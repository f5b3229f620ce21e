//! `tessera user`: create (password on standard input) and list users, and reset a
//! user's second factors.

use std::io::BufRead;

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::users::{self, password, Email};

use super::connect;
use super::output::{fail, missing, print_json, print_table, CmdResult, Failure};
use crate::error::Error;

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
    /// Remove every second factor of a user (a lost authenticator); audited with the
    /// reason in the chain of every tenant the user belongs to
    ResetMfa {
        email: String,
        /// Why (kept in the audit events)
        #[arg(long, required = true)]
        reason: String,
    },
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
        UserCommand::ResetMfa { email, reason } => {
            let email = Email::parse(&email)?;
            crate::mfa::reset_reason(&reason)?;
            let mut conn = connect(config)?;
            let origin = Origin::cli();
            let (user, removed) = db::write_tx(&mut conn, |tx| {
                let user = users::find_by_email(tx, &email)?.ok_or(Error::NotFound)?;
                let removed = crate::login::reset_factors(tx, &origin, &user, &reason)?;
                Ok((user, removed))
            })
            .map_err(missing("user"))?;
            if json {
                return print_json(&serde_json::json!({ "user_id": user.id, "removed": removed }));
            }
            if removed {
                println!("removed the second factors of {}", user.email);
            } else {
                println!("{} had no second factor (reset recorded)", user.email);
            }
            Ok(0)
        }
    }
}
