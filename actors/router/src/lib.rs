//! The router: sends an op to its runner's subject with a deadline, and maps transport failures
//! to what a user should read ("runner … is not connected", "did not answer in N s").
//!
//! It owns runner presence, from heartbeats: a runner silent for [`PRESENCE_WINDOW`] is
//! reported as not connected without a round trip. The op is published in the handler; the
//! caller waits for the runner's reply, so the router goes on with the next op at once.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use cloudops_bus::{
    BusError, NatsClient,
    runner_link::{self, PendingReply, RunnerClient},
    services::RouterApi,
    slot::Slot,
};
use cloudops_schemas::{
    RunnerId,
    v1::{self, ErrorCode},
};
use cloudops_store::{Store, presence::LAST_SEEN_WRITE_INTERVAL};
use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tracing::warn;

pub const ROLE: &str = "router";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Runners beat every 10 s (every second at first): three missed beats and a margin.
pub const PRESENCE_WINDOW: Duration = Duration::from_secs(35);
/// The most often one runner's heartbeats reach the router.
const BEAT_FORWARD_INTERVAL: Duration = Duration::from_secs(1);

pub enum RouterMessage {
    Route(Box<v1::RouteRequest>, RpcReplyPort<Result<PendingReply, v1::Error>>),
    Heartbeat(RunnerId, String),
}

pub struct RouterArgs {
    pub nats: NatsClient,
    /// Where `last seen` is written.
    pub store: Store,
}

pub struct RouterState {
    link: RunnerClient,
    store: Store,
    started: Instant,
    heard: HashMap<RunnerId, Instant>,
    written: HashMap<RunnerId, Instant>,
    beats: JoinHandle<()>,
}

impl RouterState {
    /// Known to be gone: heard from never or too long ago, once we have listened long enough.
    fn known_absent(&self, runner: &RunnerId) -> bool {
        self.started.elapsed() > PRESENCE_WINDOW
            && self.heard.get(runner).is_none_or(|at| at.elapsed() > PRESENCE_WINDOW)
    }
}

pub struct Router;

impl Actor for Router {
    type Msg = RouterMessage;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(&self, me: ActorRef<Self::Msg>, args: RouterArgs) -> Result<Self::State, ActorProcessingErr> {
        let beats = runner_link::heartbeats(&args.nats).await?;
        let beats = tokio::spawn(async move {
            futures::pin_mut!(beats);
            // At most one beat per runner per second reaches the router's mailbox, whatever a
            // runner sends: a flood cannot delay anyone's ops.
            let mut passed: HashMap<RunnerId, Instant> = HashMap::new();
            while let Some((id, beat)) = beats.next().await {
                if passed.get(&id).is_some_and(|at| at.elapsed() < BEAT_FORWARD_INTERVAL) {
                    continue;
                }
                if passed.len() > 100_000 {
                    passed.retain(|_, at| at.elapsed() < BEAT_FORWARD_INTERVAL);
                }
                passed.insert(id.clone(), Instant::now());
                let version: String = beat.version.chars().take(64).collect();
                if me.cast(RouterMessage::Heartbeat(id, version)).is_err() {
                    break;
                }
            }
        });
        Ok(RouterState {
            link: RunnerClient::start(args.nats).await?,
            store: args.store,
            started: Instant::now(),
            heard: HashMap::new(),
            written: HashMap::new(),
            beats,
        })
    }

    async fn post_stop(&self, _me: ActorRef<Self::Msg>, s: &mut Self::State) -> Result<(), ActorProcessingErr> {
        s.beats.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        s: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMessage::Route(req, reply) => {
                let _ = reply.send(send(s, *req).await);
            }
            RouterMessage::Heartbeat(id, version) => {
                let now = Instant::now();
                if s.written.get(&id).is_none_or(|at| at.elapsed() >= LAST_SEEN_WRITE_INTERVAL) {
                    s.written.insert(id.clone(), now);
                    let store = s.store.clone();
                    let rid = id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = store.touch_runner(rid.as_str(), &version).await {
                            warn!(runner_id = %rid, error = %e, "heartbeat not recorded");
                        }
                    });
                }
                s.heard.insert(id, now);
                if s.heard.len() > 100_000 {
                    s.heard.retain(|_, at| at.elapsed() < PRESENCE_WINDOW);
                    s.written.retain(|_, at| at.elapsed() < LAST_SEEN_WRITE_INTERVAL);
                }
            }
        }
        Ok(())
    }
}

