//! The web console: cookie sign-in with CSRF protection, the embedded files, live pod watches
//! over SSE, and the whole console in a real browser (Debian's Chromium driven by
//! playwright-core, `console/tests/e2e.mjs`) against this sandbox.

mod support;

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use cloudops_sandbox::{Sandbox, ok};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use support::{Moto, read_events, runner_process, when_connected};

const C: &str = "sandbox";
const R: &str = "default/prod/KubernetesDeployment/payments-api";

/// The sandbox with a runner named `local`, a Kubernetes connection `sandbox` and the catalog
/// resource `R` (the payments-api Deployment in namespace payments).
async fn setup() -> (Sandbox, cloudops_runner::Runner) {
    let sb = Sandbox::start().await.unwrap();
    let runner = sb.start_runner(sb.credentials("local").await.unwrap()).await.unwrap();
    let kube = ["--provider", "kubernetes", "--runner", "local", "--context", cloudops_sandbox::KUBE_CONTEXT];
    ok(&sb, &[&["connection", "create", C][..], &kube[..]].concat()).await;
    sb.wait_routable(C).await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("payments.yaml");
    std::fs::write(&f, format!("kind: KubernetesDeployment\nmetadata: {{env: prod, name: payments-api}}\nspec: {{connection: {C}, namespace: payments}}\n")).unwrap();
    ok(&sb, &["resource", "apply", "-f", f.to_str().unwrap()]).await;
    (sb, runner)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in with the sandbox's admin key: (cookie header value, CSRF token).
async fn sign_in(sb: &Sandbox) -> (String, String) {
    let r = client()
        .post(format!("{}/v1/console/login", sb.gateway_url()))
        .json(&json!({"api_key": sb.api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    let cookie = set.split(';').next().unwrap().to_string();
    (cookie, body["csrf"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn cookie_sign_in_needs_csrf_for_changes_and_ends_with_its_key() {
    let sb = Sandbox::start().await.unwrap();
    let url = |p: &str| format!("{}{p}", sb.gateway_url());
    let http = client();

    let r = http.post(url("/v1/console/login")).json(&json!({"api_key": "cok_wrong"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("invalid or revoked API key"));
    let r = http.post(url("/v1/console/login")).json(&json!({"key": "x"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unknown fields are named");

    let r = http.post(url("/v1/console/login")).json(&json!({"api_key": sb.api_key})).send().await.unwrap();
    let set = r.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    for attr in ["cloudops_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "cookie lacks {attr}: {set}");
    }
    assert!(!set.contains(&sb.api_key), "the cookie is not the API key");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["principal"]["name"], "admin", "{body}");
    assert_eq!(body["grants"][0]["role"], "admin", "{body}");
    let csrf = body["csrf"].as_str().unwrap();
    let cookie = set.split(';').next().unwrap();

    // Reads need only the cookie; the session endpoint gives the CSRF token back after a reload.
    let r = http.get(url("/v1/console/session")).header(header::COOKIE, cookie).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["csrf"], csrf);
    let org = body["org"]["name"].as_str().unwrap();
    let r = http.get(url(&format!("/v1/orgs/{org}/envs"))).header(header::COOKIE, cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Changes without the token (what a forged cross-site request would be) are refused.
    let create = |csrf: Option<&str>| {
        let mut b = http
            .post(url(&format!("/v1/orgs/{org}/envs")))
            .header(header::COOKIE, cookie)
            .json(&json!({"name": "staging"}));
        if let Some(t) = csrf {
            b = b.header("X-CSRF-Token", t);
        }
        b.send()
    };
    let r = create(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("X-CSRF-Token"));
    assert_eq!(create(Some("forged")).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(create(Some(csrf)).await.unwrap().status(), StatusCode::CREATED);

    // Sign-out ends the session.
    let r = http.post(url("/v1/console/logout")).header(header::COOKIE, cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "sign-out needs the token too");
    let r = http
        .post(url("/v1/console/logout"))
        .header(header::COOKIE, cookie)
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    let r = http.get(url("/v1/console/session")).header(header::COOKIE, cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Revoking the API key ends the sessions made from it.
    let key = ok(&sb, &["apikey", "create", "--principal", "admin"]).await.trim().to_string();
    let r = http.post(url("/v1/console/login")).json(&json!({"api_key": key})).send().await.unwrap();
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let listed = ok(&sb, &["apikey", "list", "-o", "json"]).await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let id = listed["items"].as_array().unwrap().iter().find(|k| key.starts_with(k["prefix"].as_str().unwrap()));
    ok(&sb, &["apikey", "revoke", id.unwrap()["id"].as_str().unwrap()]).await;
    let r = http.get(url("/v1/console/session")).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    sb.shutdown().await;
}

#[tokio::test]
async fn console_files_are_embedded_and_served_with_a_strict_policy() {
    let sb = Sandbox::start().await.unwrap();
    let url = |p: &str| format!("{}{p}", sb.gateway_url());
    let http = client();
    let r = http.get(url("/")).header(header::ACCEPT_ENCODING, "gzip").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the console is built into the gateway (.ci/run builds console/ first)");
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
    let etag = r.headers()[header::ETAG].clone();
    let page = r.text().await.unwrap_or_default();
    // reqwest here does not decompress; the gzip body is not empty.
    assert!(!page.is_empty());
    let r = http.get(url("/")).header(header::IF_NONE_MATCH, etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // The console routes in the browser: deep links get the same page; its scripts are immutable.
    let page =
        http.get(url("/resources/default/prod/KubernetesDeployment/x")).send().await.unwrap().text().await.unwrap();
    let script = page.split("src=\"").nth(1).and_then(|s| s.split('"').next()).expect("a script in index.html");
    assert!(script.starts_with("/assets/"), "{script}");
    let r = http.get(url(script)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("immutable"));
    assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));

    // Unknown API paths stay JSON errors; unknown files are 404s, not the page.
    let r = http.get(url("/v1/nope")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("no such API endpoint"));
    assert_eq!(http.get(url("/assets/missing.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    sb.shutdown().await;
}

/// Starts a watch and returns its events URL.
async fn watch(sb: &Sandbox, cookie: &str, csrf: &str, body: Value) -> String {
    let r = client()
        .post(format!("{}/v1/ops/kubernetes/watch", sb.gateway_url()))
        .header(header::COOKIE, cookie)
        .header("X-CSRF-Token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    format!("{}{}", sb.gateway_url(), v["events"].as_str().unwrap())
}

/// The watch events one SSE event carries: one JSON line each (the runner sends those that
/// were ready together, a list's objects above all, in one event).
fn watch_events(e: &(Option<u64>, String, String)) -> Vec<Value> {
    e.2.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect()
}

/// A watch's events after the SSE event `last_id` (a client resuming), until one of `kind`
/// arrives or 10 s pass.
async fn events_after(events: &str, cookie: &str, last_id: u64, kind: &str) -> Vec<Value> {
    let resp = client()
        .get(events)
        .header(header::COOKIE, cookie)
        .header("Last-Event-ID", last_id.to_string())
        .send()
        .await
        .unwrap();
    let next = read_events(resp, Duration::from_secs(10), |e| has(e, kind)).await;
    next.iter().flat_map(watch_events).collect()
}

/// Whether any watch event of `e` is of `kind`.
fn has(e: &(Option<u64>, String, String), kind: &str) -> bool {
    watch_events(e).iter().any(|v| v["type"] == kind)
}

#[tokio::test]
async fn watch_pushes_a_workloads_pod_changes_over_sse() {
    let (sb, _runner) = setup().await;
    let (cookie, csrf) = sign_in(&sb).await;
    let events = watch(&sb, &cookie, &csrf, json!({"resource": R, "kind": "pods"})).await;
    let resp = client().get(&events).header(header::COOKIE, &cookie).send().await.unwrap();

    // First the workload's pods as they are, then SYNCED (payments-worker shares the
    // namespace: not shown).
    let first = read_events(resp, Duration::from_secs(10), |e| has(e, "SYNCED")).await;
    let listed: Vec<Value> = first.iter().flat_map(watch_events).collect();
    assert_eq!(listed.len(), 3, "{first:?}");
    assert_eq!(listed[2]["type"], "SYNCED", "{first:?}");
    for v in &listed[..2] {
        assert_eq!(v["type"], "ADDED");
        assert!(v["object"]["metadata"]["name"].as_str().unwrap().starts_with("payments-api-"), "{v}");
        assert_eq!(v["object"]["kind"], "Pod", "list items are whole objects: {v}");
        assert!(v["object"]["metadata"].get("managedFields").is_none());
    }
    let last_id = first.last().unwrap().0.unwrap();

    // A pod of the workload changes: the change arrives (resuming after the last event seen).
    let pods = || {
        let def = kube_testserver::RESOURCES.iter().find(|d| d.plural == "pods").unwrap();
        sb.kube.cluster.list(def, Some("payments")).0
    };
    let mut pod =
        pods().into_iter().find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("payments-api-")).unwrap();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    pod["status"]["containerStatuses"][0]["restartCount"] = json!(7);
    sb.kube.cluster.upsert(pod).unwrap();
    // A change to another workload's pod is not part of this watch.
    let mut other =
        pods().into_iter().find(|p| p["metadata"]["name"].as_str().unwrap().starts_with("payments-worker-")).unwrap();
    other["metadata"]["labels"]["touched"] = json!("yes");
    sb.kube.cluster.upsert(other).unwrap();

    let changes = events_after(&events, &cookie, last_id, "MODIFIED").await;
    let v = &changes[changes.len() - 1];
    assert_eq!(v["type"], "MODIFIED", "{changes:?}");
    assert_eq!(v["object"]["metadata"]["name"], name.as_str());
    assert_eq!(v["object"]["status"]["containerStatuses"][0]["restartCount"], 7);
    assert_eq!(changes.len(), 1, "nothing repeated, nothing from other workloads: {changes:?}");

    // Errors come back before anything streams, naming the problem.
    let r = client()
        .post(format!("{}/v1/ops/kubernetes/watch", sb.gateway_url()))
        .header(header::COOKIE, &cookie)
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"connection": C, "namespace": "payments", "kind": "gadgets"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["message"], "the server doesn't have a resource type \"gadgets\"", "{e}");
    sb.shutdown().await;
}

/// A namespace larger than one list chunk: the runner lists it 500 at a time (as client-go's
/// pager does), every pod arrives once before SYNCED, and the watch goes on from the list.
#[tokio::test]
async fn a_large_namespace_is_listed_in_chunks_then_watched() {
    let (sb, _runner) = setup().await;
    let (cookie, csrf) = sign_in(&sb).await;
    const PODS: usize = 1_234;
    for i in 0..PODS {
        sb.kube
            .cluster
            .upsert(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("bulk-{i:04}"), "namespace": "bulk", "labels": {"app": "bulk"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                "status": {"phase": "Running"},
            }))
            .unwrap();
    }
    let t0 = Instant::now();
    let events = watch(&sb, &cookie, &csrf, json!({"connection": C, "namespace": "bulk", "kind": "pods"})).await;
    let resp = client().get(&events).header(header::COOKIE, &cookie).send().await.unwrap();
    let first = read_events(resp, Duration::from_secs(20), |e| has(e, "SYNCED")).await;
    let listed: Vec<Value> = first.iter().flat_map(watch_events).collect();
    // The first chunk answers the op; the whole list follows (figures for a reader of the log).
    println!("{PODS} pods listed through the runner in {:?}", t0.elapsed());
    assert_eq!(listed.len(), PODS + 1, "every pod, then SYNCED");
    assert_eq!(listed[PODS]["type"], "SYNCED");
    let names: std::collections::BTreeSet<&str> =
        listed[..PODS].iter().map(|v| v["object"]["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), PODS, "each pod once");
    assert!(listed[..PODS].iter().all(|v| v["type"] == "ADDED" && v["object"]["kind"] == "Pod"));
    // Three chunks: two with a continue token after the first.
    let lists: Vec<String> = sb
        .kube
        .cluster
        .audit_events()
        .into_iter()
        .map(|e| e.request_uri)
        .filter(|u| u.starts_with("/api/v1/namespaces/bulk/pods?") && !u.contains("watch=true"))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(lists.iter().all(|u| u.contains("limit=500")), "{lists:?}");
    assert_eq!(lists.iter().filter(|u| u.contains("continue=")).count(), 2, "{lists:?}");

    // The watch goes on from the list's resourceVersion: one change, and only it.
    let last_id = first.last().unwrap().0.unwrap();
    let def = kube_testserver::RESOURCES.iter().find(|d| d.plural == "pods").unwrap();
    let mut pod = sb.kube.cluster.get(def, "bulk", "bulk-0777").unwrap();
    pod["status"]["phase"] = json!("Failed");
    sb.kube.cluster.upsert(pod).unwrap();
    let changes = events_after(&events, &cookie, last_id, "MODIFIED").await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        (&changes[0]["type"], &changes[0]["object"]["metadata"]["name"]),
        (&json!("MODIFIED"), &json!("bulk-0777"))
    );
    sb.shutdown().await;
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn chromium() -> PathBuf {
    let p = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        p.is_file(),
        "{} is missing: the console tests need Chromium (.ci/run installs Debian's chromium)",
        p.display()
    );
    p
}

/// The console end to end in Chromium: every screen the issue names, with screenshots in
/// test-output/console/ for a reviewer.
#[tokio::test]
async fn console_end_to_end_in_chromium() {
    let chromium = chromium();
    let console = repo().join("console");
    assert!(
        console.join("node_modules/playwright-core").is_dir(),
        "console/node_modules is missing: run `npm --prefix console ci` (.ci/run does)"
    );
    let (sb, _runner) = setup().await;
    let moto = Moto::start(false).await;
    for name in ["web-1", "web-2"] {
        moto.run_instances(name, Some("web")).await;
    }
    // AWS through a runner process of its own, with its own (moto's) credentials.
    let creds = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")];
    let _aws = runner_process(&sb, "aws-runner", sb.dir.path(), &creds).await;
    let endpoint = format!("endpoint_url={}", moto.url);
    ok(
        &sb,
        &[
            "connection",
            "create",
            "aws-moto",
            "--provider",
            "aws",
            "--runner",
            "aws-runner",
            "--set",
            "region=eu-west-1",
            "--set",
            &endpoint,
        ],
    )
    .await;
    let listed = when_connected(&sb, &["aws", "ec2", "list", "--connection", "aws-moto"]).await;
    assert!(listed.stdout.contains("web-1"), "{listed:?}");
    let out_dir = repo().join("test-output/console");
    std::fs::create_dir_all(&out_dir).unwrap();
    let org = sb.cp.org.name.clone();
    let started = Instant::now();
    let run = tokio::process::Command::new("node")
        .arg(console.join("tests/e2e.mjs"))
        .current_dir(&console)
        .env("CONSOLE_URL", sb.gateway_url())
        .env("API_KEY", &sb.api_key)
        .env("KUBE_URL", sb.kube.url())
        .env("ORG", &org)
        .env("ENV", "prod")
        .env("RESOURCE", R)
        .env("K8S_CONNECTION", C)
        .env("NAMESPACE", "payments")
        .env("AWS_CONNECTION", "aws-moto")
        .env("CHROMIUM", &chromium)
        .env("OUT_DIR", &out_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out =
        tokio::time::timeout(Duration::from_secs(480), run).await.expect("the browser test ran for 8 minutes").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "console e2e failed ({:?}, after {:?}); screenshots in {}",
        out.status,
        started.elapsed(),
        out_dir.display()
    );
    sb.shutdown().await;
}
