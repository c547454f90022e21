//! Stock kubectl through Cloud Ops: `planton kube login` writes a kubeconfig context whose
//! server is the gateway's Kubernetes API proxy and whose user is `planton kube credential`;
//! kubectl itself is the judge, in both access modes, with the refusals of each.

mod support;

#[path = "kubeproxy/kubectl.rs"]
mod kubectl;

use std::{process::Stdio, time::Duration};

use cloudops_sandbox::ok;
use kubectl::{C, login, setup};
use tokio::io::{AsyncBufReadExt, BufReader};

const R: &str = "default/prod/KubernetesDeployment/payments-api";

#[tokio::test]
async fn admin_mode_kubectl_reads_writes_watches_and_follows() {
    let (sb, _r, k) = setup().await;
    // A kubeconfig that was there stays: login merges.
    std::fs::write(&k.kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://other:6443'}\ncontexts: []\nusers: []\n").unwrap();
    let note = login(&sb, &k, &["--connection", C, "-n", "payments"]).await;
    assert!(note.contains("planton-default-prod-runner-conn"), "{note}");
    let text = std::fs::read_to_string(&k.kubeconfig).unwrap();
    assert!(text.contains("https://other:6443") && text.contains("kube") && text.contains("credential"), "{text}");
    assert!(!text.contains(&sb.api_key), "the kubeconfig must hold no secret: {text}");

    let pods = k.ok(&["get", "pods"]).await;
    assert_eq!(
        pods.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert!(pods.lines().any(|l| l.starts_with("payments-api-")), "{pods}");
    let all = k.ok(&["get", "deployments", "-A"]).await;
    assert!(all.contains("default") && all.contains("payments"), "{all}");
    let yaml = k.ok(&["get", "deployment", "payments-api", "-o", "yaml"]).await;
    assert!(yaml.contains("kind: Deployment") && yaml.contains("name: payments-api"), "{yaml}");
    let missing = k.refused(&["get", "pod", "no-such-pod"]).await;
    assert!(missing.contains("NotFound") || missing.contains("not found"), "{missing}");

    // Writes: create, label, patch, delete.
    let cm = sb.dir.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: proxied, namespace: payments}\ndata: {a: '1'}\n",
    )
    .unwrap();
    // kubectl validates against the server's OpenAPI (which the proxy points under the context).
    let out = k.ok(&["apply", "-f", cm.to_str().unwrap()]).await;
    assert!(out.contains("configmap/proxied created"), "{out}");
    let out = k.ok(&["apply", "--server-side", "-f", cm.to_str().unwrap()]).await;
    assert!(out.contains("configmap/proxied serverside-applied"), "{out}");
    k.ok(&["label", "configmap", "proxied", "team=payments"]).await;
    k.ok(&["patch", "configmap", "proxied", "--type=merge", "-p", r#"{"data":{"b":"2"}}"#]).await;
    k.ok(&["patch", "configmap", "proxied", "--type=json", "-p", r#"[{"op":"add","path":"/data/c","value":"3"}]"#])
        .await;
    let editor = sb.dir.path().join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/^  a: .*/  a: edited/' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = k.cmd(&["edit", "configmap", "proxied"]).env("KUBE_EDITOR", &editor).output().await.unwrap();
    assert!(out.status.success(), "kubectl edit: {}", String::from_utf8_lossy(&out.stderr));
    let got = k
        .ok(&["get", "configmap", "proxied", "-o", "jsonpath={.metadata.labels.team}/{.data.a}/{.data.b}/{.data.c}"])
        .await;
    assert_eq!(got, "payments/edited/2/3");
    k.ok(&["delete", "configmap", "proxied"]).await;
    k.refused(&["get", "configmap", "proxied"]).await;

    // Streams: a watch shows what changes, a followed log shows new lines.
    let web =
        pods.lines().find(|l| l.starts_with("payments-api-")).unwrap().split_whitespace().next().unwrap().to_string();
    let watch = k.until_line(&["get", "pods", "-w"], |l| l.starts_with(&web)).await;
    assert!(watch[0].starts_with("NAME"), "{watch:?}");
    let cluster = sb.kube.cluster.clone();
    let pod = web.clone();
    let appender = tokio::spawn(async move {
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            cluster.append_log("payments", &pod, "payments-api", &format!("FOLLOWED-{i}"));
        }
    });
    let lines = k.until_line(&["logs", "-f", &web], |l| l.starts_with("FOLLOWED-")).await;
    assert!(lines.iter().any(|l| l.starts_with("FOLLOWED-")), "{lines:?}");
    appender.abort();

    // exec over WebSocket: output, the exit code, stdin.
    let out = k.ok(&["exec", &web, "--", "echo", "through-the-proxy"]).await;
    assert_eq!(out.trim(), "through-the-proxy");
    let out = k.cmd(&["exec", &web, "--", "sh", "-c", "exit 3"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child =
        k.cmd(&["exec", "-i", &web, "--", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"typed-in\n").await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "typed-in");
    // cp both ways: tar over exec, stdin and stdout as bytes.
    let local = sb.dir.path().join("to-pod.bin");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &bytes).unwrap();
    k.ok(&["cp", local.to_str().unwrap(), &format!("{web}:to-pod.bin")]).await;
    let back = sb.dir.path().join("from-pod.bin");
    k.ok(&["cp", &format!("{web}:to-pod.bin"), back.to_str().unwrap()]).await;
    assert!(std::fs::read(&back).unwrap() == bytes, "the file came back whole");

    // port-forward: kubectl's SPDY session tunnelled in a WebSocket, relayed message by message.
    let port = cloudops_sandbox::echo_server().await.unwrap();
    let fwd =
        kube_testserver::forwarding::kubectl_port_forward(k.cmd(&["port-forward", &web, &format!(":{port}")])).await;
    let echoed = kube_testserver::forwarding::echo_through(fwd.local, &bytes).await.unwrap();
    assert!(echoed == bytes, "bytes came back whole through the proxy");
    drop(fwd);

    // Scale and roll out: the scale subresource, a restart, its status, history and undo.
    let out = k.ok(&["scale", "deployment", "payments-api", "--replicas=3"]).await;
    assert!(out.contains("deployment.apps/payments-api scaled"), "{out}");
    assert_eq!(k.ok(&["get", "deployment", "payments-api", "-o", "jsonpath={.spec.replicas}"]).await, "3");
    let out = k.ok(&["rollout", "restart", "deployment", "payments-api"]).await;
    assert!(out.contains("restarted"), "{out}");
    let out = k.ok(&["rollout", "status", "deployment", "payments-api", "--timeout=30s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let history = k.ok(&["rollout", "history", "deployment", "payments-api"]).await;
    assert!(history.lines().any(|l| l.trim_start().starts_with('2')), "{history}");
    let out = k.ok(&["rollout", "undo", "deployment", "payments-api"]).await;
    assert!(out.contains("rolled back"), "{out}");
    let template = k.ok(&["get", "deployment", "payments-api", "-o", "jsonpath={.spec.template.metadata}"]).await;
    assert!(!template.contains("restartedAt"), "undo brought the first template back: {template}");
    let pods = k.ok(&["get", "pods", "-l", "app=payments-api", "--no-headers"]).await;
    assert_eq!(pods.lines().count(), 3, "{pods}");

    // Every request is audited with its method and path.
    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("kubernetes.proxy.list") && audit.contains("/api/v1/namespaces/payments/pods"), "{audit}");
    assert!(audit.contains("kubernetes.proxy.delete") && audit.contains("/exec"), "{audit}");
    let sessions = ok(&sb, &["audit", "sessions"]).await;
    assert!(
        sessions.contains("through-the-proxy") || sessions.contains(&web),
        "exec through the proxy is recorded: {sessions}"
    );
}

#[tokio::test]
async fn developer_mode_is_locked_to_the_resources_namespace() {
    let (sb, _r, k) = setup().await;
    login(&sb, &k, &["-r", R]).await;
    let pods = k.ok(&["get", "pods"]).await;
    assert!(pods.lines().any(|l| l.starts_with("payments-api-")), "{pods}");
    let err = k.refused(&["get", "pods", "-n", "default"]).await;
    assert!(err.contains("limited to namespace payments") && err.contains("namespace default is outside it"), "{err}");
    let err = k.refused(&["get", "nodes"]).await;
    assert!(err.contains("Forbidden") && err.contains("limited to namespace payments"), "{err}");
    let err = k.refused(&["get", "pods", "-A"]).await;
    assert!(err.contains("limited to namespace payments"), "{err}");
    assert_eq!(k.ok(&["auth", "can-i", "delete", "pods"]).await.trim(), "yes");
    let (allowed, out, _) = k.run(&["auth", "can-i", "get", "pods", "-n", "default"]).await;
    assert!(!allowed && out.starts_with("no - developer access is limited to namespace payments"), "{out}");
    // (`kubectl get --raw` drops the server's path prefix, so some checks go straight over HTTP.)
    let ca = reqwest::Certificate::from_pem(sb.cp.pki.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder().add_root_certificate(ca).build().unwrap();
    let base = format!("{}/v1/kube/resources/default/prod/KubernetesDeployment/payments-api", sb.gateway_url());

    // On a workload, the pods are the workload's own, as `planton kubectl` shows them: another
    // workload's pod in the same namespace is neither listed, watched, read nor exec'd into.
    assert!(!pods.contains("payments-worker-"), "{pods}");
    let admin_pods = format!("{}/v1/kube/connections/default/{C}/api/v1/namespaces/payments/pods", sb.gateway_url());
    let all: serde_json::Value =
        http.get(&admin_pods).bearer_auth(&sb.api_key).send().await.unwrap().json().await.unwrap();
    let names: Vec<String> =
        all["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap().into()).collect();
    let worker = names.iter().find(|n| n.starts_with("payments-worker-")).expect("a worker pod").clone();
    let api = names.iter().find(|n| n.starts_with("payments-api-")).expect("an api pod").clone();
    let forward = format!("pod/{worker}");
    for args in [
        vec!["logs", &worker],
        vec!["get", "pod", &worker],
        vec!["exec", &worker, "--", "true"],
        // kubectl retries a refused WebSocket with SPDY, and is told the first refusal.
        vec!["port-forward", &forward, ":8080"],
    ] {
        let err = k.refused(&args).await;
        assert!(err.contains("is not part of Deployment \"payments-api\""), "{args:?}: {err}");
    }
    k.ok(&["logs", &api]).await;
    // A client asking for protobuf (client-go informers do) gets the filtered list in JSON.
    let r = http
        .get(format!("{base}/api/v1/namespaces/payments/pods"))
        .header("accept", "application/vnd.kubernetes.protobuf")
        .bearer_auth(&sb.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
    let list: serde_json::Value = r.json().await.unwrap();
    let listed: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    assert!(!listed.is_empty() && listed.iter().all(|n| n.starts_with("payments-api-")), "{listed:?}");
    let r =
        http.delete(format!("{base}/api/v1/namespaces/payments/pods")).bearer_auth(&sb.api_key).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("delete its pods by name"), "{body}");
    // A watch carries the workload's events only: the worker changes first, then the api pod.
    let relabel = {
        let (http, key, admin_pods, worker, api) =
            (http.clone(), sb.api_key.clone(), admin_pods.clone(), worker.clone(), api.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            for pod in [&worker, &api] {
                let r = http
                    .patch(format!("{admin_pods}/{pod}"))
                    .bearer_auth(&key)
                    .header("content-type", "application/merge-patch+json")
                    .body(r#"{"metadata":{"labels":{"touched":"yes"}}}"#)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            }
        })
    };
    let seen = k
        .until_line(&["get", "pods", "-w", "--watch-only", "--output-watch-events"], |l| {
            l.contains("MODIFIED") && l.contains(&api)
        })
        .await;
    relabel.await.unwrap();
    assert!(seen.iter().all(|l| !l.contains(&worker)), "{seen:?}");

    // The proxy takes a bearer token, never a cookie, and answers in Kubernetes' own words.
    // Outside the resource API only discovery is carried.
    for path in ["/metrics", "/debug/pprof/"] {
        let r = http.get(format!("{base}{path}")).bearer_auth(&sb.api_key).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("is not carried"), "{body}");
    }
    let r = http.get(format!("{base}/version")).bearer_auth(&sb.api_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let url = format!("{}/v1/kube/connections/default/{C}/api/v1/namespaces/payments/pods", sb.gateway_url());
    let r = http.get(&url).header("cookie", "cloudops_session=anything").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!((body["kind"].as_str(), body["reason"].as_str()), (Some("Status"), Some("Unauthorized")), "{body}");
    // planton's own kubectl names the namespace developer mode used, not `default`.
    let out = sb.cli(&["kubectl", "get", "configmaps", "-r", R]).await;
    assert!(out.stderr.contains("No resources found in payments namespace."), "{}", out.stderr);
    let out = sb.cli(&["kube", "ls", "--kubeconfig", k.kubeconfig.to_str().unwrap()]).await;
    assert!(out.stdout.contains("developer") && out.stdout.contains("payments"), "{}", out.stdout);
    let out = sb.cli(&["kube", "logout", "--kubeconfig", k.kubeconfig.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!std::fs::read_to_string(&k.kubeconfig).unwrap().contains("payments-api"));
}

#[tokio::test]
async fn a_viewer_reads_but_neither_writes_nor_reads_secrets() {
    let (sb, _r, k) = setup().await;
    let key = sb.principal_on_connection("viewer1", C, "viewer").await;
    let viewer = sb.as_user(&key);
    let planton = support::bin("planton");
    let out = viewer
        .cli(&[
            "kube",
            "login",
            "--connection",
            C,
            "-n",
            "shop",
            "--kubeconfig",
            k.kubeconfig.to_str().unwrap(),
            "--credential-command",
            planton.to_str().unwrap(),
        ])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    k.ok(&["get", "configmaps"]).await;
    let err = k.refused(&["get", "secrets"]).await;
    assert!(err.contains("Forbidden") && err.contains("Secrets"), "{err}");
    let err = k.refused(&["get", "secret", "shop-db", "-o", "yaml"]).await;
    assert!(err.contains("Secrets"), "{err}");
    let err = k.refused(&["delete", "configmap", "shop-config"]).await;
    assert!(err.contains("needs the operator role"), "{err}");
    // `auth can-i` answers for the person from Cloud Ops grants (the cluster would answer for
    // the runner's service account), and says why not; `auth whoami` names the principal.
    assert_eq!(k.ok(&["auth", "can-i", "list", "pods"]).await.trim(), "yes");
    for ask in [["delete", "configmaps"], ["get", "secrets"], ["create", "pods/exec"], ["impersonate", "users"]] {
        let (allowed, out, _) = k.run(&["auth", "can-i", ask[0], ask[1]]).await;
        assert!(!allowed && out.starts_with("no"), "can-i {ask:?}: {out}");
    }
    let (_, out, _) = k.run(&["auth", "can-i", "get", "secrets"]).await;
    assert!(out.contains("reading Secrets needs operator"), "{out}");
    let who = k.ok(&["auth", "whoami"]).await;
    assert!(who.contains("viewer1"), "{who}");
    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("kubernetes.proxy.review"), "a review is audited: {audit}");
    // An open watch holds only while the grant does: removing it ends the watch (within the
    // recheck period), as it refuses the next request, and the end is on record.
    let mut watch = k.cmd(&["get", "configmaps", "-w"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = BufReader::new(watch.stdout.take().unwrap()).lines();
    let listed = tokio::time::timeout(Duration::from_secs(20), first.next_line()).await;
    assert!(matches!(listed, Ok(Ok(Some(_)))), "the watch lists first: {listed:?}");
    let grants: serde_json::Value =
        serde_json::from_str(&ok(&sb, &["grant", "list", "--principal", "viewer1", "-o", "json"]).await).unwrap();
    let grant = grants["items"][0]["id"].as_str().unwrap().to_string();
    ok(&sb, &["grant", "delete", &grant]).await;
    let ended = tokio::time::timeout(Duration::from_secs(30), watch.wait()).await;
    assert!(ended.is_ok(), "the watch outlived the grant");
    let err = k.refused(&["get", "configmaps"]).await;
    assert!(err.contains("Forbidden"), "{err}");
    let audit: serde_json::Value = serde_json::from_str(&ok(&sb, &["audit", "list", "-o", "json"]).await).unwrap();
    let lost = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["op"] == "kubernetes.proxy.watch" && r["decision"] == "denied" && r["principal"] == "viewer1");
    assert!(lost, "the watch's end is on record: {audit}");
    ok(
        &sb,
        &["grant", "create", "--principal", "viewer1", "--scope", "connection", "--connection", C, "--role", "viewer"],
    )
    .await;
    // A key that is revoked stops at once.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&sb, &["apikey", "list", "--principal", "viewer1", "-o", "json"]).await).unwrap();
    let id =
        listed["items"].as_array().unwrap().iter().find(|k| key.starts_with(k["prefix"].as_str().unwrap())).unwrap();
    ok(&sb, &["apikey", "revoke", id["id"].as_str().unwrap(), "--principal", "viewer1"]).await;
    let err = k.refused(&["get", "configmaps"]).await;
    assert!(err.contains("Unauthorized") || err.contains("logged in"), "{err}");
}

#[tokio::test]
async fn the_python_client_lists_watches_execs_and_forwards() {
    let (sb, _r, k) = setup().await;
    login(&sb, &k, &["--connection", C, "-n", "payments"]).await;
    let names = k.ok(&["get", "pods", "-l", "app=payments-api", "-o", "name"]).await;
    let pod = names.lines().next().expect("a payments-api pod").trim_start_matches("pod/").to_string();
    let port = cloudops_sandbox::echo_server().await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/kube_python.py");
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .args(["payments", &pod, &port.to_string()])
        .env("KUBECONFIG", &k.kubeconfig)
        .env("HOME", &k.home)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await.expect("the Python client finished").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the Python client (pip install kubernetes; .ci/run installs it) failed:\n{stdout}\n{stderr}"
    );
    for check in ["list ", "watch ADDED", "exec from-python", "portforward ping-through-the-proxy"] {
        assert!(stdout.contains(check), "{check}: {stdout}");
    }
    let audit = ok(&sb, &["audit", "list", "-o", "json"]).await;
    assert!(audit.contains("kubernetes.proxy.portforward"), "a tunnel is audited when it opens: {audit}");
}

/// The latest request the cluster saw whose URI contains `part`, and who it acted as.
fn seen_as(sb: &cloudops_sandbox::Sandbox, part: &str) -> (Option<String>, Vec<String>) {
    let events = sb.kube.cluster.audit_events();
    let e =
        events.iter().rev().find(|e| e.request_uri.contains(part)).unwrap_or_else(|| panic!("no request to {part}"));
    (e.impersonated_user.clone(), e.impersonated_groups.clone())
}

#[tokio::test]
async fn an_impersonating_connection_acts_as_the_person() {
    let (sb, _r, k) = setup().await;
    let create = ["connection", "create", "as-person", "--provider", "kubernetes", "--runner", "prod-runner"];
    let out = sb.cli(&[&create[..], &["--set", "impersonate=yes"]].concat()).await;
    assert!(out.code != 0 && out.stderr.contains("impersonate=yes: expected true or false"), "{}", out.stderr);
    let ctx = ["--context", cloudops_sandbox::KUBE_CONTEXT, "--set", "impersonate=true"];
    ok(&sb, &[&create[..], &ctx].concat()).await;
    sb.wait_routable("as-person").await.unwrap();

    // The cluster sees the person (RBAC and its audit log), through the proxy and planton kubectl.
    let key = sb.principal_on_connection("alice", "as-person", "operator").await;
    let alice = sb.as_user(&key);
    let planton = support::bin("planton");
    let kc = k.kubeconfig.to_str().unwrap();
    let login = ["kube", "login", "--connection", "as-person", "-n", "payments", "--kubeconfig", kc];
    let out = alice.cli(&[&login[..], &["--credential-command", planton.to_str().unwrap()]].concat()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    k.ok(&["get", "configmaps"]).await;
    let groups =
        ["cloudops:default:operator", "cloudops:org:default", "system:authenticated"].map(String::from).to_vec();
    assert_eq!(
        seen_as(&sb, "/namespaces/payments/configmaps"),
        (Some("cloudops:default:alice".into()), groups.clone())
    );
    let out = alice.cli(&["kubectl", "get", "deployments", "-n", "shop", "--connection", "as-person"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(seen_as(&sb, "/namespaces/shop/deployments"), (Some("cloudops:default:alice".into()), groups));

    // A client cannot pick who it is: kubectl's --as is refused, and names the person.
    let err = k.refused(&["get", "configmaps", "--as", "system:admin", "--as-group", "system:masters"]).await;
    assert!(err.contains("impersonate-") && err.contains("\"alice\""), "{err}");

    // A connection without the setting acts with the runner's own credentials.
    let out = sb.cli(&["kubectl", "get", "secrets", "-n", "shop", "--connection", C]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(seen_as(&sb, "/namespaces/shop/secrets"), (None, vec![]));

    // A runner that requires impersonation refuses every op that names nobody, and its
    // context's own impersonation (`as`, `as-groups`) never joins the person's.
    let kubeconfig = sb.dir.path().join("kubeconfig-as");
    let text = sb.kube.kubeconfig(cloudops_sandbox::KUBE_CONTEXT);
    std::fs::write(&kubeconfig, format!("{text}    as: runner-default\n    as-groups:\n    - system:masters\n"))
        .unwrap();
    let mut cfg = cloudops_runner::RunnerConfig::new(sb.credentials("strict").await.unwrap());
    (cfg.kubeconfig, cfg.require_impersonation) = (Some(kubeconfig), true);
    let _strict = cloudops_runner::Runner::start(cfg).await.unwrap();
    for (name, person) in [("strict-plain", "false"), ("strict-person", "true")] {
        let set = format!("impersonate={person}");
        let args = ["connection", "create", name, "--provider", "kubernetes", "--runner", "strict", "--set", &set];
        ok(&sb, &[&args[..], &["--context", cloudops_sandbox::KUBE_CONTEXT]].concat()).await;
    }
    sb.wait_routable("strict-person").await.unwrap();
    let out = sb.cli(&["kubectl", "get", "configmaps", "-n", "payments", "--connection", "strict-plain"]).await;
    assert!(out.code != 0 && out.stderr.contains("--require-impersonation"), "{}", out.stderr);
    let (user, _) = seen_as(&sb, "/namespaces/payments/configmaps");
    assert_eq!(user.as_deref(), Some("cloudops:default:alice"), "the refused op never reached the cluster");
    ok(&sb, &["kubectl", "get", "configmaps", "-n", "shop", "--connection", "strict-person"]).await;
    let (user, groups_seen) = seen_as(&sb, "/namespaces/shop/configmaps");
    assert_eq!(user.as_deref(), Some("cloudops:default:admin"));
    assert!(!groups_seen.iter().any(|g| g == "system:masters") && groups_seen.len() == 3, "{groups_seen:?}");
}
