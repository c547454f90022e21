//! `planton runner deploy NAME [--target …]`: asks for the target on a terminal, then runs
//! `planton-runner deploy` (the binary that links the cloud SDKs) with the same flags and the
//! user's own environment (kubeconfig, cloud credential chains). Credentials are minted only when
//! the runner has none deployed yet (`planton-runner` exits with code 3 then), so a re-run with
//! another `--image-tag` changes the image and nothing else.

use std::io::{BufRead, IsTerminal, Write};

use cloudops_schemas::deploy_args::{DeployArgs, DeployTarget};

use crate::{Ctx, Result, runner_binary};

/// `planton-runner deploy`'s exit code when the runner has no credentials deployed yet.
const NEEDS_CREDENTIALS: i32 = 3;

pub async fn deploy(ctx: &mut Ctx<'_, '_>, mut args: DeployArgs) -> Result<()> {
    if args.target.is_none() {
        args.target = Some(ask_target(&args.name)?);
    }
    // The runner image of this very planton, unless asked otherwise.
    args.image_tag.get_or_insert_with(|| env!("CARGO_PKG_VERSION").to_string());
    let bin = runner_binary()?;
    let first = run(&bin, &args).await?;
    if first.status.code() != Some(NEEDS_CREDENTIALS) || args.dry_run || args.credentials_file.is_some() {
        return relay(ctx, first);
    }
    // No credentials deployed yet: register the runner (if new) and mint them, then deploy
    // them. They exist only in a private temporary file until they are in the Secret.
    let org = ctx.org()?;
    let c = ctx.client()?;
    let runner = format!("/v1/orgs/{org}/runners/{}", crate::admin::enc(&args.name));
    let exists = match c.get(&runner).await {
        Ok(_) => true,
        Err(crate::CliError::Api { code, .. }) if code == "NOT_FOUND" => false,
        Err(e) => return Err(e),
    };
    let creds = c.post(&format!("{runner}/credentials"), &serde_json::json!({})).await?;
    let dir = tempfile::Builder::new()
        .prefix("planton-deploy-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    let file = dir.path().join("credentials.json");
    crate::write_private(&file, &serde_json::to_string_pretty(&creds).unwrap_or_default())?;
    args.credentials_file = Some(file);
    ctx.note(&if exists {
        format!(
            "runner {} already exists in org {org}: new credentials go into this deployment (its earlier ones stay valid until `planton runner regenerate-credentials {}`)",
            args.name, args.name
        )
    } else {
        format!("runner {} registered in org {org}; its credentials go into the deployment", args.name)
    });
    let second = run(&bin, &args).await?;
    relay(ctx, second).map_err(|e| match e {
        crate::CliError::Message(m) => crate::CliError::Message(format!(
            "{m}\n(unless the lines above show them stored, the credentials minted for runner {} were not deployed: `planton runner regenerate-credentials {}` revokes them)",
            args.name, args.name
        )),
        other => other,
    })
}

async fn run(bin: &std::path::Path, args: &DeployArgs) -> Result<std::process::Output> {
    tokio::process::Command::new(bin)
        .arg("deploy")
        .args(args.to_args())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("running {}: {e}", bin.display()).into())
}

/// Prints what `planton-runner deploy` said; its failure becomes ours, in its words.
fn relay(ctx: &mut Ctx<'_, '_>, out: std::process::Output) -> Result<()> {
    let _ = ctx.io.out.write_all(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let _ = ctx.io.err.write_all(err.as_bytes());
        return Ok(());
    }
    let msg = err.trim().strip_prefix("error: ").unwrap_or(err.trim()).to_string();
    Err(if msg.is_empty() { format!("planton-runner deploy failed ({})", out.status) } else { msg }.into())
}

/// A real prompt on a terminal; without one, the flag is required.
fn ask_target(name: &str) -> Result<DeployTarget> {
    let names: Vec<&str> = DeployTarget::ALL.iter().map(|t| t.name()).collect();
    if !std::io::stdin().is_terminal() {
        return Err(format!("--target is required when not on a terminal: one of {}", names.join(", ")).into());
    }
    let mut err = std::io::stderr();
    let _ = writeln!(err, "Deploy runner {name} to:");
    for (i, n) in names.iter().enumerate() {
        let _ = writeln!(err, "  {}) {n}", i + 1);
    }
    let stdin = std::io::stdin();
    for _ in 0..3 {
        let _ = write!(err, "Target [1-{}]: ", names.len());
        let _ = err.flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| format!("reading the answer: {e}"))? == 0 {
            break;
        }
        if let Some(t) = pick(line.trim()) {
            return Ok(t);
        }
        let _ = writeln!(err, "answer with a number from 1 to {} or a target's name", names.len());
    }
    Err(format!("no target chosen: pass --target ({})", names.join(", ")).into())
}

fn pick(answer: &str) -> Option<DeployTarget> {
    let by_number = answer.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| DeployTarget::ALL.get(i));
    by_number.copied().or_else(|| DeployTarget::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_a_number_or_a_name() {
        assert_eq!(pick("1"), Some(DeployTarget::Kubernetes));
        assert_eq!(pick("aws-ecs"), Some(DeployTarget::AwsEcs));
        assert_eq!(pick("4"), Some(DeployTarget::AzureContainerApps));
        assert_eq!(pick("0"), None);
        assert_eq!(pick("5"), None);
        assert_eq!(pick("k8s"), None);
    }
}
