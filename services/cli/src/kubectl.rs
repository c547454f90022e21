//! `planton kubectl` verbs beyond `get`: describe, edit, apply, delete, rollout restart, graph,
//! api-resources. Each is one op through the gateway; printing follows kubectl.

use std::{io::IsTerminal, path::Path};

use clap::{Args, Subcommand};
use cloudops_api as api;
use serde_json::Value;

use crate::{CliError, Ctx, KubectlCommand, Result, printers, s};

/// Where an op goes: admin mode (--connection, -n) or developer mode (-r).
#[derive(Args, Debug, Clone, Default)]
pub struct TargetArgs {
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Admin mode: the provider connection.
    #[arg(long)]
    pub connection: Option<String>,
    /// Developer mode: org/env/Kind/name of a cloud resource.
    #[arg(short = 'r', long)]
    pub resource: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RolloutCommand {
    /// Restart a deployment, statefulset or daemonset (new pods, same spec).
    Restart {
        kind: String,
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// A deployment's, statefulset's or daemonset's revisions, oldest first.
    History {
        kind: String,
        name: String,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Go back to an earlier revision's pod template (by default the one before the current).
    Undo {
        kind: String,
        name: String,
        /// The revision to go back to (see `rollout history`).
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        to_revision: Option<i64>,
        #[command(flatten)]
        target: TargetArgs,
    },
}

pub(crate) fn body(ctx: &Ctx<'_, '_>, t: &TargetArgs, op: api::KubeOpBody) -> api::KubeOpBody {
    // Developer mode takes the org from the resource path; admin mode from --org or the config.
    let org = if t.resource.is_some() { ctx.org.clone() } else { ctx.org().ok() };
    api::KubeOpBody {
        org: org.unwrap_or_default(),
        env: ctx.env().unwrap_or_default(),
        connection: t.connection.clone().unwrap_or_default(),
        resource: t.resource.clone().unwrap_or_default(),
        namespace: t.namespace.clone().unwrap_or_default(),
        ..op
    }
}

/// The op `kind`/`name`, the rest as it defaults.
pub(crate) fn named(kind: &str, name: &str) -> api::KubeOpBody {
    api::KubeOpBody { kind: kind.into(), name: name.into(), ..Default::default() }
}

/// kubectl's `kind.group/name` for messages.
pub(crate) fn ref_of(resource: &Option<api::KubeResource>, name: &str) -> String {
    let Some(r) = resource else { return name.to_string() };
    let group = r.api_version.split_once('/').map(|(g, _)| format!(".{g}")).unwrap_or_default();
    format!("{}{group}/{name}", r.kind.to_ascii_lowercase())
}

pub async fn run(ctx: &mut Ctx<'_, '_>, cmd: KubectlCommand) -> Result<()> {
    let c = ctx.client()?;
    match cmd {
        KubectlCommand::Get { .. } => unreachable!("handled by kubectl_get"),
        KubectlCommand::Describe { kind, name, target } => {
            let v: api::KubeOpResponse =
                c.post_as("/v1/ops/kubernetes/describe", &body(ctx, &target, named(&kind, &name))).await?;
            let text = crate::describe::describe(&v.result["object"], &v.result["events"]);
            ctx.out(&text);
        }
        KubectlCommand::Edit { kind, name, target } => edit(ctx, &c, &kind, &name, &target).await?,
        KubectlCommand::Apply { filename, target } => {
            let docs = read_manifests(&filename)?;
            for d in docs {
                let op = api::KubeOpBody { object: Some(d), ..Default::default() };
                let v: api::KubeOpResponse = c.post_as("/v1/ops/kubernetes/apply", &body(ctx, &target, op)).await?;
                let name = s(&v.result["metadata"]["name"]);
                ctx.out(&format!("{} serverside-applied\n", ref_of(&v.resource, &name)));
            }
        }
        KubectlCommand::Delete { kind, name, yes, cascade, target } => {
            let op = api::KubeOpBody { propagation: cascade.clone(), dry_run: true, ..named(&kind, &name) };
            let plan: api::KubeOpResponse = c.post_as("/v1/ops/kubernetes/delete", &body(ctx, &target, op)).await?;
            let what = ref_of(&plan.resource, &name);
            let deps = plan.result["dependents"].as_array().cloned().unwrap_or_default();
            let ns =
                plan.result["object"]["namespace"].as_str().map(|n| format!(" in namespace {n}")).unwrap_or_default();
            let mut msg = format!("This deletes {what}{ns}");
            if deps.is_empty() {
                msg.push_str(".\n");
            } else {
                msg.push_str(&format!(" and {} dependent(s) ({cascade} cascade):\n", deps.len()));
                for d in &deps {
                    msg.push_str(&format!("  {}/{}\n", s(&d["kind"]).to_ascii_lowercase(), s(&d["name"])));
                }
            }
            ctx.note(msg.trim_end());
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Message(format!(
                        "refusing to delete {what} without confirmation: stdin is not a terminal; pass --yes"
                    )));
                }
                ctx.note(&format!("Delete {what}? Type the name ({name}) to confirm:"));
                let mut line = String::new();
                std::io::stdin().read_line(&mut line).map_err(|e| CliError::Message(e.to_string()))?;
                if line.trim() != name {
                    return Err(CliError::Message("not confirmed; nothing deleted".into()));
                }
            }
            let op = api::KubeOpBody { propagation: cascade, ..named(&kind, &name) };
            c.post("/v1/ops/kubernetes/delete", &body(ctx, &target, op)).await?;
            ctx.out(&format!("{what} deleted\n"));
        }
        KubectlCommand::Rollout { command } => crate::rollout::rollout(ctx, &c, command).await?,
        KubectlCommand::Scale { kind, name, replicas, target } => {
            crate::rollout::scale(ctx, &c, &kind, &name, replicas, &target).await?
        }
        KubectlCommand::Graph { output, target } => {
            let v: api::KubeOpResponse =
                c.post_as("/v1/ops/kubernetes/graph", &body(ctx, &target, Default::default())).await?;
            let g = &v.result;
            let text = match output.as_str() {
                "json" => printers::json(g),
                "dot" => graph_dot(g),
                _ => graph_tree(g),
            };
            ctx.out(&text);
        }
        KubectlCommand::Logs {
            pod,
            container,
            follow,
            tail,
            since,
            since_time,
            until_time,
            grep,
            previous,
            timestamps,
            target,
        } => {
            let op = api::KubeOpBody {
                pod: pod.unwrap_or_default(),
                container: container.unwrap_or_default(),
                follow,
                tail,
                since: since.unwrap_or_default(),
                since_time: since_time.unwrap_or_default(),
                until_time: until_time.unwrap_or_default(),
                grep: grep.unwrap_or_default(),
                previous,
                timestamps,
                ..Default::default()
            };
            let started: api::SessionStarted = c.post_as("/v1/ops/kubernetes/logs", &body(ctx, &target, op)).await?;
            stream_session(ctx, &c, &started.session).await?;
        }
        KubectlCommand::Exec { pod, container, stdin, tty, target, command } => {
            let args = crate::exec::ExecArgs { pod, container, stdin, tty, command, target };
            crate::exec::exec(ctx, &c, args).await?;
        }
        KubectlCommand::ApiResources { connection, output } => {
            let t = TargetArgs { connection, ..Default::default() };
            let v: api::KubeOpResponse =
                c.post_as("/v1/ops/kubernetes/api-resources", &body(ctx, &t, Default::default())).await?;
            let items = v.result["items"].as_array().cloned().unwrap_or_default();
            match output.as_deref() {
                Some("json") => ctx.out(&printers::json(&v.result)),
                Some("yaml") => ctx.out(&printers::yaml(&v.result)),
                Some("name") => {
                    for i in &items {
                        let g = s(&i["apiVersion"]).split_once('/').map(|(g, _)| format!(".{g}")).unwrap_or_default();
                        ctx.out(&format!("{}{g}\n", s(&i["name"])));
                    }
                }
                None | Some("wide") => {
                    let mut rows = vec![vec![
                        "NAME".into(),
                        "SHORTNAMES".into(),
                        "APIVERSION".into(),
                        "NAMESPACED".into(),
                        "KIND".into(),
                    ]];
                    for i in &items {
                        let shorts: Vec<String> = i["shortNames"].as_array().into_iter().flatten().map(s).collect();
                        rows.push(vec![
                            s(&i["name"]),
                            shorts.join(","),
                            s(&i["apiVersion"]),
                            s(&i["namespaced"]),
                            s(&i["kind"]),
                        ]);
                    }
                    ctx.out(&printers::tabwrite(&rows));
                }
                Some(other) => return Err(format!("unknown output {other:?}: use wide, name, json or yaml").into()),
            }
        }
    }
    Ok(())
}

