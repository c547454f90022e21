//! The router: sends an op to its runner's subject with a deadline, and maps transport failures
//! to what a user should read ("runner … is not connected", "did not answer in N s").

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use cloudops_bus::{BusError, NatsClient, runner_link::RunnerClient, services::RouterApi};
use cloudops_schemas::{
    RunnerId,
    v1::{self, ErrorCode},
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

pub const NAME: &str = "router";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

pub enum RouterMessage {
    Route(v1::RouteRequest, RpcReplyPort<v1::RouteResponse>),
}

pub struct Router;

impl Actor for Router {
    type Msg = RouterMessage;
    type State = Arc<RunnerClient>;
    type Arguments = NatsClient;

    async fn pre_start(&self, _me: ActorRef<Self::Msg>, nc: NatsClient) -> Result<Self::State, ActorProcessingErr> {
        Ok(Arc::new(RunnerClient::start(nc).await?))
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        link: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RouterMessage::Route(req, reply) => {
                let link = link.clone();
                tokio::spawn(async move {
                    let result = match route(&link, req).await {
                        Ok(r) => v1::route_response::Result::Ok(r),
                        Err(e) => v1::route_response::Result::Error(e),
                    };
                    let _ = reply.send(v1::RouteResponse { result: Some(result) });
                });
            }
        }
        Ok(())
    }
}

pub async fn route(link: &RunnerClient, req: v1::RouteRequest) -> Result<v1::OpResult, v1::Error> {
    let target = req.target.unwrap_or_default();
    let runner =
        RunnerId::parse(target.runner_id.clone()).map_err(|e| v1::Error::new(ErrorCode::Internal, e.to_string()))?;
    let timeout = if req.timeout_ms == 0 { DEFAULT_TIMEOUT } else { Duration::from_millis(req.timeout_ms as u64) };
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
    };
    match link.call(&runner, &request, timeout).await {
        Ok(v1::RunnerResponse { result: Some(v1::runner_response::Result::Ok(mut r)) }) => {
            // Who answered is what we routed to, whatever the reply claims.
            r.routed_runner_id = runner.as_str().to_string();
            r.routed_org_id = target.org_id.clone();
            Ok(r)
        }
        Ok(v1::RunnerResponse { result: Some(v1::runner_response::Result::Error(e)) }) => Err(e),
        Ok(v1::RunnerResponse { result: None }) => {
            Err(v1::Error::new(ErrorCode::Internal, "runner sent an empty reply"))
        }
        Err(BusError::NoResponders { .. }) => Err(v1::Error::new(
            ErrorCode::RunnerNotConnected,
            format!("runner {:?} is not connected", target.runner_name),
        )),
        Err(BusError::Timeout { .. }) => Err(v1::Error::new(
            ErrorCode::RunnerTimeout,
            format!("runner {:?} did not answer in {} s", target.runner_name, timeout.as_secs_f32()),
        )),
        Err(e) => Err(v1::Error::new(ErrorCode::Unavailable, format!("runner {:?}: {e}", target.runner_name))),
    }
}

#[derive(Clone, Default)]
pub struct RouterHandle;

#[async_trait]
impl RouterApi for RouterHandle {
    async fn route(&self, req: v1::RouteRequest) -> Result<v1::RouteResponse, BusError> {
        let actor: ActorRef<RouterMessage> =
            ractor::registry::where_is(NAME).ok_or_else(|| BusError::ActorUnavailable(NAME.into()))?.into();
        let timeout = Duration::from_millis(req.timeout_ms as u64).max(DEFAULT_TIMEOUT) + Duration::from_secs(5);
        ractor::call_t!(actor, RouterMessage::Route, timeout.as_millis() as u64, req)
            .map_err(|e| BusError::ActorUnavailable(format!("{NAME}: {e}")))
    }
}
