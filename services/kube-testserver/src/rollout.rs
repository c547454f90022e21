//! What the Deployment controller does, in one step after each write: the ReplicaSet of the
//! current pod template (a new one, or an old one that `rollout undo` brought back) takes the
//! next revision and every replica, the others none, the pods follow, and the status says the
//! rollout is complete. Enough for `kubectl rollout status|history|undo|restart` and `scale`.
//!
//! The `scale` subresource (autoscaling/v1 `Scale`) of Deployments, ReplicaSets and
//! StatefulSets is served here too.

use chrono::Utc;
use serde_json::{Value, json};

use crate::{
    Cluster,
    resources::{self, ResourceDef},
    write::{ApiErr, merge_patch},
};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH_LABEL: &str = "pod-template-hash";

fn def(plural: &str) -> &'static ResourceDef {
    let group = if plural == "pods" { "" } else { "apps" };
    resources::find(group, "v1", plural).expect("a built-in kind")
}

fn revision(o: &Value) -> i64 {
    o["metadata"]["annotations"][REVISION].as_str().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// A pod template without the label the controller adds, to compare templates by.
fn unhashed(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t["metadata"]["labels"].as_object_mut() {
        labels.remove(HASH_LABEL);
    }
    t
}

fn controlled_by(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|rs| rs.iter().any(|r| r["uid"].as_str() == Some(uid) && r["controller"] == true))
}

