//! `tessera keys`: list and rotate the signing keys.

use clap::Subcommand;

use crate::audit::Origin;
use crate::config::Config;
use crate::keys::{self, Keys};

use super::connect;
use super::output::{fail, print_json, print_table, AlgArg, CmdResult};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys and their states
    List,
    /// next -> active, active -> retired, and a new next key
    Rotate {
        /// Algorithm of the new next key (default: signing_alg)
        #[arg(long)]
        alg: Option<AlgArg>,
        /// Activate the next key even if it was published less than a JWKS cache
        /// lifetime ago
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: KeysCommand, config: &Config, json: bool) -> CmdResult {
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
                        k.alg.name().to_owned(),
                        format!("{:?}", k.state).to_lowercase(),
                        k.created_at.to_rfc3339(),
                        time(k.activated_at),
                        time(k.retired_at),
                    ]
                }),
            )
        }
        KeysCommand::Rotate { alg, force } => {
            let alg = alg.map_or(config.signing_alg, Into::into);
            let mut conn = connect(config)?;
            let rotation = keys::rotate(
                &mut conn,
                &config.keys_dir,
                &config.key_policy(),
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
            println!("created next {} ({})", rotation.created, alg.name());
            for kid in &rotation.dropped {
                println!("dropped {kid}");
            }
            Ok(0)
        }
    }
}
