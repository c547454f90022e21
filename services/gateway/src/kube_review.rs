//! Questions about oneself through the Kubernetes API proxy, answered from Cloud Ops grants:
//! what the cluster's RBAC would say is about the runner's service account, not the person.
//!
//! - `SelfSubjectAccessReview` (`kubectl auth can-i VERB RESOURCE`): resolved and decided as
//!   that request would be (role, Secrets, developer mode's namespace), recorded in the audit
//!   log as `kubernetes.proxy.review`, never carried out;
//! - `SelfSubjectRulesReview` (`kubectl auth can-i --list`): `incomplete`, with a note that
//!   Cloud Ops decides request by request;
//! - `SelfSubjectReview` (`kubectl auth whoami`): the Cloud Ops principal.
//!
//! kubectl sends these as protobuf (`application/vnd.kubernetes.protobuf`): the messages below
//! are the few fields of `k8s.io/api` that they need, read and written by prost; any other
//! field is skipped.

use axum::{
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use cloudops_schemas::{
    kube_api,
    kube_proto::{
        self, AccessReviewStatus, NonResourceAttributes, PROTOBUF, ResourceAttributes, RulesReviewStatus, UserInfo,
    },
    v1,
};
use serde_json::{Value, json};

use crate::{kube_proxy::status, routes::AppState};

/// The verbs Cloud Ops carries (and `*`): a review of any other (impersonate, bind, escalate)
/// is answered no, since the proxy never passes such a request on.
const CARRIED_VERBS: [&str; 9] =
    ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"];

/// A decoded review request, in whichever encoding it came.
struct Asked {
    protobuf: bool,
    api_version: String,
    /// The spec, to send back as it came: JSON, or the protobuf bytes.
    spec_json: Value,
    spec_raw: Vec<u8>,
    attributes: Option<ResourceAttributes>,
    non_resource: Option<NonResourceAttributes>,
}

fn decode(headers: &HeaderMap, body: &[u8]) -> Result<Asked, String> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with(PROTOBUF) {
        let d = kube_proto::decode_review(body)?;
        return Ok(Asked {
            protobuf: true,
            api_version: d.api_version,
            spec_json: Value::Null,
            spec_raw: d.spec_raw,
            attributes: d.spec.resource_attributes,
            non_resource: d.spec.non_resource_attributes,
        });
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("the review is not JSON: {e}"))?;
    let text = |o: &Value, k: &str| o[k].as_str().unwrap_or_default().to_string();
    let ra = &v["spec"]["resourceAttributes"];
    let nra = &v["spec"]["nonResourceAttributes"];
    Ok(Asked {
        protobuf: false,
        api_version: text(&v, "apiVersion"),
        spec_json: v["spec"].clone(),
        spec_raw: Vec::new(),
        attributes: ra.is_object().then(|| ResourceAttributes {
            namespace: text(ra, "namespace"),
            verb: text(ra, "verb"),
            group: text(ra, "group"),
            version: text(ra, "version"),
            resource: text(ra, "resource"),
            subresource: text(ra, "subresource"),
            name: text(ra, "name"),
        }),
        non_resource: nra
            .is_object()
            .then(|| NonResourceAttributes { path: text(nra, "path"), verb: text(nra, "verb") }),
    })
}

/// Built-in kinds without a namespace: a review of them names none, whatever kubectl sent
/// (so that developer mode answers no, as it would refuse them).
const CLUSTER_SCOPED: [&str; 14] = [
    "nodes",
    "namespaces",
    "persistentvolumes",
    "componentstatuses",
    "clusterroles",
    "clusterrolebindings",
    "storageclasses",
    "csidrivers",
    "csinodes",
    "volumeattachments",
    "customresourcedefinitions",
    "apiservices",
    "priorityclasses",
    "certificatesigningrequests",
];

/// A name in a review: what the API's own names are made of, or `*`.
fn plain(what: &str, s: &str) -> Result<(), String> {
    let ok = s == "*"
        || (s.len() <= 253 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':')));
    if ok { Ok(()) } else { Err(format!("resourceAttributes.{what} {s:?} is not a name")) }
}

