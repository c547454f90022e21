//! Kubernetes API request paths, read the way the API server reads them (its `RequestInfo`):
//! what a request through the API proxy touches, so that the gateway authorizes it and the
//! runner enforces the same scope. One parser for both sides, so they cannot disagree.

use crate::v1;

/// Why a request path is not one the proxy carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubePathError {
    /// The method is not one of the API's (GET, HEAD, POST, PUT, PATCH, DELETE).
    Method(String),
    /// Not an absolute, normalized path: empty segments, `.`/`..`, percent-escapes, control
    /// characters. The API server would read such a path differently than we do.
    NotNormalized(String),
    /// A namespace in the path that is not a DNS label.
    Namespace(String),
}

impl std::fmt::Display for KubePathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Method(m) => write!(f, "method {m:?} is not one the Kubernetes API takes"),
            Self::NotNormalized(p) => write!(
                f,
                "path {p:?} is not a plain Kubernetes API path (no empty segments, `.`, `..` or percent-escapes)"
            ),
            Self::Namespace(n) => write!(f, "namespace {n:?} in the path is not a valid namespace name"),
        }
    }
}

impl std::error::Error for KubePathError {}

/// Subresources that connect to something (a process, a port, a Service or a node), which is
/// operating on it whatever the HTTP method.
pub const CONNECT_SUBRESOURCES: [&str; 4] = ["exec", "attach", "portforward", "proxy"];

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Reads `method path?query` as the API server would.
pub fn scope(method: &str, path: &str, query: &str) -> Result<v1::KubeScope, KubePathError> {
    let verb = match method {
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        other => return Err(KubePathError::Method(other.to_string())),
    };
    let bad = || KubePathError::NotNormalized(path.to_string());
    let trimmed = path.strip_prefix('/').ok_or_else(bad)?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let parts: Vec<&str> = if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.bytes().any(|b| b == b'%' || b < 0x21 || b == 0x7f))
    {
        return Err(bad());
    }
    let mut s = v1::KubeScope {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        verb: verb.into(),
        ..Default::default()
    };
    // `/api/v1/…` is the core group; `/apis/<group>/<version>/…` the others. Shorter paths, and
    // everything else (`/version`, `/openapi/v3`), are discovery.
    let rest = match parts.as_slice() {
        ["api", _version, rest @ ..] if !rest.is_empty() => rest,
        ["apis", group, _version, rest @ ..] if !rest.is_empty() => {
            s.api_group = group.to_string();
            rest
        }
        _ => return Ok(s),
    };
    s.resource_request = true;
    let mut rest = rest;
    // The legacy `/watch/` prefix.
    if let ["watch", tail @ ..] = rest
        && !tail.is_empty()
    {
        if verb != "get" {
            return Err(KubePathError::Method(format!("{method} on a /watch/ path")));
        }
        s.verb = "watch".into();
        rest = tail;
    }
    if let ["namespaces", ns, tail @ ..] = rest {
        if !dns_label(ns) {
            return Err(KubePathError::Namespace(ns.to_string()));
        }
        // `/namespaces/<ns>/status` and `/finalize` are the namespace object's own
        // subresources, and `/namespaces/<ns>` the object itself: cluster-scoped, so its name
        // is not a namespace the request is in.
        if !tail.is_empty() && !matches!(tail[0], "status" | "finalize") {
            s.namespace = ns.to_string();
            rest = tail;
        }
    }
    s.resource = rest[0].to_string();
    s.name = rest.get(1).map(|n| n.to_string()).unwrap_or_default();
    s.subresource = rest.get(2).map(|n| n.to_string()).unwrap_or_default();
    if s.name.is_empty() {
        match s.verb.as_str() {
            "get" => s.verb = if flag(query, "watch") { "watch" } else { "list" }.into(),
            "delete" => s.verb = "deletecollection".into(),
            _ => {}
        }
    } else if s.verb == "get" && flag(query, "watch") {
        s.verb = "watch".into();
    }
    Ok(s)
}

/// A boolean query parameter, as the API server reads one: the first value of the
/// (percent-decoded) key is true unless absent, `0` or `false` (any case). Reading it any
/// other way would let `watch=yes` pass as a plain list.
pub fn flag(query: &str, name: &str) -> bool {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .is_some_and(|(_, v)| !(v == "0" || v.eq_ignore_ascii_case("false")))
}

