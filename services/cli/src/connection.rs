//! `planton connection`: provider connections, their settings and secret references, and
//! the defaults per provider.

use std::collections::BTreeMap;

use clap::Subcommand;
use cloudops_api as api;
use serde_json::json;

use crate::{
    CliError, Ctx, ListFormat, Result,
    admin::{enc, show},
    client::read,
    or_none, print_items,
};

#[derive(Subcommand, Debug)]
pub enum ConnectionCommand {
    /// Register a connection (admin).
    Create {
        name: String,
        #[arg(long)]
        provider: String,
        /// The runner that serves this connection.
        #[arg(long)]
        runner: Option<String>,
        /// Kubernetes: the kubeconfig context on the runner.
        #[arg(long)]
        context: Option<String>,
        /// A non-secret setting, KEY=VALUE, repeatable: aws profile, region, endpoint_url; gcp
        /// project, zone, endpoint_url; azure subscription, resource_group, account, endpoint_url;
        /// kubernetes impersonate=true (the runner acts as the person: `Impersonate-User:
        /// cloudops:<org>:<principal>`, groups `cloudops:<role>`, `cloudops:org:<org>`).
        /// Credentials stay on the runner.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// A setting taken from one of the org's secrets, KEY=SECRET, repeatable: aws role_arn
        /// (the role the runner assumes with its own credentials) and external_id. The runner
        /// fetches the value with its API key when an op needs it (`planton secret set`).
        #[arg(long = "set-secret", value_name = "KEY=SECRET")]
        secrets: Vec<String>,
    },
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    Get {
        name: String,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    Delete {
        name: String,
    },
    /// Make it the default for its provider: of the --env, or of the org without one.
    SetDefault {
        name: String,
    },
    /// Show the effective default and the chain (env → org).
    GetDefault {
        #[arg(long)]
        provider: String,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
}

pub async fn connection(ctx: &mut Ctx<'_, '_>, cmd: ConnectionCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    let row = |c: &api::Connection| {
        let settings = c.settings.iter().map(|(k, v)| format!("{k}={v}"));
        let secrets = c.secrets.iter().map(|(k, v)| format!("{k}=secret:{v}"));
        let settings: Vec<String> = settings.chain(secrets).collect();
        let settings = if settings.is_empty() { "<none>".to_string() } else { settings.join(",") };
        vec![c.name.clone(), c.provider.clone(), or_none(&c.runner), or_none(&c.context), settings]
    };
    let header = ["NAME", "PROVIDER", "RUNNER", "CONTEXT", "SETTINGS"];
    match cmd {
        ConnectionCommand::Create { name, provider, runner, context, settings, secrets } => {
            let settings = pairs("--set", "region=eu-west-1", &settings)?;
            let secrets = pairs("--set-secret", "role_arn=prod-role", &secrets)?;
            let body = api::CreateConnection { name, provider, runner, context, settings, secrets };
            let v: api::Connection = read(c.post(&format!("/v1/orgs/{org}/connections"), &json!(body)).await?)?;
            ctx.out(&format!("connection/{} created\n", v.name));
        }
        ConnectionCommand::List { output } => {
            let v: api::Items<api::Connection> = c.get_as(&format!("/v1/orgs/{org}/connections")).await?;
            print_items(ctx, &v, output, &header, row);
        }
        ConnectionCommand::Get { name, output } => {
            let v: api::Connection = c.get_as(&format!("/v1/orgs/{org}/connections/{}", enc(&name))).await?;
            show(ctx, &v, output, |v| {
                crate::printers::tabwrite(&[header.iter().map(|h| h.to_string()).collect(), row(v)])
            });
        }
        ConnectionCommand::Delete { name } => {
            c.delete(&format!("/v1/orgs/{org}/connections/{}", enc(&name))).await?;
            ctx.out(&format!("connection/{name} deleted\n"));
        }
        ConnectionCommand::SetDefault { name } => {
            let path = format!("/v1/orgs/{org}/connections/{}/default", enc(&name));
            let v: api::DefaultConnectionSet = read(c.post(&path, &json!(api::EnvBody { env: ctx.env() })).await?)?;
            ctx.out(&format!("connection/{} is the default {} connection of {}\n", v.connection, v.provider, v.scope));
        }
        ConnectionCommand::GetDefault { provider, output } => {
            let env = ctx.env().map(|e| format!("&env={}", enc(&e))).unwrap_or_default();
            let path = format!("/v1/orgs/{org}/default-connection?provider={}{env}", enc(&provider));
            let v: api::DefaultConnection = c.get_as(&path).await?;
            show(ctx, &v, output, |v| {
                let mut rows = vec![vec!["LEVEL".to_string(), "CONNECTION".to_string()]];
                rows.extend(v.chain.iter().map(|l| vec![l.level.clone(), or_none(&l.connection)]));
                let head = match &v.connection {
                    Some(c) => format!("effective: {c} (from {})\n", or_none(&v.from)),
                    None => format!("effective: none: no default {} connection\n", v.provider),
                };
                head + &crate::printers::tabwrite(&rows)
            });
        }
    }
    Ok(())
}

/// `KEY=VALUE` arguments of `flag`, each split once at the first '='.
fn pairs(flag: &str, example: &str, args: &[String]) -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for kv in args {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| CliError::Message(format!("{flag} {kv:?}: expected KEY=VALUE, e.g. {flag} {example}")))?;
        if map.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(CliError::Message(format!("{flag} {}: given twice", k.trim())));
        }
    }
    Ok(map)
}
