//! Exec, as the apiserver proxies it to the kubelet: `…/pods/NAME/exec?command=…&command=…
//! &container=…&stdin=true&stdout=true&stderr=true&tty=true` upgraded to a websocket with the
//! `v5.channel.k8s.io` subprotocol (`v4.channel.k8s.io` as fallback).
//!
//! The "container" is a real process started in a scratch directory of its own (one per pod and
//! container, kept across sessions), on a pseudo-terminal when `tty=true`, so interactive
//! sessions behave like real ones: line editing, Ctrl-C as SIGINT, window resize, job control.
//!
//! Frames are binary, first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 the final `Status`,
//! 4 resize (`{"Width":…,"Height":…}`), and, in v5, `[255, 0]` to close stdin.

use std::{
    path::PathBuf,
    process::{ExitStatus, Stdio},
    time::Duration,
};

use axum::{
    extract::ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    http::{StatusCode, Uri},
    response::Response,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    sync::mpsc,
};

use crate::{Cluster, status_error, wire::query_pairs};

pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// What an exec request asks for, from its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExecParams {
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

fn params(uri: &Uri) -> ExecParams {
    let mut p = ExecParams { command: vec![], container: None, stdin: false, stdout: false, stderr: false, tty: false };
    for (k, v) in query_pairs(uri) {
        let on = matches!(v.as_str(), "true" | "1" | "");
        match k.as_str() {
            "command" => p.command.push(v),
            "container" if !v.is_empty() => p.container = Some(v),
            "stdin" => p.stdin = on,
            "stdout" => p.stdout = on,
            "stderr" => p.stderr = on,
            "tty" => p.tty = on,
            _ => {}
        }
    }
    p
}

fn bad_request(message: String) -> Response {
    status_error(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

/// The container to run in: the named one, else the pod's only one.
fn pick_container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, Box<Response>> {
    let names: Vec<&str> =
        pod["spec"]["containers"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
    let chosen = match asked {
        Some(c) if names.contains(&c) => c.to_string(),
        Some(c) => return Err(Box::new(bad_request(format!("container {c} is not valid for pod {name}")))),
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(Box::new(bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            ))));
        }
    };
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == chosen.as_str())
        .is_none_or(|s| s["state"].get("running").is_some());
    if !running {
        return Err(Box::new(bad_request(format!("unable to upgrade connection: container not found (\"{chosen}\")"))));
    }
    Ok(chosen)
}

pub(crate) async fn serve(
    cluster: Cluster,
    ns: String,
    name: String,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let p = params(&uri);
    let Some(pod) = cluster.get(crate::resources::find("", "v1", "pods").expect("pods"), &ns, &name) else {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("pods \"{name}\" not found"),
            Some(json!({"name": name, "kind": "pods"})),
        );
    };
    let container = match pick_container(&pod, &name, p.container.as_deref()) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if p.command.is_empty() {
        return bad_request("you must specify at least one command for the container".into());
    }
    if !(p.stdin || p.stdout || p.stderr) {
        return bad_request("you must specify at least 1 of stdin, stdout, stderr".into());
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(_) => return bad_request("Upgrade request required: exec needs a websocket (v5.channel.k8s.io)".into()),
    };
    let dir = scratch_dir(&ns, &name, &container);
    ws.protocols(PROTOCOLS).on_upgrade(move |socket| async move {
        let v5 = socket.protocol().is_some_and(|p| p.as_bytes() == PROTOCOLS[0].as_bytes());
        if let Err(e) = run(socket, p, dir, &name, v5).await {
            tracing::debug!(error = %e, "exec session ended with an error");
        }
    })
}

/// One directory per pod container, kept for the life of the test server's process.
fn scratch_dir(ns: &str, pod: &str, container: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kube-testserver-{}", std::process::id())).join(ns).join(pod).join(container)
}

/// The exit code the runtime reports: the code, or 128 + the signal that ended the process.
fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1)
}

fn final_status(command: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {}, "status": "Failure",
        "message": format!("command terminated with non-zero exit code: error executing command [{}], exit code {code}", command.join(" ")),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// client-go treats a close without a status code as an error.
fn normal_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame { code: 1000, reason: "".into() }))
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

/// Copies a process output into frames of `channel` until it ends.
fn pump(mut r: impl AsyncRead + Unpin + Send + 'static, channel: u8, tx: mpsc::Sender<Message>) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        // A pty reports EIO once the process and its children have all closed it: that is EOF.
        while let Ok(n @ 1..) = r.read(&mut buf).await {
            if tx.send(frame(channel, &buf[..n])).await.is_err() {
                break;
            }
        }
    });
}

/// Where stdin frames and resizes go.
enum Input {
    Pty(pty_process::OwnedWritePty),
    Pipe(Option<tokio::process::ChildStdin>),
    None,
}

