//! Exec through the tunnel: piped stdin and exit codes from the CLI, an interactive terminal
//! over the HTTP session endpoints (resize, Ctrl-C, exit code) and through the real `planton`
//! binary in a pty, developer mode, viewers refused, sessions recorded and replayed, and a
//! forgotten session ended by the runner.

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use cloudops_sandbox::{Sandbox, ok};
use futures::StreamExt;
use serde_json::{Value, json};

mod support;

const C: &str = "prod-runner-conn";

async fn pod(sb: &Sandbox, prefix: &str) -> String {
    cloudops_sandbox::pod_named(sb, C, prefix).await
}

#[tokio::test]
async fn exec_pipes_exit_codes_errors_and_recordings() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let at = ["--connection", C, "-n", "default"];

    // echo hi | planton kubectl exec -i POD -- cat
    let args = [&["kubectl", "exec", "-i", &web][..], &at, &["--", "cat"]].concat();
    let out = sb.cli_with_stdin(b"hi\n", &args).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "hi\n"), "{}", out.stderr);

    // stdout and stderr apart; the remote exit code is ours.
    let args = [&["kubectl", "exec", &web][..], &at, &["--", "sh", "-c", "echo out; echo err >&2; exit 3"]].concat();
    let out = sb.cli(&args).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stdout, "out\n");
    assert!(
        out.stderr.contains("err\n") && out.stderr.contains("command terminated with exit code 3"),
        "{}",
        out.stderr
    );

    // -t without a terminal falls back to pipes, as kubectl does.
    let args = [&["kubectl", "exec", "-it", &web][..], &at, &["--", "sh", "-c", "cat; exit 0"]].concat();
    let out = sb.cli_with_stdin(b"piped\n", &args).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "piped\n"), "{}", out.stderr);
    assert!(out.stderr.contains("Unable to use a TTY"), "{}", out.stderr);

    // Clear errors.
    for (args, command, want) in [
        (vec!["kubectl", "exec", &web, "-c", "nope"], vec!["--", "true"], "container \"nope\" is not valid for pod"),
        (vec!["kubectl", "exec", "ghost"], vec!["--", "true"], "pods \"ghost\" not found"),
        (vec!["kubectl", "exec", &web], vec![], "you must specify at least one command"),
        (vec!["kubectl", "exec", &web], vec!["--", "no-such-binary"], "executable file not found"),
    ] {
        let args = [&args[..], &at, &command].concat();
        let out = sb.cli(&args).await;
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
    }
    let worker = pod(&sb, "worker-").await;
    let out = sb.cli(&[&["kubectl", "exec", &worker][..], &at, &["--", "true"]].concat()).await;
    assert!(out.stderr.contains("is not running (CrashLoopBackOff)"), "{}", out.stderr);

    // Developer mode: without a pod, the first running pod of the workload, in its namespace.
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("p.yaml");
    std::fs::write(&f, format!("kind: KubernetesDeployment\nmetadata: {{env: prod, name: payments-api}}\nspec: {{connection: {C}, namespace: payments}}\n")).unwrap();
    ok(&sb, &["resource", "apply", "-f", f.to_str().unwrap()]).await;
    let r = "default/prod/KubernetesDeployment/payments-api";
    let out = ok(&sb, &["kubectl", "exec", "-r", r, "--", "sh", "-c", "echo $HOSTNAME"]).await;
    assert!(out.starts_with("payments-api-"), "{out}");
    let out = sb.cli(&["kubectl", "exec", &web, "-r", r, "--", "true"]).await;
    assert!(out.stderr.contains("not found") || out.stderr.contains("not part of"), "{}", out.stderr);

    // Viewers may not exec; the refusal is audited.
    let key = sb.principal_on_connection("viewer1", C, "viewer").await;
    let out = sb.as_user(&key).cli(&[&["kubectl", "exec", &web][..], &at, &["--", "true"]].concat()).await;
    assert!(out.stderr.contains("needs the operator role"), "{}", out.stderr);
    let audit = ok(&sb, &["audit", "list", "--principal", "viewer1", "-o", "json"]).await;
    assert!(audit.contains("kubernetes.exec") && audit.contains("denied"), "{audit}");

    // Every session is recorded: who, pod, command, end, exit code; an admin replays it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sessions = loop {
        let v: Value = serde_json::from_str(&ok(&sb, &["audit", "sessions", "-o", "json"]).await).unwrap();
        let items = v["items"].as_array().unwrap().clone();
        if items.iter().all(|s| !s["end"].is_null()) || Instant::now() > deadline {
            break items;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cat = sessions.iter().find(|s| s["command"] == json!(["cat"])).expect("the cat session");
    assert_eq!(cat["exit_code"], 0);
    assert_eq!(cat["pod"], web.as_str());
    assert_eq!(cat["principal"], "admin");
    let three = sessions.iter().find(|s| s["exit_code"] == 3).expect("the exit 3 session");
    assert!(three["command"][2].as_str().unwrap().contains("exit 3"));
    let table = ok(&sb, &["audit", "sessions"]).await;
    assert!(table.starts_with("SESSION") && table.contains("sh -c echo out; echo err >&2; exit 3"), "{table}");

    let id = cat["id"].as_str().unwrap();
    let replay = sb.cli(&["audit", "replay", id, "--instant"]).await;
    assert_eq!(replay.stdout, "hi\n", "{}", replay.stderr);
    assert!(replay.stderr.contains("ran `cat`") && replay.stderr.contains("exit 0"), "{}", replay.stderr);
    let with_input = ok(&sb, &["audit", "replay", id, "--instant", "--input"]).await;
    assert_eq!(with_input, "⟨hi\\n⟩hi\n");
    let v: Value = serde_json::from_str(&ok(&sb, &["audit", "replay", id, "-o", "json"]).await).unwrap();
    let kinds: Vec<&str> = v["frames"].as_array().unwrap().iter().map(|f| f[1].as_str().unwrap()).collect();
    assert_eq!(kinds, ["i", "o"]);
    let out = sb.as_user(&key).cli(&["audit", "replay", id]).await;
    assert!(out.code != 0 && out.stderr.contains("no access"), "replay is for admins: {}", out.stderr);
    let out = sb.cli(&["audit", "replay", "nosuchsession"]).await;
    assert!(out.stderr.contains("session \"nosuchsession\" not found"), "{}", out.stderr);
    sb.shutdown().await;
}