/// Paths outside the resource API that any reader may fetch: discovery, OpenAPI, the version
/// and health (not verbose). Everything else there (`/metrics`, `/debug/pprof`, `/logs`) is
/// the cluster operator's business: admin only, and never in developer mode.
pub fn is_discovery(s: &v1::KubeScope, query: &str) -> bool {
    let parts: Vec<&str> = s.path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] | ["version"] => true,
        ["openapi", "v2"] | ["openapi", "v3", ..] => true,
        ["healthz"] | ["livez"] | ["readyz"] => !flag(query, "verbose"),
        _ => false,
    }
}

/// Whether the response is a stream that stays open (a watch, or a followed log).
pub fn streams(s: &v1::KubeScope, query: &str) -> bool {
    s.verb == "watch" || (s.resource == "pods" && s.subresource == "log" && flag(query, "follow"))
}

/// A question about oneself (`kubectl auth can-i`, `auth whoami`): creating one reads.
pub fn is_self_review(s: &v1::KubeScope) -> bool {
    s.verb == "create"
        && s.name.is_empty()
        && ((s.api_group == "authorization.k8s.io"
            && matches!(s.resource.as_str(), "selfsubjectaccessreviews" | "selfsubjectrulesreviews"))
            || (s.api_group == "authentication.k8s.io" && s.resource == "selfsubjectreviews"))
}

/// Read (get, list, watch, discovery, self-reviews) or operate (everything else, and every
/// connection to a process, port or service).
pub fn verb_class(s: &v1::KubeScope) -> v1::VerbClass {
    if !s.resource_request && !is_discovery(s, &s.query) {
        return v1::VerbClass::Admin;
    }
    if CONNECT_SUBRESOURCES.contains(&s.subresource.as_str()) {
        return v1::VerbClass::Operate;
    }
    if matches!(s.verb.as_str(), "get" | "list" | "watch") || is_self_review(s) {
        v1::VerbClass::Read
    } else {
        v1::VerbClass::Operate
    }
}

/// Whether the request reads Secrets' data (which only roles that read Secrets may).
pub fn reads_secrets(s: &v1::KubeScope) -> bool {
    s.resource_request && s.api_group.is_empty() && s.resource == "secrets"
}

/// The audited op name: `kubernetes.proxy.<verb>` or, for a subresource connection,
/// `kubernetes.proxy.<subresource>`.
pub fn op_name(s: &v1::KubeScope) -> &'static str {
    match (s.verb.as_str(), s.subresource.as_str()) {
        (_, "exec") => "kubernetes.proxy.exec",
        (_, "attach") => "kubernetes.proxy.attach",
        (_, "portforward") => "kubernetes.proxy.portforward",
        (_, "proxy") => "kubernetes.proxy.proxy",
        ("get", _) if !s.resource_request && is_discovery(s, &s.query) => "kubernetes.proxy.discovery",
        (_, _) if !s.resource_request => "kubernetes.proxy.nonresource",
        ("get", _) => "kubernetes.proxy.get",
        ("list", _) => "kubernetes.proxy.list",
        ("watch", _) => "kubernetes.proxy.watch",
        ("create", _) => "kubernetes.proxy.create",
        ("update", _) => "kubernetes.proxy.update",
        ("patch", _) => "kubernetes.proxy.patch",
        ("delete", _) => "kubernetes.proxy.delete",
        ("deletecollection", _) => "kubernetes.proxy.deletecollection",
        _ => "kubernetes.proxy",
    }
}

/// Why a namespace-locked caller (developer mode) may not make this request, or `None`.
pub fn outside_namespace(s: &v1::KubeScope, locked_to: &str) -> Option<String> {
    if !s.resource_request && !is_discovery(s, &s.query) {
        return Some(format!(
            "developer access is limited to namespace {locked_to}: {} is not part of the API it may read",
            s.path
        ));
    }
    if !s.resource_request {
        // Discovery, OpenAPI and /version describe the API, not what is in it.
        return (s.method != "GET" && s.method != "HEAD")
            .then(|| format!("{} {} changes nothing a developer may change", s.method, s.path));
    }
    if is_self_review(s) {
        return None;
    }
    if s.namespace.is_empty() {
        let what = if s.resource == "namespaces" {
            "namespaces are cluster-scoped".to_string()
        } else {
            format!("{} across namespaces or cluster-scoped is outside it", kind_of(s))
        };
        return Some(format!("developer access is limited to namespace {locked_to}: {what}"));
    }
    (s.namespace != locked_to).then(|| {
        format!("developer access is limited to namespace {locked_to}: namespace {} is outside it", s.namespace)
    })
}

