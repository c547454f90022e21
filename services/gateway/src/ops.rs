//! The op endpoints: `POST /v1/ops/kubernetes/{verb}` and `POST /v1/ops/cloud/{provider}/{service}`.
//! Each request body becomes one protobuf `Op` and goes through the pipeline (resolve →
//! authorize → route) on the request's own task.

use axum::{
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
};
use cloudops_schemas::v1;

use crate::{
    ApiError,
    routes::{AppState, Authenticated, Body},
};

fn parse_duration_secs(s: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid since {s:?}: use a duration like 30s, 10m, 2h"));
    let i = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: i64 = s[..i].parse().map_err(|_| bad())?;
    let unit = match &s[i..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    // Longer than Kubernetes could mean (or than i64 holds) is refused, not wrapped.
    n.checked_mul(unit).filter(|secs| *secs <= 100 * 365 * 86400).ok_or_else(bad)
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// `--since` from the request body: a duration or an error naming the input.
        #[test]
        fn durations_parse_or_name_the_input(s in "[0-9]{0,22}[smhdx]?") {
            match parse_duration_secs(&s) {
                Ok(n) => prop_assert!(n >= 0),
                Err(e) => {
                    let (msg, named) = (e.0.message.clone(), format!("{s:?}"));
                    prop_assert!(msg.contains(&named), "{}", msg);
                }
            }
        }
    }
}

