//! A workload's rollouts, as kubectl does them: `rollout restart` (the restartedAt annotation),
//! `scale` (the `scale` subresource), `rollout history` (a Deployment's ReplicaSets, a
//! StatefulSet's or DaemonSet's ControllerRevisions, by revision) and `rollout undo` (the pod
//! template of an earlier revision becomes the workload's again).

use serde_json::{Value, json};

use super::{ApiRes, KubeExecutor, chrono_now, err};
use cloudops_schemas::v1::{self, ErrorCode};

/// A Deployment's ReplicaSet revision, and the label its pods carry that the template did not.
const REVISION: &str = "deployment.kubernetes.io/revision";
const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";
const HASH_LABEL: &str = "pod-template-hash";
/// How often an undo re-reads the workload after a conflicting write, before giving up.
const UNDO_TRIES: usize = 3;

fn workload_only(res: &ApiRes, verb: &str) -> Result<(), v1::Error> {
    match res.kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" => Ok(()),
        _ => Err(err(
            ErrorCode::InvalidArgument,
            format!("rollout {verb} works on deployments, statefulsets and daemonsets, not {}", res.plural),
        )),
    }
}

fn owned_by(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"].as_array().is_some_and(|rs| rs.iter().any(|r| r["uid"].as_str() == Some(uid)))
}

