//! kubectl as these tests run it: its own kubeconfig and home, with a deadline on every run.

use std::{path::PathBuf, process::Stdio, time::Duration};

use cloudops_sandbox::{Sandbox, ok};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const C: &str = "prod-runner-conn";

pub struct Kubectl {
    pub kubeconfig: PathBuf,
    pub home: PathBuf,
}

impl Kubectl {
    pub fn cmd(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("kubectl");
        c.args(args).env("KUBECONFIG", &self.kubeconfig).env("HOME", &self.home).kill_on_drop(true);
        c
    }

    pub async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.cmd(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish"))
            .expect("kubectl is installed");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed: {err}\n{out}");
        out
    }

    pub async fn refused(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(!ok, "kubectl {args:?} should have been refused: {out}");
        err
    }

    /// Runs a command that keeps streaming (`get -w`, `logs -f`) until a line matches.
    pub async fn until_line(&self, args: &[&str], want: impl Fn(&str) -> bool) -> Vec<String> {
        let mut child = self.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(l)) = lines.next_line().await {
                let hit = want(&l);
                seen.push(l);
                if hit {
                    return true;
                }
            }
            false
        })
        .await;
        let _ = child.kill().await;
        assert!(matches!(found, Ok(true)), "kubectl {args:?}: no matching line in {seen:?}");
        seen
    }
}

pub async fn setup() -> (Sandbox, cloudops_runner::Runner, Kubectl) {
    // kubectl runs an exec credential plugin only for a server on HTTPS, as users have it.
    let sb = Sandbox::start_with(|cfg| cfg.tls = cloudops_controlplane::GatewayTls::Generated).await.unwrap();
    let runner = sb.runner_with_connection("prod-runner").await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("payments.yaml");
    std::fs::write(&f, format!("kind: KubernetesDeployment\nmetadata: {{env: prod, name: payments-api}}\nspec: {{connection: {C}, namespace: payments}}\n")).unwrap();
    ok(&sb, &["resource", "apply", "-f", f.to_str().unwrap()]).await;
    let home = sb.dir.path().join("kubectl-home");
    std::fs::create_dir_all(&home).unwrap();
    let k = Kubectl { kubeconfig: sb.dir.path().join("kubeconfig-user"), home };
    (sb, runner, k)
}

pub async fn login(sb: &Sandbox, k: &Kubectl, args: &[&str]) -> String {
    let planton = crate::support::bin("planton");
    let mut all = vec!["kube", "login", "--kubeconfig", k.kubeconfig.to_str().unwrap()];
    all.extend_from_slice(&["--credential-command", planton.to_str().unwrap()]);
    all.extend_from_slice(args);
    let out = sb.cli(&all).await;
    assert_eq!(out.code, 0, "kube login: {}", out.stderr);
    out.stderr
}
