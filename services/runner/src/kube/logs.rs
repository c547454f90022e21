//! The pods an op names, and the log streams opened on them, each line filtered as asked.

use cloudops_schemas::v1::{self, ErrorCode};
use kube::Client;
use serde_json::Value;

use super::{ApiRes, KubeExecutor, enc, err, kube_error, watch};

/// The pods an op names, with what it takes to reach them.
pub struct TargetPods {
    pub client: Client,
    pods_res: ApiRes,
    pub ns: String,
    pub pods: Vec<Value>,
}

impl KubeExecutor {
    /// The pods an op on `pod` means: that pod (in developer mode, checked to belong to the
    /// resource's workload), or, without a name, every pod of the resource's workload.
    pub async fn target_pods(&self, req: &v1::RunnerRequest, pod: &str) -> Result<TargetPods, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let pods_res = self.resolve(&context, &client, "pods").await?;
        let ns = Self::scoped_ns(req, &pods_res, None)?.unwrap_or("default").to_string();
        let owns = watch::controlled_by_any;
        let pods: Vec<Value> = if pod.is_empty() {
            if req.owner_kind.is_empty() {
                return Err(err(
                    ErrorCode::InvalidArgument,
                    "a pod name is required (or use -r with a workload to reach its pods)",
                ));
            }
            let owned = self.owned_uids(&context, &client, &ns, &req.owner_kind, &req.owner_name).await?;
            let list = Self::get_json(&client, pods_res.path(Some(&ns), None)).await?;
            list["items"].as_array().into_iter().flatten().filter(|p| owns(p, &owned)).cloned().collect()
        } else {
            let found = Self::get_json(&client, pods_res.path(Some(&ns), Some(pod))).await?;
            if !req.owner_kind.is_empty() {
                let owned = self.owned_uids(&context, &client, &ns, &req.owner_kind, &req.owner_name).await?;
                if !owns(&found, &owned) {
                    return Err(err(
                        ErrorCode::NotFound,
                        format!("pod {pod:?} is not part of {} {:?}", req.owner_kind, req.owner_name),
                    ));
                }
            }
            vec![found]
        };
        if pods.is_empty() {
            return Err(err(ErrorCode::NotFound, format!("{} {:?} has no pods", req.owner_kind, req.owner_name)));
        }
        Ok(TargetPods { client, pods_res, ns, pods })
    }
}

/// One opened log stream: a label (pod/container, for merged output) and its lines.
pub struct LogSource {
    pub label: String,
    pub lines: std::pin::Pin<Box<dyn futures::Stream<Item = Result<String, std::io::Error>> + Send>>,
}

impl KubeExecutor {
    /// Opens the log streams an op asks for (every pod of the workload in developer mode
    /// without a pod name). Errors (no such pod, bad container) come back before anything streams.
    pub async fn open_logs(&self, req: &v1::RunnerRequest, op: &v1::KubeLogs) -> Result<Vec<LogSource>, v1::Error> {
        use futures::{AsyncBufReadExt, StreamExt};
        let TargetPods { client, pods_res, ns, pods } = self.target_pods(req, &op.pod).await?;
        let merged = pods.len() > 1;
        let mut sources = Vec::new();
        for pod in pods {
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let containers: Vec<String> = if !op.container.is_empty() {
                vec![op.container.clone()]
            } else {
                pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            };
            let several = containers.len() > 1;
            for c in containers {
                let mut q = vec![format!("container={}", enc(&c)), "timestamps=true".to_string()];
                if op.follow {
                    q.push("follow=true".into());
                }
                if op.tail_lines >= 0 {
                    q.push(format!("tailLines={}", op.tail_lines));
                }
                if op.since_seconds > 0 {
                    q.push(format!("sinceSeconds={}", op.since_seconds));
                }
                if !op.since_time.is_empty() {
                    q.push(format!("sinceTime={}", enc(&op.since_time)));
                }
                if op.previous {
                    q.push("previous=true".into());
                }
                let path = format!("{}/log?{}", pods_res.path(Some(&ns), Some(&name)), q.join("&"));
                let request = http::Request::get(path).body(Vec::new()).expect("request");
                let reader = client.request_stream(request).await.map_err(kube_error)?;
                let label = if merged || several { format!("{name}/{c}") } else { String::new() };
                sources.push(LogSource { label, lines: reader.lines().boxed() });
            }
        }
        Ok(sources)
    }
}

/// What the runner keeps of a log line: `None` drops it, and `until` ends the stream.
pub enum LineVerdict {
    Keep(String),
    Drop,
    PastUntil,
}

/// Applies until-time, grep and the timestamp choice to one line `TIMESTAMP TEXT`. A line
/// without the timestamp the runner asked for (some API servers and aggregated APIs send none)
/// is kept whole: only a prefix that parses as a timestamp is ever taken off.
pub fn filter_line(
    line: &str,
    label: &str,
    until: Option<chrono::DateTime<chrono::Utc>>,
    grep: Option<&regex::Regex>,
    timestamps: bool,
) -> LineVerdict {
    let stamped =
        line.split_once(' ').and_then(|(ts, text)| chrono::DateTime::parse_from_rfc3339(ts).ok().map(|t| (t, text)));
    let text = stamped.map_or(line, |(_, text)| text);
    if let (Some(u), Some((t, _))) = (until, stamped)
        && t.with_timezone(&chrono::Utc) > u
    {
        return LineVerdict::PastUntil;
    }
    if grep.is_some_and(|g| !g.is_match(text)) {
        return LineVerdict::Drop;
    }
    let body = if timestamps { line } else { text };
    LineVerdict::Keep(if label.is_empty() { body.to_string() } else { format!("[{label}] {body}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters() {
        let g = regex::Regex::new("GET /api").unwrap();
        let l = "2026-01-01T00:00:00.5Z web: GET /api/orders 200";
        assert!(
            matches!(filter_line(l, "", None, Some(&g), false), LineVerdict::Keep(s) if s == "web: GET /api/orders 200")
        );
        assert!(matches!(filter_line(l, "p/c", None, None, true), LineVerdict::Keep(s) if s == format!("[p/c] {l}")));
        assert!(matches!(filter_line("2026-01-01T00:00:00Z web: tick", "", None, Some(&g), false), LineVerdict::Drop));
        let until = chrono::DateTime::parse_from_rfc3339("2025-12-31T23:59:59Z").unwrap().with_timezone(&chrono::Utc);
        assert!(matches!(filter_line(l, "", Some(until), None, false), LineVerdict::PastUntil));
        // A line without a timestamp is never cut.
        assert!(
            matches!(filter_line("plain words here", "", None, None, false), LineVerdict::Keep(s) if s == "plain words here")
        );
        assert!(matches!(filter_line("single", "", Some(until), None, false), LineVerdict::Keep(s) if s == "single"));
    }
}