/// SSE events of one session: (event, data), until `stop`.
struct Events {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl Events {
    async fn open(http: &reqwest::Client, sb: &Sandbox, session: &str) -> Self {
        let resp = http
            .get(format!("{}/v1/sessions/{session}/events", sb.gateway_url()))
            .bearer_auth(&sb.api_key)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        Self { body: resp.bytes_stream().boxed(), buf: String::new() }
    }

    /// Collects terminal output until it contains `needle` (or the end event arrives).
    async fn until(&mut self, needle: &str) -> (String, Option<String>) {
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        let (mut ev, mut data) = (String::new(), String::new());
        loop {
            while let Some(nl) = self.buf.find('\n') {
                let line: String = self.buf.drain(..=nl).collect();
                let line = line.trim_end();
                if line.is_empty() {
                    match ev.as_str() {
                        "end" => return (text, Some(std::mem::take(&mut data))),
                        "stdout" | "stderr" => {
                            text.push_str(&String::from_utf8_lossy(&B64.decode(&data).unwrap()));
                            if text.contains(needle) {
                                return (text, None);
                            }
                        }
                        _ => {}
                    }
                    ev.clear();
                    data.clear();
                } else if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().into();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                other => panic!("waiting for {needle:?}: {other:?}; output so far: {text:?}"),
            }
        }
    }
}

/// An exec on the test connection: the op's answer.
async fn start_exec(http: &reqwest::Client, sb: &Sandbox, body: Value) -> Value {
    support::start_session(sb, http, C, "exec", body).await
}

#[tokio::test]
async fn exec_terminal_over_http_resize_ctrl_c_and_exit_code() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let http = reqwest::Client::new();
    let body = json!({"pod": web, "command": ["sh"], "stdin": true, "tty": true, "size": {"cols": 100, "rows": 30}});
    let started = start_exec(&http, &sb, body).await;
    let session = started["session"].as_str().unwrap().to_string();
    assert_eq!(started["pod"], web.as_str());
    let mut events = Events::open(&http, &sb, &session).await;
    let mut seq = 0;
    let mut send = async |body: Value| {
        seq += 1;
        let mut body = body;
        body["seq"] = json!(seq);
        let r = http
            .post(format!("{}/v1/sessions/{session}/input", sb.gateway_url()))
            .bearer_auth(&sb.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    };
    let typed = |s: &str| json!({"stdin": B64.encode(s)});

    send(typed("stty size\r")).await;
    events.until("30 100").await;
    send(json!({"resize": {"cols": 120, "rows": 40}})).await;
    send(typed("stty size\r")).await;
    events.until("40 120").await;
    send(typed("sleep 30\r")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(typed("\x03")).await;
    send(typed("echo after-$?\r")).await;
    events.until("after-130").await;
    send(typed("exit 5\r")).await;
    let (_, end) = events.until("never printed").await;
    assert_eq!(end.as_deref(), Some("exit: 5"));

    // Bad input names the problem; input to an ended session says so.
    let post = |body: Value| {
        http.post(format!("{}/v1/sessions/{session}/input", sb.gateway_url()))
            .bearer_auth(&sb.api_key)
            .json(&body)
            .send()
    };
    let r = post(json!({"stdin": "%%%"})).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("base64"));
    let r = post(json!({"resize": {"cols": 0, "rows": 10}})).await.unwrap();
    assert!(r.text().await.unwrap().contains("invalid terminal size"));
    let r = post(json!({"stdin": B64.encode("x"), "seq": 99})).await.unwrap();
    assert!(r.text().await.unwrap().contains("has ended"));
    sb.shutdown().await;
}

#[tokio::test]
async fn forgotten_exec_session_is_ended_by_the_runner() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let http = reqwest::Client::new();
    let started = start_exec(&http, &sb, json!({"pod": web, "command": ["sleep", "300"], "stdin": true})).await;
    let id = started["session"].as_str().unwrap().to_string();
    // Nobody reads it, so nobody keeps it alive: the runner ends it within seconds.
    let t0 = Instant::now();
    loop {
        let v: Value = serde_json::from_str(&ok(&sb, &["audit", "replay", &id, "-o", "json"]).await).unwrap();
        if v["end"] == "cancelled" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "still running: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(t0.elapsed() >= cloudops_runner::SESSION_IDLE - Duration::from_secs(1));
    sb.shutdown().await;
}

/// The real `planton` binary, in a real pseudo-terminal: raw mode, keystrokes, exit code.
#[tokio::test]
async fn planton_exec_it_in_a_pty() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let exe = std::env::current_exe().unwrap();
    let planton = exe.parent().unwrap().parent().unwrap().join("planton");
    assert!(planton.is_file(), "{} not built", planton.display());
    let (mut pty, pts) = pty_process::open().unwrap();
    pty.resize(pty_process::Size::new(27, 91)).unwrap();
    let mut child = pty_process::Command::new(&planton)
        .args(["kubectl", "exec", "-it", &web, "--connection", C, "-n", "default", "--", "sh"])
        .env("PLANTON_HOME", &sb.home)
        .kill_on_drop(true)
        .spawn(pts)
        .unwrap();
    let mut seen = Vec::new();
    let mut read_until = async |pty: &mut pty_process::Pty, needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), pty.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
                other => panic!("waiting for {needle:?}: {other:?}; seen {:?}", String::from_utf8_lossy(&seen)),
            }
        }
        seen.clear();
    };
    pty.write_all(b"echo $((6*7))-answer\r").await.unwrap();
    read_until(&mut pty, "42-answer").await;
    pty.write_all(b"stty size\r").await.unwrap();
    read_until(&mut pty, "27 91").await;
    // A window change (the kernel signals SIGWINCH to planton) reaches the remote terminal.
    pty.resize(pty_process::Size::new(33, 101)).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    pty.write_all(b"stty size\r").await.unwrap();
    read_until(&mut pty, "33 101").await;
    pty.write_all(b"sleep 30\r").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    pty.write_all(b"\x03").await.unwrap();
    pty.write_all(b"echo after-$?\r").await.unwrap();
    read_until(&mut pty, "after-130").await;
    pty.write_all(b"exit 4\r").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(4));
    sb.shutdown().await;
}

