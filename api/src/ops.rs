//! The op endpoints' bodies and answers, and the input of exec sessions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One Kubernetes op (`POST /v1/ops/kubernetes/{verb}`), in admin mode (`org` + `connection`)
/// or developer mode (`resource`, a catalog path). Each verb reads the fields it needs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KubeOpBody {
    pub org: String,
    pub env: String,
    pub connection: String,
    /// Developer mode: `org/env/Kind/name`.
    pub resource: String,
    pub namespace: String,
    /// The kind, plural or short name (`pods`, `deploy`, `Deployment.apps`).
    pub kind: String,
    pub name: String,
    pub label_selector: String,
    pub field_selector: String,
    /// get: `table` (default) or `objects`.
    pub output: String,
    pub all_namespaces: bool,
    /// edit and apply: the object.
    pub object: Option<serde_json::Value>,
    /// delete: `background` (default), `foreground` or `orphan`.
    pub propagation: String,
    /// delete: only say what would be deleted.
    pub dry_run: bool,
    /// logs and exec: the pod.
    pub pod: String,
    pub container: String,
    pub follow: bool,
    pub tail: Option<i64>,
    /// logs: a duration such as `10m` or `2h`.
    pub since: String,
    /// logs: RFC 3339.
    pub since_time: String,
    pub until_time: String,
    /// logs: a regular expression lines must match.
    pub grep: String,
    pub previous: bool,
    pub timestamps: bool,
    /// exec: the command and its arguments.
    pub command: Vec<String>,
    pub stdin: bool,
    pub tty: bool,
    pub size: Option<TerminalSize>,
    /// scale: the replicas wanted (0 or more).
    pub replicas: Option<i32>,
    /// rollout-undo: the revision to go back to (0 or absent: the one before the current).
    pub to_revision: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalSize {
    /// 1 to 10000.
    pub cols: u32,
    /// 1 to 10000.
    pub rows: u32,
}

/// What a Kubernetes op found or did, and the resource kind it worked on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KubeOpResponse {
    pub resource: Option<KubeResource>,
    /// The runner's answer: a Kubernetes Table, list or object (get), `{object, events}`
    /// (describe), the deletion plan (delete with dry_run), `{items}` (api-resources) or
    /// `{nodes, edges}` (graph).
    pub result: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KubeResource {
    pub kind: String,
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub plural: String,
    pub namespaced: bool,
    /// The namespace the op worked in (empty when cluster-scoped or across all namespaces).
    pub namespace: String,
}

/// A streamed op (logs, watch, exec) started: read its events, send exec input.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionStarted {
    pub session: String,
    /// How many streams the session merges (a logs of several pods).
    pub streams: Option<u64>,
    /// `GET` it for server-sent events.
    pub events: String,
    /// exec: the pod, container and namespace it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// exec: `POST` stdin, close and resize here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// A cloud listing (`POST /v1/ops/cloud/{provider}/{service}`), in admin mode (`connection`,
/// else the env's or org's default for the provider).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CloudOpBody {
    pub org: String,
    pub env: String,
    pub connection: String,
    pub resource: String,
    pub region: String,
    pub project: String,
    pub zone: String,
    pub subscription: String,
    pub resource_group: String,
    pub account: String,
    /// `key=value` filters.
    pub filters: Vec<String>,
}

/// One piece of an exec session's input. `seq` orders input (1, 2, 3, …); a retried POST with
/// the same seq is applied once.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InputBody {
    pub seq: u64,
    /// Base64 bytes for the process's stdin (a terminal's keystrokes, Ctrl-C included).
    pub stdin: Option<String>,
    pub close_stdin: bool,
    pub resize: Option<TerminalSize>,
}
