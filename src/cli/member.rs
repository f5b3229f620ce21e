//! `tessera member`: add, remove and list tenant memberships.

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::memberships::{self, Role, Roles};
use crate::users::{self, Email};

use super::output::{fail, missing, print_json, print_table, CmdResult, Failure, RoleArg};
use super::{connect, find_tenant};

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a user to a tenant
    Add {
        tenant_slug: String,
        email: String,
        /// member, admin or auditor (repeatable)
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<RoleArg>,
    },
    /// Remove a user from a tenant
    Remove { tenant_slug: String, email: String },
    /// List a tenant's members
    List { tenant_slug: String },
}

pub fn run(cmd: MemberCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    let origin = Origin::cli();
    match cmd {
        MemberCommand::Add {
            tenant_slug,
            email,
            roles,
        } => {
            let roles = Roles::new(roles.into_iter().map(Role::from).collect::<Vec<_>>())?;
            let email = Email::parse(&email)?;
            let membership = db::write_tx(&mut conn, |tx| {
                let tenant = find_tenant(tx, &tenant_slug)?;
                let user =
                    users::find_by_email(tx, &email)?.ok_or_else(|| fail("user not found"))?;
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
                let user = users::find_by_email(tx, &email)?
                    .ok_or_else(|| fail("membership not found"))?;
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
