//! Prometheus metrics, served as OpenMetrics text (`/metrics`): the control plane's
//! ([`ControlPlaneMetrics`], on its own listener, `cloudops serve --metrics-listen`) and the
//! runner's ([`RunnerMetrics`], on its health port). Each process builds its own set and hands
//! it to the parts that count, so two control planes in one test process do not mix figures.
//!
//! Label values are bounded: op names and verb classes come from the schema, outcomes from the
//! error codes; no principal, namespace or resource name is ever a label.

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// The content type of [`ControlPlaneMetrics::encode`] and [`RunnerMetrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One op through the gateway: what it was, how it was asked for, and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    /// The op's name (`kubernetes.get`, `aws.ec2.describe_instances`, …).
    pub op: &'static str,
    /// `read`, `operate` or `admin` (the authorizer's verb class).
    pub verb: &'static str,
    /// `admin` (connection and namespace) or `developer` (a catalogued resource).
    pub mode: &'static str,
    /// `ok`, `http_4xx`/`http_5xx` for a proxied answer, or the error code (`permission_denied`, …).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpKind {
    pub op: &'static str,
}

/// A step of the op's path, as the gateway waits for it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// `resolver`, `authorizer`, `audit` (the record's commit) or `router` (to the runner and back).
    pub step: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SessionLabels {
    /// One of [`SESSION_KINDS`].
    pub kind: &'static str,
}

/// Followed logs, watches, exec, and other streams of the Kubernetes API proxy (port-forward,
/// attach, proxied follows).
pub const SESSION_KINDS: [&str; 4] = ["logs", "watch", "exec", "proxy"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `sessions` (session records) or `input_auth` (keys trusted for exec input).
    pub cache: &'static str,
    /// `hit` or `miss`.
    pub result: &'static str,
}

/// 0.5 ms to ~16 s: a whole op, from a cached read to a slow cloud call.
fn op_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 16)
}

/// 50 µs to ~1.6 s: one step of the path.
fn step_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.00005, 2.0, 16)
}

/// What a control plane counts. Cloning the fields shares them (they are handles).
pub struct ControlPlaneMetrics {
    registry: Registry,
    pub ops: Family<OpLabels, Counter>,
    pub op_seconds: Family<OpKind, Histogram>,
    pub step_seconds: Family<StepLabels, Histogram>,
    pub sessions_open: Family<SessionLabels, Gauge>,
    pub cache: Family<CacheLabels, Counter>,
    /// Records and outcomes waiting for the audit writer's next batch.
    pub audit_queue: Gauge,
    /// Runners with a tunnel up on any node of the hub (asked of the hub's servers).
    pub runners_connected: Gauge,
    pub jetstream_streams: Gauge,
    pub jetstream_bytes: Gauge,
    pub jetstream_messages: Gauge,
    /// Messages the session readers have not fetched yet (all consumers, all streams).
    pub jetstream_consumer_pending: Gauge,
}

