//! `planton org | env | principal | apikey | grant`: who is in an org and what they may do.

use clap::Subcommand;
use cloudops_api as api;

use super::enc;
use crate::{CliError, Ctx, ListFormat, NONE, Result, print_items, when};

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an org (platform operators); you become its admin.
    Create { name: String },
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    Create {
        name: String,
    },
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
}

#[derive(Subcommand, Debug)]
pub enum PrincipalCommand {
    /// Create a user or a service account.
    Create {
        name: String,
        #[arg(long, default_value = "user", value_parser = ["user", "service-account"])]
        kind: String,
    },
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApikeyCommand {
    /// Mint a key for yourself, or (admins) for --principal. Shown once.
    Create {
        #[arg(long)]
        principal: Option<String>,
    },
    List {
        #[arg(long)]
        principal: Option<String>,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Revoke by id or by the prefix `list` shows.
    Revoke {
        id: String,
        #[arg(long)]
        principal: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum GrantCommand {
    /// Grant a role on a scope: org (the --org), env (the --env), resource (--resource), connection (--connection).
    Create {
        #[arg(long, required_unless_present = "group", conflicts_with = "group")]
        principal: Option<String>,
        /// An identity-provider group, as its tokens list it: every member holds the grant from
        /// their next sign-in (or silent renewal) on, and loses it once out of the group.
        #[arg(long)]
        group: Option<String>,
        #[arg(long, value_parser = ["org", "env", "resource", "connection"])]
        scope: String,
        #[arg(long, value_parser = ["viewer", "operator", "admin"])]
        role: String,
        #[arg(short = 'r', long)]
        resource: Option<String>,
        #[arg(long)]
        connection: Option<String>,
    },
    List {
        #[arg(long)]
        principal: Option<String>,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    Delete {
        id: String,
    },
}

pub async fn org(ctx: &mut Ctx<'_, '_>, cmd: OrgCommand) -> Result<()> {
    let c = ctx.client()?;
    match cmd {
        OrgCommand::Create { name } => {
            let o: api::Org = c.post_as("/v1/orgs", &api::NameBody { name }).await?;
            ctx.out(&format!("org/{} created\n", o.name));
        }
        OrgCommand::List { output } => {
            let v: api::Items<api::Org> = c.get_as("/v1/orgs").await?;
            print_items(ctx, &v, output, &["NAME", "ID", "CREATED"], |o| {
                vec![o.name.clone(), o.id.clone(), when(&o.created_at)]
            });
        }
    }
    Ok(())
}

pub async fn env(ctx: &mut Ctx<'_, '_>, cmd: EnvCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    match cmd {
        EnvCommand::Create { name } => {
            let e: api::Env = c.post_as(&format!("/v1/orgs/{}/envs", enc(&org)), &api::NameBody { name }).await?;
            ctx.out(&format!("env/{} created in org {org}\n", e.name));
        }
        EnvCommand::List { output } => {
            let v: api::Items<api::Env> = c.get_as(&format!("/v1/orgs/{}/envs", enc(&org))).await?;
            print_items(ctx, &v, output, &["NAME", "ORG", "CREATED"], |e| {
                vec![e.name.clone(), e.org.clone(), when(&e.created_at)]
            });
        }
    }
    Ok(())
}

pub async fn principal(ctx: &mut Ctx<'_, '_>, cmd: PrincipalCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    match cmd {
        PrincipalCommand::Create { name, kind } => {
            let path = format!("/v1/orgs/{}/principals", enc(&org));
            let p: api::PrincipalCreated = c.post_as(&path, &api::PrincipalBody { name, kind }).await?;
            ctx.out(&format!("principal/{} created ({})\n", p.name, p.kind));
        }
        PrincipalCommand::List { output } => {
            let v: api::Items<api::Principal> = c.get_as(&format!("/v1/orgs/{}/principals", enc(&org))).await?;
            print_items(ctx, &v, output, &["NAME", "KIND", "PLATFORM OPERATOR", "CREATED"], |p| {
                vec![p.name.clone(), p.kind.clone(), p.platform_operator.to_string(), when(&p.created_at)]
            });
        }
    }
    Ok(())
}

fn principal_query(p: &Option<String>) -> String {
    p.as_ref().map(|p| format!("?principal={}", enc(p))).unwrap_or_default()
}

pub async fn apikey(ctx: &mut Ctx<'_, '_>, cmd: ApikeyCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    match cmd {
        ApikeyCommand::Create { principal } => {
            let path = format!("/v1/orgs/{}/apikeys", enc(&org));
            let k: api::ApiKeyCreated = c.post_as(&path, &api::KeyBody { principal }).await?;
            ctx.out(&format!("{}\n", k.key));
            ctx.note(&format!("api key {} created; it is shown once", k.prefix));
        }
        ApikeyCommand::List { principal, output } => {
            let path = format!("/v1/orgs/{}/apikeys{}", enc(&org), principal_query(&principal));
            let v: api::Items<api::ApiKey> = c.get_as(&path).await?;
            print_items(ctx, &v, output, &["ID", "PREFIX", "CREATED", "REVOKED"], |k| {
                vec![
                    k.id.clone(),
                    k.prefix.clone(),
                    when(&k.created_at),
                    k.revoked_at.as_ref().map_or(NONE.into(), when),
                ]
            });
        }
        ApikeyCommand::Revoke { id, principal } => {
            let path = format!("/v1/orgs/{}/apikeys/{}{}", enc(&org), enc(&id), principal_query(&principal));
            let k: api::ApiKeyRevoked = c.delete_as(&path).await?;
            ctx.out(&format!("api key {} revoked\n", k.prefix));
        }
    }
    Ok(())
}

pub async fn grant(ctx: &mut Ctx<'_, '_>, cmd: GrantCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    match cmd {
        GrantCommand::Create { principal, group, scope, role, resource, connection } => {
            let target =
                match scope.as_str() {
                    "org" => String::new(),
                    "env" => ctx.env().ok_or_else(|| {
                        CliError::Message("--scope env needs --env ENV (or `planton config set env`)".into())
                    })?,
                    "resource" => resource
                        .ok_or_else(|| CliError::Message("--scope resource needs -r org/env/Kind/name".into()))?,
                    _ => connection
                        .ok_or_else(|| CliError::Message("--scope connection needs --connection NAME".into()))?,
                };
            let body = api::GrantBody { principal, group, scope, target, role };
            let g: api::GrantCreated = c.post_as(&format!("/v1/orgs/{}/grants", enc(&org)), &body).await?;
            let who = if g.principal_kind == "group" { format!("group {:?}", g.principal) } else { g.principal };
            ctx.out(&format!("grant {}: {who} is {} on {}\n", g.id, g.role, g.scope));
        }
        GrantCommand::List { principal, output } => {
            let path = format!("/v1/orgs/{}/grants{}", enc(&org), principal_query(&principal));
            let v: api::Items<api::Grant> = c.get_as(&path).await?;
            print_items(ctx, &v, output, &["ID", "PRINCIPAL", "KIND", "SCOPE", "TARGET", "ROLE"], |g| {
                let target = if g.target.is_empty() { NONE.to_string() } else { g.target.clone() };
                vec![
                    g.id.clone(),
                    g.principal.clone(),
                    g.principal_kind.clone(),
                    g.scope.clone(),
                    target,
                    g.role.clone(),
                ]
            });
        }
        GrantCommand::Delete { id } => {
            c.delete(&format!("/v1/orgs/{}/grants/{}", enc(&org), enc(&id))).await?;
            ctx.out(&format!("grant {id} deleted\n"));
        }
    }
    Ok(())
}
