//! Developer mode on a workload, through the Kubernetes API proxy: its pods are the workload's
//! own, as `planton kubectl` shows them. A pod is the workload's when its controller (the one
//! ownerReference marked `controller`) is the workload or a ReplicaSet/Job the workload
//! controls. A named pod (and its subresources: log, exec, status, eviction, binding) must be
//! the workload's; lists and watches of pods carry only its pods (asked for whole, so that no
//! `continue` token names another pod); a deletecollection of pods, a binding, or a new pod
//! that claims a controller is refused. Other kinds stay scoped to the namespace, as for every
//! developer-mode op.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use kube::Client;
use serde_json::Value;

use super::{
    KubeExecutor, err,
    watch::{OwnerFilter, child_kind, owned_uids},
};
use cloudops_schemas::{
    kube_api,
    v1::{self, ErrorCode},
};

/// Whether a request through the proxy touches the pods of the resource's workload.
pub(super) fn applies(req: &v1::RunnerRequest, scope: &v1::KubeScope) -> bool {
    !req.owner_kind.is_empty() && scope.api_group.is_empty() && matches!(scope.resource.as_str(), "pods" | "bindings")
}

/// The query of a filtered list without paging: one answer holds every pod, and no
/// `continue` token (which names the last pod of a page) reaches the client.
pub(super) fn unpaged(query: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "limit" && k != "continue"))
        .finish()
}

/// The most of one watch event the filter holds while it waits for the event's end.
const MAX_EVENT: usize = 8 << 20;

/// Keeps only the JSON media types of an `Accept` header (a filtered answer is JSON; client-go
/// reads whatever type comes back), or plain JSON if none is left.
pub(super) fn json_only(accept: &str) -> String {
    let kept: Vec<&str> = accept
        .split(',')
        .map(str::trim)
        .filter(|m| m.split(';').next().is_some_and(|base| base.trim().eq_ignore_ascii_case("application/json")))
        .collect();
    if kept.is_empty() { "application/json".to_string() } else { kept.join(",") }
}

impl KubeExecutor {
    /// The filter for the workload's pods, with the uids that own them now.
    pub(super) async fn owner_filter(
        &self,
        context: &str,
        client: &Client,
        req: &v1::RunnerRequest,
        ns: &str,
    ) -> Result<OwnerFilter, v1::Error> {
        let owner_res = self.resolve(context, client, &req.owner_kind).await?;
        let child_res = match child_kind(&req.owner_kind) {
            Some(c) => Some(self.resolve(context, client, c).await?),
            None => None,
        };
        let owned = owned_uids(client, &owner_res, child_res.as_ref(), ns, &req.owner_name).await?;
        Ok(OwnerFilter::new(owner_res, child_res, ns.to_string(), req.owner_name.clone(), owned))
    }

    /// Refuses what a request may not touch among the pods: a pod outside the workload, or
    /// all of them at once.
    pub(super) async fn check_owned(
        &self,
        client: &Client,
        req: &v1::RunnerRequest,
        scope: &v1::KubeScope,
        body: &[u8],
        filter: &mut OwnerFilter,
    ) -> Result<(), v1::Error> {
        let workload = format!("{} {:?}", req.owner_kind, req.owner_name);
        let refuse = |why: String| Err(err(ErrorCode::PermissionDenied, why));
        if let Some(why) = kube_api::outside_workload(scope, &req.owner_kind, &req.owner_name) {
            return refuse(why);
        }
        if scope.name.is_empty() {
            return match scope.verb.as_str() {
                "create" if claims_a_controller(body) => refuse(format!(
                    "a pod created in this context may not name a controller: only {workload}'s own controllers make its pods"
                )),
                _ => Ok(()),
            };
        }
        let pod = Self::get_json(client, format!("/api/v1/namespaces/{}/pods/{}", scope.namespace, scope.name)).await?;
        if filter.keeps(client, &pod).await? {
            return Ok(());
        }
        Err(err(
            ErrorCode::PermissionDenied,
            format!("pod {:?} is not part of {workload}, which this context is limited to", scope.name),
        ))
    }
}

/// Whether a new pod's body names a controller (or cannot be read to tell: protobuf).
fn claims_a_controller(body: &[u8]) -> bool {
    let Ok(pod) = serde_json::from_slice::<Value>(body).or_else(|_| serde_yaml_ng::from_slice::<Value>(body)) else {
        return true;
    };
    pod["metadata"]["ownerReferences"].as_array().is_some_and(|refs| !refs.is_empty())
}

/// A list of pods (or its `Table`) with only the workload's pods left in it.
pub(super) async fn filter_list(client: &Client, filter: &mut OwnerFilter, body: &[u8]) -> Result<Vec<u8>, v1::Error> {
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|e| err(ErrorCode::Upstream, format!("the API server sent a pod list that is not JSON: {e}")))?;
    let kind = v["kind"].as_str().unwrap_or_default();
    if kind != "Table" && !kind.ends_with("List") {
        return Err(err(ErrorCode::Upstream, format!("the API server answered a pod list with {kind:?}")));
    }
    if let Some(md) = v["metadata"].as_object_mut() {
        md.remove("remainingItemCount");
        md.remove("continue");
    }
    retain_owned(client, filter, &mut v).await?;
    Ok(serde_json::to_vec(&v).expect("json"))
}