fn images(template: &Value) -> Vec<String> {
    template["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(String::from))
        .collect()
}

/// One revision of a workload: its number, what changed (the change-cause annotation), its
/// images and pod template, and whether it is the one running.
struct Revision {
    number: i64,
    source: String,
    created: String,
    change_cause: String,
    template: Value,
}

impl Revision {
    fn json(&self, current: bool) -> Value {
        json!({
            "revision": self.number,
            "source": self.source,
            "created": self.created,
            "change_cause": self.change_cause,
            "images": images(&self.template),
            "current": current,
        })
    }
}

/// The template as the workload holds it: without the hash label the controller added.
fn unhashed(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

impl KubeExecutor {
    pub async fn restart(&self, req: &v1::RunnerRequest, op: &v1::KubeRestart) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, &op.resource).await?;
        workload_only(&res, "restart")?;
        let ns = Self::scoped_ns(req, &res, None)?.unwrap_or("default");
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": chrono_now()}}}}});
        let text = Self::call(
            &client,
            http::Method::PATCH,
            res.path(Some(ns), Some(&op.name)),
            "application/json",
            Some("application/strategic-merge-patch+json"),
            serde_json::to_vec(&patch).expect("json"),
        )
        .await?;
        Ok(Self::result(text.into_bytes(), &res))
    }

    /// Sets the replicas through the `scale` subresource, as `kubectl scale` does; answers the
    /// Scale object.
    pub async fn scale(&self, req: &v1::RunnerRequest, op: &v1::KubeScale) -> Result<v1::OpResult, v1::Error> {
        if op.replicas < 0 {
            return Err(err(ErrorCode::InvalidArgument, format!("replicas {} is negative", op.replicas)));
        }
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, &op.resource).await?;
        let ns = Self::scoped_ns(req, &res, None)?;
        let patch = json!({"spec": {"replicas": op.replicas}});
        let text = Self::call(
            &client,
            http::Method::PATCH,
            format!("{}/scale", res.path(ns, Some(&op.name))),
            "application/json",
            Some("application/merge-patch+json"),
            serde_json::to_vec(&patch).expect("json"),
        )
        .await
        .map_err(|e| match e.upstream_status {
            404 => err(
                ErrorCode::NotFound,
                format!(
                    "{} {:?} was not found, or its kind cannot be scaled (no scale subresource): {}",
                    res.plural, op.name, e.message
                ),
            ),
            _ => e,
        })?;
        Ok(Self::result(text.into_bytes(), &res))
    }

    /// The workload and its revisions, oldest first.
    async fn revisions(
        &self,
        req: &v1::RunnerRequest,
        resource: &str,
        name: &str,
        verb: &str,
    ) -> Result<(kube::Client, ApiRes, String, Value, Vec<Revision>), v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, resource).await?;
        workload_only(&res, verb)?;
        let ns = Self::scoped_ns(req, &res, None)?.unwrap_or("default").to_string();
        let object = Self::get_json(&client, res.path(Some(&ns), Some(name))).await?;
        let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let deployment = res.kind == "Deployment";
        let source =
            self.resolve(&context, &client, if deployment { "replicasets" } else { "controllerrevisions" }).await?;
        let list = Self::get_json(&client, source.path(Some(&ns), None)).await?;
        let mut out: Vec<Revision> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| owned_by(o, &uid))
            .map(|o| {
                let md = &o["metadata"];
                let number = if deployment {
                    md["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
                } else {
                    o["revision"].as_i64().unwrap_or(0)
                };
                // A ControllerRevision's data is the patch that restores it: its spec.template,
                // marked `"$patch": "replace"` (a directive for the patch, not a template field).
                let mut template =
                    if deployment { o["spec"]["template"].clone() } else { o["data"]["spec"]["template"].clone() };
                if let Some(t) = template.as_object_mut() {
                    t.remove("$patch");
                }
                Revision {
                    number,
                    source: format!("{}/{}", source.plural, md["name"].as_str().unwrap_or_default()),
                    created: md["creationTimestamp"].as_str().unwrap_or_default().to_string(),
                    change_cause: md["annotations"][CHANGE_CAUSE].as_str().unwrap_or_default().to_string(),
                    template,
                }
            })
            .filter(|r| r.number > 0)
            .collect();
        out.sort_by_key(|r| r.number);
        Ok((client, res, ns, object, out))
    }

    /// `kubectl rollout history`: {kind, name, revisions: [{revision, change_cause, images,
    /// created, current, source}]}, oldest first.
    pub async fn rollout_history(
        &self,
        req: &v1::RunnerRequest,
        op: &v1::KubeRolloutHistory,
    ) -> Result<v1::OpResult, v1::Error> {
        let (_, res, ns, object, revisions) = self.revisions(req, &op.resource, &op.name, "history").await?;
        let current = revisions.last().map(|r| r.number).unwrap_or(0);
        let body = json!({
            "kind": res.kind,
            "name": op.name,
            "namespace": ns,
            "revisions": revisions.iter().map(|r| r.json(r.number == current)).collect::<Vec<_>>(),
            "object": {"metadata": {"name": object["metadata"]["name"], "uid": object["metadata"]["uid"]}},
        });
        Ok(Self::result(serde_json::to_vec(&body).expect("json"), &res))
    }

    /// `kubectl rollout undo [--to-revision N]`: the revision's pod template replaces the
    /// workload's (read and written back with its resourceVersion, so a concurrent change is
    /// read again, never overwritten). Answers {revision, from, images}.
    pub async fn rollout_undo(
        &self,
        req: &v1::RunnerRequest,
        op: &v1::KubeRolloutUndo,
    ) -> Result<v1::OpResult, v1::Error> {
        for attempt in 1..=UNDO_TRIES {
            let (client, res, ns, mut object, revisions) = self.revisions(req, &op.resource, &op.name, "undo").await?;
            let current = revisions.last().map(|r| r.number).unwrap_or(0);
            let target = match op.to_revision {
                0 => revisions.iter().rev().find(|r| r.number < current),
                n => revisions.iter().find(|r| r.number == n),
            };
            let Some(target) = target else {
                let known: Vec<String> = revisions.iter().map(|r| r.number.to_string()).collect();
                return Err(err(
                    ErrorCode::NotFound,
                    match op.to_revision {
                        0 => format!("{} {:?} has no earlier revision to go back to", res.kind, op.name),
                        n => format!("{} {:?} has no revision {n} (it has: {})", res.kind, op.name, known.join(", ")),
                    },
                ));
            };
            if target.number == current {
                return Err(err(
                    ErrorCode::InvalidArgument,
                    format!("revision {current} is the one running: nothing to undo"),
                ));
            }
            object["spec"]["template"] = unhashed(&target.template);
            let body = serde_json::to_vec(&object).expect("json");
            match Self::call(
                &client,
                http::Method::PUT,
                res.path(Some(&ns), Some(&op.name)),
                "application/json",
                Some("application/json"),
                body,
            )
            .await
            {
                Ok(_) => {
                    let answer =
                        json!({"revision": target.number, "from": current, "images": images(&target.template)});
                    return Ok(Self::result(serde_json::to_vec(&answer).expect("json"), &res));
                }
                Err(e) if e.upstream_status == 409 && attempt < UNDO_TRIES => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }
}
