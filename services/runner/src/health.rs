//! The runner's health: whether the leaf's tunnel to the hub is up (from the leaf's own
//! monitoring endpoint, polled every second), when the last op was answered, and an optional
//! HTTP listener for probes (`--health-addr`):
//!
//! - `GET /healthz`: 200 while the process serves (liveness: a restart would not help otherwise);
//! - `GET /readyz`: 200 when the tunnel is up, else 503; the body says why, in JSON, with the
//!   seconds since the last op;
//! - `GET /metrics`: Prometheus metrics (OpenMetrics text): ops by op and outcome, their
//!   latency, the tunnel, sessions running.
//!
//! It carries no secret and changes nothing, so it needs no authentication; bind it where only
//! the orchestrator's probes reach it.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use cloudops_schemas::v1;
use cloudops_telemetry::metrics::{CONTENT_TYPE, OpKind, RunnerMetrics, RunnerOpLabels};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, header};

/// What the probes and the scraper read; written by the tunnel watcher and the op loop.
pub struct Health {
    pub(crate) tunnel_up: AtomicBool,
    /// The leaf's dialling is paused (`tunnel.rs`): the hub has not taken the tunnel for a while.
    pub(crate) tunnel_paused: AtomicBool,
    /// Unix milliseconds of the last answered op; 0 before the first.
    last_op_ms: AtomicU64,
    pub metrics: Arc<RunnerMetrics>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            tunnel_up: AtomicBool::default(),
            tunnel_paused: AtomicBool::default(),
            last_op_ms: AtomicU64::default(),
            metrics: RunnerMetrics::new(),
        }
    }
}

impl Health {
    /// An op came through the tunnel, so it is up (the watcher corrects this within a second
    /// if it drops); it is counted with how it ended and how long it took.
    pub fn op_answered(&self, op: &'static str, reply: &v1::RunnerResponse, took: Duration) {
        self.last_op_ms.store(now_ms(), Ordering::Relaxed);
        self.tunnel_up.store(true, Ordering::Relaxed);
        let outcome = match &reply.result {
            Some(v1::runner_response::Result::Ok(r)) => r.outcome_label(),
            Some(v1::runner_response::Result::Error(e)) => e.code().label(),
            None => "unspecified",
        };
        self.metrics.ops.get_or_create(&RunnerOpLabels { op, outcome }).inc();
        self.metrics.op_seconds.get_or_create(&OpKind { op }).observe(took.as_secs_f64());
    }

    pub fn tunnel_up(&self) -> bool {
        self.tunnel_up.load(Ordering::Relaxed)
    }

    /// The `/readyz` answer: status and JSON body.
    pub fn readiness(&self, runner: &str) -> (StatusCode, serde_json::Value) {
        let up = self.tunnel_up();
        let last = self.last_op_ms.load(Ordering::Relaxed);
        let body = serde_json::json!({
            "ready": up,
            "runner": runner,
            "tunnel": match (up, self.tunnel_paused.load(Ordering::Relaxed)) {
                (true, _) => "up",
                (false, false) => "down: the leaf node is not connected to the hub (see the runner's log)",
                (false, true) => "down: the hub has not taken the tunnel for a while; the leaf dials it again after a pause (see the runner's log)",
            },
            "lastOpSecondsAgo": (last > 0).then(|| now_ms().saturating_sub(last) / 1000),
        });
        (if up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Asks the leaf's monitoring endpoint whether it has a leafnode connection (the hub).
pub async fn leafz_up(monitor_port: u16) -> bool {
    // A leaf that does not answer in time counts as down: readiness never freezes on it.
    leafz(monitor_port).await.is_some_and(|v| v["leafnodes"].as_u64().unwrap_or(0) > 0)
}

/// The port of the hub node the tunnel is up to (a cluster's nodes differ by it), if it is up.
pub async fn hub_port(monitor_port: u16) -> Option<u16> {
    let v = leafz(monitor_port).await?;
    v["leafs"].as_array()?.first()?["port"].as_u64().and_then(|p| u16::try_from(p).ok())
}

/// The leaf's own `/leafz`, or None when it does not answer within 2 s.
async fn leafz(monitor_port: u16) -> Option<serde_json::Value> {
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", monitor_port)).await.ok()?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /leafz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await.ok()?;
        let mut buf = Vec::new();
        let _ = (&mut s).take(4 << 20).read_to_end(&mut buf).await;
        let body = String::from_utf8_lossy(&buf);
        body.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(b).ok())
    };
    tokio::time::timeout(Duration::from_secs(2), ask).await.ok().flatten()
}

/// Binds `addr` now (so a taken port is an error at start) and serves the probes.
pub async fn listen(
    addr: SocketAddr,
    health: Arc<Health>,
    runner: String,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let runner: Arc<str> = runner.into();
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let (health, runner) = (health.clone(), runner.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = answer(&req, &health, &runner);
                    async move { Ok::<_, std::convert::Infallible>(answer) }
                });
                let io = hyper_util::rt::TokioIo::new(conn);
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    Ok((bound, task))
}

fn answer<B>(req: &Request<B>, health: &Health, runner: &str) -> Response<Full<Bytes>> {
    if matches!(req.method().as_str(), "GET" | "HEAD") && req.uri().path() == "/metrics" {
        health.metrics.tunnel_up.set(i64::from(health.tunnel_up()));
        let mut resp = Response::new(Full::new(Bytes::from(health.metrics.encode())));
        resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
        return resp;
    }
    let (code, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET" | "HEAD", "/healthz") => (StatusCode::OK, serde_json::json!({"alive": true, "runner": runner})),
        ("GET" | "HEAD", "/readyz") => health.readiness(runner),
        ("GET" | "HEAD", _) => (
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not found: the runner serves /healthz, /readyz and /metrics"}),
        ),
        _ => (StatusCode::METHOD_NOT_ALLOWED, serde_json::json!({"error": "only GET"})),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_the_tunnel_and_the_last_op_is_reported() {
        let h = Health::default();
        let (code, body) = h.readiness("r1");
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body["tunnel"].as_str().unwrap().starts_with("down"), "{body}");
        assert!(body["lastOpSecondsAgo"].is_null());
        let reply = v1::RunnerResponse { result: Some(v1::runner_response::Result::Ok(v1::OpResult::default())) };
        h.op_answered("kubernetes.get", &reply, Duration::from_millis(3));
        let (code, body) = h.readiness("r1");
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["lastOpSecondsAgo"], 0);
        let metrics = answer(&Request::get("/metrics").body(()).unwrap(), &h, "r1");
        assert_eq!(metrics.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let text = String::from_utf8(
            futures::executor::block_on(http_body_util::BodyExt::collect(metrics.into_body()))
                .unwrap()
                .to_bytes()
                .to_vec(),
        )
        .unwrap();
        assert!(text.contains(r#"planton_runner_ops_total{op="kubernetes.get",outcome="ok"} 1"#), "{text}");
        assert!(text.contains("planton_runner_tunnel_up 1"), "{text}");
    }
}