/// Drops what the workload does not own from a list, a `Table` (a row without its object is
/// dropped: nothing shows it is the workload's), or one pod.
async fn retain_owned(client: &Client, filter: &mut OwnerFilter, v: &mut Value) -> Result<bool, v1::Error> {
    if !v.is_object() {
        return Ok(false);
    }
    let key = match v["kind"].as_str() {
        Some("Table") => "rows",
        Some(k) if k.ends_with("List") => "items",
        _ => return filter.keeps(client, v).await,
    };
    let Some(entries) = v.get_mut(key).and_then(Value::as_array_mut) else {
        return Ok(false);
    };
    let mut kept = Vec::with_capacity(entries.len());
    for e in entries.drain(..) {
        let object = if key == "rows" { &e["object"] } else { &e };
        if object.is_object() && filter.keeps(client, object).await? {
            kept.push(e);
        }
    }
    let any = !kept.is_empty();
    *entries = kept;
    Ok(any)
}

/// A watch of pods with only the workload's events left in it: the stream is read as the
/// API server writes it (one JSON event per line); bookmarks and errors pass.
pub(super) fn filter_watch(
    client: Client,
    filter: OwnerFilter,
    body: impl Stream<Item = Result<Bytes, String>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, String>> + Send + 'static {
    struct State<S> {
        client: Client,
        filter: OwnerFilter,
        body: std::pin::Pin<Box<S>>,
        pending: Vec<u8>,
        /// Where in `pending` to look for the next newline (what is before has none).
        scanned: usize,
        done: bool,
    }
    let state = State { client, filter, body: Box::pin(body), pending: Vec::new(), scanned: 0, done: false };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(at) = st.pending[st.scanned..].iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = st.pending.drain(..=st.scanned + at).collect();
                st.scanned = 0;
                match filter_event(&st.client, &mut st.filter, &line).await {
                    Ok(Some(out)) => return Some((Ok(out), st)),
                    Ok(None) => continue,
                    Err(e) => {
                        st.done = true;
                        st.pending.clear();
                        return Some((Err(format!("error: {}", e.message)), st));
                    }
                }
            }
            if st.done {
                return None;
            }
            if st.pending.len() > MAX_EVENT {
                st.done = true;
                st.pending.clear();
                return Some((Err(format!("error: a watch event larger than {} MiB", MAX_EVENT >> 20)), st));
            }
            st.scanned = st.pending.len();
            match st.body.next().await {
                Some(Ok(chunk)) => st.pending.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    st.done = true;
                    st.pending.clear();
                    return Some((Err(e), st));
                }
                // A last event without its newline is dropped: it cannot be checked whole.
                None => return None,
            }
        }
    })
}

/// One watch event, kept (as its line) or dropped.
async fn filter_event(client: &Client, filter: &mut OwnerFilter, line: &[u8]) -> Result<Option<Bytes>, v1::Error> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let mut event: Value = serde_json::from_slice(trimmed)
        .map_err(|e| err(ErrorCode::Upstream, format!("the API server sent a watch event that is not JSON: {e}")))?;
    if matches!(event["type"].as_str(), Some("BOOKMARK" | "ERROR")) {
        return Ok(Some(Bytes::copy_from_slice(line)));
    }
    let Some(object) = event.as_object_mut().and_then(|e| e.get_mut("object")) else {
        return Ok(None);
    };
    let is_table = object["kind"] == "Table";
    if !retain_owned(client, filter, object).await? {
        return Ok(None);
    }
    if !is_table {
        return Ok(Some(Bytes::copy_from_slice(line)));
    }
    let mut out = serde_json::to_vec(&event).expect("json");
    out.push(b'\n');
    Ok(Some(out.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_keeps_its_json_types_only() {
        assert_eq!(
            json_only("application/vnd.kubernetes.protobuf, application/json;as=Table;v=v1;g=meta.k8s.io, */*"),
            "application/json;as=Table;v=v1;g=meta.k8s.io"
        );
        assert_eq!(json_only("application/vnd.kubernetes.protobuf"), "application/json");
        assert_eq!(json_only(""), "application/json");
    }

    #[test]
    fn a_filtered_list_is_asked_for_whole() {
        assert_eq!(unpaged("limit=500&labelSelector=app%3Dx&continue=abc"), "labelSelector=app%3Dx");
        assert_eq!(unpaged(""), "");
    }

    #[test]
    fn a_new_pod_may_not_claim_a_controller() {
        assert!(!claims_a_controller(br#"{"metadata":{"name":"debug"}}"#));
        assert!(!claims_a_controller(b"metadata:\n  name: debug\n"));
        assert!(claims_a_controller(br#"{"metadata":{"ownerReferences":[{"uid":"u","controller":true}]}}"#));
        assert!(claims_a_controller(b"k8s\0\x01protobuf"));
    }
}
