//! Real processes on loopback: `cloudops hub` (3 nats-servers), two `cloudops serve` joined to
//! it on one database, a `planton-runner`. The control plane that admitted the runner is killed
//! with SIGKILL: requests go on through the other, and a revocation issued there cuts the
//! tunnel the dead one admitted.

use std::{collections::HashMap, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Child,
};

use super::{Env, serve_on, sigkill, stops_cleanly, until_ok};

/// Credentials for `prod-runner`, a connection `k8s` to it, the Kubernetes API test server and
/// a `planton-runner` process serving it: the runner, the API server, the credentials file.
pub(super) async fn runner_on_k8s(
    env: &Env,
    base: &std::path::Path,
) -> (Child, kube_testserver::KubeTestServer, String) {
    let creds_dir = base.join("runner-creds");
    let (code, _, err) = env
        .planton(&["runner", "generate-credentials", "prod-runner", "--output-dir", creds_dir.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) =
        env.planton(&["connection", "create", "k8s", "--provider", "kubernetes", "--runner", "prod-runner"]).await;
    assert_eq!(code, 0, "{err}");
    let cluster = kube_testserver::Cluster::default();
    cluster.seed_sandbox();
    let kube = kube_testserver::KubeTestServer::start("127.0.0.1:0".parse().unwrap(), cluster).await.unwrap();
    let kubeconfig = base.join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig("sandbox")).unwrap();
    let runner = env
        .cmd("planton")
        .args(["runner", "start", "--credentials-file", creds_dir.join("credentials.json").to_str().unwrap()])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (runner, kube, std::fs::read_to_string(creds_dir.join("credentials.json")).unwrap())
}

/// Starts `cloudops hub --cluster-size 3` and reads its banner: the flags a control plane
/// joins it with.
async fn hub(env: &Env, dir: &std::path::Path) -> (Child, HashMap<String, String>) {
    let mut cmd = env.cmd("cloudops");
    cmd.args(["hub", "--cluster-size", "3", "--leaf-listen", "127.0.0.1:0", "--data-dir"]).arg(dir);
    hub_banner(cmd).await
}

/// Spawns a `cloudops hub …` command and reads its banner, up to "join it with".
pub(super) async fn hub_banner(mut cmd: tokio::process::Command) -> (Child, HashMap<String, String>) {
    // Its log goes to a file, to say why when it does not come up.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd.stdout(Stdio::piped()).stderr(log.reopen().unwrap()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut flags = HashMap::new();
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some((flag, value)) = l.trim().split_once(": ")
                && flag.starts_with("--")
            {
                flags.insert(flag.to_string(), value.trim().to_string());
            }
            if l.starts_with("join it with") {
                break;
            }
        }
    })
    .await;
    assert!(
        ready.is_ok() && flags.len() == 4,
        "cloudops hub did not print its banner: {flags:?} (exit: {:?}); its log:\n{}",
        child.try_wait(),
        std::fs::read_to_string(log.path()).unwrap_or_default()
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, flags)
}

/// An HTTPS client trusting the control plane's CA, and the admin's API key, from the CLI
/// config `cloudops serve` wrote.
fn api_client(env: &Env) -> (reqwest::Client, String) {
    let cfg = cloudops_cli::CliConfig::load(&env.home).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(cfg.ca_cert.as_bytes()).unwrap();
    let client = reqwest::Client::builder().tls_certs_merge([ca]).timeout(Duration::from_secs(10)).build().unwrap();
    (client, cfg.api_key)
}

#[tokio::test]
async fn a_control_plane_killed_leaves_the_other_serving_and_revoking() {
    let (env, other) = (Env::new(), Env::new());
    let base = env.home.parent().unwrap().to_path_buf();
    let (hub_child, flags) = hub(&env, &base.join("hub")).await;
    let database = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => cloudops_sandbox::fresh_postgres(&url).await.unwrap().0,
        _ => format!("sqlite://{}?mode=rwc", base.join("shared.db").display()),
    };
    let mut join: Vec<String> = vec!["--database-url".into(), database];
    for f in ["--nats-url", "--leaf-url", "--hub-keys-file", "--ca-dir"] {
        join.extend([f.to_string(), flags[f].clone()]);
    }
    let join: Vec<&str> = join.iter().map(String::as_str).collect();

    // The first control plane, alone: it admits the runner.
    let (first, first_url) = serve_on(&env, "127.0.0.1:0", "127.0.0.1:0", &join).await;
    let (runner, kube, creds) = runner_on_k8s(&env, &base).await;
    assert!(creds.contains("leaf_urls"), "the runner is handed every hub node");
    let get = ["kubectl", "get", "pods", "--connection", "k8s", "-n", "default"];
    until_ok(&env, &get).await;

    // The second joins (its own data dir and home), then the first dies.
    let (second, second_url) = serve_on(&other, "127.0.0.1:0", "127.0.0.1:0", &join).await;
    sigkill(first.id().unwrap());
    let killed = std::time::Instant::now();
    // A CLI given both gateways moves on to the live one.
    let both = format!("{first_url},{second_url}");
    let out = env.cmd("planton").args(get).env("PLANTON_ENDPOINT", &both).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let served = killed.elapsed();

    // Revoked through the survivor: the tunnel the dead one admitted is cut (watched while the
    // command runs: it returns after its last round of checks).
    let t0 = std::time::Instant::now();
    let regenerate = env
        .cmd("planton")
        .args([
            "runner",
            "regenerate-credentials",
            "prod-runner",
            "--output-dir",
            base.join("new-creds").to_str().unwrap(),
        ])
        .env("PLANTON_ENDPOINT", &second_url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Probed with the op `planton kubectl get` sends, straight over HTTPS: a CLI process per
    // probe would add its own start-up (seconds on a loaded machine) to what is measured.
    let (probe, key) = api_client(&env);
    let body = serde_json::json!({"org": "default", "connection": "k8s", "namespace": "default", "kind": "pods"});
    // Each probe waits 1 s at most: one in flight when the tunnel is cut waits out the op's
    // deadline (the runner never answers it), and the next probe is what tells.
    let cut = loop {
        let res = probe
            .post(format!("{second_url}/v1/ops/kubernetes/get"))
            .bearer_auth(&key)
            .json(&body)
            .timeout(Duration::from_secs(1))
            .send()
            .await;
        let last = match res {
            Ok(r) => format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) if e.is_timeout() => "no answer within 1 s".to_string(),
            Err(e) => e.to_string(),
        };
        if last.contains("RUNNER_NOT_CONNECTED") || last.contains("is not connected") {
            break t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "the revoked runner still answers after 5 s: {last}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // And the CLI says so in words.
    let out = env.cmd("planton").args(get).env("PLANTON_ENDPOINT", &second_url).output().await.unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not connected"), "{out:?}");
    let out = regenerate.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let command = t0.elapsed();
    println!(
        "control plane killed: ops answered through the other {served:?} later; a revocation there cut the dead one's tunnel in {cut:?} (the command returned after {command:?})"
    );
    stops_cleanly(runner).await;
    stops_cleanly(second).await;
    stops_cleanly(hub_child).await;
    kube.stop().await;
}