/// The audit fails closed for exec input as for ops: a keystroke that JetStream cannot store is
/// refused with a reason, never sent unrecorded.
#[tokio::test]
async fn input_that_cannot_be_recorded_is_refused() {
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("prod-runner").await.unwrap();
    let web = pod(&sb, "web-").await;
    let http = reqwest::Client::new();
    let started =
        support::start_session(&sb, &http, C, "exec", json!({"pod": web, "command": ["cat"], "stdin": true})).await;
    let input_url = format!("{}/v1/sessions/{}/input", sb.gateway_url(), started["session"].as_str().unwrap());
    let typed = async |seq: u64| {
        let r = http.post(&input_url).bearer_auth(&sb.api_key).json(&json!({"stdin": B64.encode("x\n"), "seq": seq}));
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(typed(1).await.0, 204);

    // The runners' streams, where input is recorded, are gone.
    let js = async_nats::jetstream::new(sb.cp.nats.clone());
    let names: Vec<String> = js.stream_names().filter_map(|n| async { n.ok() }).collect().await;
    for name in names.iter().filter(|n| n.starts_with("CLOUDOPS_RUNNER_")) {
        js.delete_stream(name).await.unwrap();
    }
    let t0 = Instant::now();
    let (status, body) = typed(2).await;
    println!("input refused after {:?}: {status} {body}", t0.elapsed());
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("input not sent") && body.contains("could not be recorded for the audit log"), "{body}");
    sb.shutdown().await;
}