/// The request a review asks about, as the proxy would read it. A wildcard resource or group
/// is asked as the strictest thing it covers, Secrets.
fn asked_scope(asked: &Asked) -> Result<v1::KubeScope, String> {
    if let Some(n) = &asked.non_resource {
        let method = if matches!(n.verb.as_str(), "get" | "head") { "GET" } else { "POST" };
        let mut s = kube_api::scope(method, &n.path, "").map_err(|e| e.to_string())?;
        s.verb = n.verb.clone();
        return Ok(s);
    }
    let a = asked.attributes.as_ref().ok_or("the review names neither resourceAttributes nor nonResourceAttributes")?;
    for (what, value) in [
        ("namespace", &a.namespace),
        ("verb", &a.verb),
        ("group", &a.group),
        ("version", &a.version),
        ("resource", &a.resource),
        ("subresource", &a.subresource),
        ("name", &a.name),
    ] {
        if !value.is_empty() {
            plain(what, value)?;
        }
    }
    let mut a = a.clone();
    if a.resource == "*" || a.group == "*" {
        (a.resource, a.group) = ("secrets".into(), String::new());
    }
    if CLUSTER_SCOPED.contains(&a.resource.as_str()) {
        a.namespace.clear();
    }
    let method = match a.verb.as_str() {
        "get" | "list" | "watch" => "GET",
        "create" => "POST",
        "update" => "PUT",
        "patch" => "PATCH",
        _ => "DELETE",
    };
    let version = if a.version.is_empty() || a.version == "*" { "v1" } else { a.version.as_str() };
    let mut path = if a.group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{}/{version}", a.group) };
    if !a.namespace.is_empty() {
        path.push_str(&format!("/namespaces/{}", a.namespace));
    }
    for part in [a.resource.as_str(), a.name.as_str(), a.subresource.as_str()].iter().filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
    }
    Ok(v1::KubeScope {
        method: method.into(),
        path,
        resource_request: true,
        verb: a.verb.clone(),
        namespace: a.namespace.clone(),
        api_group: a.group.clone(),
        resource: a.resource.clone(),
        subresource: a.subresource.clone(),
        name: a.name.clone(),
        query: String::new(),
    })
}

/// Answers a self-review (`scope` is the review request itself), or `None` for a request
/// that is not one.
pub async fn answer(
    s: &AppState,
    who: &crate::routes::Authenticated,
    target: v1::Target,
    scope: &v1::KubeScope,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    if !kube_api::is_self_review(scope) {
        return None;
    }
    let asked = match decode(headers, body) {
        Ok(a) => a,
        Err(e) => return Some(status(StatusCode::BAD_REQUEST, &e)),
    };
    Some(match scope.resource.as_str() {
        "selfsubjectreviews" => whoami(who, &asked),
        "selfsubjectrulesreviews" => rules(&asked),
        _ => access(s, who, target, &asked).await,
    })
}

async fn access(s: &AppState, who: &crate::routes::Authenticated, target: v1::Target, asked: &Asked) -> Response {
    let verb = asked.attributes.as_ref().map(|a| a.verb.as_str()).unwrap_or("get");
    let subresource = asked.attributes.as_ref().map(|a| a.subresource.as_str()).unwrap_or_default();
    let not_carried = match &asked.non_resource {
        Some(n) => kube_api::scope("GET", &n.path, "").map_or(true, |s| !kube_api::is_discovery(&s, "")),
        None => !CARRIED_VERBS.contains(&verb) || subresource == "proxy",
    };
    let (allowed, reason) = if not_carried {
        let what = match &asked.non_resource {
            Some(n) => n.path.clone(),
            None if !subresource.is_empty() && CARRIED_VERBS.contains(&verb) => format!("{subresource} requests"),
            None => format!("{verb:?} requests"),
        };
        (false, format!("Cloud Ops does not carry {what} to the cluster"))
    } else {
        let kube = match asked_scope(asked) {
            Ok(k) => k,
            Err(e) => return status(StatusCode::BAD_REQUEST, &e),
        };
        let op = v1::Op {
            kind: Some(v1::op::Kind::KubeHttp(v1::KubeHttp {
                method: kube.method.clone(),
                path: kube.path.clone(),
                ..Default::default()
            })),
        };
        // Admin mode: resolved (and audited) in the namespace asked about.
        let mut target = target;
        if target.resource.is_empty() && !kube.namespace.is_empty() {
            target.namespace = kube.namespace.clone();
        }
        match crate::pipeline::review(&s.deps.roles, who.caller(), target, op, kube).await {
            Ok(d) => (d.allowed, d.reason),
            Err(e) => return status(crate::error::http_status(&e), &e.message),
        }
    };
    let status_json = json!({ "allowed": allowed, "reason": reason });
    let status = AccessReviewStatus { allowed, reason, evaluation_error: String::new(), denied: false };
    reply(asked, "SelfSubjectAccessReview", status_json, &status)
}