impl ControlPlaneMetrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("cloudops");
        let ops = Family::<OpLabels, Counter>::default();
        registry.register("ops", "Ops through the gateway, by op, verb class, access mode and outcome", ops.clone());
        let op_seconds = Family::<OpKind, Histogram>::new_with_constructor(|| Histogram::new(op_buckets()));
        registry.register(
            "op_seconds",
            "An op's whole path in the control plane, received to answered",
            op_seconds.clone(),
        );
        let step_seconds = Family::<StepLabels, Histogram>::new_with_constructor(|| Histogram::new(step_buckets()));
        registry.register(
            "op_step_seconds",
            "One step of an op's path, as the gateway waits for it",
            step_seconds.clone(),
        );
        let sessions_open = Family::<SessionLabels, Gauge>::default();
        registry.register("sessions_open", "Streamed sessions this gateway is serving now", sessions_open.clone());
        let cache = Family::<CacheLabels, Counter>::default();
        registry.register("cache_lookups", "Lookups in the gateway's caches, by cache and result", cache.clone());
        let audit_queue = Gauge::default();
        registry.register(
            "audit_queue_depth",
            "Audit records and outcomes waiting for the writer",
            audit_queue.clone(),
        );
        let runners_connected = Gauge::default();
        registry.register(
            "runners_connected",
            "Runners with a tunnel up on the hub (refreshed every 10 s)",
            runners_connected.clone(),
        );
        let jetstream_streams = Gauge::default();
        registry.register(
            "jetstream_streams",
            "JetStream streams of the control plane's account",
            jetstream_streams.clone(),
        );
        let jetstream_bytes = Gauge::default();
        registry.register(
            "jetstream_bytes",
            "Bytes stored in those streams (refreshed every 10 s)",
            jetstream_bytes.clone(),
        );
        let jetstream_messages = Gauge::default();
        registry.register("jetstream_messages", "Messages stored in those streams", jetstream_messages.clone());
        let jetstream_consumer_pending = Gauge::default();
        registry.register(
            "jetstream_consumer_pending",
            "Messages session readers have not fetched yet, over all consumers",
            jetstream_consumer_pending.clone(),
        );
        // Known series start at 0, so that a dashboard sees them before the first session.
        for kind in SESSION_KINDS {
            let _ = sessions_open.get_or_create(&SessionLabels { kind });
        }
        for cache_name in ["sessions", "input_auth"] {
            for result in ["hit", "miss"] {
                let _ = cache.get_or_create(&CacheLabels { cache: cache_name, result });
            }
        }
        Arc::new(Self {
            registry,
            ops,
            op_seconds,
            step_seconds,
            sessions_open,
            cache,
            audit_queue,
            runners_connected,
            jetstream_streams,
            jetstream_bytes,
            jetstream_messages,
            jetstream_consumer_pending,
        })
    }

    /// Counts a lookup in one of the gateway's caches.
    pub fn cache_lookup(&self, cache: &'static str, hit: bool) {
        self.cache.get_or_create(&CacheLabels { cache, result: if hit { "hit" } else { "miss" } }).inc();
    }

    /// Counts a streamed session as open until the guard is dropped.
    pub fn session_open(self: &Arc<Self>, kind: &'static str) -> SessionGuard {
        let gauge = self.sessions_open.get_or_create(&SessionLabels { kind }).clone();
        gauge.inc();
        SessionGuard(gauge)
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

/// Holds one count of [`ControlPlaneMetrics::sessions_open`].
pub struct SessionGuard(Gauge);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunnerOpLabels {
    pub op: &'static str,
    /// `ok`, or the error code the runner answered with.
    pub outcome: &'static str,
}

/// What a runner counts (served on its health port).
pub struct RunnerMetrics {
    registry: Registry,
    pub ops: Family<RunnerOpLabels, Counter>,
    pub op_seconds: Family<OpKind, Histogram>,
    pub tunnel_up: Gauge,
    pub sessions_open: Gauge,
}

impl RunnerMetrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("planton_runner");
        let ops = Family::<RunnerOpLabels, Counter>::default();
        registry.register("ops", "Ops this runner carried out, by op and outcome", ops.clone());
        let op_seconds = Family::<OpKind, Histogram>::new_with_constructor(|| Histogram::new(op_buckets()));
        registry.register("op_seconds", "An op at the runner, received to answered", op_seconds.clone());
        let tunnel_up = Gauge::default();
        registry.register("tunnel_up", "1 while the leaf's tunnel to the hub is up", tunnel_up.clone());
        let sessions_open = Gauge::default();
        registry.register("sessions_open", "Streamed sessions (logs, exec) running here", sessions_open.clone());
        Arc::new(Self { registry, ops, op_seconds, tunnel_up, sessions_open })
    }

    pub fn encode(&self) -> String {
        encode(&self.registry)
    }
}

fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_encoded_with_their_labels_and_a_session_guard_gives_back_its_count() {
        let m = ControlPlaneMetrics::new();
        let labels = OpLabels { op: "kubernetes.get", verb: "read", mode: "admin", outcome: "ok" };
        m.ops.get_or_create(&labels).inc();
        m.op_seconds.get_or_create(&OpKind { op: "kubernetes.get" }).observe(0.002);
        let guard = m.session_open("logs");
        m.cache_lookup("sessions", true);
        let text = m.encode();
        assert!(
            text.contains(r#"cloudops_ops_total{op="kubernetes.get",verb="read",mode="admin",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"cloudops_sessions_open{kind="logs"} 1"#), "{text}");
        assert!(text.contains(r#"cloudops_cache_lookups_total{cache="sessions",result="hit"} 1"#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        drop(guard);
        assert!(m.encode().contains(r#"cloudops_sessions_open{kind="logs"} 0"#));
    }
}
