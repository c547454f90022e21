//! `kubectl exec` through the tunnel: the runner opens the exec websocket to the Kubernetes API
//! with its own credentials, publishes stdout/stderr into the session's JetStream subject (one
//! channel byte, then the bytes), and applies input, resizes and close-stdin as they arrive.

use bytes::Bytes;
use cloudops_schemas::v1::{self, ErrorCode};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, AttachedProcess, TerminalSize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::kube::KubeExecutor;

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Input for a running exec session, in the order the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecInput {
    Stdin(Bytes),
    CloseStdin,
    Resize { cols: u16, rows: u16 },
}

/// An opened exec stream and where it runs.
pub struct Opened {
    pub process: AttachedProcess,
    pub resize: Option<futures::channel::mpsc::Sender<TerminalSize>>,
    pub pod: String,
    pub container: String,
    pub namespace: String,
}

fn invalid(msg: impl Into<String>) -> v1::Error {
    v1::Error::new(ErrorCode::InvalidArgument, msg)
}

/// The pod and container to exec into, checked before anything is opened so that a mistake
/// gets a clear message (an exec upgrade failure carries only a status code).
fn choose(pods: &[Value], asked_pod: &str, asked_container: &str) -> Result<(String, String), v1::Error> {
    let running = |p: &Value| p["status"]["phase"] == "Running";
    let pod = if asked_pod.is_empty() {
        pods.iter().find(|p| running(p)).ok_or_else(|| {
            v1::Error::new(ErrorCode::NotFound, "none of the workload's pods is running: nothing to exec into")
        })?
    } else {
        &pods[0]
    };
    let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
    if !running(pod) {
        let phase = pod["status"]["phase"].as_str().unwrap_or("Unknown");
        return Err(invalid(format!("cannot exec into pod {name:?}: it is {phase}, not Running")));
    }
    let containers: Vec<&str> =
        pod["spec"]["containers"].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str()).collect();
    let container = if asked_container.is_empty() {
        // As kubectl: the annotated default container, else the first.
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
            .as_str()
            .filter(|d| containers.contains(d))
            .or(containers.first().copied())
            .ok_or_else(|| invalid(format!("pod {name:?} has no containers")))?
            .to_string()
    } else if containers.contains(&asked_container) {
        asked_container.to_string()
    } else {
        return Err(invalid(format!(
            "container {asked_container:?} is not valid for pod {name:?}: choose one of: {}",
            containers.join(", ")
        )));
    };
    let state = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == container.as_str())
        .map(|s| &s["state"]);
    if let Some(state) = state
        && state.get("running").is_none()
    {
        let why = state.get("waiting").and_then(|w| w["reason"].as_str()).unwrap_or("not running");
        return Err(invalid(format!("container {container:?} of pod {name:?} is not running ({why})")));
    }
    Ok((name, container))
}

pub async fn open(kube: &KubeExecutor, req: &v1::RunnerRequest, op: &v1::KubeExec) -> Result<Opened, v1::Error> {
    if op.command.is_empty() || op.command[0].is_empty() {
        return Err(invalid("a command is required, e.g. `-- sh`"));
    }
    let target = kube.target_pods(req, &op.pod).await?;
    let (pod, container) = choose(&target.pods, &op.pod, &op.container)?;
    let api: Api<Pod> = Api::namespaced(target.client, &target.ns);
    let params = AttachParams::default()
        .container(container.clone())
        .stdin(op.stdin)
        .stdout(true)
        // A terminal merges stderr into its output, as kubectl's -t does.
        .stderr(!op.tty)
        .tty(op.tty);
    let mut process = api.exec(&pod, op.command.clone(), &params).await.map_err(|e| {
        v1::Error::new(ErrorCode::Upstream, format!("exec into pod {pod:?} (container {container:?}) failed: {e}"))
    })?;
    let mut resize = if op.tty { process.terminal_size() } else { None };
    if let (Some(size), Some(tx)) = (op.size.as_ref(), resize.as_mut()) {
        use futures::SinkExt;
        let _ = tx.send(TerminalSize { width: size.cols as u16, height: size.rows as u16 }).await;
    }
    Ok(Opened { process, resize, pod, container, namespace: target.ns })
}

