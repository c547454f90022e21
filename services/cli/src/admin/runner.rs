//! `planton runner`: runners' credentials, their registry entries, the default runner, and
//! starting, installing or deploying one.

use std::path::PathBuf;

use clap::Subcommand;
use cloudops_api as api;
use cloudops_schemas::RunnerCredentials;
use serde_json::json;

use super::{enc, show};
use crate::{
    CredFormat, Ctx, ListFormat, NONE, Result, k8s_secret, or_none, print_items, runner_binary, when, write_private,
};

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

async fn write_credentials(
    ctx: &mut Ctx<'_, '_>,
    creds: RunnerCredentials,
    name: &str,
    output_dir: Option<PathBuf>,
    format: CredFormat,
) -> Result<()> {
    let text = serde_json::to_string_pretty(&creds).expect("json") + "\n";
    let org_name = &creds.org;
    // Keep a copy in the local store, so that `planton runner start NAME --org ORG` works.
    let stored = cloudops_schemas::local_store::runner_credentials_path(&ctx.io.home, org_name, name);
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
                creds.generation,
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
    let o = enc(&org);
    let c = ctx.client()?;
    let row = |r: &api::Runner| {
        vec![
            r.name.clone(),
            if r.platform { "platform".into() } else { or_none(&r.org) },
            if r.revoked {
                "revoked"
            } else if r.connected {
                "yes"
            } else {
                "no"
            }
            .into(),
            r.generation.to_string(),
            or_none(&r.version),
            r.last_seen_at.as_ref().map_or(NONE.into(), when),
        ]
    };
    const HEADER: [&str; 6] = ["NAME", "SCOPE", "CONNECTED", "GENERATION", "VERSION", "LAST SEEN"];
    match cmd {
        RunnerCommand::Start { .. } | RunnerCommand::Install { .. } | RunnerCommand::Deploy(_) => {
            unreachable!("handled above")
        }
        RunnerCommand::GenerateCredentials { name, output_dir, output_format, platform } => {
            let path = format!("/v1/orgs/{o}/runners/{}/credentials{}", enc(&name), platform_q(platform));
            let creds: RunnerCredentials = c.post_as(&path, &json!({})).await?;
            write_credentials(ctx, creds, &name, output_dir, output_format).await?;
        }
        RunnerCommand::RegenerateCredentials { name, output_dir, output_format, platform } => {
            let path = format!("/v1/orgs/{o}/runners/{}/regenerate-credentials{}", enc(&name), platform_q(platform));
            let creds: RunnerCredentials = c.post_as(&path, &json!({})).await?;
            ctx.note(&format!(
                "runner {name}: generation {}; earlier API keys are revoked and tunnels using older credentials are cut",
                creds.generation
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
            let v: api::Items<api::Runner> = c.get_as(&format!("/v1/orgs/{o}/runners?scope={scope}")).await?;
            print_items(ctx, &v, output, &HEADER, row);
        }
        RunnerCommand::Get { name, platform, output } => {
            let v: api::Runner =
                c.get_as(&format!("/v1/orgs/{o}/runners/{}{}", enc(&name), platform_q(platform))).await?;
            show(ctx, &v, output, |v| {
                crate::printers::tabwrite(&[HEADER.iter().map(|h| h.to_string()).collect(), row(v)])
            });
        }
        RunnerCommand::Delete { name, platform } => {
            let path = format!("/v1/orgs/{o}/runners/{}{}", enc(&name), platform_q(platform));
            let v: api::RunnerDeleted = c.delete_as(&path).await?;
            ctx.out(&format!("runner/{name} deleted ({} live tunnel(s) cut)\n", v.tunnels_cut));
        }
        RunnerCommand::SetDefault { name, platform } => {
            let body = api::DefaultRunnerBody { runner: name, platform };
            let v: api::DefaultRunnerSet = c.put_as(&format!("/v1/orgs/{o}/default-runner"), &body).await?;
            ctx.out(&format!("runner/{} is the default runner of {}\n", v.runner, v.scope));
        }
        RunnerCommand::GetDefault { platform, output } => {
            let v: api::DefaultRunner =
                c.get_as(&format!("/v1/orgs/{o}/default-runner{}", platform_q(platform))).await?;
            show(ctx, &v, output, |v| {
                let head = match &v.runner {
                    Some(r) => format!("effective: {r} (from {})\n", or_none(&v.from)),
                    None => "effective: none: no org default and no platform default\n".to_string(),
                };
                let mut rows = vec![vec!["LEVEL".to_string(), "RUNNER".to_string()]];
                rows.extend(v.chain.iter().map(|l| vec![l.level.clone(), or_none(&l.runner)]));
                if rows.len() > 1 { head + &crate::printers::tabwrite(&rows) } else { head }
            });
        }
        RunnerCommand::UnsetDefault { platform } => {
            let v: api::DefaultRunnerUnset =
                c.delete_as(&format!("/v1/orgs/{o}/default-runner{}", platform_q(platform))).await?;
            let scope = if platform { "the platform".to_string() } else { format!("org {org}") };
            if v.removed {
                ctx.out(&format!("default runner of {scope} unset\n"));
            } else {
                ctx.note(&format!("{scope} had no default runner"));
            }
        }
    }
    Ok(())
}
