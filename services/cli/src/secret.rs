//! `planton secret`: values the org keeps for its connections (`connection create
//! --set-secret role_arn=NAME`), sealed at rest by the control plane and fetched by the runner
//! that serves the connection. Their values are never shown again.

use std::path::PathBuf;

use clap::Subcommand;
use cloudops_api as api;
use serde_json::json;

use crate::{CliError, Ctx, ListFormat, Result, admin::enc, client::read, print_items};

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Create or replace a secret from a file's content (admin): `planton secret set prod-role
    /// --from-file role-arn.txt`. One trailing newline is dropped.
    Set {
        name: String,
        /// The file holding the value (text); `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        from_file: PathBuf,
    },
    /// The org's secrets, by name, and the connections that use them (admin).
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Delete a secret no connection uses (admin).
    Delete { name: String },
}

pub async fn secret(ctx: &mut Ctx<'_, '_>, cmd: SecretCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    let row = |v: &api::Secret| {
        let used = if v.used_by.is_empty() { "<none>".into() } else { v.used_by.join(",") };
        vec![v.name.clone(), used, v.updated_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)]
    };
    let header = ["NAME", "USED BY", "UPDATED"];
    match cmd {
        SecretCommand::Set { name, from_file } => {
            let value = read_value(ctx, &from_file).await?;
            let v: api::Secret = read(
                c.put(&format!("/v1/orgs/{org}/secrets/{}", enc(&name)), &json!(api::SecretBody { value })).await?,
            )?;
            let verb = if v.created_at == v.updated_at { "created" } else { "updated" };
            ctx.out(&format!("secret/{} {verb}\n", v.name));
        }
        SecretCommand::List { output } => {
            let v: api::Items<api::Secret> = c.get_as(&format!("/v1/orgs/{org}/secrets")).await?;
            print_items(ctx, &v, output, &header, row);
        }
        SecretCommand::Delete { name } => {
            c.delete(&format!("/v1/orgs/{org}/secrets/{}", enc(&name))).await?;
            ctx.out(&format!("secret/{name} deleted\n"));
        }
    }
    Ok(())
}

/// The value in `path` (or standard input for `-`): text, without one trailing newline (what
/// `echo VALUE > FILE` adds).
async fn read_value(ctx: &mut Ctx<'_, '_>, path: &std::path::Path) -> Result<String> {
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        let read = match ctx.io.stdin.take() {
            Some(mut given) => tokio::io::AsyncReadExt::read_to_end(&mut given, &mut buf).await,
            None => std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf),
        };
        read.map_err(|e| CliError::Message(format!("--from-file -: {e}")))?;
        buf
    } else {
        std::fs::read(path).map_err(|e| CliError::Message(format!("--from-file {}: {e}", path.display())))?
    };
    let mut text = String::from_utf8(bytes)
        .map_err(|_| CliError::Message(format!("--from-file {}: the value must be text (UTF-8)", path.display())))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(CliError::Message(format!("--from-file {}: the file is empty", path.display())));
    }
    Ok(text)
}
