//! The runner: lives in the customer's infrastructure, holds the credentials, makes every cloud
//! call. It starts its own leaf nats-server from its credentials, which dials the hub outbound
//! over mTLS; the runner process talks only to that leaf, on loopback, and serves ops for its
//! own runner id.
//!
//! This is the only crate that links cloud SDKs (each provider behind a cargo feature).

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "azure")]
mod azure;
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
mod cloud_common;
pub mod credentials;
pub mod deploy;
#[cfg(feature = "kubernetes")]
mod exec;
#[cfg(feature = "gcp")]
mod gcp;
pub mod graph;
pub mod health;
#[cfg(feature = "kubernetes")]
mod kube;
mod runner;
mod secrets;
pub mod tunnel;

use std::{sync::Arc, time::Duration};

use cloudops_bus::NatsClient;
use cloudops_schemas::{
    RunnerId,
    v1::{self, ErrorCode},
};

pub use credentials::{CredentialSources, resolve as resolve_credentials};
pub use runner::{Runner, RunnerConfig};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Idle streaming sessions (no keepalive from any gateway) end after this.
pub const SESSION_IDLE: Duration = Duration::from_secs(6);
/// Outstanding JetStream acks per session: the flow-control window.
pub const ACK_WINDOW: usize = 64;

struct Session {
    cancel: tokio::sync::watch::Sender<bool>,
    last_seen: std::time::Instant,
    /// Exec sessions: where input goes.
    #[cfg(feature = "kubernetes")]
    input: Option<InputQueue>,
}

impl Session {
    #[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
    fn new(cancel: tokio::sync::watch::Sender<bool>) -> Self {
        Self {
            cancel,
            last_seen: std::time::Instant::now(),
            #[cfg(feature = "kubernetes")]
            input: None,
        }
    }
}

/// Input may arrive out of order (requests are served concurrently) or twice (a client retried):
/// it is applied in `input_seq` order, each seq once.
#[cfg(feature = "kubernetes")]
struct InputQueue {
    tx: tokio::sync::mpsc::Sender<exec::ExecInput>,
    next_seq: u64,
    pending: std::collections::BTreeMap<u64, Vec<exec::ExecInput>>,
}

/// A session that takes input, as [`Executor::interactive`] registers it.
#[cfg(feature = "kubernetes")]
struct Interactive {
    cancelled: tokio::sync::watch::Receiver<bool>,
    input: tokio::sync::mpsc::Receiver<exec::ExecInput>,
    publisher: cloudops_bus::streams::SessionPublisher,
}

/// Exec input not yet applied, per session.
#[cfg(feature = "kubernetes")]
const INPUT_QUEUE: usize = 1024;

/// Tunnel messages (up to 256 KiB each, the gateway's limit) not yet sent to the API server,
/// per tunnel: at most 16 MiB held for a pod that does not read.
#[cfg(feature = "kubernetes")]
const TUNNEL_QUEUE: usize = 64;

#[cfg(feature = "kubernetes")]
impl InputQueue {
    fn offer(&mut self, seq: u64, inputs: Vec<exec::ExecInput>) -> Result<(), v1::Error> {
        let full = || v1::Error::new(ErrorCode::Unavailable, "the session's input is backing up: retry");
        self.flush();
        if seq != 0 && seq < self.next_seq {
            return Ok(()); // already applied: a retry
        }
        if seq > self.next_seq {
            if self.pending.len() >= 256 {
                return Err(full());
            }
            self.pending.insert(seq, inputs);
            return Ok(());
        }
        if self.tx.capacity() < inputs.len() {
            return Err(full());
        }
        for i in inputs {
            let _ = self.tx.try_send(i);
        }
        if seq != 0 {
            self.next_seq += 1;
            self.flush();
        }
        Ok(())
    }

    /// Moves input that arrived ahead of its turn into the queue, as far as the queue has room
    /// and nothing is missing. Called on every offer and by the session's pump after each
    /// input it takes, so input held back for room is never left behind.
    fn flush(&mut self) {
        while let Some(next) = self.pending.remove(&self.next_seq) {
            if self.tx.capacity() < next.len() {
                self.pending.insert(self.next_seq, next);
                break;
            }
            for i in next {
                let _ = self.tx.try_send(i);
            }
            self.next_seq += 1;
        }
    }
}

/// Lets a session's held-back input move up, once its pump has taken some.
#[cfg(feature = "kubernetes")]
fn flush_input(sessions: &Sessions, id: &str) {
    if let Some(q) = sessions.lock().expect("sessions lock").get_mut(id).and_then(|s| s.input.as_mut()) {
        q.flush();
    }
}

