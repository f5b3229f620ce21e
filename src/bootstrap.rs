//! First start: creates the platform admin named by `TESSERA_BOOTSTRAP_ADMIN_EMAIL` /
//! `_PASSWORD` when no active `admin` of `system` exists yet, so a new deployment can be
//! administered without touching the database by hand.

use secrecy::ExposeSecret;

use crate::audit::Origin;
use crate::config::Config;
use crate::db::{self, Pool};
use crate::error::{Error, Result};
use crate::memberships::{self, Role, Roles};
use crate::tenants::{self, Slug};
use crate::users::{self, password, Email};

/// Returns whether an admin was created.
pub fn ensure_platform_admin(pool: &Pool, config: &Config) -> Result<bool> {
    let Some((email, secret)) = &config.bootstrap_admin else {
        return Ok(false);
    };
    let email = Email::parse(email)?;
    let mut conn = pool.get()?;
    if memberships::platform_admin_exists(&mut conn)? {
        return Ok(false);
    }
    let hash = password::hash(secret.expose_secret(), config.bcrypt_cost)?;
    let origin = Origin::system();
    db::write_tx(&mut conn, |tx| {
        // Checked again under the write lock: another instance may have won the race.
        if memberships::platform_admin_exists(tx)? {
            return Ok(false);
        }
        let user = match users::find_by_email(tx, &email)? {
            Some(user) => user,
            None => users::create(tx, &origin, &email, hash)?,
        };
        let system = tenants::find_by_slug(tx, &Slug::parse(tenants::SYSTEM_SLUG)?)?
            .ok_or(Error::NotFound)?;
        let roles = Roles::new([Role::Admin])?;
        memberships::add(tx, &origin, &system, &user, &roles).map(|_| true)
    })
    .or_else(|e| match e {
        // Another instance created it first, or the user is already in `system`
        // without `admin`: either way, leave it to an operator.
        Error::Conflict(_) => Ok(false),
        e => Err(e),
    })
}
