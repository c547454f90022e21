//! Wire contracts. The generated prost types live in [`v1`]; id newtypes keep ids from being mixed up.
//! This is the only crate that knows prost; everyone else sees plain Rust types.

pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/cloudops.v1.rs"));
}

pub mod cloud;
mod credentials;
#[cfg(feature = "cli")]
pub mod deploy_args;
mod endpoint;
mod ids;
pub mod kube_api;
pub mod kube_proto;
pub mod local_store;
pub use credentials::{CREDENTIALS_VERSION, RunnerCredentials, TunnelCredentials};
pub use endpoint::check_api_endpoint;
pub use ids::{IdError, OrgId, RunnerId};

use prost::Message;

/// Error decoding a message received from the wire.
#[derive(Debug)]
pub struct DecodeError(prost::DecodeError);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed protobuf message: {}", self.0)
    }
}
impl std::error::Error for DecodeError {}

/// Encode and decode contract messages without naming prost.
pub trait Wire: Sized {
    fn to_bytes(&self) -> Vec<u8>;
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError>;
}

impl<T: Message + Default> Wire for T {
    fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        T::decode(bytes).map_err(DecodeError)
    }
}

impl v1::Error {
    pub fn new(code: v1::ErrorCode, message: impl Into<String>) -> Self {
        Self { code: code as i32, message: message.into(), ..Default::default() }
    }
}

impl v1::ErrorCode {
    /// The code in lower snake case, as a metric label or a log field (`permission_denied`).
    pub fn label(self) -> &'static str {
        use v1::ErrorCode::*;
        match self {
            Unspecified => "unspecified",
            InvalidArgument => "invalid_argument",
            NotFound => "not_found",
            Unauthenticated => "unauthenticated",
            PermissionDenied => "permission_denied",
            RunnerNotConnected => "runner_not_connected",
            RunnerTimeout => "runner_timeout",
            Upstream => "upstream",
            Conflict => "conflict",
            Unavailable => "unavailable",
            Internal => "internal",
            NoRunner => "no_runner",
        }
    }
}

impl v1::VerbClass {
    /// `read`, `operate`, `admin` (or `unspecified`), as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            v1::VerbClass::Unspecified => "unspecified",
            v1::VerbClass::Read => "read",
            v1::VerbClass::Operate => "operate",
            v1::VerbClass::Admin => "admin",
        }
    }
}

impl v1::OpResult {
    /// `ok`, or the class of a proxied HTTP answer (`http_2xx` … `http_5xx`), as a metric label.
    pub fn outcome_label(&self) -> &'static str {
        match self.http.as_ref().map(|h| h.status / 100) {
            None => "ok",
            Some(1) => "http_1xx",
            Some(2) => "http_2xx",
            Some(3) => "http_3xx",
            Some(4) => "http_4xx",
            Some(_) => "http_5xx",
        }
    }
}

impl std::fmt::Display for v1::Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl v1::ConnectionSettings {
    /// The connection setting that makes a Kubernetes runner act as the person
    /// (`Impersonate-User` / `Impersonate-Group`).
    pub const IMPERSONATE: &'static str = "impersonate";

    /// Whether these settings ask the runner to act as the person.
    pub fn impersonates(&self) -> bool {
        self.values.get(Self::IMPERSONATE).is_some_and(|v| v == "true")
    }
}

