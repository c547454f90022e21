//! `planton kubectl get`: a Kubernetes Table (or the objects) printed as kubectl prints it.

use crate::{Ctx, Result, printers, s};

pub(crate) async fn kubectl_get(
    ctx: &mut Ctx<'_, '_>,
    mut body: cloudops_api::KubeOpBody,
    single: bool,
    namespace: Option<String>,
    all_ns: bool,
    output: Option<String>,
) -> Result<()> {
    let output = output.unwrap_or_default();
    let table = matches!(output.as_str(), "" | "wide");
    if !table && !matches!(output.as_str(), "yaml" | "json" | "name") {
        return Err(format!("unable to match a printer suitable for the output format {output:?}, allowed formats are: json, name, wide, yaml").into());
    }
    body.output = if table { "table" } else { "objects" }.into();
    let resp: cloudops_api::KubeOpResponse = ctx.client()?.post_as("/v1/ops/kubernetes/get", &body).await?;
    let res = resp.resource.unwrap_or_else(|| cloudops_api::KubeResource {
        kind: String::new(),
        api_version: "v1".into(),
        plural: "resources".into(),
        namespaced: true,
        namespace: String::new(),
    });
    let result = &resp.result;
    let (kind, api_version) = (res.kind.as_str(), res.api_version.as_str());
    // An API server that answers a Table request with a plain list or object (aggregated APIs
    // and third-party servers do) is printed as kubectl prints it: NAME and AGE.
    let fallback;
    let result = if table && result.get("rows").is_none() {
        fallback = printers::table_of_objects(result);
        &fallback
    } else {
        result
    };
    let empty = if single {
        false
    } else if table {
        result["rows"].as_array().is_none_or(Vec::is_empty)
    } else {
        result["items"].as_array().is_none_or(Vec::is_empty)
    };
    if empty && output != "yaml" && output != "json" {
        // The namespace the runner used (developer mode fixes it), else what was asked.
        let ns =
            Some(res.namespace.clone()).filter(|n| !n.is_empty()).or(namespace).unwrap_or_else(|| "default".into());
        let msg = if all_ns || !res.namespaced {
            "No resources found".to_string()
        } else {
            format!("No resources found in {ns} namespace.")
        };
        ctx.note(&msg);
        return Ok(());
    }
    match output.as_str() {
        "" | "wide" => {
            let text = printers::table(result, output == "wide", all_ns && res.namespaced);
            ctx.out(&text);
        }
        "name" => {
            let group = api_version.split_once('/').map(|(g, _)| format!(".{g}")).unwrap_or_default();
            let singular = kind.to_ascii_lowercase();
            let names: Vec<String> = if single {
                vec![s(&result["metadata"]["name"])]
            } else {
                result["items"].as_array().into_iter().flatten().map(|i| s(&i["metadata"]["name"])).collect()
            };
            for n in names {
                ctx.out(&format!("{singular}{group}/{n}\n"));
            }
        }
        fmt => {
            let v = if single { result.clone() } else { printers::as_kubectl_list(result, api_version, kind) };
            let text = if fmt == "yaml" { printers::yaml(&v) } else { printers::json(&v) };
            ctx.out(&text);
        }
    }
    Ok(())
}
