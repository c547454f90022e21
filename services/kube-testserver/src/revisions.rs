//! What the StatefulSet and DaemonSet controllers do with history, in one step after each write:
//! the pod template is kept as a ControllerRevision (`data` is the patch that restores it, as
//! the real controllers store it), numbered after the newest. A template that an older revision
//! already holds does not make a new one: that revision takes the next number, as upstream's
//! controllers renumber an equal revision. The status names the current revision. Enough for
//! `kubectl rollout history|undo` on both kinds.

use serde_json::{Value, json};

use crate::{Cluster, resources};

const HASH_LABEL: &str = "controller-revision-hash";

fn revisions_def() -> &'static resources::ResourceDef {
    resources::find("apps", "v1", "controllerrevisions").expect("a built-in kind")
}

/// The template a revision restores, without the patch directive around it.
fn template_of(revision: &Value) -> Value {
    let mut t = revision["data"]["spec"]["template"].clone();
    if let Some(o) = t.as_object_mut() {
        o.remove("$patch");
    }
    t
}

fn controlled_by(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| r["uid"].as_str() == Some(uid) && r["controller"] == true))
}

impl Cluster {
    /// Records StatefulSet or DaemonSet `ns/name`'s template as its current revision (nothing
    /// if it is gone).
    pub(crate) fn reconcile_revisions(&self, def: &resources::ResourceDef, ns: &str, name: &str) {
        let Some(mut workload) = self.get(def, ns, name) else {
            return;
        };
        let uid = workload["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let template = workload["spec"]["template"].clone();
        let (all, _) = self.list(revisions_def(), Some(ns));
        let owned: Vec<Value> = all.into_iter().filter(|r| controlled_by(r, &uid)).collect();
        let newest = owned.iter().filter_map(|r| r["revision"].as_i64()).max().unwrap_or(0);
        let mut current = match owned.iter().find(|r| template_of(r) == template) {
            Some(r) => r.clone(),
            None => {
                let hash = crate::sandbox::suffix(&format!("{uid}{template}"), 10);
                let mut restore = template.clone();
                restore["$patch"] = json!("replace");
                let mut labels = template["metadata"]["labels"].clone();
                labels[HASH_LABEL] = json!(hash);
                json!({
                    "apiVersion": "apps/v1", "kind": "ControllerRevision",
                    "metadata": {"name": format!("{name}-{hash}"), "namespace": ns, "labels": labels,
                                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": def.kind, "name": name, "uid": uid,
                                                      "controller": true, "blockOwnerDeletion": true}]},
                    "data": {"spec": {"template": restore}},
                    "revision": 0,
                })
            }
        };
        if current["revision"].as_i64().unwrap_or(0) < newest || current["revision"] == 0 {
            current["revision"] = json!(newest + 1);
            if let Some(m) = current["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            let Ok(stored) = self.upsert(current) else { return };
            current = stored;
        }
        let revision = current["metadata"]["name"].clone();
        let generation = workload["metadata"]["generation"].as_i64().unwrap_or(1);
        let replicas = workload["spec"]["replicas"].as_i64().unwrap_or(1);
        workload["status"] = match def.kind {
            "StatefulSet" => json!({
                "observedGeneration": generation, "replicas": replicas, "readyReplicas": replicas,
                "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                "currentRevision": revision, "updateRevision": revision, "collisionCount": 0,
            }),
            _ => json!({
                "observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
                "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1, "numberMisscheduled": 0,
            }),
        };
        if let Some(m) = workload["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let _ = self.upsert(workload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_template_is_a_revision_and_an_old_one_comes_back_renumbered() {
        let c = Cluster::default();
        let sts = resources::find("apps", "v1", "statefulsets").unwrap();
        let template =
            json!({"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "db:1"}]}});
        c.upsert(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
                        "spec": {"replicas": 2, "template": template}}),
        )
        .unwrap();
        c.reconcile_revisions(sts, "default", "db");
        let mut next = c.get(sts, "default", "db").unwrap();
        next["spec"]["template"]["spec"]["containers"][0]["image"] = json!("db:2");
        c.upsert(next).unwrap();
        c.reconcile_revisions(sts, "default", "db");
        let revisions = |c: &Cluster| {
            let (all, _) = c.list(revisions_def(), Some("default"));
            let mut v: Vec<(i64, String)> = all
                .iter()
                .map(|r| {
                    (r["revision"].as_i64().unwrap(), template_of(r)["spec"]["containers"][0]["image"].to_string())
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(revisions(&c), [(1, "\"db:1\"".into()), (2, "\"db:2\"".into())]);
        // Back to the first template: its revision becomes 3, and no new one is made.
        let mut back = c.get(sts, "default", "db").unwrap();
        back["spec"]["template"] = template;
        c.upsert(back).unwrap();
        c.reconcile_revisions(sts, "default", "db");
        assert_eq!(revisions(&c), [(2, "\"db:2\"".into()), (3, "\"db:1\"".into())]);
        let status = &c.get(sts, "default", "db").unwrap()["status"];
        assert_eq!(status["currentRevision"], status["updateRevision"]);
        assert!(status["currentRevision"].as_str().unwrap().starts_with("db-"));
    }
}