fn controller_ref(kind: &str, o: &Value) -> Value {
    json!([{
        "apiVersion": "apps/v1", "kind": kind, "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }])
}

impl Cluster {
    /// Rolls Deployment `ns/name` out to its current template at once (nothing if it is gone).
    pub(crate) fn reconcile_deployment(&self, ns: &str, name: &str) {
        let Some(mut dep) = self.get(def("deployments"), ns, name) else {
            return;
        };
        let uid = dep["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let replicas = dep["spec"]["replicas"].as_i64().unwrap_or(1);
        let template = unhashed(&dep["spec"]["template"]);
        let (all, _) = self.list(def("replicasets"), Some(ns));
        let owned: Vec<Value> = all.into_iter().filter(|rs| controlled_by(rs, &uid)).collect();
        let newest = owned.iter().map(revision).max().unwrap_or(0);
        let mut current = match owned.iter().find(|rs| unhashed(&rs["spec"]["template"]) == template) {
            Some(rs) => rs.clone(),
            None => self.new_replicaset(&dep, &template),
        };
        if revision(&current) < newest || revision(&current) == 0 {
            current["metadata"]["annotations"][REVISION] = json!((newest + 1).to_string());
        }
        let current_name = current["metadata"]["name"].as_str().unwrap_or_default().to_string();
        for mut rs in owned.into_iter().filter(|rs| rs["metadata"]["name"] != current_name.as_str()) {
            self.scale_replicaset(&mut rs, 0);
        }
        self.scale_replicaset(&mut current, replicas);
        let generation = dep["metadata"]["generation"].as_i64().unwrap_or(1);
        dep["metadata"]["generation"] = json!(generation);
        dep["metadata"]["annotations"][REVISION] = current["metadata"]["annotations"][REVISION].clone();
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        dep["status"] = json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{current_name}\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now},
            ],
        });
        if let Some(m) = dep["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let _ = self.upsert(dep);
    }

    fn new_replicaset(&self, dep: &Value, template: &Value) -> Value {
        let hash = crate::sandbox::suffix(&template.to_string(), 10);
        let name = format!("{}-{hash}", dep["metadata"]["name"].as_str().unwrap_or_default());
        let mut template = template.clone();
        template["metadata"]["labels"][HASH_LABEL] = json!(hash);
        let mut selector = dep["spec"]["selector"].clone();
        selector["matchLabels"][HASH_LABEL] = json!(hash);
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": dep["metadata"]["namespace"], "labels": template["metadata"]["labels"],
                         "annotations": {}, "ownerReferences": controller_ref("Deployment", dep)},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        })
    }

    /// Sets a ReplicaSet's replicas and makes its pods match: new ones Running and ready.
    fn scale_replicaset(&self, rs: &mut Value, replicas: i64) {
        rs["spec"]["replicas"] = json!(replicas);
        rs["status"] = json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "fullyLabeledReplicas": replicas});
        if let Some(m) = rs["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let Ok(rs) = self.upsert(rs.clone()) else {
            return;
        };
        let ns = rs["metadata"]["namespace"].as_str().unwrap_or_default();
        let rs_name = rs["metadata"]["name"].as_str().unwrap_or_default();
        let uid = rs["metadata"]["uid"].as_str().unwrap_or_default();
        let (pods, _) = self.list(def("pods"), Some(ns));
        let mut mine: Vec<Value> = pods.into_iter().filter(|p| controlled_by(p, uid)).collect();
        while mine.len() as i64 > replicas {
            let gone = mine.pop().expect("a pod");
            self.remove(def("pods"), ns, gone["metadata"]["name"].as_str().unwrap_or_default());
        }
        let template = &rs["spec"]["template"];
        let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        for i in 0.. {
            if mine.len() as i64 >= replicas {
                break;
            }
            let pod_name = format!("{rs_name}-{}", crate::sandbox::suffix(&format!("{rs_name}{i}"), 5));
            if self.get(def("pods"), ns, &pod_name).is_some() {
                continue;
            }
            let containers = template["spec"]["containers"].clone();
            let statuses: Vec<Value> = containers
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    json!({"name": c["name"], "image": c["image"], "ready": true, "started": true, "restartCount": 0,
                           "state": {"running": {"startedAt": now}}})
                })
                .collect();
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns, "labels": template["metadata"]["labels"],
                             "annotations": template["metadata"]["annotations"].clone(),
                             "ownerReferences": controller_ref("ReplicaSet", &rs)},
                "spec": {"nodeName": "sandbox-node-1", "containers": containers, "restartPolicy": "Always", "serviceAccountName": "default"},
                "status": {"phase": "Running", "startTime": now, "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": statuses},
            });
            if let Ok(p) = self.upsert(pod) {
                mine.push(p);
            }
        }
    }

    /// `GET …/<deployments|replicasets|statefulsets>/<name>/scale`.
    pub(crate) fn scale(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, ApiErr> {
        let o = self.get(def, ns, name).ok_or_else(|| crate::write::not_found(def, name))?;
        let labels = o["spec"]["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
        let selector: Vec<String> =
            labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect();
        Ok(json!({
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": ns, "uid": o["metadata"]["uid"], "resourceVersion": o["metadata"]["resourceVersion"],
                         "creationTimestamp": o["metadata"]["creationTimestamp"]},
            "spec": {"replicas": o["spec"]["replicas"].as_i64().unwrap_or(1)},
            "status": {"replicas": o["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector.join(",")},
        }))
    }

    /// `PUT` or merge `PATCH` of the scale subresource: the object's replicas change, and a
    /// Deployment rolls to them.
    pub(crate) fn write_scale(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        method: &str,
        body: &[u8],
    ) -> Result<Value, ApiErr> {
        let bad = |m: String| ApiErr { code: 400, reason: "BadRequest", message: m };
        let sent: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid Scale: {e}")))?;
        let mut scale = self.scale(def, ns, name)?;
        match method {
            "PUT" => {
                if let Some(rv) = sent["metadata"]["resourceVersion"].as_str()
                    && Some(rv) != scale["metadata"]["resourceVersion"].as_str()
                {
                    return Err(crate::write::conflict(def, name));
                }
                scale["spec"] = sent["spec"].clone();
            }
            _ => merge_patch(&mut scale, &sent),
        }
        let replicas = scale["spec"]["replicas"]
            .as_i64()
            .filter(|r| *r >= 0)
            .ok_or_else(|| bad("spec.replicas: Invalid value: must be greater than or equal to 0".into()))?;
        let mut o = self.get(def, ns, name).ok_or_else(|| crate::write::not_found(def, name))?;
        o["spec"]["replicas"] = json!(replicas);
        if let Some(m) = o["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        self.upsert(o).map_err(bad)?;
        match def.kind {
            "Deployment" => self.reconcile_deployment(ns, name),
            "StatefulSet" => self.reconcile_revisions(def, ns, name),
            _ => {}
        }
        self.scale(def, ns, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_template_rolls_out_and_an_old_one_comes_back_as_the_next_revision() {
        let c = Cluster::default();
        c.seed_sandbox();
        let deploy = def("deployments");
        let first = c.get(deploy, "default", "web").unwrap();
        c.reconcile_deployment("default", "web");
        assert_eq!(revision(&c.get(deploy, "default", "web").unwrap()), 1);
        let mut changed = c.get(deploy, "default", "web").unwrap();
        changed["spec"]["template"]["metadata"]["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": "now"});
        changed["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        c.upsert(changed).unwrap();
        c.reconcile_deployment("default", "web");
        assert_eq!(revision(&c.get(deploy, "default", "web").unwrap()), 2);
        let uid = first["metadata"]["uid"].as_str().unwrap();
        let (rss, _) = c.list(def("replicasets"), Some("default"));
        let rss: Vec<&Value> = rss.iter().filter(|r| controlled_by(r, uid)).collect();
        assert_eq!(rss.len(), 2);
        let replicas: i64 = rss.iter().map(|r| r["spec"]["replicas"].as_i64().unwrap()).sum();
        assert_eq!(replicas, first["spec"]["replicas"].as_i64().unwrap());
        // Back to the first template: its ReplicaSet becomes revision 3.
        let mut back = c.get(deploy, "default", "web").unwrap();
        back["spec"]["template"] = first["spec"]["template"].clone();
        back["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        c.upsert(back).unwrap();
        c.reconcile_deployment("default", "web");
        assert_eq!(revision(&c.get(deploy, "default", "web").unwrap()), 3);
        let (rss, _) = c.list(def("replicasets"), Some("default"));
        assert_eq!(rss.iter().filter(|r| controlled_by(r, uid)).count(), 2);
    }

    #[test]
    fn scaling_a_deployment_changes_its_pods() {
        let c = Cluster::default();
        c.seed_sandbox();
        let scale =
            c.write_scale(def("deployments"), "default", "web", "PATCH", br#"{"spec":{"replicas":5}}"#).unwrap();
        assert_eq!(scale["spec"]["replicas"], 5);
        let uid = |o: &Value| o["metadata"]["uid"].as_str().unwrap().to_string();
        let (rss, _) = c.list(def("replicasets"), Some("default"));
        let dep = c.get(def("deployments"), "default", "web").unwrap();
        let rs = rss.iter().find(|r| controlled_by(r, &uid(&dep)) && r["spec"]["replicas"] == 5).unwrap();
        let (pods, _) = c.list(def("pods"), Some("default"));
        assert_eq!(pods.iter().filter(|p| controlled_by(p, &uid(rs))).count(), 5);
        let e = c.write_scale(def("deployments"), "default", "web", "PATCH", br#"{"spec":{"replicas":-1}}"#);
        assert_eq!(e.unwrap_err().code, 400);
    }
}
