//! A hub spread over machines, as compose.yaml and the chart run it: `cloudops hub init` once,
//! then three `cloudops hub --routes …` processes, one node each, on their own client, route and
//! leafnode ports (here on loopback), a `cloudops serve` joined to all three, a `planton-runner`.
//! One node's process is killed with SIGKILL, ops go on; it comes back, another is killed, and
//! the session streams still have a majority (the returned node caught up).

use std::time::Duration;

use super::{Env, serve_on, sigkill, stops_cleanly, support::free_port, until_ok};

/// Node `i` of three: its own ports, every node's route address.
struct Node {
    client: u16,
    route: u16,
    leaf: u16,
}

fn spawn_node(
    env: &Env,
    base: &std::path::Path,
    nodes: &[Node],
    i: usize,
) -> impl std::future::Future<Output = (tokio::process::Child, std::collections::HashMap<String, String>)> {
    let routes: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.route)).collect();
    let secrets = base.join("secrets");
    let mut cmd = env.cmd("cloudops");
    cmd.args(["hub", "--routes", &routes.join(","), "--node-name", &format!("hub-{i}")])
        .args(["--client-listen", &format!("127.0.0.1:{}", nodes[i].client)])
        .args(["--route-listen", &format!("127.0.0.1:{}", nodes[i].route)])
        .args(["--leaf-listen", &format!("127.0.0.1:{}", nodes[i].leaf)])
        .arg("--ca-dir")
        .arg(&secrets)
        .arg("--hub-keys-file")
        .arg(secrets.join("hub-keys.secret"))
        .arg("--data-dir")
        .arg(base.join(format!("node-{i}")));
    super::ha_processes::hub_banner(cmd)
}

#[tokio::test]
async fn a_hub_spread_over_three_processes_survives_a_node_and_its_return() {
    let env = Env::new();
    let base = env.home.parent().unwrap().to_path_buf();
    let secrets = base.join("secrets");

    // Without the shared keys a node refuses to start, and says where they come from.
    let nodes: Vec<Node> =
        (0..3).map(|_| Node { client: free_port(), route: free_port(), leaf: free_port() }).collect();
    let out = env
        .cmd("cloudops")
        .args(["hub", "--routes", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", "--ca-dir"])
        .arg(&secrets)
        .arg("--hub-keys-file")
        .arg(secrets.join("hub-keys.secret"))
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cloudops hub init"), "{err}");

    // `hub init` makes the CA and the key secret once (owner-only) and keeps them after.
    for _ in 0..2 {
        let out = env.cmd("cloudops").args(["hub", "init", "--out"]).arg(&secrets).output().await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    use std::os::unix::fs::PermissionsExt;
    for f in ["ca.key", "hub-keys.secret", "secrets.key"] {
        let mode = std::fs::metadata(secrets.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{f} is readable by others: {mode:o}");
    }
    let ca_before = std::fs::read(secrets.join("ca.key")).unwrap();
    // Half a CA is refused, never completed with a new one.
    let half = base.join("half");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("ca.key"), &ca_before).unwrap();
    let out = env.cmd("cloudops").args(["hub", "init", "--out"]).arg(&half).output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("go together"), "{err}");
    assert!(!half.join("ca.pem").exists());

    let mut hubs = Vec::new();
    for i in 0..3 {
        hubs.push(Some(spawn_node(&env, &base, &nodes, i).await.0));
    }
    assert_eq!(std::fs::read(secrets.join("ca.key")).unwrap(), ca_before, "a node replaced the CA");

    let database = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => cloudops_sandbox::fresh_postgres(&url).await.unwrap().0,
        _ => format!("sqlite://{}?mode=rwc", base.join("shared.db").display()),
    };
    let join_urls = |f: fn(&Node) -> u16| nodes.iter().map(|n| format!("tls://127.0.0.1:{}", f(n))).collect::<Vec<_>>();
    let (nats_url, leaf_url) = (join_urls(|n| n.client).join(","), join_urls(|n| n.leaf).join(","));
    let (keys, sealing) = (secrets.join("hub-keys.secret"), secrets.join("secrets.key"));
    let join = [
        "--database-url",
        &database,
        "--nats-url",
        &nats_url,
        "--leaf-url",
        &leaf_url,
        "--hub-keys-file",
        keys.to_str().unwrap(),
        "--ca-dir",
        secrets.to_str().unwrap(),
        "--secrets-key-file",
        sealing.to_str().unwrap(),
    ];
    let (cp, _url) = serve_on(&env, "127.0.0.1:0", "127.0.0.1:0", &join).await;

    let (runner, kube, creds) = super::ha_processes::runner_on_k8s(&env, &base).await;
    let pods = until_ok(&env, &["kubectl", "get", "pods", "--connection", "k8s", "-n", "default", "-o", "name"]).await;
    let pod = pods.lines().find(|l| l.contains("web-")).unwrap().trim_start_matches("pod/").to_string();
    let logs = ["kubectl", "logs", &pod, "--connection", "k8s", "-n", "default"];
    until_ok(&env, &logs).await;

    // A node's client port faces the network now: the runner's own certificate there is
    // admitted to its own account only, and subscribing to everything is refused.
    let creds: cloudops_schemas::RunnerCredentials = serde_json::from_str(&creds).unwrap();
    let pem = base.join("direct");
    std::fs::create_dir_all(&pem).unwrap();
    for (f, text) in
        [("ca.pem", &creds.tunnel.ca_cert_pem), ("c.pem", &creds.tunnel.cert_pem), ("k.pem", &creds.tunnel.key_pem)]
    {
        std::fs::write(pem.join(f), text).unwrap();
    }
    let (tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    let direct = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(pem.join("ca.pem"))
        .add_client_certificate(pem.join("c.pem"), pem.join("k.pem"))
        .event_callback(move |e| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(e) = e {
                    let _ = tx.send(e.to_string());
                }
            }
        })
        .connect(format!("tls://127.0.0.1:{}", nodes[1].client))
        .await
        .unwrap();
    let _all = direct.subscribe(">").await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(3), errors.recv()).await.unwrap().unwrap();
    assert!(e.contains("Permissions Violation for Subscription"), "{e}");
    drop(direct);

    // Node 0's process dies: ops and log streams go on through the other two.
    sigkill(hubs[0].take().unwrap().id().unwrap());
    let t0 = std::time::Instant::now();
    until_ok(&env, &logs).await;
    let first = t0.elapsed();
    // It comes back on the same ports and data; then node 1 dies. The streams (3 copies)
    // keep a majority only if the returned node took its place.
    hubs[0] = Some(spawn_node(&env, &base, &nodes, 0).await.0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    sigkill(hubs[1].take().unwrap().id().unwrap());
    let t1 = std::time::Instant::now();
    let out = until_ok(&env, &logs).await;
    let second = t1.elapsed();
    assert!(!out.trim().is_empty(), "no log lines");
    println!(
        "spread hub: node 0 killed, logs served again {first:?} later; node 0 back, node 1 killed, logs served again {second:?} later"
    );
    stops_cleanly(runner).await;
    stops_cleanly(cp).await;
    for h in hubs.into_iter().flatten() {
        stops_cleanly(h).await;
    }
    kube.stop().await;
}
