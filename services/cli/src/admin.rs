//! Tenancy, catalog, runner and audit commands.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::{CliError, CredFormat, Ctx, ListFormat, Result, k8s_secret, print_list, runner_binary, s, write_private};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Set the current org or env: `planton config set org acme`.
    Set { key: String, value: String },
    /// Show the config (the API key is masked).
    View,
}

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

#[derive(Subcommand, Debug)]
pub enum RunnerCommand {
    /// Register the runner (if new) and mint its credentials: mTLS certificate, API key, context.
    GenerateCredentials {
        name: String,
        #[arg(long)]
        output_dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "json")]
        output_format: CredFormat,
        /// A platform runner (platform operators).
        #[arg(long)]
        platform: bool,
    },
    /// New certificate generation and API key; revokes every earlier key and cuts old tunnels.
    RegenerateCredentials {
        name: String,
        #[arg(long)]
        output_dir: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "json")]
        output_format: CredFormat,
        #[arg(long)]
        platform: bool,
    },
    /// Deploy the runner with your own credentials (kubeconfig; AWS, GCP, Azure default chains):
    /// its credentials (minted if it has none deployed) and the runner itself. Re-run with
    /// another --image-tag to update it in place.
    Deploy(Box<cloudops_schemas::deploy_args::DeployArgs>),
    /// Download the runner binary from the control plane (checksum verified) into
    /// $PLANTON_HOME/bin, where `planton runner start` finds it.
    Install {
        /// The version to install [default: the control plane's own].
        #[arg(long)]
        version: Option<String>,
    },
    /// Start a runner locally (runs the planton-runner binary).
    Start {
        /// A runner from the local credential store.
        name: Option<String>,
        #[arg(long, env = "PLANTON_RUNNER_CREDENTIALS_FILE")]
        credentials_file: Option<PathBuf>,
    },
    /// Runners of the org; --all adds platform runners, --platform shows only those.
    List {
        #[arg(long, conflicts_with = "platform")]
        all: bool,
        #[arg(long)]
        platform: bool,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    Get {
        name: String,
        #[arg(long)]
        platform: bool,
        #[arg(short, long, value_enum, default_value = "yaml")]
        output: ListFormat,
    },
    /// Remove the runner and its service account; its credentials stop working.
    Delete {
        name: String,
        #[arg(long)]
        platform: bool,
    },
    SetDefault {
        name: String,
        #[arg(long)]
        platform: bool,
    },
    /// The effective default runner, with the resolution (org → platform).
    GetDefault {
        #[arg(long)]
        platform: bool,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    UnsetDefault {
        #[arg(long)]
        platform: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    List {
        /// 10m, 2h, 1d or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long, value_parser = ["allowed", "denied"])]
        outcome: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=u64::from(cloudops_api::MAX_LIST)))]
        limit: u64,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Exec sessions: who ran what where, when, and how it ended.
    Sessions {
        /// 10m, 2h, 1d or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=u64::from(cloudops_api::MAX_LIST)))]
        limit: u64,
        #[arg(short, long, value_enum, default_value = "table")]
        output: ListFormat,
    },
    /// Play back a recorded exec session's output, at its own pace.
    Replay {
        session: String,
        /// Faster (2) or slower (0.5) than it happened.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Pauses longer than this many seconds are shortened to it.
        #[arg(long, default_value_t = 2.0)]
        max_idle: f64,
        /// No pauses at all.
        #[arg(long)]
        instant: bool,
        /// Also show what was typed, between ⟨ ⟩.
        #[arg(long)]
        input: bool,
        /// json: the session and its frames ([ms, "i"|"o"|"e", base64]).
        #[arg(short, long, value_parser = ["json", "yaml"])]
        output: Option<String>,
    },
}

pub(crate) fn show(ctx: &mut Ctx<'_, '_>, v: &Value, format: ListFormat, table: impl FnOnce(&Value) -> String) {
    match format {
        ListFormat::Json => ctx.out(&crate::printers::json(v)),
        ListFormat::Yaml => ctx.out(&crate::printers::yaml(v)),
        ListFormat::Table => ctx.out(&table(v)),
    }
}

fn kv(rows: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|(k, v)| vec![format!("{k}:"), v.clone()]).collect();
    crate::printers::tabwrite(&rows)
}

pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn config(ctx: &mut Ctx<'_, '_>, cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Set { key, value } => {
            match key.as_str() {
                "org" => ctx.cfg.org = value.clone(),
                "env" => ctx.cfg.env = value.clone(),
                "endpoint" => ctx.cfg.endpoint = value.clone(),
                other => return Err(format!("unknown config key {other:?}: use org, env or endpoint").into()),
            }
            ctx.cfg.save(&ctx.io.home)?;
            ctx.note(&format!("{key} set to {value:?}"));
        }
        ConfigCommand::View => {
            let mut c = ctx.cfg.clone();
            if c.api_key.len() > 12 {
                c.api_key = format!("{}…", &c.api_key[..12]);
            }
            ctx.out(&serde_yaml_ng::to_string(&c).map_err(|e| e.to_string())?);
        }
    }
    Ok(())
}

pub async fn org(ctx: &mut Ctx<'_, '_>, cmd: OrgCommand) -> Result<()> {
    let c = ctx.client()?;
    match cmd {
        OrgCommand::Create { name } => {
            let o = c.post("/v1/orgs", &json!({"name": name})).await?;
            ctx.out(&format!("org/{} created\n", s(&o["name"])));
        }
        OrgCommand::List { output } => {
            let v = c.get("/v1/orgs").await?;
            print_list(ctx, &v, output, &["NAME", "ID", "CREATED"], |o| {
                vec![s(&o["name"]), s(&o["id"]), s(&o["created_at"])]
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
            let e = c.post(&format!("/v1/orgs/{org}/envs"), &json!({"name": name})).await?;
            ctx.out(&format!("env/{} created in org {org}\n", s(&e["name"])));
        }
        EnvCommand::List { output } => {
            let v = c.get(&format!("/v1/orgs/{org}/envs")).await?;
            print_list(ctx, &v, output, &["NAME", "ORG", "CREATED"], |e| {
                vec![s(&e["name"]), s(&e["org"]), s(&e["created_at"])]
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
            let p = c.post(&format!("/v1/orgs/{org}/principals"), &json!({"name": name, "kind": kind})).await?;
            ctx.out(&format!("principal/{} created ({})\n", s(&p["name"]), s(&p["kind"])));
        }
        PrincipalCommand::List { output } => {
            let v = c.get(&format!("/v1/orgs/{org}/principals")).await?;
            print_list(ctx, &v, output, &["NAME", "KIND", "PLATFORM OPERATOR", "CREATED"], |p| {
                vec![s(&p["name"]), s(&p["kind"]), s(&p["platform_operator"]), s(&p["created_at"])]
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
            let k = c.post(&format!("/v1/orgs/{org}/apikeys"), &json!({"principal": principal})).await?;
            ctx.out(&format!("{}\n", s(&k["key"])));
            ctx.note(&format!("api key {} created; it is shown once", s(&k["prefix"])));
        }
        ApikeyCommand::List { principal, output } => {
            let v = c.get(&format!("/v1/orgs/{org}/apikeys{}", principal_query(&principal))).await?;
            print_list(ctx, &v, output, &["ID", "PREFIX", "CREATED", "REVOKED"], |k| {
                vec![s(&k["id"]), s(&k["prefix"]), s(&k["created_at"]), s(&k["revoked_at"])]
            });
        }
        ApikeyCommand::Revoke { id, principal } => {
            let k = c.delete(&format!("/v1/orgs/{org}/apikeys/{}{}", enc(&id), principal_query(&principal))).await?;
            ctx.out(&format!("api key {} revoked\n", s(&k["prefix"])));
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
            let body = cloudops_api::GrantBody { principal, group, scope, target, role };
            let g: cloudops_api::GrantCreated =
                crate::client::read(c.post(&format!("/v1/orgs/{org}/grants"), &json!(body)).await?)?;
            let who = if g.principal_kind == "group" { format!("group {:?}", g.principal) } else { g.principal };
            ctx.out(&format!("grant {}: {who} is {} on {}\n", g.id, g.role, g.scope));
        }
        GrantCommand::List { principal, output } => {
            let v = c.get(&format!("/v1/orgs/{org}/grants{}", principal_query(&principal))).await?;
            print_list(ctx, &v, output, &["ID", "PRINCIPAL", "KIND", "SCOPE", "TARGET", "ROLE"], |g| {
                vec![
                    s(&g["id"]),
                    s(&g["principal"]),
                    s(&g["principal_kind"]),
                    s(&g["scope"]),
                    s(&g["target"]),
                    s(&g["role"]),
                ]
            });
        }
        GrantCommand::Delete { id } => {
            c.delete(&format!("/v1/orgs/{org}/grants/{}", enc(&id))).await?;
            ctx.out(&format!("grant {id} deleted\n"));
        }
    }
    Ok(())
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

pub async fn resource(ctx: &mut Ctx<'_, '_>, cmd: ResourceCommand) -> Result<()> {
    let c = ctx.client()?;
    match cmd {
        ResourceCommand::Apply { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let mut docs = Vec::new();
            for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
                let v: Value = serde::Deserialize::deserialize(doc)
                    .map_err(|e| format!("{}: manifest {}: {e}", file.display(), i + 1))?;
                if !v.is_null() {
                    docs.push(v);
                }
            }
            if docs.is_empty() {
                return Err(format!("{}: no manifest in the file", file.display()).into());
            }
            // Check every manifest's shape before applying any.
            for (i, d) in docs.iter().enumerate() {
                for field in ["kind", "metadata", "spec"] {
                    if d.get(field).is_none() {
                        return Err(format!("{}: manifest {}: missing field `{field}`", file.display(), i + 1).into());
                    }
                }
            }
            let default_org = ctx.org()?;
            let org_of =
                |d: &Value| d["metadata"]["org"].as_str().map(String::from).unwrap_or_else(|| default_org.clone());
            // The server checks every manifest first (dry run), so that a bad one applies none.
            for (i, d) in docs.iter().enumerate() {
                c.post(&format!("/v1/orgs/{}/resources?dry_run=true", enc(&org_of(d))), d).await.map_err(
                    |e| match e {
                        CliError::Api { code, message, upstream_reason } => CliError::Api {
                            code,
                            message: format!("{}: manifest {}: {message} (nothing applied)", file.display(), i + 1),
                            upstream_reason,
                        },
                        other => other,
                    },
                )?;
            }
            for d in &docs {
                let v = c.post(&format!("/v1/orgs/{}/resources", enc(&org_of(d))), d).await?;
                ctx.out(&format!("{} {}\n", s(&v["path"]), s(&v["result"])));
            }
        }
        ResourceCommand::List { output } => {
            let org = ctx.org()?;
            let env = ctx.env().map(|e| format!("?env={}", enc(&e))).unwrap_or_default();
            let v = c.get(&format!("/v1/orgs/{org}/resources{env}")).await?;
            print_list(ctx, &v, output, &["RESOURCE", "CONNECTION", "NAMESPACE"], |r| {
                vec![s(&r["path"]), s(&r["spec"]["connection"]), s(&r["spec"]["namespace"])]
            });
        }
        ResourceCommand::Get { path, output } => {
            let (o, e, k, n) = resource_path(ctx, &path)?;
            let v = c.get(&format!("/v1/orgs/{}/envs/{}/resources/{}/{}", enc(&o), enc(&e), enc(&k), enc(&n))).await?;
            show(ctx, &v, output, |v| {
                kv(&[
                    ("resource", s(&v["path"])),
                    ("connection", s(&v["spec"]["connection"])),
                    ("namespace", s(&v["spec"]["namespace"])),
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

async fn write_credentials(
    ctx: &mut Ctx<'_, '_>,
    creds: Value,
    name: &str,
    output_dir: Option<PathBuf>,
    format: CredFormat,
) -> Result<()> {
    let text = serde_json::to_string_pretty(&creds).expect("json") + "\n";
    let org_name = s(&creds["org"]);
    // Keep a copy in the local store, so that `planton runner start NAME --org ORG` works.
    let stored = cloudops_schemas::local_store::runner_credentials_path(&ctx.io.home, &org_name, name);
    write_private(&stored, &text)?;
    let rendered = match format {
        CredFormat::Json => text,
        CredFormat::K8sSecret => k8s_secret(name, &text),
    };
    match output_dir {
        Some(dir) => {
            let file =
                dir.join(if format == CredFormat::Json { "credentials.json" } else { "credentials-secret.yaml" });
            write_private(&file, &rendered)?;
            ctx.note(&format!(
                "wrote {} (runner {name}, org {org_name}, generation {}; also saved to the local store at {})",
                file.display(),
                s(&creds["generation"]),
                stored.display()
            ));
        }
        None => ctx.out(&rendered),
    }
    Ok(())
}

fn platform_q(platform: bool) -> &'static str {
    if platform { "?platform=true" } else { "" }
}

pub async fn runner(ctx: &mut Ctx<'_, '_>, cmd: RunnerCommand) -> Result<()> {
    if let RunnerCommand::Start { name, credentials_file } = cmd {
        let bin = runner_binary()?;
        let mut command = std::process::Command::new(&bin);
        command.arg("start");
        if let Some(n) = name {
            command.arg(n);
        }
        if let Some(o) = &ctx.org {
            command.arg("--org").arg(o);
        }
        if let Some(f) = credentials_file {
            command.arg("--credentials-file").arg(f);
        }
        command.env("PLANTON_HOME", &ctx.io.home);
        use std::os::unix::process::CommandExt;
        let err = command.exec();
        return Err(format!("starting {}: {err}", bin.display()).into());
    }
    if let RunnerCommand::Install { version } = cmd {
        return crate::runner_install::install(ctx, version).await;
    }
    if let RunnerCommand::Deploy(args) = cmd {
        return crate::runner_deploy::deploy(ctx, *args).await;
    }
    let org = ctx.org()?;
    let c = ctx.client()?;
    let row = |r: &Value| {
        vec![
            s(&r["name"]),
            if r["platform"].as_bool() == Some(true) { "platform".into() } else { s(&r["org"]) },
            if r["revoked"].as_bool() == Some(true) {
                "revoked".into()
            } else if r["connected"].as_bool() == Some(true) {
                "yes".into()
            } else {
                "no".into()
            },
            s(&r["generation"]),
            s(&r["version"]),
            s(&r["last_seen_at"]),
        ]
    };
    const HEADER: [&str; 6] = ["NAME", "SCOPE", "CONNECTED", "GENERATION", "VERSION", "LAST SEEN"];
    match cmd {
        RunnerCommand::Start { .. } | RunnerCommand::Install { .. } | RunnerCommand::Deploy(_) => {
            unreachable!("handled above")
        }
        RunnerCommand::GenerateCredentials { name, output_dir, output_format, platform } => {
            let creds = c
                .post(&format!("/v1/orgs/{org}/runners/{}/credentials{}", enc(&name), platform_q(platform)), &json!({}))
                .await?;
            write_credentials(ctx, creds, &name, output_dir, output_format).await?;
        }
        RunnerCommand::RegenerateCredentials { name, output_dir, output_format, platform } => {
            let creds = c
                .post(
                    &format!("/v1/orgs/{org}/runners/{}/regenerate-credentials{}", enc(&name), platform_q(platform)),
                    &json!({}),
                )
                .await?;
            ctx.note(&format!(
                "runner {name}: generation {}; earlier API keys are revoked and tunnels using older credentials are cut",
                s(&creds["generation"])
            ));
            write_credentials(ctx, creds, &name, output_dir, output_format).await?;
        }
        RunnerCommand::List { all, platform, output } => {
            let scope = if platform {
                "platform"
            } else if all {
                "all"
            } else {
                "org"
            };
            let v = c.get(&format!("/v1/orgs/{org}/runners?scope={scope}")).await?;
            print_list(ctx, &v, output, &HEADER, row);
        }
        RunnerCommand::Get { name, platform, output } => {
            let v = c.get(&format!("/v1/orgs/{org}/runners/{}{}", enc(&name), platform_q(platform))).await?;
            show(ctx, &v, output, |v| {
                crate::printers::tabwrite(&[HEADER.iter().map(|h| h.to_string()).collect(), row(v)])
            });
        }
        RunnerCommand::Delete { name, platform } => {
            let v = c.delete(&format!("/v1/orgs/{org}/runners/{}{}", enc(&name), platform_q(platform))).await?;
            ctx.out(&format!("runner/{name} deleted ({} live tunnel(s) cut)\n", s(&v["tunnels_cut"])));
        }
        RunnerCommand::SetDefault { name, platform } => {
            let v = c
                .put(&format!("/v1/orgs/{org}/default-runner"), &json!({"runner": name, "platform": platform}))
                .await?;
            ctx.out(&format!("runner/{} is the default runner of {}\n", s(&v["runner"]), s(&v["scope"])));
        }
        RunnerCommand::GetDefault { platform, output } => {
            let v = c.get(&format!("/v1/orgs/{org}/default-runner{}", platform_q(platform))).await?;
            show(ctx, &v, output, |v| {
                let head = match v["runner"].as_str() {
                    Some(r) => format!("effective: {r} (from {})\n", s(&v["from"])),
                    None => "effective: none: no org default and no platform default\n".to_string(),
                };
                let mut rows = vec![vec!["LEVEL".to_string(), "RUNNER".to_string()]];
                for l in v["chain"].as_array().into_iter().flatten() {
                    rows.push(vec![s(&l["level"]), s(&l["runner"])]);
                }
                if rows.len() > 1 { head + &crate::printers::tabwrite(&rows) } else { head }
            });
        }
        RunnerCommand::UnsetDefault { platform } => {
            let v = c.delete(&format!("/v1/orgs/{org}/default-runner{}", platform_q(platform))).await?;
            let scope = if platform { "the platform".to_string() } else { format!("org {org}") };
            if v["removed"].as_bool() == Some(true) {
                ctx.out(&format!("default runner of {scope} unset\n"));
            } else {
                ctx.note(&format!("{scope} had no default runner"));
            }
        }
    }
    Ok(())
}

pub async fn audit(ctx: &mut Ctx<'_, '_>, cmd: AuditCommand) -> Result<()> {
    let org = ctx.org()?;
    let c = ctx.client()?;
    // limit=N&since=…&principal=…&outcome=… (only what was given)
    let query = |limit: u64, filters: [(&str, Option<String>); 3]| {
        let mut q = vec![format!("limit={limit}")];
        q.extend(filters.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", enc(&v)))));
        q.join("&")
    };
    let (since, principal, outcome, limit, output) = match cmd {
        AuditCommand::List { since, principal, outcome, limit, output } => (since, principal, outcome, limit, output),
        AuditCommand::Sessions { since, principal, limit, output } => {
            let q = query(limit, [("since", since), ("principal", principal), ("outcome", None)]);
            let v = c.get(&format!("/v1/orgs/{org}/sessions?{q}")).await?;
            let header = ["SESSION", "STARTED", "PRINCIPAL", "POD", "CONTAINER", "COMMAND", "EXIT"];
            print_list(ctx, &v, output, &header, |r| crate::exec::session_line(r).to_vec());
            return Ok(());
        }
        AuditCommand::Replay { session, speed, max_idle, instant, input, output } => {
            if !(speed > 0.0 && speed.is_finite()) {
                return Err(CliError::Message(format!("--speed {speed}: must be a positive number")));
            }
            let v = c.get(&format!("/v1/orgs/{org}/sessions/{}", enc(&session))).await?;
            match output.as_deref() {
                Some("json") => ctx.out(&crate::printers::json(&v)),
                Some(_) => ctx.out(&crate::printers::yaml(&v)),
                None => {
                    let pace = (!instant).then_some((speed, max_idle.max(0.0)));
                    crate::exec::replay(ctx, &v, pace, input).await;
                }
            }
            return Ok(());
        }
    };
    let q = query(limit, [("since", since), ("principal", principal), ("outcome", outcome)]);
    // Up to 10,000 records: a spinner on a terminal while they come.
    let waiting = crate::progress::spinner("reading the audit log");
    let v = c.get(&format!("/v1/orgs/{org}/audit?{q}")).await;
    waiting.finish_and_clear();
    let v = v?;
    print_list(
        ctx,
        &v,
        output,
        &["TIME", "PRINCIPAL", "MODE", "OP", "TARGET", "DECISION", "RESULT", "LATENCY", "REASON"],
        |r| {
            vec![
                s(&r["at"]),
                s(&r["principal"]),
                s(&r["mode"]),
                s(&r["op"]),
                s(&r["target"]),
                s(&r["decision"]),
                s(&r["result"]),
                r["latency_us"]
                    .as_i64()
                    .map(|u| format!("{:.1}ms", u as f64 / 1000.0))
                    .unwrap_or_else(|| "<none>".into()),
                s(&r["reason"]),
            ]
        },
    );
    Ok(())
}
