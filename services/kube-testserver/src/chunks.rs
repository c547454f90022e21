//! A collection's list, whole or in chunks (`limit`, `continue`), as an API server serves it.
//!
//! A chunk ends with a continue token naming the list's resourceVersion and the last key served,
//! relative to the list's prefix as the API server's is (URL-safe base64 of
//! `{"v":"meta.k8s.io/v1","rv":…,"start":"<name>\u0000"}` in one namespace, `"<ns>/<name>\u0000"`
//! across namespaces). A real API server serves every chunk from the first one's snapshot
//! until etcd compacts it; this one keeps no history, so a token is refused with 410 Expired as
//! soon as anything changed since its first chunk, and a client lists again in full, as
//! client-go's pager does. `remainingItemCount` is given when no selector filters the list.

use axum::{http::StatusCode, response::Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{Cluster, ResourceDef, json_response, status_error};

const TOKEN_VERSION: &str = "meta.k8s.io/v1";
const EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// What a list request asks for beyond the collection: a chunk size and where to resume.
pub(crate) struct ListQuery<'a> {
    pub limit: Option<&'a str>,
    pub continue_token: Option<&'a str>,
    /// Whether a label or field selector filters the items (then no remaining count is known).
    pub filtered: bool,
}

/// The `…List` of `def` in `ns` (every namespace when None), of the objects `keep` admits.
pub(crate) fn list(
    cluster: &Cluster,
    def: &ResourceDef,
    ns: Option<&str>,
    q: ListQuery<'_>,
    keep: impl Fn(&Value) -> bool,
) -> Response {
    let limit = match q.limit.map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n as usize),
        // 0 and negative limits mean "everything", as the API server takes them.
        Some(Ok(_)) => None,
        Some(Err(_)) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("limit: {:?} is not an integer", q.limit.unwrap_or_default()),
                None,
            );
        }
    };
    let scope = Scope::of(def, ns);
    let start = match q.continue_token.filter(|t| !t.is_empty()).map(|t| decode(t, &scope)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("continue key is not valid: {e}"),
                None,
            );
        }
    };
    let g = cluster.inner.read().expect("cluster lock");
    let rv = g.resource_version;
    if let Some(t) = &start
        && t.rv != rv
    {
        return status_error(StatusCode::GONE, "Expired", EXPIRED.into(), None);
    }
    let empty = Default::default();
    let all = g.by_resource.get(&def.key()).unwrap_or(&empty);
    let after = match &start {
        Some(t) => all.range((std::ops::Bound::Excluded(t.key.clone()), std::ops::Bound::Unbounded)),
        None => all.range::<(String, String), _>(..),
    };
    let mut matching = after.filter(|((n, _), o)| ns.is_none_or(|want| n == want) && keep(o));
    let mut items = Vec::new();
    let mut last = None;
    for (key, o) in matching.by_ref() {
        // Items of a list carry no kind/apiVersion, as from a real API server.
        let mut o = o.clone();
        if let Some(m) = o.as_object_mut() {
            m.remove("kind");
            m.remove("apiVersion");
        }
        items.push(o);
        last = Some(key);
        if limit.is_some_and(|l| items.len() >= l) {
            break;
        }
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if limit.is_some_and(|l| items.len() >= l) {
        let remaining = matching.count();
        if remaining > 0 {
            let key = last.expect("a full chunk has a last item");
            metadata["continue"] = json!(encode(rv, key, &scope));
            if !q.filtered {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
    }
    json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", def.kind),
            "apiVersion": def.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    )
}

/// Where a chunk resumes: after `key`, in the list at `rv`.
#[derive(Debug)]
struct Token {
    rv: u64,
    key: (String, String),
}

/// What a list's keys are relative to, as the API server's etcd prefix: one namespace, every
/// namespace, or a cluster-scoped collection.
enum Scope {
    Namespace(String),
    AllNamespaces,
    Cluster,
}

impl Scope {
    fn of(def: &ResourceDef, ns: Option<&str>) -> Scope {
        match ns {
            _ if !def.namespaced => Scope::Cluster,
            Some(ns) => Scope::Namespace(ns.to_string()),
            None => Scope::AllNamespaces,
        }
    }
}

fn encode(rv: u64, (ns, name): &(String, String), scope: &Scope) -> String {
    let start = match scope {
        Scope::AllNamespaces => format!("{ns}/{name}\u{0}"),
        Scope::Namespace(_) | Scope::Cluster => format!("{name}\u{0}"),
    };
    let t = json!({"v": TOKEN_VERSION, "rv": rv, "start": start});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.to_string())
}

fn decode(token: &str, scope: &Scope) -> Result<Token, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|e| format!("not base64: {e}"))?;
    let t: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    if t["v"] != TOKEN_VERSION {
        return Err(format!("version {} is not {TOKEN_VERSION}", t["v"]));
    }
    let rv = t["rv"].as_u64().ok_or("no resourceVersion")?;
    let start = t["start"].as_str().and_then(|s| s.strip_suffix('\u{0}')).ok_or("no start key")?;
    // As the API server appends the key to the list's prefix: in one namespace or a cluster-scoped
    // list it is a name, whatever it holds; across namespaces, a namespace (which holds no '/')
    // and a name.
    let key = match scope {
        Scope::AllNamespaces => match start.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => return Err("the start key is not <namespace>/<name>".into()),
        },
        Scope::Namespace(ns) => (ns.clone(), start.to_string()),
        Scope::Cluster => (String::new(), start.to_string()),
    };
    Ok(Token { rv, key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_named() {
        let key = ("default".to_string(), "web-1".to_string());
        let all = Scope::AllNamespaces;
        let t = decode(&encode(42, &key, &all), &all).unwrap();
        assert_eq!((t.rv, t.key), (42, key.clone()));
        let default = Scope::Namespace("default".into());
        let in_ns = encode(42, &key, &default);
        assert_eq!(decode(&in_ns, &default).unwrap().key, key);
        // The API server's shape: the key relative to the list's prefix.
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&in_ns).unwrap();
        let raw: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(raw, json!({"v": "meta.k8s.io/v1", "rv": 42, "start": "web-1\u{0}"}));
        // A token of another namespace's list resumes there, as on a real server: its key is a
        // name. A name the store holds with a '/' (the test server does not refuse one) comes
        // back whole.
        let other_ns = Scope::Namespace("kube-system".into());
        assert_eq!(decode(&in_ns, &other_ns).unwrap().key, ("kube-system".to_string(), "web-1".to_string()));
        let odd = ("default".to_string(), "a/b".to_string());
        assert_eq!(decode(&encode(42, &odd, &default), &default).unwrap().key, odd);
        assert_eq!(decode(&in_ns, &all).unwrap_err(), "the start key is not <namespace>/<name>");
        let node = (String::new(), "node-a".to_string());
        assert_eq!(decode(&encode(7, &node, &Scope::Cluster), &Scope::Cluster).unwrap().key, node);
        assert!(decode("%%%", &all).unwrap_err().starts_with("not base64"));
        let other = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"v":"x","rv":1,"start":"a/b\u0000"}"#);
        assert_eq!(decode(&other, &all).err().unwrap(), r#"version "x" is not meta.k8s.io/v1"#);
    }
}