impl v1::Op {
    /// The op's name as audited, e.g. `kubernetes.get`.
    pub fn name(&self) -> &'static str {
        use v1::op::Kind::*;
        match &self.kind {
            Some(KubeGet(_)) => "kubernetes.get",
            Some(KubeDescribe(_)) => "kubernetes.describe",
            Some(KubeReplace(_)) => "kubernetes.edit",
            Some(KubeApply(_)) => "kubernetes.apply",
            Some(KubeDelete(d)) if d.dry_run => "kubernetes.delete-plan",
            Some(KubeDelete(_)) => "kubernetes.delete",
            Some(KubeRestart(_)) => "kubernetes.restart",
            Some(KubeScale(_)) => "kubernetes.scale",
            Some(KubeRolloutHistory(_)) => "kubernetes.rollout-history",
            Some(KubeRolloutUndo(_)) => "kubernetes.rollout-undo",
            Some(KubeApiResources(_)) => "kubernetes.api-resources",
            Some(KubeGraph(_)) => "kubernetes.graph",
            Some(KubeLogs(_)) => "kubernetes.logs",
            Some(KubeWatch(_)) => "kubernetes.watch",
            Some(KubeExec(_)) => "kubernetes.exec",
            Some(KubeHttp(h)) => kube_api::scope(&h.method, &h.path, &h.query)
                .map(|s| kube_api::op_name(&s))
                .unwrap_or("kubernetes.proxy"),
            Some(KubeTunnel(t)) => {
                kube_api::scope("GET", &t.path, &t.query).map(|s| kube_api::op_name(&s)).unwrap_or("kubernetes.proxy")
            }
            Some(CloudList(c)) => cloud::Service::parse(&c.service).map(|s| s.op_name()).unwrap_or("cloud.list"),
            Some(SessionControl(_)) => "session.control",
            None => "unknown",
        }
    }
    /// The session a streaming op (logs, watch, exec) writes to, as the gateway chose it.
    pub fn session(&self) -> Option<&str> {
        use v1::op::Kind::*;
        match &self.kind {
            Some(KubeLogs(l)) => Some(&l.session),
            Some(KubeWatch(w)) => Some(&w.session),
            Some(KubeExec(e)) => Some(&e.session),
            Some(KubeHttp(h)) if !h.session.is_empty() => Some(&h.session),
            Some(KubeTunnel(t)) => Some(&t.session),
            _ => None,
        }
    }
    pub fn verb_class(&self) -> v1::VerbClass {
        use v1::op::Kind::*;
        match &self.kind {
            Some(
                KubeGet(_)
                | KubeDescribe(_)
                | KubeApiResources(_)
                | KubeGraph(_)
                | KubeLogs(_)
                | KubeWatch(_)
                | KubeRolloutHistory(_)
                | SessionControl(_)
                | CloudList(_),
            ) => v1::VerbClass::Read,
            // Planning a delete reads; it is still checked as operate, so that viewers learn early.
            Some(
                KubeReplace(_) | KubeApply(_) | KubeDelete(_) | KubeRestart(_) | KubeScale(_) | KubeRolloutUndo(_)
                | KubeExec(_) | KubeTunnel(_),
            ) => v1::VerbClass::Operate,
            // What cannot be read as an API path is refused before it is routed; classed as the
            // stronger of the two meanwhile.
            Some(KubeHttp(h)) => kube_api::scope(&h.method, &h.path, &h.query)
                .map(|s| kube_api::verb_class(&s))
                .unwrap_or(v1::VerbClass::Operate),
            None => v1::VerbClass::Unspecified,
        }
    }
    /// For a request through the Kubernetes API proxy: what it touches.
    pub fn kube_scope(&self) -> Option<Result<v1::KubeScope, kube_api::KubePathError>> {
        match &self.kind {
            Some(v1::op::Kind::KubeHttp(h)) => Some(kube_api::scope(&h.method, &h.path, &h.query)),
            Some(v1::op::Kind::KubeTunnel(t)) => Some(kube_api::scope("GET", &t.path, &t.query)),
            _ => None,
        }
    }
    pub fn provider(&self) -> v1::Provider {
        match &self.kind {
            Some(v1::op::Kind::CloudList(c)) => {
                cloud::Service::parse(&c.service).map(|s| s.provider()).unwrap_or(v1::Provider::Unspecified)
            }
            Some(_) => v1::Provider::Kubernetes,
            None => v1::Provider::Unspecified,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let req = v1::RouteRequest { timeout_ms: 5, ..Default::default() };
        let back = v1::RouteRequest::from_bytes(&req.to_bytes()).unwrap();
        assert_eq!(back.timeout_ms, 5);
        let err = v1::RouteRequest::from_bytes(&[0xff, 0xff, 0xff]).unwrap_err();
        assert!(err.to_string().contains("malformed protobuf"), "{err}");
    }
}