fn kube_op_of(verb: &str, b: &mut cloudops_api::KubeOpBody) -> Result<v1::op::Kind, ApiError> {
    use v1::op::Kind;
    let need_kind = |b: &cloudops_api::KubeOpBody, with_name: bool| -> Result<(), ApiError> {
        if b.kind.trim().is_empty() {
            return Err(ApiError::bad_request("`kind` is required (e.g. pods)"));
        }
        if with_name && b.name.trim().is_empty() {
            return Err(ApiError::bad_request(format!("`name` is required for {verb}")));
        }
        Ok(())
    };
    let object = |b: &mut cloudops_api::KubeOpBody| -> Result<Vec<u8>, ApiError> {
        let o = b.object.take().ok_or_else(|| ApiError::bad_request(format!("`object` is required for {verb}")))?;
        if !o.is_object() {
            return Err(ApiError::bad_request("`object` must be a Kubernetes object"));
        }
        Ok(serde_json::to_vec(&o).expect("json"))
    };
    Ok(match verb {
        "get" => {
            need_kind(b, false)?;
            let output = match b.output.as_str() {
                "" | "table" => v1::KubeOutput::Table,
                "objects" => v1::KubeOutput::Objects,
                other => return Err(ApiError::bad_request(format!("unknown output {other:?}: use table or objects"))),
            };
            Kind::KubeGet(v1::KubeGet {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
                label_selector: std::mem::take(&mut b.label_selector),
                field_selector: std::mem::take(&mut b.field_selector),
                output: output as i32,
                all_namespaces: b.all_namespaces,
            })
        }
        "describe" => {
            need_kind(b, true)?;
            Kind::KubeDescribe(v1::KubeDescribe {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
            })
        }
        "edit" => Kind::KubeReplace(v1::KubeReplace { object_json: object(b)? }),
        "apply" => Kind::KubeApply(v1::KubeApply { object_json: object(b)? }),
        "delete" => {
            need_kind(b, true)?;
            Kind::KubeDelete(v1::KubeDelete {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
                propagation: std::mem::take(&mut b.propagation),
                dry_run: b.dry_run,
            })
        }
        "restart" => {
            need_kind(b, true)?;
            Kind::KubeRestart(v1::KubeRestart {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
            })
        }
        "scale" => {
            need_kind(b, true)?;
            let replicas = match b.replicas {
                Some(n) if n >= 0 => n,
                Some(n) => return Err(ApiError::bad_request(format!("replicas {n} is negative"))),
                None => return Err(ApiError::bad_request("`replicas` is required for scale")),
            };
            Kind::KubeScale(v1::KubeScale {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
                replicas,
            })
        }
        "rollout-history" => {
            need_kind(b, true)?;
            Kind::KubeRolloutHistory(v1::KubeRolloutHistory {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
            })
        }
        "rollout-undo" => {
            need_kind(b, true)?;
            if b.to_revision < 0 {
                return Err(ApiError::bad_request(format!("to_revision {} is negative", b.to_revision)));
            }
            Kind::KubeRolloutUndo(v1::KubeRolloutUndo {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
                to_revision: b.to_revision,
            })
        }
        "logs" => {
            // Named as the request's fields: the console and the CLI (--since-time) both send them.
            for (field, v) in [("since time", &b.since_time), ("until time", &b.until_time)] {
                if !v.is_empty() && chrono::DateTime::parse_from_rfc3339(v).is_err() {
                    return Err(ApiError::bad_request(format!(
                        "invalid {field} {v:?}: use an RFC 3339 time such as 2026-01-02T15:04:05Z"
                    )));
                }
            }
            if !b.since.is_empty() && !b.since_time.is_empty() {
                return Err(ApiError::bad_request("give a since duration or a since time, not both"));
            }
            Kind::KubeLogs(v1::KubeLogs {
                pod: std::mem::take(&mut b.pod),
                container: std::mem::take(&mut b.container),
                follow: b.follow,
                tail_lines: b.tail.unwrap_or(-1),
                since_seconds: if b.since.is_empty() { 0 } else { parse_duration_secs(&b.since)? },
                since_time: std::mem::take(&mut b.since_time),
                until_time: std::mem::take(&mut b.until_time),
                grep: std::mem::take(&mut b.grep),
                previous: b.previous,
                timestamps: b.timestamps,
                session: cloudops_bus::streams::new_session_id(),
            })
        }
        "exec" => {
            if b.command.is_empty() || b.command[0].trim().is_empty() {
                return Err(ApiError::bad_request("`command` is required, e.g. [\"sh\"]"));
            }
            if b.pod.trim().is_empty() && b.resource.is_empty() {
                return Err(ApiError::bad_request("`pod` is required (or use a resource to exec into its workload)"));
            }
            Kind::KubeExec(v1::KubeExec {
                pod: std::mem::take(&mut b.pod),
                container: std::mem::take(&mut b.container),
                command: std::mem::take(&mut b.command),
                stdin: b.stdin,
                tty: b.tty,
                size: b.size.as_ref().map(crate::sessions::check_size).transpose()?,
                session: cloudops_bus::streams::new_session_id(),
            })
        }
        "watch" => {
            need_kind(b, false)?;
            Kind::KubeWatch(v1::KubeWatch {
                resource: std::mem::take(&mut b.kind),
                label_selector: std::mem::take(&mut b.label_selector),
                field_selector: std::mem::take(&mut b.field_selector),
                session: cloudops_bus::streams::new_session_id(),
            })
        }
        "api-resources" => Kind::KubeApiResources(v1::KubeApiResources {}),
        "graph" => Kind::KubeGraph(v1::KubeGraph {}),
        other => {
            return Err(ApiError::new(
                v1::ErrorCode::NotFound,
                format!(
                    "unknown kubernetes op {other:?}: use get, describe, edit, apply, delete, restart, scale, rollout-history, rollout-undo, logs, exec, watch, api-resources or graph"
                ),
            ));
        }
    })
}

