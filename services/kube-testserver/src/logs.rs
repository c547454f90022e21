//! Pod logs, as the kubelet serves them through the apiserver: `…/pods/NAME/log` with
//! container, follow (chunked), tailLines, sinceSeconds, timestamps and previous.
//!
//! Every pod container has a deterministic history (one line a minute over the pod's age, plus
//! a few lines of the previous instance for restarted containers); followed streams get a new
//! line every `FOLLOW_EVERY`, and tests append lines with [`Cluster::append_log`].

use std::{collections::BTreeMap, convert::Infallible, time::Duration};

use axum::{
    body::Body,
    http::{StatusCode, header},
    response::Response,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::Cluster;

pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub text: String,
}

fn history(pod: &Value, container: &str, previous: bool) -> Vec<LogLine> {
    let created = pod["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let name = pod["metadata"]["name"].as_str().unwrap_or("pod");
    let now = Utc::now();
    if previous {
        return (0..5)
            .map(|i| LogLine {
                at: now - chrono::Duration::minutes(4) + chrono::Duration::seconds(i),
                text: format!("{container}: previous instance line {i}"),
            })
            .chain(std::iter::once(LogLine {
                at: now - chrono::Duration::minutes(3),
                text: format!("{container}: fatal: connection refused, exiting"),
            }))
            .collect();
    }
    let minutes = (now - created).num_minutes().clamp(1, 200);
    (0..minutes)
        .map(|m| {
            let at = created + chrono::Duration::minutes(m);
            let text = match m % 4 {
                0 => format!("{container}: starting {name} (instance {m})"),
                1 => format!("{container}: GET /healthz 200 ({}ms)", 1 + m % 7),
                2 => format!("{container}: GET /api/orders 200 ({}ms)", 10 + m % 30),
                _ => format!("{container}: WARN slow query took {}ms", 200 + m % 300),
            };
            LogLine { at, text }
        })
        .collect()
}

fn render(l: &LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}\n", l.at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), l.text)
    } else {
        format!("{}\n", l.text)
    }
}

pub fn serve(cluster: &Cluster, ns: &str, pod_name: &str, q: &BTreeMap<String, String>) -> Response {
    let pods = crate::resources::find("", "v1", "pods").expect("pods");
    let Some(pod) = cluster.get(pods, ns, pod_name) else {
        return crate::status_error(StatusCode::NOT_FOUND, "NotFound", format!("pods \"{pod_name}\" not found"), None);
    };
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect();
    let container = match q.get("container") {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return crate::status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("container {c} is not valid for pod {pod_name}"),
                None,
            );
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return crate::status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    containers.join(" ")
                ),
                None,
            );
        }
    };
    let flag = |k: &str| q.get(k).is_some_and(|v| crate::query_bool(v));
    let (follow, timestamps, previous) = (flag("follow"), flag("timestamps"), flag("previous"));
    let restarted = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["name"] == container.as_str() && s["restartCount"].as_i64().unwrap_or(0) > 0);
    if previous && !restarted {
        return crate::status_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("previous terminated container \"{container}\" in pod \"{pod_name}\" not found"),
            None,
        );
    }
    let mut lines = history(&pod, &container, previous);
    lines.extend(cluster.appended_logs(ns, pod_name, &container));
    if let Some(s) = q.get("sinceSeconds").and_then(|s| s.parse::<i64>().ok()) {
        let from = Utc::now() - chrono::Duration::seconds(s);
        lines.retain(|l| l.at >= from);
    }
    if let Some(t) = q.get("sinceTime").and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        lines.retain(|l| l.at >= t.with_timezone(&Utc));
    }
    if let Some(n) = q.get("tailLines").and_then(|s| s.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    let head: String = lines.iter().map(|l| render(l, timestamps)).collect();
    let response = Response::builder().status(StatusCode::OK).header(header::CONTENT_TYPE, "text/plain");
    if !follow || previous {
        return response.body(Body::from(head)).expect("response");
    }
    let (cluster, ns, pod_name) = (cluster.clone(), ns.to_string(), pod_name.to_string());
    let seen0 = cluster.appended_logs(&ns, &pod_name, &container).len();
    let head = futures::stream::once(async move { Ok::<_, Infallible>(bytes::Bytes::from(head)) });
    let rest = futures::stream::unfold((1u64, seen0), move |(n, seen)| {
        let (cluster, ns, pod_name, container) = (cluster.clone(), ns.clone(), pod_name.clone(), container.clone());
        async move {
            tokio::time::sleep(FOLLOW_EVERY).await;
            // The pod is gone: the stream ends, as the kubelet's does.
            cluster.get(pods, &ns, &pod_name)?;
            let appended = cluster.appended_logs(&ns, &pod_name, &container);
            let mut out: String = appended[seen.min(appended.len())..].iter().map(|l| render(l, timestamps)).collect();
            out.push_str(&render(&LogLine { at: Utc::now(), text: format!("{container}: tick {n}") }, timestamps));
            Some((Ok(bytes::Bytes::from(out)), (n + 1, appended.len())))
        }
    });
    let stream = head.chain(rest);
    response.body(Body::from_stream(stream)).expect("response")
}

use futures::StreamExt;
