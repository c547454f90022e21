//! High availability on a hub of three nodes (`cloudops serve --cluster-size 3`): the node a
//! runner's tunnel is on is killed with SIGKILL under a log follow and an exec session; and a
//! second control plane, joined with the hub's keys, cuts a tunnel the first one admitted; a
//! runner's account is built ahead on every node, also on one that restarted. Each test prints
//! what it measured.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use cloudops_sandbox::{Sandbox, ok};
use serde_json::{Value, json};

mod support;

const C: &str = "prod-runner-conn";
const LINES: usize = 400;

async fn cluster_of_three() -> Sandbox {
    Sandbox::start_with(|c| c.cluster_size = 3).await.unwrap()
}

type Event = (Option<u64>, String, String);

/// Every event of a session, read again from the last event id whenever the stream breaks
/// (its gateway lost its node), until `done` says so.
async fn read_until(http: reqwest::Client, url: String, key: String, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let mut all: Vec<Event> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline && !done(&all) {
        let mut req = http.get(&url).bearer_auth(&key);
        if let Some(id) = all.iter().rev().find_map(|e| e.0) {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let Ok(resp) = req.send().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut seen = all.clone();
        let events = support::read_events(resp, Duration::from_secs(20), |e| {
            seen.push(e.clone());
            done(&seen)
        })
        .await;
        all.extend(events);
    }
    all
}

fn log_lines(events: &[Event]) -> Vec<String> {
    events.iter().filter(|e| e.1 == "message").flat_map(|e| e.2.lines().map(String::from).collect::<Vec<_>>()).collect()
}

fn stdout(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.1 == "stdout")
        .map(|e| String::from_utf8_lossy(&B64.decode(&e.2).unwrap()).into_owned())
        .collect()
}

