//! kubectl's output formats: tables (tabwriter with kubectl's settings), YAML, JSON, name.

use serde_json::{Map, Value};

/// Go's tabwriter as kubectl configures it: minwidth 6, padding 3, last column unpadded.
pub fn tabwrite(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(6);
                out.extend(std::iter::repeat_n(' ', w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

/// Renders a meta.k8s.io Table: priority-0 columns, all with `wide`; a NAMESPACE column first
/// when listing across namespaces.
pub fn table(t: &Value, wide: bool, with_namespace: bool) -> String {
    let defs = t["columnDefinitions"].as_array().cloned().unwrap_or_default();
    let keep: Vec<usize> = defs
        .iter()
        .enumerate()
        .filter(|(_, d)| wide || d["priority"].as_u64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut rows = Vec::new();
    let mut header: Vec<String> = keep.iter().map(|&i| defs[i]["name"].as_str().unwrap_or("").to_uppercase()).collect();
    if with_namespace {
        header.insert(0, "NAMESPACE".into());
    }
    rows.push(header);
    for r in t["rows"].as_array().into_iter().flatten() {
        let cells = r["cells"].as_array().cloned().unwrap_or_default();
        let mut row: Vec<String> = keep.iter().map(|&i| cells.get(i).map(cell).unwrap_or_default()).collect();
        if with_namespace {
            row.insert(0, r["object"]["metadata"]["namespace"].as_str().unwrap_or("").to_string());
        }
        rows.push(row);
    }
    tabwrite(&rows)
}

/// A Table of NAME and AGE for a plain list (or one object), as kubectl prints what a server
/// sent without a Table.
pub fn table_of_objects(v: &Value) -> Value {
    let objects: Vec<&Value> = match v["items"].as_array() {
        Some(items) => items.iter().collect(),
        None if v.get("metadata").is_some() => vec![v],
        None => Vec::new(),
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let age = o["metadata"]["creationTimestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| short_age(chrono::Utc::now().signed_duration_since(t)))
                .unwrap_or_else(|| "<unknown>".into());
            serde_json::json!({"cells": [o["metadata"]["name"], age], "object": {"metadata": o["metadata"]}})
        })
        .collect();
    serde_json::json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "columnDefinitions": [{"name": "Name", "type": "string", "priority": 0}, {"name": "Age", "type": "string", "priority": 0}],
        "rows": rows,
    })
}

/// kubectl's short age: 45s, 12m, 5h, 3d, 2y.
fn short_age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7_200 => format!("{}m", s / 60),
        7_200..172_800 => format!("{}h", s / 3600),
        172_800..63_072_000 => format!("{}d", s / 86_400),
        _ => format!("{}y", s / 31_536_000),
    }
}

/// Sorts object keys recursively (kubectl prints YAML and JSON with sorted keys).
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A list response as kubectl prints it: `kind: List`, items with apiVersion and kind.
pub fn as_kubectl_list(list: &Value, api_version: &str, kind: &str) -> Value {
    let items: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let mut i = i.clone();
            if let Some(m) = i.as_object_mut() {
                m.entry("apiVersion").or_insert_with(|| Value::String(api_version.into()));
                m.entry("kind").or_insert_with(|| Value::String(kind.into()));
            }
            i
        })
        .collect();
    serde_json::json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}})
}

pub fn json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(&sorted(v), &mut ser).expect("json");
    let mut s = String::from_utf8(buf).expect("utf8");
    s.push('\n');
    s
}

pub fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(&sorted(v)).expect("yaml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_list_prints_name_and_age() {
        let then = (chrono::Utc::now() - chrono::TimeDelta::minutes(12)).to_rfc3339();
        let list = json!({"kind": "WidgetList", "items": [{"metadata": {"name": "w1", "creationTimestamp": then}}, {"metadata": {"name": "w2"}}]});
        let text = table(&table_of_objects(&list), false, false);
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(lines, vec![vec!["NAME", "AGE"], vec!["w1", "12m"], vec!["w2", "<unknown>"]]);
        let one = table_of_objects(&json!({"metadata": {"name": "solo"}}));
        assert_eq!(one["rows"][0]["cells"][0], "solo");
    }

    #[test]
    fn tabwriter_like_kubectl() {
        let rows =
            vec![vec!["NAME".into(), "READY".into(), "AGE".into()], vec!["web-1".into(), "1/1".into(), "5h".into()]];
        assert_eq!(tabwrite(&rows), "NAME    READY   AGE\nweb-1   1/1     5h\n");
    }

    #[test]
    fn table_columns_by_priority() {
        let t = json!({
            "columnDefinitions": [{"name": "Name", "priority": 0}, {"name": "IP", "priority": 1}],
            "rows": [{"cells": ["p", "10.0.0.1"], "object": {"metadata": {"namespace": "ns1"}}}],
        });
        assert_eq!(table(&t, false, false), "NAME\np\n");
        assert_eq!(table(&t, true, false), "NAME   IP\np      10.0.0.1\n");
        assert!(table(&t, false, true).starts_with("NAMESPACE   NAME\nns1         p"));
    }

    #[test]
    fn lists_get_kind_and_sorted_keys() {
        let l = as_kubectl_list(&json!({"items": [{"metadata": {"name": "a"}}]}), "v1", "Pod");
        let y = yaml(&l);
        assert!(y.starts_with("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n"), "{y}");
        assert!(json(&l).contains("    \"items\""));
    }
}