#[utoipa::path(post, path = "/v1/ops/kubernetes/{verb}", tag = "ops", request_body = cloudops_api::KubeOpBody, params(("verb" = String, Path, description = "get, describe, edit, apply, delete, restart, scale, rollout-history, rollout-undo, logs, exec, watch, api-resources or graph")), responses((status = 200, body = cloudops_api::KubeOpResponse), (status = 201, description = "logs, watch and exec: the session started", body = cloudops_api::SessionStarted)))]
pub(crate) async fn kube_op(
    State(s): State<AppState>,
    who: Authenticated,
    Path(verb): Path<String>,
    Body(mut b): Body<cloudops_api::KubeOpBody>,
) -> Result<Response, ApiError> {
    let op = v1::Op { kind: Some(kube_op_of(&verb, &mut b)?) };
    let op_name = op.name();
    // Streaming ops carry the session id the gateway chose; the runner's reply never decides it.
    let session = op.session().map(str::to_string);
    let where_ = match (b.resource.as_str(), b.connection.as_str()) {
        ("", "") => "connection/(default)".to_string(),
        ("", c) => format!("connection/{c}"),
        (r, _) => r.to_string(),
    };
    let target =
        v1::Target { org: b.org, env: b.env, connection: b.connection, resource: b.resource, namespace: b.namespace };
    let result = run_op(&s, &who, target, op).await?;
    if let Some(session) = session {
        return crate::sessions::register(&s, &who, op_name, where_, &session, &result).await;
    }
    // {"resource": {...}, "result": <the API's JSON, passed through without re-encoding>}
    // (`cloudops_api::KubeOpResponse`, whose `result` is written here as the bytes came.)
    let resource = result.kube_resource.map(|r| cloudops_api::KubeResource {
        kind: r.kind,
        api_version: r.api_version,
        plural: r.plural,
        namespaced: r.namespaced,
        namespace: r.namespace,
    });
    let mut body = Vec::with_capacity(result.json.len() + 160);
    body.extend_from_slice(b"{\"resource\":");
    body.extend_from_slice(serde_json::to_string(&resource).expect("json").as_bytes());
    body.extend_from_slice(b",\"result\":");
    body.extend_from_slice(&result.json);
    body.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The listings runners offer.
const CLOUD_LISTINGS: [cloudops_schemas::cloud::Service; 6] = cloudops_schemas::cloud::Service::ALL;

#[utoipa::path(post, path = "/v1/ops/cloud/{provider}/{service}", tag = "ops", request_body = cloudops_api::CloudOpBody, params(("provider" = String, Path, description = "aws, gcp or azure"), ("service" = String, Path, description = "aws: ec2, s3; gcp: compute, storage; azure: vm, blob")), responses((status = 200, body = cloudops_api::Items<cloudops_schemas::cloud::CloudRow>)))]
pub(crate) async fn cloud_op(
    State(s): State<AppState>,
    who: Authenticated,
    Path((provider, service)): Path<(String, String)>,
    Body(b): Body<cloudops_api::CloudOpBody>,
) -> Result<Response, ApiError> {
    let name = format!("{provider}.{service}");
    let svc =
        cloudops_schemas::cloud::Service::parse(&name).filter(|s| CLOUD_LISTINGS.contains(s)).ok_or_else(|| {
            let known: Vec<String> = CLOUD_LISTINGS.iter().map(|s| s.as_str().replace('.', "/")).collect();
            ApiError::new(
                v1::ErrorCode::NotFound,
                format!("unknown cloud listing {provider}/{service}: use {}", known.join(", ")),
            )
        })?;
    for (key, value) in [
        ("region", &b.region),
        ("project", &b.project),
        ("zone", &b.zone),
        ("subscription", &b.subscription),
        ("resource_group", &b.resource_group),
        ("account", &b.account),
    ] {
        if !value.is_empty() {
            cloudops_store::check_cloud_param(key, value).map_err(ApiError::bad_request)?;
        }
    }
    let op = v1::Op {
        kind: Some(v1::op::Kind::CloudList(v1::CloudList {
            service: svc.as_str().into(),
            region: b.region,
            project: b.project,
            zone: b.zone,
            subscription: b.subscription,
            resource_group: b.resource_group,
            account: b.account,
            filters: b.filters,
        })),
    };
    let target =
        v1::Target { org: b.org, env: b.env, connection: b.connection, resource: b.resource, namespace: String::new() };
    let result = run_op(&s, &who, target, op).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], result.json).into_response())
}

/// One op through the pipeline (resolve → authorize → route), on the request's own task.
async fn run_op(s: &AppState, who: &Authenticated, target: v1::Target, op: v1::Op) -> Result<v1::OpResult, ApiError> {
    let timeout_ms = s.deps.config.op_timeout.as_millis() as u32;
    crate::run_op(&s.deps.roles, who.caller(), target, op, timeout_ms).await.map_err(ApiError::from)
}