/// A streaming op on the test connection: its session id.
async fn start_session(sb: &Sandbox, http: &reqwest::Client, op: &str, body: Value) -> String {
    support::start_session(sb, http, C, op, body).await["session"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_hub_node_killed_under_logs_and_exec_loses_nothing() {
    let sb = cluster_of_three().await;
    let hub = sb.cp.hub.as_ref().unwrap();
    assert_eq!((hub.servers.len(), sb.cp.leaf_urls.len()), (3, 3));
    // Runners are handed every node.
    let creds = sb.credentials("prod-runner").await.unwrap();
    assert_eq!(creds.tunnel.hub_urls(), sb.cp.leaf_urls);
    let runner = sb.start_runner(creds).await.unwrap();
    ok(
        &sb,
        &["connection", "create", C, "--provider", "kubernetes", "--runner", "prod-runner", "--context", "sandbox"],
    )
    .await;
    sb.wait_routable(C).await.unwrap();
    let web = cloudops_sandbox::pod_named(&sb, C, "web-").await;
    let http = reqwest::Client::new();

    // A log follow, read by a client that reconnects from its last event id.
    let session = start_session(&sb, &http, "logs", json!({"pod": web, "follow": true, "tail": 0})).await;
    let url = format!("{}/v1/sessions/{session}/events", sb.gateway_url());
    let last = format!("LINE-{:04}", LINES - 1);
    let reader = tokio::spawn(read_until(http.clone(), url, sb.api_key.clone(), move |e| log_lines(e).contains(&last)));

    // An exec session on `cat`.
    let exec = start_session(&sb, &http, "exec", json!({"pod": web, "command": ["cat"], "stdin": true})).await;
    let input_url = format!("{}/v1/sessions/{exec}/input", sb.gateway_url());
    // Its terminal, read all along (as a user's is; reading keeps the session alive).
    let terminal = tokio::spawn(read_until(
        http.clone(),
        format!("{}/v1/sessions/{exec}/events", sb.gateway_url()),
        sb.api_key.clone(),
        |e| stdout(e).contains("after-kill"),
    ));
    // Input until it is taken (a keystroke in the gap is refused, and typed again): the errors seen.
    let type_until_taken = async |seq: u64, text: &str| -> Vec<String> {
        let mut errors = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = http
                .post(&input_url)
                .bearer_auth(&sb.api_key)
                .json(&json!({"stdin": B64.encode(text), "seq": seq}))
                .send()
                .await
                .unwrap();
            if r.status() == 204 {
                return errors;
            }
            errors.push(format!("{}: {}", r.status(), r.text().await.unwrap_or_default()));
            assert!(Instant::now() < deadline, "exec input never taken again: {errors:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert!(type_until_taken(1, "before-kill\n").await.is_empty());

    // Lines keep coming while a node dies.
    let cluster = sb.kube.cluster.clone();
    let pod = web.clone();
    let writer = tokio::spawn(async move {
        for n in 0..LINES {
            cluster.append_log("default", &pod, "web", &format!("LINE-{n:04}"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    let port = runner.hub_port().await.expect("tunnel up");
    let node = hub.leaf_ports.iter().position(|p| *p == port).expect("the runner is on one of the nodes");
    let pid = hub.servers[node].pid();
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    let killed = Instant::now();

    // The runner is back on another node, and an op reaches it.
    let back = loop {
        if runner.hub_port().await.is_some_and(|p| p != port)
            && sb.cli(&["kubectl", "get", "namespaces", "--connection", C]).await.code == 0
        {
            break killed.elapsed();
        }
        assert!(killed.elapsed() < Duration::from_secs(20), "the runner did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let exec_errors = type_until_taken(2, "after-kill\n").await;
    let exec_back = killed.elapsed();

    writer.await.unwrap();
    let events = tokio::time::timeout(Duration::from_secs(120), reader).await.unwrap().unwrap();
    let (ids, lines): (Vec<u64>, _) = (events.iter().filter_map(|e| e.0).collect(), log_lines(&events));
    let wanted: Vec<String> = (0..LINES).map(|n| format!("LINE-{n:04}")).collect();
    let got: Vec<&String> = lines.iter().filter(|l| l.starts_with("LINE-")).collect();
    let lost = wanted.iter().filter(|w| !got.contains(w)).count();
    let repeated = got.len() - got.iter().collect::<std::collections::HashSet<_>>().len();
    println!(
        "hub node {node} killed: runner back on another node in {back:?}; exec input taken again after {exec_back:?} \
         ({} refused in the gap); log lines {} of {LINES}, lost {lost}, repeated {repeated}; node restarts {}",
        exec_errors.len(),
        got.len(),
        hub.servers[node].restarts()
    );
    assert!(back < Duration::from_secs(3), "runner back in {back:?}");
    assert_eq!((lost, repeated), (0, 0), "lines: {got:?}");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "lines out of order: {got:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids: {ids:?}");
    // A refused keystroke says why, in words.
    for e in &exec_errors {
        let said = ["not connected", "did not answer", "unavailable", "could not be recorded"];
        assert!(said.iter().any(|s| e.contains(s)), "{e}");
    }

    // The exec session went on: what was typed on both sides of the kill comes back.
    let out = stdout(&tokio::time::timeout(Duration::from_secs(60), terminal).await.unwrap().unwrap());
    assert!(out.contains("before-kill") && out.contains("after-kill"), "{out:?}");

    // And its recording holds what was typed, each keystroke once: input is recorded before it
    // is sent (a retried one is stored once), so a failover cannot make it skip the audit.
    let r = http.post(&input_url).bearer_auth(&sb.api_key).json(&json!({"seq": 3, "close_stdin": true}));
    assert_eq!(r.send().await.unwrap().status(), 204);
    let deadline = Instant::now() + Duration::from_secs(20);
    let input = loop {
        let v: Value = serde_json::from_str(&ok(&sb, &["audit", "replay", &exec, "-o", "json"]).await).unwrap();
        if !v["end"].is_null() || Instant::now() > deadline {
            let frames = v["frames"].as_array().cloned().unwrap_or_default();
            let typed: Vec<u8> = frames
                .iter()
                .filter(|f| f[1] == "i")
                .flat_map(|f| B64.decode(f[2].as_str().unwrap()).unwrap())
                .collect();
            break String::from_utf8(typed).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(input, "before-kill\nafter-kill\n", "the recording's input");

    // The dead node is restarted by its supervisor and rejoins.
    let deadline = Instant::now() + Duration::from_secs(20);
    while hub.servers[node].restarts() == 0 {
        assert!(Instant::now() < deadline, "node {node} was not restarted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn a_second_control_plane_cuts_a_tunnel_the_first_admitted() {
    let sb = cluster_of_three().await;
    let runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let second = sb.joined_control_plane("cp-two").await.unwrap();
    // The second replica did not admit the runner; its revocation still cuts the tunnel.
    let key = sb.api_key.clone();
    let home = sb.dir.path().join("home-two");
    cloudops_controlplane::write_cli_config(&home, &second.gateway_url, &key, &sb.cp.org.name, None).unwrap();
    let t0 = Instant::now();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = cloudops_cli::Io { out: &mut out, err: &mut err, home, editor: None, stdin: None };
    let code = cloudops_cli::run(["planton", "runner", "regenerate-credentials", "prod-runner"], &mut io).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let cut = loop {
        if !runner.tunnel_up().await {
            break t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "the tunnel was not cut within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("revocation through the second control plane cut the tunnel {cut:?} after the command started");
    // And it stays out: the old credentials are refused by whichever replica answers.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!runner.tunnel_up().await, "the revoked runner came back");
    second.shutdown().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn a_runner_certificate_cannot_join_the_cluster_as_a_route() {
    let sb = cluster_of_three().await;
    let hub = sb.cp.hub.as_ref().unwrap();
    // A runner's own credentials: a client certificate our CA signed.
    let creds = sb.credentials("rogue").await.unwrap();
    let dir = sb.dir.path().join("rogue");
    std::fs::create_dir_all(&dir).unwrap();
    for (f, pem) in
        [("ca.pem", &creds.tunnel.ca_cert_pem), ("r.pem", &creds.tunnel.cert_pem), ("r.key", &creds.tunnel.key_pem)]
    {
        std::fs::write(dir.join(f), pem).unwrap();
    }
    let (port, route) = (support::free_port(), support::free_port());
    let log = dir.join("rogue.log");
    let conf = format!(
        "server_name: rogue\nport: {port}\nlog_file: {log:?}\ncluster {{\n  name: cloudops\n  port: {route}\n  \
         routes: [\"tls://127.0.0.1:{}\"]\n  tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true }}\n}}\n",
        hub.route_ports[0],
        dir.join("r.pem"),
        dir.join("r.key"),
        dir.join("ca.pem"),
    );
    std::fs::write(dir.join("rogue.conf"), conf).unwrap();
    let bin = cloudops_bus::natsd::locate().await.unwrap();
    let mut rogue = tokio::process::Command::new(&bin.path)
        .arg("-c")
        .arg(dir.join("rogue.conf"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The hub's nodes refuse it: the route port wants the route password, not just our CA.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default().to_lowercase();
        if text.contains("authorization violation") {
            break;
        }
        assert!(Instant::now() < deadline, "no refusal in the rogue's log:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the cluster still counts three servers.
    let sys = hub.connect_system().await.unwrap();
    let mut names: Vec<String> = every_server(&sys, "$SYS.REQ.SERVER.PING")
        .await
        .iter()
        .map(|v| v["server"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["cloudops-hub-0", "cloudops-hub-1", "cloudops-hub-2"]);
    rogue.kill().await.unwrap();
    sb.shutdown().await;
}

/// The answers of every server of the hub to a system-account request (each answers once).
async fn every_server(sys: &async_nats::Client, subject: &'static str) -> Vec<Value> {
    let inbox = sys.new_inbox();
    let mut answers = sys.subscribe(inbox.clone()).await.unwrap();
    sys.publish_with_reply(subject, inbox, "".into()).await.unwrap();
    let mut out = Vec::new();
    while let Ok(Some(m)) =
        tokio::time::timeout(Duration::from_millis(500), futures::StreamExt::next(&mut answers)).await
    {
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

/// Each server's id, and whether it has built `account` (ACCOUNTZ lists only built accounts).
async fn built_on(sys: &async_nats::Client, account: &str) -> Vec<(String, bool)> {
    every_server(sys, "$SYS.REQ.SERVER.PING.ACCOUNTZ")
        .await
        .iter()
        .map(|v| {
            let built = v["data"]["accounts"].as_array().is_some_and(|a| a.iter().any(|x| x == account));
            (v["server"]["id"].as_str().unwrap_or_default().to_string(), built)
        })
        .collect()
}

/// A runner's account is built on every node of the hub when the runner is registered, and
/// again on a node that restarted, without the runner dialling: a reconnect storm's admissions
/// then find the accounts built instead of building each inside the callout's wait
/// (loadtest/RESULTS.md, bench-scale). A runner that is not connected shows it: nothing else
/// builds its account.
#[tokio::test]
async fn runner_accounts_are_built_ahead_on_every_node_and_on_a_restarted_one() {
    let sb = cluster_of_three().await;
    let hub = sb.cp.hub.as_ref().unwrap();
    let creds = sb.credentials("idle-runner").await.unwrap();
    // A runner that was connected once (those are the ones a restart brings back), and is not now.
    sb.cp.store.touch_runner(creds.runner_id().as_str(), "test").await.unwrap();
    let account = hub.link.keys.runner_account(&creds.runner_id()).public_key();
    let sys = hub.connect_system().await.unwrap();
    let before = built_on(&sys, &account).await;
    assert_eq!(before.len(), 3, "three nodes answer: {before:?}");
    assert!(before.iter().all(|(_, built)| *built), "not built on every node at registration: {before:?}");

    // The last node is killed; the control plane's supervisor starts it again, with a new id.
    let node = hub.servers.len() - 1;
    let pid = hub.servers[node].pid();
    rustix::process::kill_process(rustix::process::Pid::from_raw(pid as i32).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    let killed = Instant::now();
    let ids: Vec<&String> = before.iter().map(|(id, _)| id).collect();
    let (mut restarted, mut built) = (false, false);
    while !built {
        let now = built_on(&sys, &account).await;
        restarted |= now.iter().any(|(id, _)| !ids.contains(&id));
        built = now.iter().any(|(id, b)| !ids.contains(&id) && *b);
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "{}",
            match restarted {
                true => "the restarted node never built the idle runner's account".to_string(),
                false => format!("node {node} never came back"),
            }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "hub node {node} kill -9 -> the restarted node has the idle runner's account built: {:?}",
        killed.elapsed()
    );
    sb.shutdown().await;
}
