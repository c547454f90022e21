//! Stock kubectl is the judge: it must accept this server for get, get -o yaml and get -o wide.

use kube_testserver::{Cluster, KubeTestServer};

struct Kubectl {
    _dir: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
    home: std::path::PathBuf,
}

impl Kubectl {
    async fn new(server: &KubeTestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig("sandbox")).unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        Self { _dir: dir, kubeconfig, home }
    }

    fn cmd(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("kubectl");
        c.args(args).env("KUBECONFIG", &self.kubeconfig).env("HOME", &self.home);
        c
    }

    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.cmd(args).output().await.expect("kubectl is installed");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }
}

async fn sandbox() -> KubeTestServer {
    let cluster = Cluster::default();
    cluster.seed_sandbox();
    KubeTestServer::start("127.0.0.1:0".parse().unwrap(), cluster).await.unwrap()
}

#[tokio::test]
async fn kubectl_get_pods_table_wide_and_yaml() {
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;

    let (ok, out, err) = k.run(&["get", "pods", "-n", "default"]).await;
    assert!(ok, "kubectl get pods failed: {err}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{out}");
    assert!(out.lines().any(|l| l.starts_with("web-") && l.contains("1/1") && l.contains("Running")), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("worker-") && l.contains("CrashLoopBackOff") && l.contains("4 (3m")),
        "{out}"
    );
    assert!(!out.contains("payments-api"), "namespace filter ignored: {out}");

    let (ok, out, err) = k.run(&["get", "pods", "-n", "default", "-o", "wide"]).await;
    assert!(ok, "{err}");
    assert!(out.lines().next().unwrap().contains("NOMINATED NODE"), "{out}");
    assert!(out.contains("sandbox-node-1"), "{out}");

    let (ok, out, err) = k.run(&["get", "pods", "-n", "default", "-l", "app=web"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "label selector: {out}");

    let (ok, out, err) = k.run(&["get", "pods", "-A", "--field-selector", "metadata.namespace=payments"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("payments-api") && !out.contains("web-"), "{out}");

    let name =
        server.cluster.list(kube_testserver::RESOURCES.iter().find(|r| r.plural == "pods").unwrap(), Some("default")).0
            [0]["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string();
    let (ok, out, err) = k.run(&["get", "pod", &name, "-n", "default", "-o", "yaml"]).await;
    assert!(ok, "{err}");
    for want in ["kind: Pod", "uid:", "resourceVersion:", "creationTimestamp:", "ownerReferences:", "kind: ReplicaSet"]
    {
        assert!(out.contains(want), "missing {want:?} in {out}");
    }

    let (ok, out, err) = k.run(&["get", "deployments", "-n", "default"]).await;
    assert!(ok, "{err}");
    assert!(out.lines().next().unwrap().contains("UP-TO-DATE"), "{out}");
    assert!(out.contains("web") && out.contains("2/2"), "{out}");

    let (ok, _, err) = k.run(&["get", "pod", "nope", "-n", "default"]).await;
    assert!(!ok);
    assert!(err.contains(r#"pods "nope" not found"#), "{err}");
}

#[tokio::test]
async fn kubectl_describe_edit_apply_delete() {
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let pods = kube_testserver::RESOURCES.iter().find(|r| r.plural == "pods").unwrap();
    let rs = kube_testserver::RESOURCES.iter().find(|r| r.plural == "replicasets").unwrap();

    let (ok, out, err) = k.run(&["describe", "deployment", "web", "-n", "default"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Name:") && out.contains("web") && out.contains("Replicas:"), "{out}");
    let worker = server
        .cluster
        .list(pods, Some("default"))
        .0
        .into_iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("worker-"))
        .unwrap();
    let worker = worker["metadata"]["name"].as_str().unwrap().to_string();
    let (ok, out, err) = k.run(&["describe", "pod", &worker, "-n", "default"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("Events:") && out.contains("BackOff"), "describe shows the pod's events: {out}");

    // edit, non-interactively: the editor replaces the image.
    let editor = k._dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's#nginx:1.27#nginx:1.28#' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = tokio::process::Command::new("kubectl")
        .args(["edit", "deployment", "web", "-n", "default", "--validate=false"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", &k.home)
        .env("KUBE_EDITOR", &editor)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, yaml, _) = k.run(&["get", "deployment", "web", "-n", "default", "-o", "yaml"]).await;
    assert!(yaml.contains("nginx:1.28") && !yaml.contains("nginx:1.27"), "{yaml}");
    assert!(yaml.contains("generation: 2"), "spec change bumps generation: {yaml}");

    // apply --server-side creates and then updates.
    let cm = k._dir.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {mode: a}\n",
    )
    .unwrap();
    let (ok, _, err) = k.run(&["apply", "--server-side", "--validate=false", "-f", cm.to_str().unwrap()]).await;
    assert!(ok, "{err}");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {mode: b}\n",
    )
    .unwrap();
    let (ok, _, err) = k.run(&["apply", "--server-side", "--validate=false", "-f", cm.to_str().unwrap()]).await;
    assert!(ok, "{err}");
    let (_, out, _) = k.run(&["get", "configmap", "settings", "-n", "default", "-o", "jsonpath={.data.mode}"]).await;
    assert_eq!(out, "b");

    // delete cascades to the ReplicaSet and its Pods (background propagation).
    let (ok, out, err) = k.run(&["delete", "deployment", "web", "-n", "default"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("deleted"), "{out}");
    assert!(
        server
            .cluster
            .list(rs, Some("default"))
            .0
            .iter()
            .all(|r| !r["metadata"]["name"].as_str().unwrap().starts_with("web-"))
    );
    assert!(
        server
            .cluster
            .list(pods, Some("default"))
            .0
            .iter()
            .all(|p| !p["metadata"]["name"].as_str().unwrap().starts_with("web-"))
    );
    let (ok, _, err) = k.run(&["get", "deployment", "web", "-n", "default"]).await;
    assert!(!ok && err.contains("not found"), "{err}");

    // A stale resourceVersion is a conflict.
    let api = server
        .cluster
        .get(kube_testserver::RESOURCES.iter().find(|r| r.plural == "deployments").unwrap(), "default", "api")
        .unwrap();
    let mut stale = api.clone();
    stale["metadata"]["resourceVersion"] = serde_json::json!("1");
    let r = put(&server, "/apis/apps/v1/namespaces/default/deployments/api", &stale).await;
    assert!(r.contains("\"code\":409") && r.contains("the object has been modified"), "{r}");
}

async fn put(server: &KubeTestServer, path: &str, body: &serde_json::Value) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let b = body.to_string();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// `GET path` on the server: the status line and the body.
async fn get(server: &KubeTestServer, path: &str) -> (String, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), serde_json::from_str(body).unwrap_or_default())
}

/// Lists come in chunks when asked (`limit`, `continue`), as kubectl and client-go's pager
/// ask for them; a token from before a change is refused with 410 Expired.
#[tokio::test]
async fn lists_come_in_chunks_and_an_old_continue_token_expires() {
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let pods = kube_testserver::RESOURCES.iter().find(|r| r.plural == "pods").unwrap();
    let all = server.cluster.list(pods, None).0.len();
    assert!(all > 4, "the sandbox has {all} pods");

    // kubectl follows the continue tokens (-v=6 logs each request).
    let (ok, out, err) = k.run(&["get", "pods", "-A", "-o", "json", "--chunk-size=2", "-v=6"]).await;
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), all, "{out}");
    assert!(err.matches("continue=").count() >= all / 2 - 1, "{err}");
    // In one namespace, and of a cluster-scoped kind, whose tokens name only the object.
    let (whole, _) = server.cluster.list(pods, None);
    let ns = whole[0]["metadata"]["namespace"].as_str().unwrap();
    let in_ns = server.cluster.list(pods, Some(ns)).0.len();
    let namespaces = kube_testserver::RESOURCES.iter().find(|r| r.plural == "namespaces").unwrap();
    let all_ns = server.cluster.list(namespaces, None).0.len();
    assert!(in_ns > 1 && all_ns > 1, "{in_ns} pods in {ns}, {all_ns} namespaces");
    for (args, want) in [(vec!["get", "pods", "-n", ns], in_ns), (vec!["get", "namespaces"], all_ns)] {
        let (ok, out, err) = k.run(&[args.as_slice(), &["-o", "json", "--chunk-size=1", "-v=6"]].concat()).await;
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["items"].as_array().unwrap().len(), want, "{args:?}: {out}");
        assert!(err.matches("continue=").count() >= want - 1, "{args:?}: {err}");
    }

    let (status, first) = get(&server, "/api/v1/pods?limit=2").await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["metadata"]["remainingItemCount"], all - 2, "{first}");
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    let (_, second) = get(&server, &format!("/api/v1/pods?limit=2&continue={token}")).await;
    // The two chunks are the list's first four, in its order: nothing skipped or repeated.
    let uids = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["items"].as_array().unwrap().iter().map(|o| o["metadata"]["uid"].clone()).collect()
    };
    let four: Vec<serde_json::Value> = whole[..4].iter().map(|o| o["metadata"]["uid"].clone()).collect();
    assert_eq!([uids(&first), uids(&second)].concat(), four);
    assert_eq!(second["metadata"]["resourceVersion"], first["metadata"]["resourceVersion"]);
    // A selector: no remaining count (the server cannot know it without filtering all).
    let (_, web) = get(&server, "/api/v1/pods?limit=1&labelSelector=app%3Dweb").await;
    assert!(web["metadata"]["continue"].is_string() && web["metadata"]["remainingItemCount"].is_null(), "{web}");

    server
        .cluster
        .upsert(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "late-pod", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }))
        .unwrap();
    let (status, gone) = get(&server, &format!("/api/v1/pods?limit=2&continue={token}")).await;
    assert!(status.contains(" 410 "), "{status}");
    assert_eq!(gone["reason"], "Expired", "{gone}");
    let (status, bad) = get(&server, "/api/v1/pods?limit=2&continue=nonsense").await;
    assert!(status.contains(" 400 "), "{status}");
    assert!(bad["message"].as_str().unwrap().starts_with("continue key is not valid"), "{bad}");
    let (status, bad) = get(&server, "/api/v1/pods?limit=two").await;
    assert!(status.contains(" 400 ") && bad["message"] == r#"limit: "two" is not an integer"#, "{status} {bad}");
}

