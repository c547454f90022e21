//! `planton kubectl scale` and `rollout restart|history|undo`, printed as kubectl prints them.

use cloudops_api as api;
use serde_json::Value;

use crate::{
    Ctx, Result,
    kubectl::{RolloutCommand, TargetArgs, body, named, ref_of},
    printers,
};

pub async fn scale(
    ctx: &mut Ctx<'_, '_>,
    c: &crate::Client,
    kind: &str,
    name: &str,
    replicas: i32,
    target: &TargetArgs,
) -> Result<()> {
    let op = api::KubeOpBody { replicas: Some(replicas), ..named(kind, name) };
    let v: api::KubeOpResponse = c.post_as("/v1/ops/kubernetes/scale", &body(ctx, target, op)).await?;
    ctx.out(&format!("{} scaled\n", ref_of(&v.resource, name)));
    Ok(())
}

pub async fn rollout(ctx: &mut Ctx<'_, '_>, c: &crate::Client, command: RolloutCommand) -> Result<()> {
    match command {
        RolloutCommand::Restart { kind, name, target } => {
            let v: api::KubeOpResponse =
                c.post_as("/v1/ops/kubernetes/restart", &body(ctx, &target, named(&kind, &name))).await?;
            ctx.out(&format!("{} restarted\n", ref_of(&v.resource, &name)));
        }
        RolloutCommand::History { kind, name, target } => {
            let v: api::KubeOpResponse =
                c.post_as("/v1/ops/kubernetes/rollout-history", &body(ctx, &target, named(&kind, &name))).await?;
            ctx.out(&history(&ref_of(&v.resource, &name), &v.result));
        }
        RolloutCommand::Undo { kind, name, to_revision, target } => {
            let op = api::KubeOpBody { to_revision: to_revision.unwrap_or(0), ..named(&kind, &name) };
            let v: api::KubeOpResponse = c.post_as("/v1/ops/kubernetes/rollout-undo", &body(ctx, &target, op)).await?;
            let revision = v.result["revision"].as_i64().unwrap_or(0);
            ctx.out(&format!("{} rolled back (to revision {revision})\n", ref_of(&v.resource, &name)));
        }
    }
    Ok(())
}

/// kubectl's `rollout history` table, with the images of each revision.
fn history(what: &str, result: &Value) -> String {
    let mut rows = vec![vec!["REVISION".to_string(), "CHANGE-CAUSE".into(), "IMAGES".into()]];
    for r in result["revisions"].as_array().into_iter().flatten() {
        let cause = r["change_cause"].as_str().filter(|c| !c.is_empty()).unwrap_or("<none>");
        let images: Vec<&str> = r["images"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let current = if r["current"].as_bool() == Some(true) { " (current)" } else { "" };
        rows.push(vec![format!("{}{current}", r["revision"]), cause.to_string(), images.join(",")]);
    }
    format!("{what}\n{}", printers::tabwrite(&rows))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn history_reads_like_kubectl() {
        let result = json!({"revisions": [
            {"revision": 1, "change_cause": "", "images": ["app:1"], "current": false},
            {"revision": 2, "change_cause": "bump", "images": ["app:2", "sidecar:1"], "current": true},
        ]});
        assert_eq!(
            history("deployment.apps/web", &result),
            "deployment.apps/web\nREVISION      CHANGE-CAUSE   IMAGES\n1             <none>         app:1\n2 (current)   bump           app:2,sidecar:1\n"
        );
    }
}