fn read_manifests(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let v: Value =
            serde::Deserialize::deserialize(doc).map_err(|e| format!("{}: document {}: {e}", path.display(), i + 1))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    if out.is_empty() {
        return Err(format!("{}: no objects in the file", path.display()).into());
    }
    Ok(out)
}

fn write_owner_only(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new().create_new(true).write(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

async fn edit(ctx: &mut Ctx<'_, '_>, c: &crate::Client, kind: &str, name: &str, target: &TargetArgs) -> Result<()> {
    let op = api::KubeOpBody { output: "objects".into(), ..named(kind, name) };
    let v: api::KubeOpResponse = c.post_as("/v1/ops/kubernetes/get", &body(ctx, target, op)).await?;
    let original = v.result;
    let what = ref_of(&v.resource, name);
    let header = format!(
        "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit. If an error occurs while saving this file will be\n# reopened with the relevant failures.\n#\n# {what}\n#\n"
    );
    // A private directory (0700, unpredictable name) and an owner-only file: the object may be
    // a Secret. It is kept when the edit fails, so that the user's work is not lost.
    let dir = tempfile::Builder::new()
        .prefix("planton-edit-")
        .tempdir()
        .map_err(|e| format!("temporary directory for the edit: {e}"))?
        .keep();
    let file = dir.join(format!("{}-{name}.yaml", kind.replace(['/', '\\'], "-")));
    write_owner_only(&file, format!("{header}{}", printers::yaml(&original)).as_bytes())
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let editor = ctx.io.editor.clone().unwrap_or_else(|| {
        std::env::var("KUBE_EDITOR").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into())
    });
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("planton-edit")
        .arg(&file)
        .status()
        .await
        .map_err(|e| format!("running the editor {editor:?}: {e}"))?;
    if !status.success() {
        return Err(format!("the editor {editor:?} exited with {status}; nothing applied").into());
    }
    let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    let body_text: String = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    if body_text.trim().is_empty() {
        ctx.note("Edit cancelled, no changes made.");
        return Ok(());
    }
    let edited: Value = serde_yaml_ng::from_str(&body_text).map_err(|e| {
        format!("the edited object is not valid YAML: {e}; nothing applied (your edit is in {})", file.display())
    })?;
    if printers::sorted(&edited) == printers::sorted(&original) {
        ctx.note("Edit cancelled, no changes made.");
        let _ = std::fs::remove_dir_all(&dir);
        return Ok(());
    }
    let op = api::KubeOpBody { object: Some(edited), ..Default::default() };
    match c.post("/v1/ops/kubernetes/edit", &body(ctx, target, op)).await {
        Ok(_) => {
            let _ = std::fs::remove_dir_all(&dir);
            ctx.out(&format!("{what} edited\n"));
            Ok(())
        }
        Err(CliError::Api { code, message, upstream_reason }) => Err(CliError::Api {
            code,
            message: format!("{message}\nnothing applied; your edit is in {}", file.display()),
            upstream_reason,
        }),
        Err(e) => Err(e),
    }
}

/// The DAG as an indented tree from its roots (a node with several parents appears under each).
pub fn graph_tree(g: &Value) -> String {
    let nodes = g["nodes"].as_array().cloned().unwrap_or_default();
    let edges = g["edges"].as_array().cloned().unwrap_or_default();
    let mut children: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    let mut has_parent = std::collections::BTreeSet::new();
    for e in &edges {
        children.entry(s(&e["from"])).or_default().push((s(&e["to"]), s(&e["relation"])));
        has_parent.insert(s(&e["to"]));
    }
    let health: std::collections::HashMap<String, (String, String)> = nodes
        .iter()
        .map(|n| (s(&n["id"]), (s(&n["health"]), n["status"].as_str().unwrap_or("").to_string())))
        .collect();
    let mut out = String::new();
    fn walk(
        out: &mut String,
        id: &str,
        rel: Option<&str>,
        depth: usize,
        children: &std::collections::BTreeMap<String, Vec<(String, String)>>,
        health: &std::collections::HashMap<String, (String, String)>,
        path: &mut Vec<String>,
    ) {
        let (h, st) = health.get(id).cloned().unwrap_or_default();
        let mark = match h.as_str() {
            "error" => " ✗",
            "warning" => " !",
            _ => "",
        };
        let rel = rel.map(|r| format!("[{r}] ")).unwrap_or_default();
        let st = if st.is_empty() { String::new() } else { format!(" ({st})") };
        out.push_str(&format!("{}{rel}{id}{st}{mark}\n", "  ".repeat(depth)));
        if path.iter().any(|p| p == id) {
            return;
        }
        path.push(id.to_string());
        for (c, r) in children.get(id).into_iter().flatten() {
            walk(out, c, Some(r), depth + 1, children, health, path);
        }
        path.pop();
    }
    for n in &nodes {
        let id = s(&n["id"]);
        if !has_parent.contains(&id) {
            walk(&mut out, &id, None, 0, &children, &health, &mut Vec::new());
        }
    }
    out
}

pub fn graph_dot(g: &Value) -> String {
    let mut out = String::from("digraph namespace {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for n in g["nodes"].as_array().into_iter().flatten() {
        let color = match n["health"].as_str() {
            Some("error") => "red",
            Some("warning") => "orange",
            _ => "black",
        };
        out.push_str(&format!("  {:?} [color={color}];\n", s(&n["id"])));
    }
    for e in g["edges"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {:?} -> {:?} [label={:?}];\n", s(&e["from"]), s(&e["to"]), s(&e["relation"])));
    }
    out.push_str("}\n");
    out
}

/// Prints a log session's lines as they arrive, until its end.
async fn stream_session(ctx: &mut Ctx<'_, '_>, c: &crate::Client, session: &str) -> Result<()> {
    let end = read_events(ctx, c, session, |ctx, event, data| match event {
        Some("error") => ctx.note(&format!("stream error: {data}")),
        None => ctx.out(&format!("{data}\n")),
        _ => {}
    })
    .await?;
    if end == "eof" || end == "cancelled" { Ok(()) } else { Err(CliError::Message(format!("log stream ended: {end}"))) }
}

/// Reads a session's server-sent events, reconnecting from the last event id if the connection
/// drops, and hands each (event name, data) to `on_event`. Returns the end event's data.
pub(crate) async fn read_events(
    ctx: &mut Ctx<'_, '_>,
    c: &crate::Client,
    session: &str,
    mut on_event: impl FnMut(&mut Ctx<'_, '_>, Option<&str>, &str),
) -> Result<String> {
    use futures::StreamExt;
    let mut last_id: Option<String> = None;
    let mut retries = 0;
    loop {
        let headers: Vec<(&str, String)> = last_id.iter().map(|id| ("Last-Event-ID", id.clone())).collect();
        let resp = match c.get_stream(&format!("/v1/sessions/{session}/events"), &headers).await {
            Ok(r) => r,
            Err(e) if retries < 10 && matches!(e, CliError::Message(_)) => {
                retries += 1;
                ctx.note(&format!("connection lost; reconnecting ({retries})…"));
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut events = eventsource_stream::Eventsource::eventsource(resp.bytes_stream());
        while let Some(Ok(ev)) = events.next().await {
            if ev.event == "end" {
                return Ok(ev.data);
            }
            if !ev.data.is_empty() {
                let name = (ev.event != "message").then_some(ev.event.as_str());
                on_event(ctx, name, &ev.data);
            }
            // After it was handled: a resumed stream starts after this event.
            if !ev.id.is_empty() {
                last_id = Some(ev.id);
            }
        }
        // The connection dropped before the end event: resume after the last line printed.
        retries += 1;
        if retries > 10 {
            return Err(CliError::Message("the session's stream kept dropping; giving up".into()));
        }
        ctx.note("connection lost; resuming…");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
