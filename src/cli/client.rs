//! `tessera client`: register and list OAuth clients.

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::audit::Origin;
use crate::clients::{self, ClientId, ClientView, NewClient};
use crate::config::Config;
use crate::db;

use super::output::{print_json, print_table, CmdResult, Failure, GrantArg};
use super::{connect, find_tenant};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
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
pub struct ClientCreate {
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
    /// authorization_code, refresh_token, client_credentials or token_exchange
    /// (repeatable)
    #[arg(long = "grant", value_name = "GRANT")]
    grants: Vec<GrantArg>,
    /// Scope the client may request (repeatable)
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// An audience a token_exchange client may ask for (repeatable)
    #[arg(long = "exchange-audience", value_name = "AUD")]
    exchange_audiences: Vec<String>,
}

pub fn run(cmd: ClientCommand, config: &Config, json: bool) -> CmdResult {
    let mut conn = connect(config)?;
    match cmd {
        ClientCommand::Create(args) => {
            let id = ClientId::parse(&args.client_id)?;
            let input = NewClient {
                name: args.name,
                confidential: args.confidential,
                redirect_uris: args.redirect_uris,
                grants: args
                    .grants
                    .into_iter()
                    .map(|g| clients::GrantType::from(g).as_str().to_owned())
                    .collect(),
                scopes: args.scopes,
                exchange_audiences: args.exchange_audiences,
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
