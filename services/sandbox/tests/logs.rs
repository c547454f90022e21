//! Log streaming through JetStream: filters on the runner, merged developer-mode logs, follow,
//! SSE resume from Last-Event-ID with nothing lost or repeated, and session end when the client
//! goes away.

use std::time::{Duration, Instant};

mod support;

use cloudops_sandbox::{Sandbox, ok};
use support::read_events;

const C: &str = "prod-runner-conn";

async fn pod(sb: &Sandbox, prefix: &str) -> String {
    cloudops_sandbox::pod_named(sb, C, prefix).await
}

#[tokio::test]
async fn logs_filters_merge_and_follow_with_resume() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;

    let out = ok(&sb, &["kubectl", "logs", &web, "--tail", "3", "--connection", C, "-n", "default"]).await;
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = ok(&sb, &["kubectl", "logs", &web, "--grep", "GET /api", "--connection", C, "-n", "default"]).await;
    assert!(out.lines().count() > 3 && out.lines().all(|l| l.contains("GET /api")), "{out}");
    let out =
        ok(&sb, &["kubectl", "logs", &web, "--tail", "1", "--timestamps", "--connection", C, "-n", "default"]).await;
    assert!(out.split_whitespace().next().is_some_and(|t| t.ends_with('Z')), "{out}");
    let worker = pod(&sb, "worker-").await;
    let out = ok(&sb, &["kubectl", "logs", &worker, "--previous", "--connection", C, "-n", "default"]).await;
    assert!(out.contains("fatal: connection refused"), "{out}");
    let e = sb.cli(&["kubectl", "logs", "nope", "--connection", C, "-n", "default"]).await;
    assert!(e.stderr.contains(r#"pods "nope" not found"#), "{}", e.stderr);
    let e = sb.cli(&["kubectl", "logs", &web, "--grep", "(", "--connection", C, "-n", "default"]).await;
    assert!(e.stderr.contains("invalid search pattern"), "{}", e.stderr);

    // Developer mode: every pod of the workload, merged and prefixed.
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("p.yaml");
    std::fs::write(&f, format!("kind: KubernetesDeployment\nmetadata: {{env: prod, name: payments-api}}\nspec: {{connection: {C}, namespace: payments}}\n")).unwrap();
    ok(&sb, &["resource", "apply", "-f", f.to_str().unwrap()]).await;
    let out =
        ok(&sb, &["kubectl", "logs", "-r", "default/prod/KubernetesDeployment/payments-api", "--tail", "2"]).await;
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.lines().all(|l| l.starts_with("[payments-api-") && l.contains("/payments-api] ")), "{out}");
    assert!(!out.contains("payments-worker"), "{out}");

    // Follow over SSE; drop the connection mid-stream; resume from Last-Event-ID.
    let http = reqwest::Client::new();
    let events_url = follow(&sb, &http, &web).await;
    // Someone else's key cannot read it.
    ok(&sb, &["principal", "create", "eve"]).await;
    let eve = ok(&sb, &["apikey", "create", "--principal", "eve"]).await.trim().to_string();
    assert_eq!(http.get(&events_url).bearer_auth(&eve).send().await.unwrap().status(), 404);

    let resp = http.get(&events_url).bearer_auth(&sb.api_key).send().await.unwrap();
    sb.kube.cluster.append_log("default", &web, "web", "MARK-1");
    let first = read_events(resp, Duration::from_secs(10), |e| e.2.contains("MARK-1")).await;
    assert!(first.iter().any(|e| e.2.contains("MARK-1")), "{first:?}");
    let last = first.last().unwrap().0.unwrap();
    // While disconnected, more lines arrive; none may be lost or repeated.
    sb.kube.cluster.append_log("default", &web, "web", "MARK-2");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let resp =
        http.get(&events_url).bearer_auth(&sb.api_key).header("Last-Event-ID", last.to_string()).send().await.unwrap();
    let second = read_events(resp, Duration::from_secs(10), |e| e.2.contains("MARK-2")).await;
    assert_eq!(second.first().unwrap().0, Some(last + 1), "resumed right after the last id: {second:?}");
    let ids: Vec<u64> = second.iter().filter_map(|e| e.0).collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
    assert!(second.iter().any(|e| e.2.contains("MARK-2")), "{second:?}");

    // The client goes away (no cancel): without keepalives the runner ends the session within
    // seconds (idle limit 6 s). Look once, later, at what the stream recorded.
    let after = second.last().unwrap().0.unwrap();
    tokio::time::sleep(cloudops_runner::SESSION_IDLE + Duration::from_secs(3)).await;
    let resp = http.get(format!("{events_url}?after={after}")).bearer_auth(&sb.api_key).send().await.unwrap();
    let evs = read_events(resp, Duration::from_secs(5), |e| e.1 == "end").await;
    assert_eq!(
        evs.last().map(|e| (e.1.as_str(), e.2.as_str())),
        Some(("end", "cancelled")),
        "session did not end after the client left: {evs:?}"
    );

    // An explicit cancel ends a session at once.
    let events_url = follow(&sb, &http, &web).await;
    let session = events_url.trim_end_matches("/events").rsplit('/').next().unwrap().to_string();
    let r = http
        .delete(format!("{}/v1/sessions/{session}", sb.gateway_url()))
        .bearer_auth(&sb.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let resp = http.get(&events_url).bearer_auth(&sb.api_key).send().await.unwrap();
    let evs = read_events(resp, Duration::from_secs(5), |e| e.1 == "end").await;
    assert_eq!(evs.last().map(|e| (e.1.as_str(), e.2.as_str())), Some(("end", "cancelled")), "{evs:?}");
    sb.shutdown().await;
}

async fn follow(sb: &Sandbox, http: &reqwest::Client, pod: &str) -> String {
    let start = http
        .post(format!("{}/v1/ops/kubernetes/logs", sb.gateway_url()))
        .bearer_auth(&sb.api_key)
        .json(&serde_json::json!({"connection": C, "namespace": "default", "pod": pod, "follow": true, "tail": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 201);
    let session = start.json::<serde_json::Value>().await.unwrap()["session"].as_str().unwrap().to_string();
    format!("{}/v1/sessions/{session}/events", sb.gateway_url())
}

#[tokio::test]
async fn gateway_restart_resumes_and_a_dead_runner_is_reported() {
    let sb = Sandbox::start().await.unwrap();
    let runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let http = reqwest::Client::new();
    let url = follow(&sb, &http, &web).await;

    let resp = http.get(&url).bearer_auth(&sb.api_key).send().await.unwrap();
    sb.kube.cluster.append_log("default", &web, "web", "BEFORE-RESTART");
    let got = read_events(resp, Duration::from_secs(10), |e| e.2.contains("BEFORE-RESTART")).await;
    let last = got.last().unwrap().0.unwrap();

    // The gateway actor stops (its connections are cut) and its supervisor starts it again.
    sb.cp.actors.gateway.get().unwrap().stop(Some("test restart".into()));
    sb.kube.cluster.append_log("default", &web, "web", "DURING-RESTART");
    let deadline = Instant::now() + Duration::from_secs(20);
    let resumed = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Ok(r) = http.get(&url).bearer_auth(&sb.api_key).header("Last-Event-ID", last.to_string()).send().await
            && r.status().is_success()
        {
            break r;
        }
        assert!(Instant::now() < deadline, "gateway did not come back");
    };
    let evs = read_events(resumed, Duration::from_secs(10), |e| e.2.contains("DURING-RESTART")).await;
    assert_eq!(evs.first().unwrap().0, Some(last + 1), "nothing lost or repeated across the restart: {evs:?}");
    assert!(evs.iter().any(|e| e.2.contains("DURING-RESTART")), "{evs:?}");

    // The runner dies mid-stream: the client hears it within seconds.
    let url = follow(&sb, &http, &web).await;
    let resp = http.get(&url).bearer_auth(&sb.api_key).send().await.unwrap();
    let t = Instant::now();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(800)).await;
        runner.stop().await;
    });
    let evs = read_events(resp, Duration::from_secs(15), |e| e.1 == "end").await;
    stopper.await.unwrap();
    let end = evs.last().unwrap();
    assert_eq!(end.1, "end", "{evs:?}");
    assert!(end.2.contains(r#"runner "prod-runner" is not connected"#) || end.2.contains("did not answer"), "{end:?}");
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    sb.shutdown().await;
}

/// One reader that never reads must not slow another: the runner's pace is set by JetStream
/// acks, and each reader drives only its own consumer.
#[tokio::test]
async fn a_stalled_reader_does_not_slow_another() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let api = pod(&sb, "api-").await;
    let http = reqwest::Client::new();
    let stalled_url = follow(&sb, &http, &web).await;
    let live_url = follow(&sb, &http, &api).await;
    // The stalled reader connects and then never reads a byte.
    let _stalled = http.get(&stalled_url).bearer_auth(&sb.api_key).send().await.unwrap();
    let live = http.get(&live_url).bearer_auth(&sb.api_key).send().await.unwrap();
    let filler = "x".repeat(2000);
    for i in 0..2000 {
        sb.kube.cluster.append_log("default", &web, "web", &format!("stalled {i} {filler}"));
    }
    for i in 0..200 {
        sb.kube.cluster.append_log("default", &api, "api", &format!("live {i}"));
    }
    let t = Instant::now();
    let evs = read_events(live, Duration::from_secs(15), |e| e.2.contains("live 199")).await;
    // The runner batches lines that are ready together: one event, one line per data field.
    let got: usize = evs.iter().map(|e| e.2.lines().filter(|l| l.contains("live ")).count()).sum();
    assert_eq!(got, 200, "the live reader got {got} of 200 lines");
    assert!(t.elapsed() < Duration::from_secs(10), "the live reader was slowed: {:?}", t.elapsed());
    sb.shutdown().await;
}