/// Why a caller limited to a workload's pods (developer mode on a Deployment, CronJob, ...)
/// may not make this request whatever pod it names, or `None`: all of the namespace's pods at
/// once, or a binding of pods to nodes. Named pods are checked against the workload by the
/// runner, which can see their controllers.
pub fn outside_workload(s: &v1::KubeScope, owner_kind: &str, owner_name: &str) -> Option<String> {
    if owner_kind.is_empty() || !s.resource_request || !s.api_group.is_empty() {
        return None;
    }
    let workload = format!("{owner_kind} {owner_name:?}");
    if s.resource == "bindings" || (s.resource == "pods" && s.subresource == "binding") {
        return Some(format!("binding pods to nodes is outside {workload}, which this context is limited to"));
    }
    (s.resource == "pods" && s.verb == "deletecollection").then(|| {
        format!(
            "deleting every pod of namespace {} is outside {workload}, which this context is limited to; delete its pods by name",
            s.namespace
        )
    })
}

fn kind_of(s: &v1::KubeScope) -> String {
    if s.api_group.is_empty() { s.resource.clone() } else { format!("{}.{}", s.resource, s.api_group) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(method: &str, path: &str, query: &str) -> v1::KubeScope {
        scope(method, path, query).unwrap()
    }

    #[test]
    fn resource_paths_read_as_the_api_server_reads_them() {
        let s = sc("GET", "/api/v1/namespaces/payments/pods/web-1", "");
        assert_eq!(
            (s.verb.as_str(), s.namespace.as_str(), s.resource.as_str(), s.name.as_str()),
            ("get", "payments", "pods", "web-1")
        );
        let s = sc("GET", "/api/v1/namespaces/payments/pods", "labelSelector=app%3Dweb");
        assert_eq!((s.verb.as_str(), s.name.as_str()), ("list", ""));
        let s = sc("GET", "/apis/apps/v1/namespaces/payments/deployments", "watch=true&resourceVersion=7");
        assert_eq!((s.verb.as_str(), s.api_group.as_str()), ("watch", "apps"));
        assert!(streams(&s, "watch=true"));
        let s = sc("GET", "/api/v1/namespaces/payments/pods/web-1/log", "follow=true&container=app");
        assert_eq!((s.verb.as_str(), s.subresource.as_str()), ("get", "log"));
        assert!(streams(&s, "follow=true&container=app") && verb_class(&s) == v1::VerbClass::Read);
        let s = sc("PATCH", "/apis/apps/v1/namespaces/payments/deployments/web/scale", "");
        assert_eq!((s.verb.as_str(), s.subresource.as_str()), ("patch", "scale"));
        assert_eq!(verb_class(&s), v1::VerbClass::Operate);
        let s = sc("DELETE", "/api/v1/namespaces/payments/pods", "labelSelector=x");
        assert_eq!(s.verb, "deletecollection");
        let s = sc("GET", "/api/v1/pods", "");
        assert_eq!((s.verb.as_str(), s.namespace.as_str()), ("list", ""));
        let s = sc("GET", "/api/v1/watch/namespaces/payments/pods", "");
        assert_eq!((s.verb.as_str(), s.namespace.as_str(), s.resource.as_str()), ("watch", "payments", "pods"));
    }

    #[test]
    fn the_namespace_object_is_cluster_scoped() {
        let s = sc("GET", "/api/v1/namespaces/payments", "");
        assert_eq!((s.resource.as_str(), s.name.as_str(), s.namespace.as_str()), ("namespaces", "payments", ""));
        let s = sc("PUT", "/api/v1/namespaces/payments/finalize", "");
        assert_eq!((s.resource.as_str(), s.subresource.as_str(), s.namespace.as_str()), ("namespaces", "finalize", ""));
        assert!(outside_namespace(&s, "payments").unwrap().contains("cluster-scoped"));
    }

    #[test]
    fn discovery_is_not_a_resource_request() {
        for p in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3",
            "/openapi/v3/apis/apps/v1",
        ] {
            let s = sc("GET", p, "");
            assert!(!s.resource_request, "{p}");
            assert_eq!(op_name(&s), "kubernetes.proxy.discovery");
            assert_eq!(outside_namespace(&s, "payments"), None, "{p}");
        }
        assert!(outside_namespace(&sc("POST", "/version", ""), "payments").is_some());
    }

    #[test]
    fn connections_operate_whatever_the_method() {
        for sub in CONNECT_SUBRESOURCES {
            let s = sc("GET", &format!("/api/v1/namespaces/payments/pods/web-1/{sub}"), "");
            assert_eq!(verb_class(&s), v1::VerbClass::Operate, "{sub}");
        }
        assert_eq!(op_name(&sc("GET", "/api/v1/namespaces/p/pods/w/exec", "command=sh")), "kubernetes.proxy.exec");
    }

    #[test]
    fn developer_mode_stays_in_its_namespace() {
        assert_eq!(outside_namespace(&sc("GET", "/api/v1/namespaces/payments/pods", ""), "payments"), None);
        let e = outside_namespace(&sc("GET", "/api/v1/namespaces/kube-system/pods", ""), "payments").unwrap();
        assert!(
            e.contains("namespace kube-system is outside it") && e.contains("limited to namespace payments"),
            "{e}"
        );
        let e = outside_namespace(&sc("GET", "/api/v1/nodes", ""), "payments").unwrap();
        assert!(e.contains("nodes across namespaces or cluster-scoped"), "{e}");
        let e = outside_namespace(&sc("GET", "/apis/apps/v1/deployments", ""), "payments").unwrap();
        assert!(e.contains("deployments.apps"), "{e}");
        // `kubectl auth can-i` asks about oneself: allowed, the answer is the cluster's.
        let s = sc("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "");
        assert!(is_self_review(&s) && verb_class(&s) == v1::VerbClass::Read);
        assert_eq!(outside_namespace(&s, "payments"), None);
    }

    #[test]
    fn secrets_are_recognised_in_every_form() {
        for (m, p) in [
            ("GET", "/api/v1/secrets"),
            ("GET", "/api/v1/namespaces/p/secrets"),
            ("GET", "/api/v1/namespaces/p/secrets/db"),
            ("GET", "/api/v1/watch/namespaces/p/secrets"),
        ] {
            assert!(reads_secrets(&sc(m, p, "")), "{p}");
        }
        assert!(!reads_secrets(&sc("GET", "/apis/example.com/v1/namespaces/p/secrets", "")));
    }

    #[test]
    fn paths_that_could_be_read_two_ways_are_refused() {
        for p in [
            "",
            "api/v1/pods",
            "/api//v1/pods",
            "/api/v1/namespaces/../pods",
            "/api/v1/namespaces/p/pods/%2e%2e",
            "/api/v1/pods/a\tb",
        ] {
            assert!(matches!(scope("GET", p, ""), Err(KubePathError::NotNormalized(_))), "{p:?}");
        }
        assert!(matches!(scope("GET", "/api/v1/namespaces/Bad_NS/pods", ""), Err(KubePathError::Namespace(_))));
        assert!(matches!(scope("TRACE", "/api", ""), Err(KubePathError::Method(_))));
    }

    #[test]
    fn flags_read_as_the_api_server_reads_them() {
        assert!(flag("a=1&watch=true", "watch") && flag("watch=1", "watch"));
        // Anything but absent, 0 or false is true, and keys are percent-decoded.
        assert!(flag("watch=yes", "watch") && flag("watch", "watch") && flag("wat%63h=1", "watch"));
        assert!(flag("follow=True", "follow"));
        assert!(!flag("watch=false", "watch") && !flag("watch=FALSE", "watch") && !flag("watch=0", "watch"));
        assert!(!flag("nowatch=true", "watch") && !flag("", "watch"));
        // The first value counts.
        assert!(!flag("watch=false&watch=true", "watch"));
    }

    #[test]
    fn only_discovery_is_open_outside_the_resource_api() {
        for (p, q) in [
            ("/api", ""),
            ("/apis/apps/v1", ""),
            ("/openapi/v3/apis/apps/v1", "hash=x"),
            ("/version", ""),
            ("/readyz", ""),
        ] {
            let s = scope("GET", p, q).unwrap();
            assert!(is_discovery(&s, q) && verb_class(&s) == v1::VerbClass::Read, "{p}");
        }
        for (p, q) in [("/metrics", ""), ("/debug/pprof/goroutine", "debug=2"), ("/logs/", ""), ("/readyz", "verbose")]
        {
            let s = scope("GET", p, q).unwrap();
            assert_eq!(verb_class(&s), v1::VerbClass::Admin, "{p}?{q}");
            assert!(outside_namespace(&s, "payments").unwrap().contains("not part of the API"), "{p}");
        }
        assert!(matches!(scope("DELETE", "/api/v1/watch/namespaces/p/pods", ""), Err(KubePathError::Method(_))));
        assert!(streams(&scope("GET", "/api/v1/namespaces/p/pods", "watch=yes").unwrap(), "watch=yes"));
    }
}
