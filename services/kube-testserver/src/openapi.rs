//! OpenAPI v3, as kubectl reads it: `/openapi/v3` lists one document per group-version, each
//! with the paths of its kinds. kubectl looks for the PATCH operation of a kind
//! (`x-kubernetes-group-version-kind`) and its `fieldValidation` parameter to know that the
//! server validates fields itself (`apply`, `edit`, `create`, `replace` with `--validate`); the
//! request bodies a PATCH takes say which patch types it accepts. The schemas give each kind's
//! top-level fields, no more.

use serde_json::{Map, Value, json};

use crate::resources::{RESOURCES, ResourceDef};

/// The group-versions this server serves, as `api/v1` or `apis/<group>/<version>`.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES {
        if !seen.contains(&(r.group, r.version)) {
            seen.push((r.group, r.version));
        }
    }
    seen
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// `GET /openapi/v3`: where each group-version's document is.
pub fn index() -> Value {
    let paths: Map<String, Value> = group_versions()
        .into_iter()
        .map(|(g, v)| {
            let p = gv_path(g, v);
            let url = format!("/openapi/v3/{p}?hash={}", hash(&p));
            (p, json!({ "serverRelativeURL": url }))
        })
        .collect();
    json!({ "paths": paths })
}

/// A stable tag for a document's URL (the real server uses its content's hash).
fn hash(path: &str) -> String {
    format!(
        "{:016X}",
        path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    )
}

fn schema_id(r: &ResourceDef) -> String {
    let group = match r.group {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
}

fn gvk(r: &ResourceDef) -> Value {
    json!({ "group": r.group, "version": r.version, "kind": r.kind })
}

fn query_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "description": description, "schema": { "type": "string", "uniqueItems": true } })
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "uniqueItems": true } })
}

/// The parameters of a write: what kubectl checks for before it leaves validation to us.
fn write_params() -> Vec<Value> {
    vec![
        query_param("dryRun", "When present, the modifications are not persisted."),
        query_param("fieldManager", "A name for the actor making these changes."),
        query_param("fieldValidation", "Ignore, Warn or Strict: what to do with unknown or duplicate fields."),
    ]
}

fn operation(r: &ResourceDef, action: &str, id: &str, params: Vec<Value>, body: Option<Vec<&str>>) -> Value {
    let reference = json!({ "$ref": format!("#/components/schemas/{}", schema_id(r)) });
    let mut op = json!({
        "operationId": id,
        "parameters": params,
        "responses": { "200": { "description": "OK", "content": { "application/json": { "schema": reference } } } },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r),
    });
    if let Some(types) = body {
        let content: Map<String, Value> =
            types.into_iter().map(|t| (t.to_string(), json!({ "schema": { "type": "object" } }))).collect();
        op["requestBody"] = json!({ "required": true, "content": content });
    }
    op
}

/// `GET /openapi/v3/<api/v1 | apis/group/version>`: the document of one group-version.
pub fn document(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&ResourceDef> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let prefix = format!("/{}", gv_path(group, version));
    for r in kinds {
        let base = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        let id = |verb: &str| format!("{verb}{}{}", if r.namespaced { "Namespaced" } else { "" }, r.kind);
        let mut scope_params = vec![];
        if r.namespaced {
            scope_params.push(path_param("namespace"));
        }
        let json_body = Some(vec!["application/json", "application/yaml"]);
        paths.insert(
            base.clone(),
            json!({
                "get": operation(r, "list", &id("list"), vec![query_param("labelSelector", ""), query_param("fieldSelector", "")], None),
                "post": operation(r, "post", &id("create"), write_params(), json_body.clone()),
                "delete": operation(r, "deletecollection", &id("deletecollection"), vec![], None),
                "parameters": scope_params.clone(),
            }),
        );
        let mut item_params = scope_params;
        item_params.insert(0, path_param("name"));
        let patch_types = vec![
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ];
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": operation(r, "get", &id("read"), vec![], None),
                "put": operation(r, "put", &id("replace"), write_params(), json_body),
                "patch": operation(r, "patch", &id("patch"), {
                    let mut p = write_params();
                    p.push(query_param("force", "Force is going to force Apply requests."));
                    p
                }, Some(patch_types)),
                "delete": operation(r, "delete", &id("delete"), vec![], None),
                "parameters": item_params,
            }),
        );
        schemas.insert(
            schema_id(r),
            json!({
                "description": format!("{} ({}).", r.kind, r.api_version()),
                "type": "object",
                "properties": {
                    "apiVersion": { "type": "string" },
                    "kind": { "type": "string" },
                    "metadata": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    "spec": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    "status": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    "data": { "type": "object", "additionalProperties": { "type": "string" } },
                },
                "x-kubernetes-group-version-kind": [gvk(r)],
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": crate::SERVER_VERSION },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_version_has_a_document_with_patchable_kinds() {
        let idx = index();
        let paths = idx["paths"].as_object().unwrap();
        assert!(paths.contains_key("api/v1") && paths.contains_key("apis/apps/v1"));
        let doc = document("apps", "v1").unwrap();
        let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
        assert!(patch["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
        assert!(document("nope", "v1").is_none());
        assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());
    }
}
