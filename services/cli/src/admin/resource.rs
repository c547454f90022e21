//! `planton resource`: the catalog's cloud resources (`org/env/Kind/name`), applied from YAML.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use cloudops_api as api;

use super::{enc, kv, show};
use crate::{CliError, Ctx, ListFormat, Result, print_items};

#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// Create or update catalog entries from a YAML manifest (several separated by ---).
    Apply {
        #[arg(short = 'f', long)]
        file: PathBuf,
    },
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// org/env/Kind/name, or Kind/name in the --env.
    Get {
        path: String,
        #[arg(short, long, value_enum, default_value = "yaml")]
        output: ListFormat,
    },
    Delete {
        path: String,
    },
}

/// `org/env/Kind/name`, or `Kind/name` in the current env.
fn resource_path(ctx: &Ctx<'_, '_>, path: &str) -> Result<(String, String, String, String)> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [o, e, k, n] => Ok((o.to_string(), e.to_string(), k.to_string(), n.to_string())),
        [k, n] => {
            let env = ctx
                .env()
                .ok_or_else(|| CliError::Message(format!("{path:?} needs --env, or use org/env/Kind/name")))?;
            Ok((ctx.org()?, env, k.to_string(), n.to_string()))
        }
        _ => Err(format!("invalid cloud resource {path:?}: expected org/env/Kind/name or Kind/name").into()),
    }
}

/// Every manifest of a YAML file (documents separated by `---`), each read as the contract's
/// [`api::Manifest`]: a missing or unknown field is named with the manifest's place in the file.
fn read_manifests(file: &Path) -> Result<Vec<api::Manifest>> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut docs = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let at = |e: &dyn std::fmt::Display| format!("{}: manifest {}: {e}", file.display(), i + 1);
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).map_err(|e| at(&e))?;
        if !v.is_null() {
            docs.push(serde_json::from_value(v).map_err(|e| at(&e))?);
        }
    }
    if docs.is_empty() {
        return Err(format!("{}: no manifest in the file", file.display()).into());
    }
    Ok(docs)
}

pub async fn resource(ctx: &mut Ctx<'_, '_>, cmd: ResourceCommand) -> Result<()> {
    let c = ctx.client()?;
    let row = |r: &api::CloudResource| vec![r.path.clone(), r.spec.connection.clone(), r.spec.namespace.clone()];
    match cmd {
        ResourceCommand::Apply { file } => {
            let docs = read_manifests(&file)?;
            let default_org = ctx.org()?;
            let org_of = |d: &api::Manifest| enc(d.metadata.org.as_deref().unwrap_or(&default_org));
            // The server checks every manifest first (dry run), so that a bad one applies none.
            for (i, d) in docs.iter().enumerate() {
                let checked: Result<api::ResourceDryRun> =
                    c.post_as(&format!("/v1/orgs/{}/resources?dry_run=true", org_of(d)), d).await;
                checked.map_err(|e| match e {
                    CliError::Api { code, message, upstream_reason } => CliError::Api {
                        code,
                        message: format!("{}: manifest {}: {message} (nothing applied)", file.display(), i + 1),
                        upstream_reason,
                    },
                    other => other,
                })?;
            }
            for d in &docs {
                let v: api::AppliedResource = c.post_as(&format!("/v1/orgs/{}/resources", org_of(d)), d).await?;
                ctx.out(&format!("{} {}\n", v.resource.path, v.result));
            }
        }
        ResourceCommand::List { output } => {
            let org = enc(&ctx.org()?);
            let env = ctx.env().map(|e| format!("?env={}", enc(&e))).unwrap_or_default();
            let v: api::Items<api::CloudResource> = c.get_as(&format!("/v1/orgs/{org}/resources{env}")).await?;
            print_items(ctx, &v, output, &["RESOURCE", "CONNECTION", "NAMESPACE"], row);
        }
        ResourceCommand::Get { path, output } => {
            let (o, e, k, n) = resource_path(ctx, &path)?;
            let path = format!("/v1/orgs/{}/envs/{}/resources/{}/{}", enc(&o), enc(&e), enc(&k), enc(&n));
            let v: api::CloudResource = c.get_as(&path).await?;
            show(ctx, &v, output, |r| {
                kv(&[
                    ("resource", r.path.clone()),
                    ("connection", r.spec.connection.clone()),
                    ("namespace", r.spec.namespace.clone()),
                ])
            });
        }
        ResourceCommand::Delete { path } => {
            let (o, e, k, n) = resource_path(ctx, &path)?;
            c.delete(&format!("/v1/orgs/{}/envs/{}/resources/{}/{}", enc(&o), enc(&e), enc(&k), enc(&n))).await?;
            ctx.out(&format!("{o}/{e}/{k}/{n} deleted\n"));
        }
    }
    Ok(())
}
