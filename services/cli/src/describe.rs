//! `kubectl describe`'s layout for the describe op's answer ({object, events}): header fields,
//! kind-specific sections, then Events (the console writes the same, console/src/kube.js).

use serde_json::Value;

use crate::{printers, s};

fn labels(m: &Value) -> String {
    match m.as_object() {
        Some(o) if !o.is_empty() => o
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(&format!("\n{:DESCRIBE_WIDTH$}", "")),
        _ => "<none>".into(),
    }
}

/// The column where describe's header values start: past the longest field name,
/// `CreationTimestamp:`, and two spaces, as kubectl's tab writer aligns them.
const DESCRIBE_WIDTH: usize = 20;

/// A timestamp as kubectl describe prints it (RFC 1123 with a numeric zone); anything that is
/// not RFC 3339 is printed as it came.
fn describe_time(v: &Value) -> String {
    let raw = s(v);
    chrono::DateTime::parse_from_rfc3339(&raw).map_or(raw, |t| t.format("%a, %d %b %Y %H:%M:%S %z").to_string())
}

/// kubectl's describe layout: header fields, kind-specific sections, then Events.
pub fn describe(o: &Value, events: &Value) -> String {
    let md = &o["metadata"];
    let kind = o["kind"].as_str().unwrap_or("");
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{:<DESCRIBE_WIDTH$}{v}\n", format!("{k}:")));
    field("Name", s(&md["name"]));
    if md.get("namespace").is_some() {
        field("Namespace", s(&md["namespace"]));
    }
    field("Labels", labels(&md["labels"]));
    field("Annotations", labels(&md["annotations"]));
    field("CreationTimestamp", describe_time(&md["creationTimestamp"]));
    if let Some(owner) = md["ownerReferences"].as_array().and_then(|r| r.first()) {
        field("Controlled By", format!("{}/{}", s(&owner["kind"]), s(&owner["name"])));
    }
    match kind {
        "Pod" => {
            field("Node", s(&o["spec"]["nodeName"]));
            field("Start Time", describe_time(&o["status"]["startTime"]));
            field("Status", s(&o["status"]["phase"]));
            field("IP", s(&o["status"]["podIP"]));
            out.push_str("Containers:\n");
            let statuses = o["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            for c in o["spec"]["containers"].as_array().into_iter().flatten() {
                let st = statuses.iter().find(|x| x["name"] == c["name"]).cloned().unwrap_or(Value::Null);
                out.push_str(&format!("  {}:\n", s(&c["name"])));
                out.push_str(&format!("    Image:          {}\n", s(&c["image"])));
                let state = st["state"].as_object().and_then(|m| m.iter().next()).map(|(k, v)| {
                    let reason = v["reason"].as_str().map(|r| format!("\n      Reason:       {r}")).unwrap_or_default();
                    format!("{}{reason}", capitalize(k))
                });
                out.push_str(&format!("    State:          {}\n", state.unwrap_or_else(|| "<unknown>".into())));
                if let Some((k, v)) = st["lastState"].as_object().and_then(|m| m.iter().next()) {
                    out.push_str(&format!(
                        "    Last State:     {}\n      Reason:       {}\n      Exit Code:    {}\n",
                        capitalize(k),
                        s(&v["reason"]),
                        s(&v["exitCode"])
                    ));
                }
                out.push_str(&format!(
                    "    Ready:          {}\n",
                    st["ready"].as_bool().map(|b| if b { "True" } else { "False" }).unwrap_or("False")
                ));
                out.push_str(&format!("    Restart Count:  {}\n", st["restartCount"].as_i64().unwrap_or(0)));
            }
        }
        "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet" => {
            let sel = o["spec"]["selector"]["matchLabels"]
                .as_object()
                .map(|m| {
                    m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
                })
                .unwrap_or_default();
            field("Selector", sel);
            let st = &o["status"];
            field(
                "Replicas",
                format!(
                    "{} desired | {} updated | {} total | {} available | {} unavailable",
                    o["spec"]["replicas"].as_i64().unwrap_or(0),
                    st["updatedReplicas"].as_i64().unwrap_or(0),
                    st["replicas"].as_i64().unwrap_or(0),
                    st["availableReplicas"].as_i64().unwrap_or(0),
                    (st["replicas"].as_i64().unwrap_or(0) - st["availableReplicas"].as_i64().unwrap_or(0)).max(0)
                ),
            );
            out.push_str("Pod Template:\n  Containers:\n");
            for c in o["spec"]["template"]["spec"]["containers"].as_array().into_iter().flatten() {
                out.push_str(&format!("   {}:\n    Image:  {}\n", s(&c["name"]), s(&c["image"])));
            }
        }
        _ => {
            for section in ["spec", "data", "status"] {
                if let Some(v) = o.get(section).filter(|v| !v.is_null()) {
                    out.push_str(&format!("{}:\n", capitalize(section)));
                    for l in printers::yaml(v).lines() {
                        out.push_str(&format!("  {l}\n"));
                    }
                }
            }
        }
    }
    let evs = events.as_array().cloned().unwrap_or_default();
    if evs.is_empty() {
        out.push_str("Events:          <none>\n");
    } else {
        out.push_str("Events:\n");
        let mut rows = vec![vec!["  Type".to_string(), "Reason".into(), "Age".into(), "From".into(), "Message".into()]];
        rows.push(vec!["  ----".to_string(), "------".into(), "----".into(), "----".into(), "-------".into()]);
        for e in evs {
            let age = e["lastTimestamp"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| {
                let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
                if secs < 120 {
                    format!("{secs}s")
                } else if secs < 7200 {
                    format!("{}m", secs / 60)
                } else {
                    format!("{}h", secs / 3600)
                }
            });
            rows.push(vec![
                format!("  {}", s(&e["type"])),
                s(&e["reason"]),
                age.unwrap_or_default(),
                s(&e["source"]["component"]),
                s(&e["message"]),
            ]);
        }
        out.push_str(&printers::tabwrite(&rows));
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn header_fields_are_aligned_and_times_readable() {
        let pod = json!({
            "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web", "tier": "front"},
                         "creationTimestamp": "2026-11-30T08:05:09Z"},
            "status": {"startTime": "2026-11-30T08:05:10Z", "phase": "Running"},
        });
        let text = describe(&pod, &json!([]));
        assert!(text.contains("CreationTimestamp:  Mon, 30 Nov 2026 08:05:09 +0000\n"), "{text}");
        assert!(text.contains("Start Time:         Mon, 30 Nov 2026 08:05:10 +0000\n"), "{text}");
        assert!(text.contains("Labels:             app=web\n                    tier=front\n"), "{text}");
        assert!(text.contains("Namespace:          shop\n"), "{text}");
    }

    #[test]
    fn a_time_that_is_not_rfc3339_is_printed_as_it_came() {
        assert_eq!(describe_time(&json!("yesterday")), "yesterday");
    }
}
