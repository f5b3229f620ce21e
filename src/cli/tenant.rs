//! `tessera tenant`: create and list tenants.

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::db;
use crate::error::Error;
use crate::mfa;
use crate::tenants::{self, Slug};

use super::connect;
use super::output::{missing, print_json, print_table, CmdResult};

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
    /// Change a tenant's settings
    Update {
        slug: String,
        /// Second factors: off, optional (asked of users who have one) or required
        #[arg(long, value_enum, value_name = "POLICY")]
        mfa: Option<MfaArg>,
    },
}

/// `--mfa`: a tenant's second-factor policy.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum MfaArg {
    Off,
    Optional,
    Required,
}

impl From<MfaArg> for mfa::Policy {
    fn from(arg: MfaArg) -> Self {
        match arg {
            MfaArg::Off => Self::Off,
            MfaArg::Optional => Self::Optional,
            MfaArg::Required => Self::Required,
        }
    }
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
                &["ID", "SLUG", "NAME", "STATUS", "MFA"],
                all.into_iter()
                    .map(|t| vec![t.id, t.slug, t.name, t.status, t.mfa_policy]),
            )
        }
        TenantCommand::Update { slug, mfa } => {
            let slug = Slug::parse(&slug)?;
            let origin = Origin::cli();
            let tenant = db::write_tx(&mut conn, |tx| {
                let tenant = tenants::find_by_slug(tx, &slug)?.ok_or(Error::NotFound)?;
                if let Some(policy) = mfa {
                    mfa::set_policy(tx, &origin, &tenant, policy.into())?;
                }
                tenants::find_by_id(tx, &tenant.id)?.ok_or(Error::NotFound)
            })
            .map_err(missing("tenant"))?;
            if json {
                return print_json(&tenant);
            }
            println!("tenant {}: mfa {}", tenant.slug, tenant.mfa_policy);
            Ok(0)
        }
    }
}
