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

    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .output()
            .await
            .expect("kubectl is installed");
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