/// How an exec session ended, as its end marker says it.
pub fn end_marker(status: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> String {
    let Some(st) = status else {
        return "error: the exec stream closed without an exit status".into();
    };
    if st.status.as_deref() == Some("Success") {
        return "exit: 0".into();
    }
    let code = st
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse::<i32>().ok());
    match (st.reason.as_deref(), code) {
        (Some("NonZeroExitCode"), Some(code)) => format!("exit: {code}"),
        _ => format!("error: {}", st.message.unwrap_or_else(|| "exec failed".into())),
    }
}

/// Reads one chunk from an optional reader; a missing reader never yields.
pub async fn read_chunk(r: &mut Option<impl AsyncRead + Unpin>, buf: &mut [u8]) -> Option<usize> {
    match r {
        Some(r) => match r.read(buf).await {
            Ok(n) if n > 0 => Some(n),
            _ => None,
        },
        None => std::future::pending().await,
    }
}

/// Applies one piece of input to the process.
pub async fn apply_input(
    input: ExecInput,
    stdin: &mut Option<tokio::io::WriteHalf<tokio::io::SimplexStream>>,
    resize: &mut Option<futures::channel::mpsc::Sender<TerminalSize>>,
) {
    use futures::SinkExt;
    match input {
        ExecInput::Stdin(b) => {
            if let Some(w) = stdin.as_mut()
                && w.write_all(&b).await.is_err()
            {
                *stdin = None;
            }
        }
        ExecInput::CloseStdin => {
            if let Some(mut w) = stdin.take() {
                let _ = w.shutdown().await;
            }
        }
        ExecInput::Resize { cols, rows } => {
            if let Some(tx) = resize.as_mut() {
                let _ = tx.send(TerminalSize { width: cols, height: rows }).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, phase: &str, containers: &[(&str, bool)]) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {"containers": containers.iter().map(|(c, _)| json!({"name": c})).collect::<Vec<_>>()},
            "status": {"phase": phase, "containerStatuses": containers.iter().map(|(c, up)| if *up {
                json!({"name": c, "state": {"running": {}}})
            } else {
                json!({"name": c, "state": {"waiting": {"reason": "CrashLoopBackOff"}}})
            }).collect::<Vec<_>>()},
        })
    }

    #[test]
    fn chooses_pod_and_container_like_kubectl() {
        let pods = [pod("a", "Pending", &[("app", false)]), pod("b", "Running", &[("app", true), ("side", true)])];
        assert_eq!(choose(&pods, "", "").unwrap(), ("b".into(), "app".into()));
        assert_eq!(choose(&pods[1..], "b", "side").unwrap(), ("b".into(), "side".into()));
        let e = choose(&pods[1..], "b", "nope").unwrap_err();
        assert!(e.message.contains("container \"nope\" is not valid for pod \"b\": choose one of: app, side"), "{e}");
        let e = choose(&pods[..1], "a", "").unwrap_err();
        assert!(e.message.contains("it is Pending"), "{e}");
        let crash = [pod("w", "Running", &[("worker", false)])];
        assert!(choose(&crash, "w", "").unwrap_err().message.contains("CrashLoopBackOff"));
    }

    #[test]
    fn end_markers() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
        assert_eq!(end_marker(Some(Status { status: Some("Success".into()), ..Default::default() })), "exit: 0");
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(end_marker(Some(failed)), "exit: 3");
        let internal =
            Status { status: Some("Failure".into()), message: Some("no such file".into()), ..Default::default() };
        assert_eq!(end_marker(Some(internal)), "error: no such file");
        assert!(end_marker(None).starts_with("error: "));
    }
}
