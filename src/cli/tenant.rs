//! `tessera tenant`: create and list tenants.

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::tenants::{self, Slug};

use super::connect;
use super::output::{print_json, print_table, CmdResult};

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List tenants
    List,
}

pub fn run(cmd: TenantCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        TenantCommand::Create { slug, name } => {
            let slug = Slug::parse(&slug)?;
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