fn rules(asked: &Asked) -> Response {
    let note = "Cloud Ops decides each request from its grants: ask about one (kubectl auth can-i VERB RESOURCE)";
    let status_json =
        json!({ "resourceRules": [], "nonResourceRules": [], "incomplete": true, "evaluationError": note });
    let status = RulesReviewStatus { incomplete: true, evaluation_error: note.into() };
    reply(asked, "SelfSubjectRulesReview", status_json, &status)
}

fn whoami(who: &crate::routes::Authenticated, asked: &Asked) -> Response {
    let (username, uid) = (who.principal.name.clone(), who.principal.id.clone());
    let groups = vec!["cloudops:authenticated".to_string()];
    if asked.protobuf {
        let body = kube_proto::encode_subject_review(&asked.api_version, UserInfo { username, uid, groups });
        return created(PROTOBUF, body);
    }
    let body = json!({
        "kind": "SelfSubjectReview", "apiVersion": api_version(asked, "authentication.k8s.io/v1"), "metadata": {},
        "status": { "userInfo": { "username": username, "uid": uid, "groups": groups } },
    });
    created("application/json", body.to_string().into_bytes())
}

/// A review's reply, with the headers of every proxied answer.
fn created(content_type: &'static str, body: Vec<u8>) -> Response {
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"),
    ];
    (StatusCode::CREATED, headers, body).into_response()
}

fn api_version(asked: &Asked, default: &str) -> String {
    if asked.api_version.is_empty() { default.to_string() } else { asked.api_version.clone() }
}

/// The review sent back with its status, in the encoding it came in.
fn reply<S: kube_proto::Status>(asked: &Asked, kind: &str, status_json: Value, status: &S) -> Response {
    if asked.protobuf {
        return created(PROTOBUF, kube_proto::encode_review(&asked.api_version, kind, asked.spec_raw.clone(), status));
    }
    let body = json!({
        "kind": kind, "apiVersion": api_version(asked, "authorization.k8s.io/v1"), "metadata": {},
        "spec": asked.spec_json, "status": status_json,
    });
    created("application/json", body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(ra: ResourceAttributes) -> Asked {
        Asked {
            protobuf: true,
            api_version: String::new(),
            spec_json: Value::Null,
            spec_raw: Vec::new(),
            attributes: Some(ra),
            non_resource: None,
        }
    }

    #[test]
    fn a_protobuf_review_asks_about_the_request_it_names() {
        let a = asked(ResourceAttributes {
            namespace: "payments".into(),
            verb: "create".into(),
            resource: "pods".into(),
            subresource: "exec".into(),
            ..Default::default()
        });
        let s = asked_scope(&a).unwrap();
        assert_eq!((s.verb.as_str(), s.namespace.as_str(), s.subresource.as_str()), ("create", "payments", "exec"));
        assert_eq!(s.path, "/api/v1/namespaces/payments/pods/exec");
        assert_eq!(kube_api::verb_class(&s), v1::VerbClass::Operate);
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, PROTOBUF.parse().unwrap());
        assert!(decode(&headers, b"not protobuf").is_err());
    }

    #[test]
    fn a_secret_read_is_asked_as_the_proxy_reads_it() {
        let s = asked_scope(&asked(ResourceAttributes {
            namespace: "shop".into(),
            verb: "get".into(),
            resource: "secrets".into(),
            name: "db".into(),
            ..Default::default()
        }))
        .unwrap();
        assert!(kube_api::reads_secrets(&s));
        assert_eq!(s.path, "/api/v1/namespaces/shop/secrets/db");
        let s = asked_scope(&asked(ResourceAttributes {
            verb: "list".into(),
            group: "apps".into(),
            resource: "deployments".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!((s.path.as_str(), s.namespace.as_str()), ("/apis/apps/v1/deployments", ""));
        // A wildcard is asked as Secrets; a cluster-scoped kind names no namespace.
        let s = asked_scope(&asked(ResourceAttributes {
            namespace: "shop".into(),
            verb: "get".into(),
            resource: "*".into(),
            ..Default::default()
        }))
        .unwrap();
        assert!(kube_api::reads_secrets(&s));
        let s = asked_scope(&asked(ResourceAttributes {
            namespace: "shop".into(),
            verb: "list".into(),
            resource: "nodes".into(),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!((s.path.as_str(), s.namespace.as_str()), ("/api/v1/nodes", ""));
        let bad = asked(ResourceAttributes { verb: "get".into(), resource: "pods x".into(), ..Default::default() });
        assert!(asked_scope(&bad).unwrap_err().contains("is not a name"));
    }
}
