//! Watches, for the console's live tables, as an informer does it: list (each object as ADDED,
//! then a SYNCED marker, so that an empty list is known to be empty), then watch from the list's
//! resourceVersion; resumed from the last resourceVersion when the API server ends a watch (they
//! do, every few minutes), and listed again after a RESYNC marker when that version has expired
//! (410 Gone).
//!
//! The list comes in chunks of [`LIST_CHUNK`], as client-go's pager asks for it: the watch
//! answers once the first chunk is in, and the next chunks are fetched as the first ones are
//! handed out, so that the API server, the runner, the hub and the browser work on a large
//! namespace at once rather than in turn. A chunk's continue token that expired (410) starts
//! the list over, after a RESYNC marker, asked for whole (as client-go's pager falls back). A
//! server that does not chunk sends everything at once.

use std::{collections::HashSet, pin::Pin, time::Duration};

use futures::{AsyncBufReadExt, Stream, StreamExt};
use kube::Client;
use serde_json::{Value, json};

use super::{ApiRes, KubeExecutor, enc, err, kube_error};
use cloudops_schemas::v1::{self, ErrorCode};

type Lines = Pin<Box<dyn Stream<Item = Result<String, std::io::Error>> + Send>>;

/// The uid of an object's controller: the one ownerReference marked `controller` (there is
/// at most one). Other references are anyone's to add, so they never make a pod a workload's.
pub(super) fn controller_uid(o: &Value) -> Option<&str> {
    o["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
        .and_then(|r| r["uid"].as_str())
}

/// Whether `o`'s controller is one of `owned`.
pub(super) fn controlled_by_any(o: &Value, owned: &[String]) -> bool {
    controller_uid(o).is_some_and(|u| owned.iter().any(|o| o == u))
}

/// How many controller uids found foreign are remembered (then forgotten all at once).
const MAX_FOREIGN: usize = 4096;
/// Owners are looked up again at most this often, however many unknown ones stream by.
const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// In developer mode on a workload: only the pods it controls. New controllers (a
/// Deployment's next ReplicaSet after a rollout) are found by looking again when an unknown
/// one shows up.
pub(super) struct OwnerFilter {
    owner_res: ApiRes,
    child_res: Option<ApiRes>,
    ns: String,
    name: String,
    owned: Vec<String>,
    /// Controller uids already looked up and found not to belong.
    foreign: HashSet<String>,
    refreshed: std::time::Instant,
}

impl OwnerFilter {
    pub(super) fn new(
        owner_res: ApiRes,
        child_res: Option<ApiRes>,
        ns: String,
        name: String,
        owned: Vec<String>,
    ) -> Self {
        OwnerFilter {
            owner_res,
            child_res,
            ns,
            name,
            owned,
            foreign: HashSet::new(),
            refreshed: std::time::Instant::now(),
        }
    }

    pub(super) async fn keeps(&mut self, client: &Client, object: &Value) -> Result<bool, v1::Error> {
        let Some(controller) = controller_uid(object) else {
            return Ok(false);
        };
        if self.owned.iter().any(|o| o == controller) {
            return Ok(true);
        }
        if self.foreign.contains(controller) || self.refreshed.elapsed() < REFRESH_EVERY {
            return Ok(false);
        }
        self.owned = owned_uids(client, &self.owner_res, self.child_res.as_ref(), &self.ns, &self.name).await?;
        self.refreshed = std::time::Instant::now();
        let mine = self.owned.iter().any(|o| o == controller);
        if !mine {
            if self.foreign.len() >= MAX_FOREIGN {
                self.foreign.clear();
            }
            self.foreign.insert(controller.to_string());
        }
        Ok(mine)
    }
}

/// The uids that control a workload's pods: the workload itself, and for a Deployment the
/// ReplicaSets it controls, for a CronJob its Jobs.
pub(super) async fn owned_uids(
    client: &Client,
    owner_res: &ApiRes,
    child_res: Option<&ApiRes>,
    ns: &str,
    name: &str,
) -> Result<Vec<String>, v1::Error> {
    let owner = KubeExecutor::get_json(client, owner_res.path(Some(ns), Some(name))).await?;
    let uid = owner["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let mut uids = vec![uid.clone()];
    if let Some(cres) = child_res {
        let list = KubeExecutor::get_json(client, cres.path(Some(ns), None)).await?;
        for o in list["items"].as_array().into_iter().flatten() {
            if controller_uid(o) == Some(uid.as_str()) {
                uids.push(o["metadata"]["uid"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    Ok(uids)
}

/// The child kind through which a workload owns its pods.
pub(super) fn child_kind(owner_kind: &str) -> Option<&'static str> {
    match owner_kind {
        "Deployment" => Some("replicasets"),
        "CronJob" => Some("jobs"),
        _ => None,
    }
}

pub struct Watcher {
    client: Client,
    path: String,
    /// Label and field selectors, for the list and the watch.
    selectors: Vec<String>,
    /// The kind and apiVersion that list items lack.
    kind: String,
    api_version: String,
    owner: Option<OwnerFilter>,
    /// The list's resourceVersion once the list is whole, then the last one seen.
    resource_version: Option<String>,
    /// A list is under way (or due): chunks are fetched before anything is watched.
    listing: bool,
    /// Where the list resumes (a continue token) while its chunks are fetched.
    next_chunk: Option<String>,
    /// The next list is asked for whole: a continue token expired (the objects changed faster
    /// than the chunks came), as client-go's pager then does.
    whole: bool,
    /// Lists started over (410) since the last one that was whole: a server that keeps
    /// expiring them ends the watch instead of being listed in a loop.
    restarts: u32,
    /// The last watch ended early (dropped, or its version expired): wait a little before the
    /// next request, so that a server that keeps ending watches is not asked in a loop.
    pause: bool,
    lines: Option<Lines>,
    /// Re-watch attempts that failed in a row.
    failures: u32,
    /// Events ready to hand out (a list's objects and markers).
    ready: std::collections::VecDeque<String>,
}

/// Objects per list request (client-go's pager asks for 500).
pub const LIST_CHUNK: usize = 500;
/// Lists started over in a row (their continue token expired) before the watch ends.
const MAX_LIST_RESTARTS: u32 = 3;
/// How long to wait before re-watching after the API server dropped the connection.
const REWATCH_PAUSE: Duration = Duration::from_millis(500);
/// Failed re-watches in a row (pausing a little longer each time) before the watch ends.
const MAX_REWATCH_FAILURES: u32 = 8;

impl KubeExecutor {
    /// Opens a watch; errors (an unknown kind, a namespace outside the resource, access denied)
    /// come back before anything streams.
    pub async fn open_watch(&self, req: &v1::RunnerRequest, op: &v1::KubeWatch) -> Result<Watcher, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, &op.resource).await?;
        super::secrets_guard(req, &res)?;
        let ns = Self::scoped_ns(req, &res, None)?;
        let owner = if res.kind == "Pod" && !req.owner_kind.is_empty() {
            Some(self.owner_filter(&context, &client, req, ns.unwrap_or("default")).await?)
        } else {
            None
        };
        let mut selectors = Vec::new();
        if !op.label_selector.is_empty() {
            selectors.push(format!("labelSelector={}", enc(&op.label_selector)));
        }
        if !op.field_selector.is_empty() {
            selectors.push(format!("fieldSelector={}", enc(&op.field_selector)));
        }
        let mut w = Watcher {
            client,
            path: res.path(ns, None),
            selectors,
            kind: res.kind.clone(),
            api_version: res.api_version(),
            owner,
            resource_version: None,
            listing: true,
            next_chunk: None,
            whole: false,
            restarts: 0,
            pause: false,
            lines: None,
            failures: 0,
            ready: Default::default(),
        };
        w.list_chunk().await?;
        if !w.listing {
            w.lines = Some(w.connect().await?);
        }
        Ok(w)
    }
}

impl Watcher {
    /// Lists the next chunk of objects (the first when no list is under way): each as ADDED,
    /// then, after the last chunk, SYNCED; the watch continues from the list's resourceVersion.
    async fn list_chunk(&mut self) -> Result<(), v1::Error> {
        let mut q = if self.whole { Vec::new() } else { vec![format!("limit={LIST_CHUNK}")] };
        q.extend(self.selectors.iter().cloned());
        if let Some(token) = &self.next_chunk {
            q.push(format!("continue={}", enc(token)));
        }
        let q = if q.is_empty() { String::new() } else { format!("?{}", q.join("&")) };
        let mut list = KubeExecutor::get_json(&self.client, format!("{}{q}", self.path)).await?;
        // The chunk's events are handed out only once all of them are made: a chunk that fails
        // half-way (the owner filter asks the API server) is asked again, and must not repeat.
        let mut events = Vec::new();
        for mut object in list["items"].as_array_mut().map(std::mem::take).unwrap_or_default() {
            object["kind"] = json!(self.kind);
            object["apiVersion"] = json!(self.api_version);
            if let Some(line) = self.event("ADDED", object).await? {
                events.push(line);
            }
        }
        let next = list["metadata"]["continue"].as_str().filter(|t| !t.is_empty()).map(String::from);
        if next.is_some() && next == self.next_chunk {
            return Err(err(
                ErrorCode::Upstream,
                "kubernetes API sent the same continue token twice: the list would not end",
            ));
        }
        self.ready.extend(events);
        self.next_chunk = next;
        if self.next_chunk.is_none() {
            self.restarts = 0;
            self.ready.push_back(json!({"type": "SYNCED", "object": null}).to_string());
            self.resource_version = list["metadata"]["resourceVersion"].as_str().map(String::from);
            self.listing = false;
            self.whole = false;
        }
        Ok(())
    }

    /// Forgets the list under way and what the watch saw: the next step lists from the start.
    fn start_over(&mut self) {
        self.listing = true;
        self.next_chunk = None;
        self.resource_version = None;
        self.lines = None;
        self.ready.push_back(json!({"type": "RESYNC", "object": null}).to_string());
    }

    /// One watch request, from the last resourceVersion seen.
    async fn connect(&mut self) -> Result<Lines, v1::Error> {
        let mut q = vec!["watch=true".to_string(), "allowWatchBookmarks=true".to_string()];
        q.extend(self.selectors.iter().cloned());
        if let Some(rv) = &self.resource_version {
            q.push(format!("resourceVersion={}", enc(rv)));
        }
        let request = http::Request::get(format!("{}?{}", self.path, q.join("&"))).body(Vec::new()).expect("request");
        let reader = self.client.request_stream(request).await.map_err(kube_error)?;
        Ok(reader.lines().boxed())
    }

    /// An event as one JSON line, or `None` when the owner filter drops it.
    async fn event(&mut self, kind: &str, mut object: Value) -> Result<Option<String>, v1::Error> {
        if let Some(filter) = &mut self.owner
            && !filter.keeps(&self.client, &object).await?
        {
            return Ok(None);
        }
        if let Some(md) = object["metadata"].as_object_mut() {
            md.remove("managedFields");
        }
        Ok(Some(json!({"type": kind, "object": object}).to_string()))
    }

    /// Before a request to the API server: a pause when the last one failed or a watch ended
    /// early, longer after each failure in a row.
    async fn back_off(&mut self) {
        if self.pause || self.failures > 0 {
            tokio::time::sleep(REWATCH_PAUSE * self.failures.max(1)).await;
            self.pause = false;
        }
    }

    /// The next event as one JSON line; `Err` when the watch cannot go on.
    pub async fn next(&mut self) -> Result<String, v1::Error> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(e);
            }
            // A list under way, or one to start again (its resourceVersion expired): the next
            // chunk. An expired continue token starts the list over.
            if self.listing {
                self.back_off().await;
                match self.list_chunk().await {
                    Ok(()) => self.failures = 0,
                    Err(e) if self.failures >= MAX_REWATCH_FAILURES || self.restarts >= MAX_LIST_RESTARTS => {
                        return Err(e);
                    }
                    // An expired continue token: list again, whole. (A 410 to a list without
                    // one is an ordinary failure.)
                    Err(e) if e.upstream_status == 410 && self.next_chunk.is_some() => {
                        self.start_over();
                        self.whole = true;
                        self.restarts += 1;
                        self.pause = true;
                    }
                    Err(_) => self.failures += 1,
                }
                continue;
            }
            let lines = match &mut self.lines {
                Some(l) => l,
                None => {
                    self.back_off().await;
                    match self.connect().await {
                        Ok(l) => self.lines = Some(l),
                        Err(e) if self.failures >= MAX_REWATCH_FAILURES => return Err(e),
                        Err(_) => self.failures += 1,
                    }
                    continue;
                }
            };
            let line = match lines.next().await {
                Some(Ok(line)) => line,
                // The API server ended this watch (its timeout) or the connection broke:
                // watch again from where we were.
                Some(Err(_)) | None => {
                    self.lines = None;
                    self.pause = true;
                    continue;
                }
            };
            self.failures = 0;
            if line.trim().is_empty() {
                continue;
            }
            let mut event: Value = serde_json::from_str(&line)
                .map_err(|e| err(ErrorCode::Upstream, format!("kubernetes API sent an invalid watch event: {e}")))?;
            let kind = event["type"].as_str().unwrap_or_default().to_string();
            match kind.as_str() {
                "ERROR" => {
                    if event["object"]["code"].as_u64() == Some(410) {
                        // Our resourceVersion is too old: say so, then list again.
                        self.start_over();
                        self.pause = true;
                        continue;
                    }
                    let msg = event["object"]["message"].as_str().unwrap_or("watch error");
                    return Err(err(ErrorCode::Upstream, msg.to_string()));
                }
                "BOOKMARK" => {
                    self.note_version(&event["object"]);
                    continue;
                }
                _ => {}
            }
            self.note_version(&event["object"]);
            if let Some(line) = self.event(&kind, event["object"].take()).await? {
                return Ok(line);
            }
        }
    }

    fn note_version(&mut self, object: &Value) {
        if let Some(rv) = object["metadata"]["resourceVersion"].as_str() {
            self.resource_version = Some(rv.to_string());
        }
    }
}