async fn run(socket: WebSocket, p: ExecParams, dir: PathBuf, pod: &str, v5: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(&dir)?;
    let envs = [
        ("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into())),
        ("HOME", dir.display().to_string()),
        ("HOSTNAME", pod.to_string()),
        ("TERM", if p.tty { "xterm".into() } else { "dumb".into() }),
        ("LANG", "C.UTF-8".into()),
    ];
    let (mut ws_tx, mut ws_rx) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(64);
    let spawned = if p.tty { spawn_tty(&p, &dir, &envs, &out_tx) } else { spawn_piped(&p, &dir, &envs, &out_tx) };
    drop(out_tx);
    let (mut child, mut input) = match spawned {
        Ok(x) => x,
        Err(e) => {
            let msg = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": executable file not found in $PATH: unknown",
                    p.command[0]
                )
            } else {
                format!("OCI runtime exec failed: {e}")
            };
            let status = json!({"metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError"});
            ws_tx.send(frame(STATUS, status.to_string().as_bytes())).await.map_err(std::io::Error::other)?;
            let _ = ws_tx.send(normal_close()).await;
            return Ok(());
        }
    };
    let mut exited: Option<ExitStatus> = None;
    let mut output_done = false;
    loop {
        tokio::select! {
            msg = ws_rx.next() => match msg {
                Some(Ok(Message::Binary(b))) if !b.is_empty() => match (b[0], &mut input) {
                    (STDIN, Input::Pty(w)) => w.write_all(&b[1..]).await?,
                    (STDIN, Input::Pipe(Some(w))) => {
                        // The process may have closed its stdin: that is not the session's end.
                        let _ = w.write_all(&b[1..]).await;
                    }
                    (RESIZE, Input::Pty(w)) => {
                        if let Ok(sz) = serde_json::from_slice::<Value>(&b[1..]) {
                            let (cols, rows) = (sz["Width"].as_u64().unwrap_or(80), sz["Height"].as_u64().unwrap_or(24));
                            let _ = w.resize(pty_process::Size::new(rows as u16, cols as u16));
                        }
                    }
                    (CLOSE, Input::Pipe(stdin)) if v5 && b.get(1) == Some(&STDIN) => *stdin = None,
                    // EOF on a terminal is ^D, as a terminal would send it.
                    (CLOSE, Input::Pty(w)) if v5 && b.get(1) == Some(&STDIN) => w.write_all(&[4]).await?,
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client went away: the process goes too.
                    let _ = child.start_kill();
                    return Ok(());
                }
                Some(Ok(_)) => {}
            },
            out = out_rx.recv(), if !output_done => match out {
                Some(m) => ws_tx.send(m).await.map_err(std::io::Error::other)?,
                None => output_done = true,
            },
            st = child.wait(), if exited.is_none() => {
                exited = Some(st?);
                input = Input::None;
            }
        }
        if let Some(st) = exited {
            // Output still buffered after the exit (or held open by a background child) gets a
            // short grace period, then the status closes the session.
            if !output_done && let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), out_rx.recv()).await {
                ws_tx.send(m).await.map_err(std::io::Error::other)?;
                continue;
            }
            let status = final_status(&p.command, exit_code(st));
            ws_tx.send(frame(STATUS, status.to_string().as_bytes())).await.map_err(std::io::Error::other)?;
            let _ = ws_tx.send(normal_close()).await;
            return Ok(());
        }
    }
}

type Spawned = std::io::Result<(tokio::process::Child, Input)>;

fn spawn_tty(p: &ExecParams, dir: &PathBuf, envs: &[(&str, String)], out: &mpsc::Sender<Message>) -> Spawned {
    let (pty, pts) = pty_process::open().map_err(std::io::Error::other)?;
    pty.resize(pty_process::Size::new(24, 80)).map_err(std::io::Error::other)?;
    let cmd = pty_process::Command::new(&p.command[0])
        .args(&p.command[1..])
        .env_clear()
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir)
        .kill_on_drop(true);
    let child = cmd.spawn(pts).map_err(|e| match e {
        pty_process::Error::Io(io) => io,
        other => std::io::Error::other(other),
    })?;
    let (r, w) = pty.into_split();
    if p.stdout {
        pump(r, STDOUT, out.clone());
    }
    Ok((child, if p.stdin { Input::Pty(w) } else { Input::None }))
}

fn spawn_piped(p: &ExecParams, dir: &PathBuf, envs: &[(&str, String)], out: &mpsc::Sender<Message>) -> Spawned {
    let io = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    let mut child = tokio::process::Command::new(&p.command[0])
        .args(&p.command[1..])
        .env_clear()
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(dir)
        .stdin(io(p.stdin))
        .stdout(io(p.stdout))
        .stderr(io(p.stderr))
        .kill_on_drop(true)
        .spawn()?;
    if let Some(o) = child.stdout.take() {
        pump(o, STDOUT, out.clone());
    }
    if let Some(e) = child.stderr.take() {
        pump(e, STDERR, out.clone());
    }
    let stdin = child.stdin.take();
    Ok((child, Input::Pipe(stdin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_keeps_every_command_word() {
        let uri: Uri = "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=echo%20hi&container=web&stdin=true&stdout=true&tty=true".parse().unwrap();
        let p = params(&uri);
        assert_eq!(p.command, ["sh", "-c", "echo hi"]);
        assert_eq!(p.container.as_deref(), Some("web"));
        assert!(p.stdin && p.stdout && p.tty && !p.stderr);
    }

    #[test]
    fn status_carries_the_exit_code() {
        let s = final_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
        assert_eq!(final_status(&[], 0)["status"], "Success");
    }

    #[test]
    fn containers_are_checked() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"containerStatuses": [{"name": "a", "state": {"running": {}}}, {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(pick_container(&pod, "p", Some("a")).unwrap(), "a");
        assert!(pick_container(&pod, "p", None).is_err());
        assert!(pick_container(&pod, "p", Some("c")).is_err());
        assert!(pick_container(&pod, "p", Some("b")).is_err());
    }
}