fn not_connected(name: &str) -> v1::Error {
    v1::Error::new(ErrorCode::RunnerNotConnected, format!("runner {name:?} is not connected"))
}

fn deadline(req: &v1::RouteRequest) -> Duration {
    if req.timeout_ms == 0 { DEFAULT_TIMEOUT } else { Duration::from_millis(req.timeout_ms as u64) }
}

/// Publishes the op to its runner, unless the runner is known to be gone.
async fn send(s: &RouterState, req: v1::RouteRequest) -> Result<PendingReply, v1::Error> {
    let timeout = deadline(&req);
    let target = req.target.unwrap_or_default();
    let runner =
        RunnerId::parse(target.runner_id.clone()).map_err(|e| v1::Error::new(ErrorCode::Internal, e.to_string()))?;
    if s.known_absent(&runner) {
        return Err(not_connected(&target.runner_name));
    }
    let request = v1::RunnerRequest {
        request_id: String::new(),
        namespace: target.namespace.clone(),
        namespace_locked: target.namespace_locked,
        settings: target.settings.clone(),
        provider: target.provider,
        op: req.op,
        timeout_ms: timeout.as_millis() as u32,
        owner_kind: target.owner_kind.clone(),
        owner_name: target.owner_name.clone(),
        secrets_readable: target.secrets_readable,
        impersonate: target.impersonate.clone(),
    };
    s.link
        .send(&runner, &request)
        .await
        .map_err(|e| v1::Error::new(ErrorCode::Unavailable, format!("runner {:?}: {e}", target.runner_name)))
}

/// The runner's answer, as the caller should read it.
pub fn outcome(
    target: &v1::ResolvedTarget,
    timeout: Duration,
    reply: Result<v1::RunnerResponse, BusError>,
) -> Result<v1::OpResult, v1::Error> {
    match reply {
        Ok(v1::RunnerResponse { result: Some(v1::runner_response::Result::Ok(mut r)) }) => {
            // Who answered is what we routed to, whatever the reply claims.
            r.routed_runner_id = target.runner_id.clone();
            r.routed_org_id = target.org_id.clone();
            Ok(r)
        }
        Ok(v1::RunnerResponse { result: Some(v1::runner_response::Result::Error(e)) }) => Err(e),
        Ok(v1::RunnerResponse { result: None }) => {
            Err(v1::Error::new(ErrorCode::Internal, "runner sent an empty reply"))
        }
        Err(BusError::NoResponders { .. }) => Err(not_connected(&target.runner_name)),
        Err(BusError::Timeout { .. }) => Err(v1::Error::new(
            ErrorCode::RunnerTimeout,
            format!("runner {:?} did not answer in {} s", target.runner_name, timeout.as_secs_f32()),
        )),
        Err(e) => Err(v1::Error::new(ErrorCode::Unavailable, format!("runner {:?}: {e}", target.runner_name))),
    }
}

/// The typed handle of one router instance.
#[derive(Clone)]
pub struct RouterHandle {
    pub slot: Slot<RouterMessage>,
}

impl RouterHandle {
    pub fn new(slot: Slot<RouterMessage>) -> Self {
        Self { slot }
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::ActorUnavailable(format!("{ROLE}: {e}"))
}

#[async_trait]
impl RouterApi for RouterHandle {
    async fn route(&self, req: v1::RouteRequest) -> Result<v1::RouteResponse, BusError> {
        let timeout = deadline(&req);
        let target = req.target.clone().unwrap_or_default();
        let sent =
            ractor::call_t!(self.slot.get()?, RouterMessage::Route, 5_000, Box::new(req)).map_err(unavailable)?;
        let result = match sent {
            Ok(pending) => outcome(&target, timeout, pending.wait(timeout).await),
            Err(e) => Err(e),
        };
        let result = match result {
            Ok(r) => v1::route_response::Result::Ok(r),
            Err(e) => v1::route_response::Result::Error(e),
        };
        Ok(v1::RouteResponse { result: Some(result) })
    }
}