type Sessions = Arc<std::sync::Mutex<std::collections::HashMap<String, Session>>>;

#[cfg_attr(not(feature = "kubernetes"), allow(dead_code))]
struct Executor {
    #[cfg(feature = "kubernetes")]
    kube: kube::KubeExecutor,
    #[cfg(feature = "aws")]
    aws: aws::AwsProvider,
    #[cfg(feature = "gcp")]
    gcp: gcp::GcpProvider,
    #[cfg(feature = "azure")]
    azure: azure::AzureProvider,
    /// The values of connections' secret references, fetched with the runner's key.
    #[cfg_attr(not(any(feature = "aws", feature = "gcp", feature = "azure")), allow(dead_code))]
    secrets: secrets::ControlPlaneSecrets,
    nats: NatsClient,
    runner_id: RunnerId,
    sessions: Sessions,
}

impl Executor {
    async fn run(&self, req: v1::RunnerRequest) -> v1::RunnerResponse {
        let result = self.dispatch(&req).await;
        v1::RunnerResponse {
            result: Some(match result {
                Ok(r) => v1::runner_response::Result::Ok(r),
                Err(e) => v1::runner_response::Result::Error(e),
            }),
        }
    }

    async fn dispatch(&self, req: &v1::RunnerRequest) -> Result<v1::OpResult, v1::Error> {
        let op = req
            .op
            .as_ref()
            .and_then(|o| o.kind.as_ref())
            .ok_or_else(|| v1::Error::new(ErrorCode::InvalidArgument, "empty op"))?;
        match op {
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeGet(o) => self.kube.get(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeDescribe(o) => self.kube.describe(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeReplace(o) => self.kube.replace(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeApply(o) => self.kube.apply(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeDelete(o) => self.kube.delete(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeRestart(o) => self.kube.restart(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeScale(o) => self.kube.scale(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeRolloutHistory(o) => self.kube.rollout_history(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeRolloutUndo(o) => self.kube.rollout_undo(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeApiResources(_) => self.kube.api_resources(req).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeGraph(_) => self.kube.graph(req).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeLogs(o) => self.logs(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeWatch(o) => self.watch(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeExec(o) => self.exec(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeHttp(o) => self.kube_http(req, o).await,
            #[cfg(feature = "kubernetes")]
            v1::op::Kind::KubeTunnel(o) => self.kube_tunnel(req, o).await,
            v1::op::Kind::SessionControl(c) => self.session_control(c),
            v1::op::Kind::CloudList(o) => self.cloud(req, o).await,
            #[cfg(not(feature = "kubernetes"))]
            _ => Err(v1::Error::new(ErrorCode::InvalidArgument, "this runner was built without Kubernetes support")),
        }
    }
}

impl Executor {
    /// A cloud listing, in the common row model.
    async fn cloud(&self, req: &v1::RunnerRequest, op: &v1::CloudList) -> Result<v1::OpResult, v1::Error> {
        use cloudops_schemas::cloud::Service;
        let service = Service::parse(&op.service).ok_or_else(|| {
            v1::Error::new(ErrorCode::InvalidArgument, format!("unknown cloud service {:?}", op.service))
        })?;
        let req = &*secrets::with_secret_values(&self.secrets, req).await?;
        let rows: Result<Vec<cloudops_schemas::cloud::CloudRow>, v1::Error> = match service.provider() {
            #[cfg(feature = "aws")]
            v1::Provider::Aws => self.aws.list(req, op, service).await,
            #[cfg(feature = "gcp")]
            v1::Provider::Gcp => self.gcp.list(req, op, service).await,
            #[cfg(feature = "azure")]
            v1::Provider::Azure => self.azure.list(req, op, service).await,
            _ => {
                let _ = req;
                Err(v1::Error::new(
                    ErrorCode::InvalidArgument,
                    format!("this runner does not offer {}: it was built without that provider", service.as_str()),
                ))
            }
        };
        let json = serde_json::to_vec(&serde_json::json!({"items": rows?})).expect("json");
        Ok(v1::OpResult { json, kube_resource: None, ..Default::default() })
    }

    fn session_control(&self, c: &v1::SessionControl) -> Result<v1::OpResult, v1::Error> {
        let mut map = self.sessions.lock().expect("sessions lock");
        let Some(session) = map.get_mut(&c.session) else {
            return Err(v1::Error::new(ErrorCode::NotFound, format!("session {} has ended", c.session)));
        };
        if c.cancel {
            let _ = session.cancel.send(true);
            return Ok(v1::OpResult { json: b"{}".to_vec(), kube_resource: None, ..Default::default() });
        }
        if c.probe {
            return Ok(v1::OpResult { json: b"{}".to_vec(), kube_resource: None, ..Default::default() });
        }
        session.last_seen = std::time::Instant::now();
        #[cfg(feature = "kubernetes")]
        {
            let mut inputs = Vec::new();
            if let Some(r) = &c.resize {
                inputs.push(exec::ExecInput::Resize {
                    cols: r.cols.min(u16::MAX as u32) as u16,
                    rows: r.rows.min(u16::MAX as u32) as u16,
                });
            }
            if !c.stdin.is_empty() {
                inputs.push(exec::ExecInput::Stdin(c.stdin.clone().into()));
            }
            if c.close_stdin {
                inputs.push(exec::ExecInput::CloseStdin);
            }
            if !inputs.is_empty() {
                let queue = session.input.as_mut().ok_or_else(|| {
                    v1::Error::new(ErrorCode::InvalidArgument, format!("session {} takes no input", c.session))
                })?;
                queue.offer(c.input_seq, inputs)?;
            }
        }
        Ok(v1::OpResult { json: b"{}".to_vec(), kube_resource: None, ..Default::default() })
    }

    /// Opens the exec stream, then pumps its output into JetStream and its input into the
    /// process on a task of its own.
    #[cfg(feature = "kubernetes")]
    async fn exec(&self, req: &v1::RunnerRequest, op: &v1::KubeExec) -> Result<v1::OpResult, v1::Error> {
        check_session_id(&op.session)?;
        let exec::Opened { mut process, mut resize, pod, container, namespace } =
            exec::open(&self.kube, req, op).await?;
        let (mut stdin, mut stdout, mut stderr) = (process.stdin(), process.stdout(), process.stderr());
        let status = process.take_status();
        let Interactive { mut cancelled, mut input, mut publisher } = self.interactive(&op.session, INPUT_QUEUE);
        let (sessions, id) = (self.sessions.clone(), op.session.clone());
        tokio::spawn(async move {
            let (mut obuf, mut ebuf) = (vec![0u8; 32 * 1024], vec![0u8; 32 * 1024]);
            let end = loop {
                if stdout.is_none() && stderr.is_none() {
                    break match status {
                        Some(st) => exec::end_marker(st.await),
                        None => "error: the exec stream has no status".into(),
                    };
                }
                let frame = tokio::select! {
                    _ = cancelled.changed() => {
                        process.abort();
                        break "cancelled".to_string();
                    }
                    // A quiet session's lost output is sent again without waiting for more.
                    r = publisher.settle_next() => match r {
                        Ok(()) => continue,
                        Err(e) => { process.abort(); break format!("error: {e}"); }
                    },
                    Some(i) = input.recv() => {
                        flush_input(&sessions, &id);
                        exec::apply_input(i, &mut stdin, &mut resize).await;
                        continue;
                    }
                    n = exec::read_chunk(&mut stdout, &mut obuf) => match n {
                        Some(n) => [&[exec::STDOUT][..], &obuf[..n]].concat(),
                        None => { stdout = None; continue; }
                    },
                    n = exec::read_chunk(&mut stderr, &mut ebuf) => match n {
                        Some(n) => [&[exec::STDERR][..], &ebuf[..n]].concat(),
                        None => { stderr = None; continue; }
                    },
                };
                if let Err(e) = publisher.send(frame.into()).await {
                    process.abort();
                    break format!("error: {e}");
                }
            };
            tracing::info!(session = %id, end = %end, "exec session ended");
            sessions.lock().expect("sessions lock").remove(&id);
            if let Err(e) = publisher.finish(&end).await {
                tracing::warn!(session = %id, error = %e, "end of session not written");
            }
        });
        let v = serde_json::json!({
            "session": op.session, "streams": 1, "runner_id": self.runner_id.as_str(),
            "pod": pod, "container": container, "namespace": namespace, "command": op.command, "tty": op.tty,
        });
        Ok(v1::OpResult { json: serde_json::to_vec(&v).expect("json"), kube_resource: None, ..Default::default() })
    }

    /// Registers a session that takes input (exec, tunnels): how it is cancelled, its input in
    /// order, and where its output goes.
    #[cfg(feature = "kubernetes")]
    fn interactive(&self, id: &str, queue: usize) -> Interactive {
        let (cancel, cancelled) = tokio::sync::watch::channel(false);
        let (tx, input) = tokio::sync::mpsc::channel(queue);
        let mut session = Session::new(cancel);
        session.input = Some(InputQueue { tx, next_seq: 1, pending: Default::default() });
        self.sessions.lock().expect("sessions lock").insert(id.to_string(), session);
        let publisher =
            cloudops_bus::streams::SessionPublisher::new(self.nats.clone(), &self.runner_id, id, ACK_WINDOW);
        Interactive { cancelled, input, publisher }
    }

    /// A request through the Kubernetes API proxy: answered whole, or, for a watch or a
    /// followed log, its status now and its body through the session.
    #[cfg(feature = "kubernetes")]
    async fn kube_http(&self, req: &v1::RunnerRequest, op: &v1::KubeHttp) -> Result<v1::OpResult, v1::Error> {
        // Nobody waits for an answer after the op's deadline: neither should the API call.
        let deadline = std::time::Duration::from_millis(u64::from(req.timeout_ms.max(1_000)));
        let proxied = tokio::time::timeout(deadline, self.kube.http(req, op)).await.map_err(|_| {
            v1::Error::new(ErrorCode::RunnerTimeout, format!("the Kubernetes API did not answer within {deadline:?}"))
        })??;
        match proxied {
            kube::Proxied::Whole(http) => Ok(v1::OpResult { http: Some(http), ..Default::default() }),
            kube::Proxied::Streaming(http, body) => {
                let mut result = self.stream_session(&op.session, "proxy", 1, body);
                result.http = Some(http);
                Ok(result)
            }
        }
    }

    /// Opens a tunnel to a pod (port-forward, attach), then relays it on a task of its own:
    /// the API server's messages into the session, the client's from the session's input.
    #[cfg(feature = "kubernetes")]
    async fn kube_tunnel(&self, req: &v1::RunnerRequest, op: &v1::KubeTunnel) -> Result<v1::OpResult, v1::Error> {
        check_session_id(&op.session)?;
        let kube::Tunnel { mut socket, protocol } = self.kube.open_tunnel(req, op).await?;
        let Interactive { mut cancelled, mut input, mut publisher } = self.interactive(&op.session, TUNNEL_QUEUE);
        let (sessions, id) = (self.sessions.clone(), op.session.clone());
        tokio::spawn(async move {
            let end = loop {
                tokio::select! {
                    _ = cancelled.changed() => break "cancelled".to_string(),
                    r = publisher.settle_next() => if let Err(e) = r { break format!("error: {e}") },
                    i = input.recv() => match i {
                        Some(exec::ExecInput::Stdin(data)) => {
                            flush_input(&sessions, &id);
                            if let Err(e) = kube::send_in(&mut socket, data).await {
                                break e;
                            }
                        }
                        Some(exec::ExecInput::CloseStdin) | None => break "closed by the client".to_string(),
                        Some(exec::ExecInput::Resize { .. }) => {}
                    },
                    out = kube::next_out(&mut socket) => match out {
                        kube::Relayed::Out(payload) => {
                            if let Err(e) = publisher.send(payload).await {
                                break format!("error: {e}");
                            }
                        }
                        kube::Relayed::Nothing => {}
                        kube::Relayed::End(why) => break why,
                    },
                }
            };
            let _ = futures::SinkExt::close(&mut socket).await;
            tracing::info!(session = %id, end = %end, "tunnel ended");
            sessions.lock().expect("sessions lock").remove(&id);
            if let Err(e) = publisher.finish(&end).await {
                tracing::warn!(session = %id, error = %e, "end of session not written");
            }
        });
        let v = serde_json::json!({ "session": op.session, "streams": 1, "protocol": protocol });
        Ok(v1::OpResult { json: serde_json::to_vec(&v).expect("json"), ..Default::default() })
    }

    /// Opens a watch, then pumps its events into JetStream on a task of its own.
    #[cfg(feature = "kubernetes")]
    async fn watch(&self, req: &v1::RunnerRequest, op: &v1::KubeWatch) -> Result<v1::OpResult, v1::Error> {
        check_session_id(&op.session)?;
        let watcher = self.kube.open_watch(req, op).await?;
        use futures::StreamExt;
        let events = futures::stream::unfold(watcher, |mut w| async move {
            let event = w.next().await.map(bytes::Bytes::from).map_err(|e| format!("error: {}", e.message));
            Some((event, w))
        });
        // Events already waiting (a list's objects, a burst of changes) travel together, a JSON
        // line each: one JetStream message and ack for many, as log lines do.
        let batched = events
            .ready_chunks(LOG_BATCH_LINES)
            .flat_map(|chunk| futures::stream::iter(batch_lines(chunk, LOG_BATCH_BYTES)));
        Ok(self.stream_session(&op.session, "watch", 1, batched))
    }

    /// Opens the log streams, then pumps filtered lines into JetStream on a task of its own.
    #[cfg(feature = "kubernetes")]
    async fn logs(&self, req: &v1::RunnerRequest, op: &v1::KubeLogs) -> Result<v1::OpResult, v1::Error> {
        use futures::StreamExt;
        check_session_id(&op.session)?;
        let grep = match op.grep.as_str() {
            "" => None,
            g => Some(regex::Regex::new(g).map_err(|e| {
                v1::Error::new(
                    ErrorCode::InvalidArgument,
                    format!("invalid search pattern (a regular expression): {e}"),
                )
            })?),
        };
        let until = match op.until_time.as_str() {
            "" => None,
            t => Some(
                chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|e| v1::Error::new(ErrorCode::InvalidArgument, format!("invalid end time {t:?}: {e}")))?
                    .with_timezone(&chrono::Utc),
            ),
        };
        let sources = self.kube.open_logs(req, op).await?;
        let streams = sources.len();
        let timestamps = op.timestamps;
        let merged = futures::stream::select_all(sources.into_iter().map(|s| {
            let label = s.label;
            s.lines.map(move |l| (label.clone(), l))
        }));
        let lines = merged.filter_map(move |(label, line)| {
            let item = match line {
                Err(e) => Some(Err(format!("error: {e}"))),
                Ok(line) => match kube::filter_line(&line, &label, until, grep.as_ref(), timestamps) {
                    kube::LineVerdict::Keep(text) => Some(Ok(bytes::Bytes::from(text))),
                    kube::LineVerdict::Drop => None,
                    kube::LineVerdict::PastUntil => Some(Err("eof".to_string())),
                },
            };
            futures::future::ready(item)
        });
        // Lines already waiting travel together (one JetStream message and ack for many);
        // a line that arrives alone leaves at once.
        let batched = lines
            .ready_chunks(LOG_BATCH_LINES)
            .flat_map(|chunk| futures::stream::iter(batch_lines(chunk, LOG_BATCH_BYTES)));
        Ok(self.stream_session(&op.session, "log", streams, batched))
    }

    /// Registers a streamed session and publishes `items` into JetStream on a task of its own
    /// until they run out (`eof`), one is an `Err` (its text is the end marker), or the session
    /// is cancelled or left idle. Answers what the gateway needs to read the session.
    #[cfg(feature = "kubernetes")]
    fn stream_session(
        &self,
        session: &str,
        what: &'static str,
        streams: usize,
        items: impl futures::Stream<Item = Result<bytes::Bytes, String>> + Send + 'static,
    ) -> v1::OpResult {
        use futures::StreamExt;
        let (cancel, mut cancelled) = tokio::sync::watch::channel(false);
        self.sessions.lock().expect("sessions lock").insert(session.to_string(), Session::new(cancel));
        let mut publisher =
            cloudops_bus::streams::SessionPublisher::new(self.nats.clone(), &self.runner_id, session, ACK_WINDOW);
        let (sessions, id) = (self.sessions.clone(), session.to_string());
        tokio::spawn(async move {
            let mut items = std::pin::pin!(items);
            let end = loop {
                tokio::select! {
                    _ = cancelled.changed() => break "cancelled".to_string(),
                    r = publisher.settle_next() => if let Err(e) = r { break format!("error: {e}") },
                    item = items.next() => match item {
                        None => break "eof".to_string(),
                        Some(Err(end)) => break end,
                        Some(Ok(payload)) => tokio::select! {
                            r = publisher.send(payload) => if let Err(e) = r { break format!("error: {e}") },
                            _ = cancelled.changed() => break "cancelled".to_string(),
                        },
                    },
                }
            };
            tracing::info!(session = %id, end = %end, "{what} session ended");
            sessions.lock().expect("sessions lock").remove(&id);
            if let Err(e) = publisher.finish(&end).await {
                tracing::warn!(session = %id, error = %e, "end of session not written");
            }
        });
        let v = serde_json::json!({"session": session, "streams": streams, "runner_id": self.runner_id.as_str()});
        v1::OpResult { json: serde_json::to_vec(&v).expect("json"), kube_resource: None, ..Default::default() }
    }
}

/// Most lines in one log message.
#[cfg(feature = "kubernetes")]
const LOG_BATCH_LINES: usize = 1024;
/// Most bytes in one log message (a longer line travels alone, whole).
pub const LOG_BATCH_BYTES: usize = 64 * 1024;

/// Joins consecutive lines with `\n` into messages of at most `max_bytes` (a line never
/// splits); an end marker (`Err`) stays in place after the lines before it.
#[cfg(feature = "kubernetes")]
fn batch_lines(items: Vec<Result<bytes::Bytes, String>>, max_bytes: usize) -> Vec<Result<bytes::Bytes, String>> {
    let mut out = Vec::new();
    let mut buf = bytes::BytesMut::new();
    for item in items {
        match item {
            Ok(line) => {
                if !buf.is_empty() && buf.len() + 1 + line.len() > max_bytes {
                    out.push(Ok(buf.split().freeze()));
                }
                if !buf.is_empty() {
                    buf.extend_from_slice(b"\n");
                }
                buf.extend_from_slice(&line);
            }
            Err(end) => {
                if !buf.is_empty() {
                    out.push(Ok(buf.split().freeze()));
                }
                out.push(Err(end));
            }
        }
    }
    if !buf.is_empty() {
        out.push(Ok(buf.freeze()));
    }
    out
}

/// An error and its sources, one line (reqwest's and azure_core's own messages leave out the
/// cause).
#[cfg(any(feature = "gcp", feature = "azure"))]
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Session ids name stream subjects: only the gateway's own shape is accepted.
#[cfg(feature = "kubernetes")]
fn check_session_id(id: &str) -> Result<(), v1::Error> {
    if cloudops_bus::streams::valid_session_id(id) {
        Ok(())
    } else {
        Err(v1::Error::new(ErrorCode::InvalidArgument, "invalid session id"))
    }
}

fn random_hex(n: usize) -> String {
    (0..n).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

#[cfg(all(test, feature = "kubernetes"))]
mod tests {
    use super::*;
    use exec::ExecInput;

    fn typed(s: &str) -> Vec<ExecInput> {
        vec![ExecInput::Stdin(bytes::Bytes::copy_from_slice(s.as_bytes()))]
    }

    #[test]
    fn input_is_applied_in_seq_order_once() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(INPUT_QUEUE);
        let mut q = InputQueue { tx, next_seq: 1, pending: Default::default() };
        q.offer(2, typed("b")).unwrap(); // early: held back
        assert!(rx.try_recv().is_err());
        q.offer(1, typed("a")).unwrap(); // releases 1, then 2
        q.offer(1, typed("a")).unwrap(); // a retry: dropped
        q.offer(3, vec![ExecInput::Resize { cols: 80, rows: 24 }, ExecInput::CloseStdin]).unwrap();
        let got: Vec<ExecInput> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        let mut want = typed("a");
        want.extend(typed("b"));
        want.extend([ExecInput::Resize { cols: 80, rows: 24 }, ExecInput::CloseStdin]);
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_queue_asks_for_a_retry_and_loses_nothing() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let mut q = InputQueue { tx, next_seq: 1, pending: Default::default() };
        q.offer(1, typed("a")).unwrap();
        let e = q.offer(2, typed("b")).unwrap_err();
        assert!(e.message.contains("backing up: retry"), "{e}");
        assert_eq!(rx.try_recv().unwrap(), typed("a").remove(0));
        q.offer(2, typed("b")).unwrap(); // the retry goes through
        assert_eq!(rx.try_recv().unwrap(), typed("b").remove(0));
    }
}

#[cfg(all(test, feature = "kubernetes"))]
mod batch_tests {
    use super::batch_lines;

    fn ok(s: &str) -> Result<bytes::Bytes, String> {
        Ok(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn lines_join_up_to_the_size_bound_and_the_end_stays_last() {
        let got = batch_lines(vec![ok("aa"), ok("bb"), ok("cc"), Err("eof".into()), ok("late")], 5);
        assert_eq!(got, vec![ok("aa\nbb"), ok("cc"), Err("eof".into()), ok("late")]);
        // A line longer than the bound travels alone and whole.
        assert_eq!(batch_lines(vec![ok("a"), ok("0123456789"), ok("b")], 5), vec![ok("a"), ok("0123456789"), ok("b")]);
        assert_eq!(batch_lines(vec![ok("one")], 64), vec![ok("one")]);
        assert!(batch_lines(vec![], 64).is_empty());
    }
}
