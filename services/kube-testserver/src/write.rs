//! Writes, as a real apiserver honours them: create, replace with resourceVersion (409 on a
//! stale one), merge / strategic-merge / server-side-apply patches, and delete with
//! propagation policy and ownerReference garbage collection.

use serde_json::{Map, Value, json};

use crate::{Cluster, ResourceDef, resources};

#[derive(Debug)]
pub struct ApiErr {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

fn gr(def: &ResourceDef) -> String {
    if def.group.is_empty() { def.plural.to_string() } else { format!("{}.{}", def.plural, def.group) }
}

pub(crate) fn not_found(def: &ResourceDef, name: &str) -> ApiErr {
    ApiErr { code: 404, reason: "NotFound", message: format!("{} \"{name}\" not found", gr(def)) }
}

pub(crate) fn conflict(def: &ResourceDef, name: &str) -> ApiErr {
    ApiErr {
        code: 409,
        reason: "Conflict",
        message: format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            gr(def)
        ),
    }
}

fn invalid(def: &ResourceDef, name: &str, why: String) -> ApiErr {
    ApiErr { code: 422, reason: "Invalid", message: format!("{} \"{name}\" is invalid: {why}", def.kind) }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Strategic merge: like a merge patch, except that lists of objects with a `name` (containers,
/// env, ports, volumes…) merge element by element on that key.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if let Some(existing) = t.get_mut(k) {
                    strategic_merge(existing, v);
                } else {
                    t.insert(k.clone(), v.clone());
                }
            }
        }
        (Value::Array(t), Value::Array(p))
            if p.iter().all(|e| e.get("name").is_some()) && t.iter().all(|e| e.get("name").is_some()) =>
        {
            for pe in p {
                match t.iter_mut().find(|te| te["name"] == pe["name"]) {
                    Some(te) => strategic_merge(te, pe),
                    None => t.push(pe.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn check_identity(def: &ResourceDef, name: &str, obj: &Value) -> Result<(), ApiErr> {
    if obj["metadata"]["name"].as_str() != Some(name) {
        return Err(invalid(
            def,
            name,
            "metadata.name: the name of the object does not match the name on the URL".into(),
        ));
    }
    if let Some(k) = obj["kind"].as_str()
        && k != def.kind
    {
        return Err(invalid(def, name, format!("kind: {k:?} does not match {:?}", def.kind)));
    }
    if let Some(r) = obj["spec"]["replicas"].as_i64()
        && r < 0
    {
        return Err(invalid(def, name, "spec.replicas: Invalid value: must be greater than or equal to 0".into()));
    }
    Ok(())
}

impl Cluster {
    pub fn create(&self, def: &ResourceDef, ns: &str, mut obj: Value) -> Result<Value, ApiErr> {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(invalid(def, "", "metadata.name: Required value".into()));
        }
        if self.get(def, ns, &name).is_some() {
            return Err(ApiErr {
                code: 409,
                reason: "AlreadyExists",
                message: format!("{} \"{name}\" already exists", gr(def)),
            });
        }
        obj["apiVersion"] = json!(def.api_version());
        obj["kind"] = json!(def.kind);
        if def.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
            m.remove("uid");
            m.remove("creationTimestamp");
        }
        self.upsert(obj).map_err(|e| invalid(def, &name, e))
    }

    /// PUT: the stored object is replaced when the sent resourceVersion is current (or absent).
    pub fn replace(&self, def: &ResourceDef, ns: &str, name: &str, mut obj: Value) -> Result<Value, ApiErr> {
        let current = self.get(def, ns, name).ok_or_else(|| not_found(def, name))?;
        check_identity(def, name, &obj)?;
        let sent_rv = obj["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string();
        if !sent_rv.is_empty() && Some(sent_rv.as_str()) != current["metadata"]["resourceVersion"].as_str() {
            return Err(conflict(def, name));
        }
        obj["apiVersion"] = json!(def.api_version());
        obj["kind"] = json!(def.kind);
        for keep in ["uid", "creationTimestamp", "namespace"] {
            if let Some(v) = current["metadata"].get(keep) {
                obj["metadata"][keep] = v.clone();
            }
        }
        bump_generation(&current, &mut obj);
        self.upsert(obj).map_err(|e| invalid(def, name, e))
    }

    /// PATCH with a JSON, merge, strategic-merge or apply patch (apply is approximated by a merge of
    /// the applied configuration).
    pub fn patch(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Value, ApiErr> {
        let current = self.get(def, ns, name);
        let patch: Value = if content_type.starts_with("application/apply-patch+yaml") {
            serde_yaml_ng::from_slice(body).map_err(|e| ApiErr {
                code: 400,
                reason: "BadRequest",
                message: format!("invalid apply patch: {e}"),
            })?
        } else {
            serde_json::from_slice(body).map_err(|e| ApiErr {
                code: 400,
                reason: "BadRequest",
                message: format!("invalid patch: {e}"),
            })?
        };
        let Some(current) = current else {
            if content_type.starts_with("application/apply-patch+yaml") {
                return self.create(def, ns, patch);
            }
            return Err(not_found(def, name));
        };
        if let Some(rv) = patch["metadata"]["resourceVersion"].as_str()
            && Some(rv) != current["metadata"]["resourceVersion"].as_str()
        {
            return Err(conflict(def, name));
        }
        let mut obj = current.clone();
        match content_type.split(';').next().unwrap_or("") {
            "application/merge-patch+json" | "application/apply-patch+yaml" => merge_patch(&mut obj, &patch),
            "application/strategic-merge-patch+json" => strategic_merge(&mut obj, &patch),
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_value(patch).map_err(|e| ApiErr {
                    code: 400,
                    reason: "BadRequest",
                    message: format!("invalid JSON patch: {e}"),
                })?;
                json_patch::patch(&mut obj, &ops).map_err(|e| ApiErr {
                    code: 422,
                    reason: "Invalid",
                    message: format!("the JSON patch does not apply: {e}"),
                })?;
            }
            other => {
                return Err(ApiErr {
                    code: 415,
                    reason: "UnsupportedMediaType",
                    message: format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml (got {other:?})"
                    ),
                });
            }
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        check_identity(def, name, &obj)?;
        bump_generation(&current, &mut obj);
        self.upsert(obj).map_err(|e| invalid(def, name, e))
    }

    /// DELETE with a propagation policy: dependents (by ownerReferences) are deleted too,
    /// recursively, unless the policy is Orphan, which only removes the references.
    pub fn delete(&self, def: &ResourceDef, ns: &str, name: &str, propagation: &str) -> Result<Value, ApiErr> {
        let obj = self.remove(def, ns, name).ok_or_else(|| not_found(def, name))?;
        let uid = obj["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let mut queue = vec![uid];
        while let Some(owner) = queue.pop() {
            for (d, dns, dname, dep) in self.dependents(&owner) {
                if propagation == "Orphan" {
                    let mut dep = dep;
                    if let Some(refs) = dep["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"].as_str() != Some(owner.as_str()));
                    }
                    let _ = self.upsert(dep);
                } else if let Some(gone) = self.remove(d, &dns, &dname) {
                    queue.push(gone["metadata"]["uid"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        Ok(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": def.group, "kind": def.plural, "uid": obj["metadata"]["uid"]},
        }))
    }

    /// Every object whose ownerReferences name `owner_uid`.
    pub fn dependents(&self, owner_uid: &str) -> Vec<(&'static ResourceDef, String, String, Value)> {
        let mut out = Vec::new();
        for def in resources::RESOURCES {
            let (items, _) = self.list(def, None);
            for o in items {
                let owned = o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|r| r["uid"].as_str() == Some(owner_uid)));
                if owned {
                    let ns = o["metadata"]["namespace"].as_str().unwrap_or("").to_string();
                    let n = o["metadata"]["name"].as_str().unwrap_or("").to_string();
                    out.push((def, ns, n, o));
                }
            }
        }
        out
    }
}

fn bump_generation(current: &Value, obj: &mut Value) {
    let generation = current["metadata"]["generation"].as_i64();
    if let Some(g) = generation {
        let spec_changed = current.get("spec") != obj.get("spec");
        obj["metadata"]["generation"] = json!(if spec_changed { g + 1 } else { g });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges() {
        let mut t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]});
        merge_patch(&mut t.clone(), &json!({"b": {"c": null}}));
        let mut s = t.clone();
        strategic_merge(&mut s, &json!({"l": [{"name": "y", "v": 9}, {"name": "z", "v": 3}], "b": {"d": null}}));
        assert_eq!(s["l"], json!([{"name": "x", "v": 1}, {"name": "y", "v": 9}, {"name": "z", "v": 3}]));
        assert_eq!(s["b"], json!({"c": 2}));
        merge_patch(&mut t, &json!({"l": [{"name": "z"}], "a": null}));
        assert_eq!(t, json!({"b": {"c": 2, "d": 3}, "l": [{"name": "z"}]}));
    }
}
