//! End to end: CLI → gateway → resolver → authorizer → router → hub → leaf → runner →
//! Kubernetes API test server, and back, on real nats-server processes.

use std::time::{Duration, Instant};

use cloudops_sandbox::Sandbox;

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// What stock kubectl prints for the same request against the same cluster.
async fn kubectl(sb: &Sandbox, args: &[&str]) -> String {
    let home = sb.dir.path().join("kubectl-home");
    std::fs::create_dir_all(&home).unwrap();
    let out = tokio::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", &sb.kubeconfig)
        .env("HOME", &home)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Column names of a table's header (widths depend on cells that tick, like "4 (3m ago)").
fn header(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

/// NAME, READY and STATUS of each row (RESTARTS and AGE tick between two calls).
fn stable(table: &str) -> Vec<Vec<String>> {
    table.lines().map(|l| l.split_whitespace().take(3).map(String::from).collect()).collect()
}

#[tokio::test]
async fn pod_listing_travels_the_whole_path() {
    init_logs();
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();

    let ours = sb.cli(&["kubectl", "get", "pods", "--connection", "prod-runner-conn", "-n", "default"]).await;
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let theirs = kubectl(&sb, &["get", "pods", "-n", "default"]).await;
    assert_eq!(header(&ours.stdout), header(&theirs), "header differs:\n{}\n{theirs}", ours.stdout);
    assert_eq!(stable(&ours.stdout), stable(&theirs), "ours:\n{}\nkubectl:\n{theirs}", ours.stdout);
    assert!(ours.stdout.contains("CrashLoopBackOff"));

    let wide =
        sb.cli(&["kubectl", "get", "pods", "--connection", "prod-runner-conn", "-n", "default", "-o", "wide"]).await;
    assert_eq!(wide.code, 0, "{}", wide.stderr);
    assert_eq!(header(&wide.stdout), header(&kubectl(&sb, &["get", "pods", "-n", "default", "-o", "wide"]).await));

    let json =
        sb.cli(&["kubectl", "get", "pods", "--connection", "prod-runner-conn", "-n", "default", "-o", "json"]).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let k: serde_json::Value =
        serde_json::from_str(&kubectl(&sb, &["get", "pods", "-n", "default", "-o", "json"]).await).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().unwrap().len(), k["items"].as_array().unwrap().len());
    assert_eq!(v["items"][0]["kind"], "Pod");
    assert_eq!(v["items"][0]["metadata"]["uid"], k["items"][0]["metadata"]["uid"]);

    let name = v["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let one = sb
        .cli(&["kubectl", "get", "pod", &name, "--connection", "prod-runner-conn", "-n", "default", "-o", "yaml"])
        .await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    let y: serde_json::Value = serde_yaml_ng::from_str(&one.stdout).unwrap();
    assert_eq!(y["metadata"]["name"], name.as_str());
    assert_eq!(y["kind"], "Pod");
    assert!(y["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet");

    let single = sb.cli(&["kubectl", "get", "pod", &name, "--connection", "prod-runner-conn", "-n", "default"]).await;
    assert_eq!(single.stdout.lines().count(), 2, "{}", single.stdout);

    let sel = sb.cli(&["kubectl", "get", "po", "-l", "app=web", "--connection", "prod-runner-conn"]).await;
    assert_eq!(sel.stdout.lines().count(), 3, "{}", sel.stdout);

    let missing = sb.cli(&["kubectl", "get", "pod", "nope", "--connection", "prod-runner-conn", "-n", "default"]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stderr.trim(), r#"Error from server (NotFound): pods "nope" not found"#);

    let empty = sb.cli(&["kubectl", "get", "pods", "--connection", "prod-runner-conn", "-n", "empty-ns"]).await;
    assert_eq!(empty.code, 0);
    assert_eq!(empty.stderr.trim(), "No resources found in empty-ns namespace.");

    let kind = sb.cli(&["kubectl", "get", "widgets", "--connection", "prod-runner-conn"]).await;
    assert_eq!(kind.code, 1);
    assert!(kind.stderr.contains(r#"doesn't have a resource type "widgets""#), "{}", kind.stderr);

    // The runner's heartbeats reached the control plane.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = sb.cli(&["runner", "list"]).await;
        let row = out.stdout.lines().find(|l| l.starts_with("prod-runner ")).unwrap_or_default().to_string();
        if row.split_whitespace().nth(2) == Some("yes") {
            assert!(row.contains(cloudops_runner::VERSION), "{row}");
            break;
        }
        assert!(Instant::now() < deadline, "runner never reported connected: {}", out.stdout);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The runner's tunnel is not compressed (`--leaf-compression off`, the default): the hub
    // says so in LEAFZ, asked through its system account.
    let sys = sb.cp.hub.as_ref().unwrap().connect_system().await.unwrap();
    let leafz = sys.request("$SYS.REQ.SERVER.PING.LEAFZ", "{}".into()).await.unwrap();
    let leafz: serde_json::Value = serde_json::from_slice(&leafz.payload).unwrap();
    let leafs = leafz["data"]["leafs"].as_array().unwrap();
    assert_eq!(leafs.len(), 1, "{leafz}");
    assert_eq!(leafs[0]["compression"], "off", "{leafz}");

    // Every decision was audited, with its outcome.
    let rows = sb.cp.store.audit_recent(&sb.cp.org.id, 100).await.unwrap();
    assert!(
        rows.iter().any(|r| r.op == "kubernetes.get" && r.decision == "allowed" && r.result.as_deref() == Some("ok")),
        "{rows:?}"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn a_runner_that_is_not_connected_is_reported_within_the_deadline() {
    init_logs();
    let sb = Sandbox::start().await.unwrap();
    sb.credentials("prod-runner").await.unwrap(); // registered, never started
    let out =
        sb.cli(&["connection", "create", "k8s-local", "--provider", "kubernetes", "--runner", "prod-runner"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let t = Instant::now();
    let out = sb.cli(&["kubectl", "get", "pods", "--connection", "k8s-local", "-n", "default"]).await;
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr.trim(), r#"error: runner "prod-runner" is not connected"#);
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    sb.shutdown().await;
}

#[tokio::test]
async fn clear_errors_for_bad_input() {
    init_logs();
    let sb = Sandbox::start().await.unwrap();
    let out = sb.cli(&["kubectl", "get", "pods", "--connection", "nope"]).await;
    assert_eq!((out.code, out.stderr.trim()), (1, r#"error: connection "nope" not found in org "default""#));

    let out = sb.cli(&["connection", "create", "c1", "--provider", "kubernetes", "--runner", "ghost"]).await;
    assert_eq!((out.code, out.stderr.trim()), (1, r#"error: runner "ghost" not found"#));

    let out = sb.cli(&["connection", "create", "c1", "--provider", "k8s"]).await;
    assert!(out.stderr.contains(r#"unknown provider "k8s""#), "{}", out.stderr);

    let out = sb.cli(&["connection", "create", "c2", "--provider", "kubernetes"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = sb.cli(&["kubectl", "get", "pods", "--connection", "c2"]).await;
    assert!(out.stderr.contains(r#"no runner is available for connection "c2": connection has none, org "default" has no default, no platform default"#), "{}", out.stderr);

    let out = sb.cli(&["kubectl", "get", "pods", "--connection", "c2", "-o", "toml"]).await;
    assert!(out.stderr.contains("output format \"toml\""), "{}", out.stderr);

    // 401s, over raw HTTP and through the CLI.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/ops/kubernetes/get", sb.gateway_url());
    let r = http.post(&url).json(&serde_json::json!({"kind": "pods"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("missing API key"), "{body}");
    let r = http.post(&url).bearer_auth("cok_wrong").json(&serde_json::json!({"kind": "pods"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(&url)
        .bearer_auth(&sb.api_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().starts_with("invalid request body"), "{body}");
    let r = http
        .post(&url)
        .bearer_auth(&sb.api_key)
        .json(&serde_json::json!({"kind": "pods", "bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(&url)
        .bearer_auth(&sb.api_key)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .unwrap();
    assert!(r.status() == 400 || r.status() == 413, "{}", r.status());

    let cfg = sb.home.join("config.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace(&sb.api_key, "cok_revoked")).unwrap();
    let out = sb.cli(&["kubectl", "get", "pods", "--connection", "c2"]).await;
    assert!(out.stderr.starts_with("error: invalid API key"), "{}", out.stderr);
    sb.shutdown().await;
}

#[tokio::test]
async fn malformed_credentials_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, r#"{"version": 1, "org_id": "o"}"#).unwrap();
    let src = cloudops_runner::CredentialSources {
        file: Some(path.clone()),
        planton_home: dir.path().into(),
        ..Default::default()
    };
    let e = cloudops_runner::resolve_credentials(&src).unwrap_err();
    assert!(e.contains("missing field `org`") && e.contains("credentials.json"), "{e}");
    let e = cloudops_runner::resolve_credentials(&cloudops_runner::CredentialSources {
        inline: Some("[]".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.contains("PLANTON_RUNNER_CREDENTIALS"), "{e}");
    let e = cloudops_runner::resolve_credentials(&cloudops_runner::CredentialSources {
        planton_home: dir.path().into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.contains("--credentials-file"), "{e}");
    let e = cloudops_runner::resolve_credentials(&cloudops_runner::CredentialSources {
        name: Some("prod-runner".into()),
        org: Some("acme".into()),
        planton_home: dir.path().into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.contains(r#"runner "prod-runner" of org "acme" not found in the local store"#), "{e}");
}

#[tokio::test]
async fn generate_credentials_outputs_and_local_store() {
    init_logs();
    let sb = Sandbox::start().await.unwrap();
    let out_dir = sb.dir.path().join("runner-creds");
    let out =
        sb.cli(&["runner", "generate-credentials", "prod-runner", "--output-dir", out_dir.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let file = out_dir.join("credentials.json");
    let creds = cloudops_schemas::RunnerCredentials::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(creds.runner_name, "prod-runner");
    assert_eq!(creds.control_plane_endpoint, sb.gateway_url());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let ident = cloudops_bus::callout::identity_from_pem(&creds.tunnel.cert_pem).unwrap();
    assert_eq!(ident.runner_id.as_str(), creds.runner_id);
    assert_eq!(ident.generation, 1);

    // Another call mints another key; the first one keeps working.
    let again = sb.credentials("prod-runner").await.unwrap();
    assert_ne!(again.api_key, creds.api_key);
    assert_eq!(again.runner_id, creds.runner_id);
    assert!(sb.cp.store.authenticate(&creds.api_key).await.unwrap().is_some());

    let out = sb.cli(&["runner", "generate-credentials", "prod-runner", "--output-format", "k8s-secret"]).await;
    let secret: serde_json::Value = serde_yaml_ng::from_str(&out.stdout).unwrap();
    assert_eq!(secret["kind"], "Secret");
    cloudops_schemas::RunnerCredentials::parse(secret["stringData"]["credentials.json"].as_str().unwrap()).unwrap();

    // The local store resolves `runner start NAME --org ORG`.
    let (found, from) = cloudops_runner::resolve_credentials(&cloudops_runner::CredentialSources {
        name: Some("prod-runner".into()),
        org: Some("default".into()),
        planton_home: sb.home.clone(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(found.runner_id, creds.runner_id);
    assert!(from.contains("local store"));

    let out = sb.cli(&["runner", "generate-credentials", "Bad.Name"]).await;
    assert!(out.stderr.contains("invalid runner name"), "{}", out.stderr);
    sb.shutdown().await;
}

/// The roles are also served on NATS queue groups: the same op driven through remote clients
/// (as a gateway replica in another process would) gives the same answer.
#[tokio::test]
async fn roles_answer_over_nats_queue_groups() {
    init_logs();
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let remote = cloudops_bus::services::Remote::new(sb.cp.nats.clone(), Duration::from_secs(5));
    let roles = cloudops_gateway::Roles {
        resolver: std::sync::Arc::new(remote.clone()),
        authorizer: std::sync::Arc::new(remote.clone()),
        router: std::sync::Arc::new(remote),
        metrics: cloudops_gateway::ControlPlaneMetrics::new(),
    };
    let admin = sb.cp.store.authenticate(&sb.api_key).await.unwrap().unwrap();
    let caller = cloudops_schemas::v1::Caller {
        principal_id: admin.id,
        principal_name: admin.name,
        org_id: admin.org_id,
        platform_operator: false,
    };
    let target = cloudops_schemas::v1::Target {
        connection: "prod-runner-conn".into(),
        namespace: "payments".into(),
        ..Default::default()
    };
    let op = cloudops_schemas::v1::Op {
        kind: Some(cloudops_schemas::v1::op::Kind::KubeGet(cloudops_schemas::v1::KubeGet {
            resource: "pods".into(),
            output: cloudops_schemas::v1::KubeOutput::Objects as i32,
            ..Default::default()
        })),
    };
    let r = cloudops_gateway::run_op(&roles, caller.clone(), target.clone(), op.clone(), 5000).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.json).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 3, "{v}");
    assert_eq!(r.kube_resource.unwrap().kind, "Pod");
    // A caller without grants is denied, over NATS too.
    let stranger =
        cloudops_schemas::v1::Caller { principal_id: "usr-nobody".into(), principal_name: "nobody".into(), ..caller };
    let e = cloudops_gateway::run_op(&roles, stranger, target, op, 5000).await.unwrap_err();
    assert_eq!(e.code(), cloudops_schemas::v1::ErrorCode::PermissionDenied, "{e:?}");
    sb.shutdown().await;
}

/// Cloud connections hold non-secret settings only; a Kubernetes op on one is refused by name.
#[tokio::test]
async fn cloud_connections_hold_settings_not_credentials() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let create = |extra: &'static [&'static str]| {
        let mut args = vec!["connection", "create", "aws-dev", "--provider", "aws", "--runner", "prod-runner"];
        args.extend_from_slice(extra);
        args
    };
    for (extra, want) in [
        (&["--set", "secret_access_key=AKIAXX"][..], "looks like a credential"),
        (
            &["--set", "project=p1"][..],
            "unknown setting \"project\": aws connections take profile, region, endpoint_url, page_size",
        ),
        (&["--set", "region"][..], "expected KEY=VALUE"),
        (&["--set", "endpoint_url=ftp://x"][..], "must be an http(s):// URL"),
    ] {
        let out = sb.cli(&create(extra)).await;
        assert_eq!(out.code, 1, "{extra:?}");
        assert!(out.stderr.contains(want), "{extra:?}: {}", out.stderr);
    }
    assert_ne!(sb.cli(&["connection", "get", "aws-dev"]).await.code, 0, "nothing half-created");

    let out = sb.cli(&create(&["--set", "region=eu-west-1", "--set", "endpoint_url=http://127.0.0.1:5000"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value =
        serde_json::from_str(&cloudops_sandbox::ok(&sb, &["connection", "get", "aws-dev", "-o", "json"]).await)
            .unwrap();
    assert_eq!(v["settings"], serde_json::json!({"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000"}));
    let table = cloudops_sandbox::ok(&sb, &["connection", "list"]).await;
    assert!(table.lines().next().unwrap().ends_with("SETTINGS"), "{table}");
    assert!(table.contains("endpoint_url=http://127.0.0.1:5000,region=eu-west-1"), "{table}");

    let out = sb.cli(&["kubectl", "get", "pods", "--connection", "aws-dev"]).await;
    assert!(out.stderr.contains("connection \"aws-dev\" is a aws connection, not kubernetes"), "{}", out.stderr);
    sb.shutdown().await;
}

/// One scrape of `/metrics`, read by a Prometheus text-format parser; every sample line must
/// parse.
async fn scrape(url: &str) -> prometheus_parse::Scrape {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], cloudops_telemetry::metrics::CONTENT_TYPE);
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let sample_lines = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
    let parsed: usize = scrape
        .samples
        .iter()
        .map(|s| match &s.value {
            // A histogram's buckets are one sample once parsed (its _sum and _count are their own).
            prometheus_parse::Value::Histogram(b) => b.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(parsed, sample_lines, "every sample line parses:\n{text}");
    scrape
}

/// The value of `metric` with `labels` (summed over the other labels; a histogram's count).
fn sample(s: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus_parse::Value::*;
    s.samples
        .iter()
        .filter(|x| x.metric == metric && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Counter(v) | Gauge(v) | Untyped(v) => *v,
            Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Summary(_) => 0.0,
        })
        .sum()
}

/// `cloudops serve --metrics-listen`: ops counted by op, verb class, mode and outcome as they
/// run (a viewer's delete as `permission_denied`), each step of the path timed, the runners with
/// a tunnel up and what JetStream holds asked of the hub; and the runner's own on its health
/// port.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_move_as_ops_run() {
    init_logs();
    let sb = Sandbox::start_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await.unwrap();
    let runner = sb.runner_with_connection("m").await.unwrap();
    let url = format!("http://{}/metrics", sb.cp.metrics_addr.expect("metrics served"));
    let get = [("op", "kubernetes.get"), ("verb", "read"), ("mode", "admin"), ("outcome", "ok")];
    let before = scrape(&url).await;

    for _ in 0..3 {
        cloudops_sandbox::ok(&sb, &["kubectl", "get", "pods", "--connection", "m-conn", "-n", "default"]).await;
    }
    let viewer = sb.principal_on_connection("vera", "m-conn", "viewer").await;
    let pod = cloudops_sandbox::pod_named(&sb, "m-conn", "web-").await;
    let denied =
        sb.as_user(&viewer).cli(&["kubectl", "delete", "pod", &pod, "--connection", "m-conn", "-n", "default"]).await;
    assert_ne!(denied.code, 0, "a viewer deletes nothing");

    let after = scrape(&url).await;
    let moved = |m: &str, l: &[(&str, &str)]| sample(&after, m, l) - sample(&before, m, l);
    assert!(moved("cloudops_ops_total", &get) >= 3.0, "three gets counted");
    // The CLI plans a delete first (`kubernetes.delete-plan`): refused there, nothing is deleted.
    assert_eq!(moved("cloudops_ops_total", &[("verb", "operate"), ("outcome", "permission_denied")]), 1.0);
    assert!(moved("cloudops_op_seconds", &[("op", "kubernetes.get")]) >= 3.0);
    for step in ["resolver", "authorizer", "audit", "router"] {
        assert!(moved("cloudops_op_step_seconds", &[("step", step)]) >= 3.0, "step {step} timed");
    }
    assert_eq!(sample(&after, "cloudops_audit_queue_depth", &[]), 0.0, "nothing left waiting once answered");
    // Labels are bounded kinds: no person, org, connection, namespace or resource name.
    let allowed = ["op", "verb", "mode", "outcome", "step", "kind", "cache", "result"];
    for x in &after.samples {
        for (k, v) in x.labels.iter() {
            assert!(allowed.contains(&k.as_str()), "label {k}={v} on {}", x.metric);
            for name in ["vera", "m-conn", "default", &pod] {
                assert_ne!(v, name, "a name as a label value on {}", x.metric);
            }
        }
    }

    // Asked of the hub every 10 s: the runner's tunnel and its session stream.
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let s = scrape(&url).await;
        if sample(&s, "cloudops_runners_connected", &[]) == 1.0 && sample(&s, "cloudops_jetstream_streams", &[]) >= 1.0
        {
            break;
        }
        assert!(Instant::now() < deadline, "runners_connected and jetstream_streams not refreshed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The runner's own, on its health port.
    let runner_url = format!("http://{}/metrics", runner.health_addr.expect("the sandbox's runners serve health"));
    let r = scrape(&runner_url).await;
    assert!(sample(&r, "planton_runner_ops_total", &[("op", "kubernetes.get"), ("outcome", "ok")]) >= 3.0);
    assert_eq!(sample(&r, "planton_runner_tunnel_up", &[]), 1.0);
    assert!(sample(&r, "planton_runner_op_seconds", &[("op", "kubernetes.get")]) >= 3.0);

    // The Grafana dashboard in the chart asks only for metrics that exist.
    let dashboard =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../helm/cloudops/dashboards/cloudops.json"))
            .unwrap();
    let (cp, documented) = (scrape(&url).await, |s: &prometheus_parse::Scrape, n: &str| s.docs.contains_key(n));
    let mut asked = 0;
    for word in dashboard.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("cloudops_") || word.starts_with("planton_runner_") {
            let family = word.trim_end_matches("_bucket").trim_end_matches("_total");
            assert!(documented(&cp, family) || documented(&r, family), "the dashboard asks for {word}");
            asked += 1;
        }
    }
    assert!(asked >= 10, "the dashboard's queries were read");
    runner.stop().await;
    sb.shutdown().await;
}

/// A runner whose hub does not take the tunnel stops its leaf's dialling for pauses that grow
/// (instead of a TLS handshake a second for ever, which keeps a restarted hub from recovering
/// when thousands dial it), and is back soon after the hub takes it again. The hub is behind a
/// gate in this test that counts every connection: first it closes each at once, then it lets
/// them through.
#[tokio::test]
async fn a_runner_the_hub_does_not_take_backs_off_and_is_back_once_it_does() {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    };
    init_logs();
    let sb = Sandbox::start().await.unwrap();
    let hub_port = sb.cp.hub.as_ref().unwrap().leaf_ports[0];
    let gate = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate_port = gate.local_addr().unwrap().port();
    let (open, dials) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::<Instant>::new())));
    let (o, d) = (open.clone(), dials.clone());
    let gatekeeper = tokio::spawn(async move {
        while let Ok((mut conn, _)) = gate.accept().await {
            d.lock().unwrap().push(Instant::now());
            if o.load(Ordering::Relaxed) {
                tokio::spawn(async move {
                    let mut hub = tokio::net::TcpStream::connect(("127.0.0.1", hub_port)).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut conn, &mut hub).await;
                });
            }
        }
    });
    let mut creds = sb.credentials("patient").await.unwrap();
    let t = creds.tunnel.clone();
    creds.tunnel = cloudops_schemas::TunnelCredentials::new(
        &[format!("tls://127.0.0.1:{gate_port}")],
        t.ca_cert_pem,
        t.cert_pem,
        t.key_pem,
    );
    let mut cfg = cloudops_runner::RunnerConfig::new(creds);
    // The default's schedule, shorter: 2 s of dialling, then pauses of 2-4 s with 1 s of
    // dialling between them.
    cfg.tunnel_backoff = cloudops_bus::tunnel_backoff::TunnelBackoff {
        grace: Duration::from_secs(2),
        dialling: Duration::from_secs(1),
        first_pause: Duration::from_secs(4),
        max_pause: Duration::from_secs(4),
    };
    let runner = cloudops_runner::Runner::start(cfg).await.unwrap();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(14)).await;
    let seen = dials.lock().unwrap().clone();
    let gaps: Vec<f64> = seen.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    println!("hub closed for 14 s: {} connections, gaps between them {gaps:.1?} s", seen.len());
    // Without the backoff: one a second, 14. With it: those of the grace, then one or two per
    // round of a 2-4 s pause and 1 s of dialling.
    assert!((4..=10).contains(&seen.len()), "{} connections in 14 s: {gaps:?}", seen.len());
    assert!(gaps.iter().filter(|g| **g >= 1.9).count() >= 2, "no pauses: {gaps:?}");
    let leaf_log = std::fs::read_to_string(&runner.leaf.log_file).unwrap();
    assert!(leaf_log.contains("Disabled value is: true"), "the leaf did not reload a pause:\n{leaf_log}");

    // The hub takes it again: back within a pause and a dial.
    open.store(true, Ordering::Relaxed);
    let opened = Instant::now();
    assert!(runner.wait_tunnel(Duration::from_secs(8)).await, "the runner did not come back");
    println!("hub open after {:?}: tunnel up {:?} later", opened - started, opened.elapsed());
    gatekeeper.abort();
    sb.shutdown().await;
}