#[tokio::test]
async fn kubectl_get_watch_sees_changes() {
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let mut child = tokio::process::Command::new("kubectl")
        .args(["get", "pods", "-n", "default", "-w"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", &k.home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server
        .cluster
        .upsert(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "watched-pod", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Pending"},
        }))
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().next().is_some_and(|l| l.starts_with("NAME")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("watched-pod") && l.contains("Pending")),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn kubectl_logs_tail_and_follow() {
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let pods = kube_testserver::RESOURCES.iter().find(|r| r.plural == "pods").unwrap();
    let web = server
        .cluster
        .list(pods, Some("default"))
        .0
        .into_iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("web-"))
        .unwrap();
    let web = web["metadata"]["name"].as_str().unwrap().to_string();
    let (ok, out, err) = k.run(&["logs", &web, "-n", "default", "--tail", "3"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let (ok, out, _) = k.run(&["logs", &web, "-n", "default", "--tail", "1", "--timestamps"]).await;
    assert!(ok && out.split_whitespace().next().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{out}");
    let worker = server
        .cluster
        .list(pods, Some("default"))
        .0
        .into_iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("worker-"))
        .unwrap();
    let (ok, out, err) =
        k.run(&["logs", worker["metadata"]["name"].as_str().unwrap(), "-n", "default", "--previous"]).await;
    assert!(ok && out.contains("fatal: connection refused"), "{out}{err}");

    let mut child = tokio::process::Command::new("kubectl")
        .args(["logs", "-f", &web, "-n", "default", "--tail", "0"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", &k.home)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    server.cluster.append_log("default", &web, "web", "hello from the test");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    child.start_kill().unwrap();
    let out = String::from_utf8(child.wait_with_output().await.unwrap().stdout).unwrap();
    assert!(out.contains("hello from the test"), "{out}");
    assert!(out.contains("web: tick"), "{out}");
}

fn pod_named(server: &KubeTestServer, prefix: &str) -> String {
    let pods = kube_testserver::RESOURCES.iter().find(|r| r.plural == "pods").unwrap();
    let pod = server
        .cluster
        .list(pods, Some("default"))
        .0
        .into_iter()
        .find(|p| p["metadata"]["name"].as_str().unwrap().starts_with(prefix))
        .unwrap();
    pod["metadata"]["name"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn kubectl_exec_pipes_and_exit_codes() {
    use tokio::io::AsyncWriteExt;
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let web = pod_named(&server, "web-");
    let mut child = tokio::process::Command::new("kubectl")
        .args(["exec", "-i", &web, "-n", "default", "--", "cat"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", &k.home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").await.unwrap();
    let out =
        tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    let (ok, out, err) =
        k.run(&["exec", &web, "-n", "default", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]).await;
    assert!(!ok);
    assert_eq!(out, "out\n");
    assert!(err.contains("err\n") && err.contains("command terminated with exit code 3"), "{err}");

    let (ok, _, err) = k.run(&["exec", &web, "-n", "default", "-c", "nope", "--", "true"]).await;
    assert!(!ok && err.contains("container nope is not valid for pod"), "{err}");
    let (ok, _, err) = k.run(&["exec", "ghost", "-n", "default", "--", "true"]).await;
    assert!(!ok && err.contains("pods \"ghost\" not found"), "{err}");
}

#[tokio::test]
async fn kubectl_port_forward_carries_bytes_both_ways() {
    use kube_testserver::forwarding::{echo_server, echo_through, kubectl_port_forward};
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let web = format!("pod/{}", pod_named(&server, "web-"));
    let port = echo_server().await.unwrap();
    // kubectl 1.32 tunnels SPDY in a WebSocket (SPDY/3.1+portforward.k8s.io) and names the
    // port per stream, not in the query.
    let fwd = kubectl_port_forward(k.cmd(&["port-forward", &web, "-n", "default", &format!(":{port}")])).await;
    let bytes: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    assert!(echo_through(fwd.local, &bytes).await.unwrap() == bytes, "a megabyte came back whole");
    assert_eq!(echo_through(fwd.local, b"second connection").await.unwrap(), b"second connection");
    drop(fwd);

    // Nothing listens on the pod's port: the error stream says so and the connection ends.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut fwd = kubectl_port_forward(k.cmd(&["port-forward", &web, "-n", "default", &format!(":{closed}")])).await;
    assert!(echo_through(fwd.local, b"nobody home").await.is_err());
    let _ = fwd.child.start_kill();
    let out = fwd.child.wait_with_output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("error forwarding port {closed}")), "{err}");
}

/// Reads from a pty until `needle` shows up (or fails after 20 s). Returns what was read.
async fn read_until(pty: &mut pty_process::Pty, needle: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = String::from_utf8_lossy(&seen).to_string();
        if s.contains(needle) {
            return s;
        }
        match tokio::time::timeout_at(deadline, pty.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            other => panic!("waiting for {needle:?}: {other:?}; read so far: {s:?}"),
        }
    }
}

#[tokio::test]
async fn kubectl_exec_it_is_a_real_terminal() {
    use tokio::io::AsyncWriteExt;
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let web = pod_named(&server, "web-");
    let (mut pty, pts) = pty_process::open().unwrap();
    pty.resize(pty_process::Size::new(33, 101)).unwrap();
    let mut child = pty_process::Command::new("kubectl")
        .args(["exec", "-it", &web, "-n", "default", "--", "sh"])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", &k.home)
        .kill_on_drop(true)
        .spawn(pts)
        .unwrap();
    pty.write_all(b"echo $((6*7))-answer\r").await.unwrap();
    read_until(&mut pty, "42-answer").await;
    // kubectl forwards its own window size.
    pty.write_all(b"stty size\r").await.unwrap();
    read_until(&mut pty, "33 101").await;
    // Ctrl-C reaches the remote process as SIGINT.
    pty.write_all(b"sleep 30\r").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    pty.write_all(b"\x03").await.unwrap();
    pty.write_all(b"echo after-$?\r").await.unwrap();
    read_until(&mut pty, "after-130").await;
    pty.write_all(b"exit 4\r").await.unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(4));
}

#[tokio::test]
async fn kubectl_apply_dry_run_server_stores_nothing() {
    let server = sandbox().await;
    let k = Kubectl::new(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("objects.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry, namespace: default}\ndata: {a: '1'}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: dry-role}\nrules: [{apiGroups: [''], resources: [pods], verbs: [get]}]\n",
    )
    .unwrap();
    let (ok, out, err) = k.run(&["apply", "--dry-run=server", "-f", f.to_str().unwrap()]).await;
    assert!(ok, "{err}");
    assert!(out.contains("configmap/dry created (server dry run)"), "{out}");
    assert!(out.contains("clusterrole.rbac.authorization.k8s.io/dry-role created (server dry run)"), "{out}");
    let (ok, _, err) = k.run(&["get", "configmap", "dry", "-n", "default"]).await;
    assert!(!ok && err.contains("not found"), "a dry run stores nothing: {err}");
    let (ok, _, _) = k.run(&["apply", "--server-side", "-f", f.to_str().unwrap()]).await;
    assert!(ok);
    let (ok, out, _) = k.run(&["get", "clusterrole", "dry-role"]).await;
    assert!(ok && out.contains("dry-role"), "{out}");
}
