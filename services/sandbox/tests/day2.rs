//! Kubernetes day-2 operations end to end, in both access modes: pods by owner, describe,
//! edit (with a conflict), apply, delete with confirmation, rollout restart, graph,
//! api-resources, and the runner's namespace scope.

use cloudops_sandbox::{Sandbox, fails, ok};

const C: &str = "prod-runner-conn";
const R: &str = "default/prod/KubernetesDeployment/payments-api";

async fn setup() -> (Sandbox, cloudops_runner::Runner) {
    let sb = Sandbox::start().await.unwrap();
    let runner = sb.runner_with_connection("prod-runner").await.unwrap();
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("payments.yaml");
    std::fs::write(&f, format!("kind: KubernetesDeployment\nmetadata: {{env: prod, name: payments-api}}\nspec: {{connection: {C}, namespace: payments}}\n")).unwrap();
    ok(&sb, &["resource", "apply", "-f", f.to_str().unwrap()]).await;
    (sb, runner)
}

#[tokio::test]
async fn pods_by_owner_describe_and_api_resources() {
    let (sb, _r) = setup().await;
    // Developer mode: exactly the deployment's pods (payments-worker shares the namespace).
    let dev = ok(&sb, &["kubectl", "get", "pods", "-r", R]).await;
    let names: Vec<&str> = dev.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(names.len(), 2, "{dev}");
    assert!(names.iter().all(|n| n.starts_with("payments-api-")), "{dev}");
    let admin = ok(&sb, &["kubectl", "get", "pods", "--connection", C, "-n", "payments"]).await;
    assert_eq!(admin.lines().count(), 4, "admin mode sees the whole namespace: {admin}");
    let json = ok(&sb, &["kubectl", "get", "pods", "-r", R, "-o", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);

    // describe, both modes; a pod's events show.
    let pods = ok(&sb, &["kubectl", "get", "pods", "--connection", C, "-n", "default", "-o", "name"]).await;
    let worker = pods.lines().find(|l| l.contains("worker-")).unwrap().trim_start_matches("pod/").to_string();
    let d = ok(&sb, &["kubectl", "describe", "pod", &worker, "--connection", C, "-n", "default"]).await;
    let squeezed = d.split_whitespace().collect::<Vec<_>>().join(" ");
    for want in [
        "Name:",
        "Namespace: default",
        "Controlled By: ReplicaSet/",
        "Containers:",
        "Restart Count: 4",
        "Events:",
        "BackOff",
    ] {
        assert!(squeezed.contains(want), "missing {want:?}:\n{d}");
    }
    let d = ok(&sb, &["kubectl", "describe", "deployment", "payments-api", "-r", R]).await;
    assert!(d.contains("Replicas:") && d.contains("2 desired"), "{d}");
    // Outside the resource's scope: another namespace's object, a cluster-scoped kind.
    let e = fails(&sb, &["kubectl", "describe", "deployment", "web", "-r", R]).await;
    assert!(e.contains("NotFound") || e.contains("not found"), "{e}");
    let e = fails(&sb, &["kubectl", "describe", "node", "sandbox-node-1", "-r", R]).await;
    assert!(e.contains("outside the resource's scope"), "{e}");

    let ar = ok(&sb, &["kubectl", "api-resources", "--connection", C]).await;
    assert!(ar.starts_with("NAME"), "{ar}");
    assert!(ar.lines().any(|l| l.starts_with("pods ") && l.contains("po") && l.contains("Pod")), "{ar}");
    assert!(ar.lines().any(|l| l.starts_with("horizontalpodautoscalers") && l.contains("autoscaling/v2")), "{ar}");
    sb.shutdown().await;
}

#[tokio::test]
async fn edit_apply_with_optimistic_concurrency() {
    let (sb, _r) = setup().await;
    let dir = sb.dir.path();
    // A non-interactive editor: change the image.
    let editor = dir.join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's#nginx:1.27#nginx:1.28#' \"$1\"\n").unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = sb
        .cli_with_editor(
            editor.to_str().unwrap(),
            &["kubectl", "edit", "deployment", "web", "--connection", C, "-n", "default"],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "deployment.apps/web edited");
    let y = ok(&sb, &["kubectl", "get", "deployment", "web", "--connection", C, "-n", "default", "-o", "yaml"]).await;
    assert!(y.contains("nginx:1.28"), "{y}");

    // An editor that leaves the file alone cancels.
    let out =
        sb.cli_with_editor("true", &["kubectl", "edit", "deployment", "web", "--connection", C, "-n", "default"]).await;
    assert_eq!((out.code, out.stderr.trim()), (0, "Edit cancelled, no changes made."));

    // Somebody else changes the object while we edit: a clear conflict, nothing applied.
    let kubeconfig = sb.kubeconfig.display().to_string();
    let home = dir.join("kc-home");
    std::fs::create_dir_all(&home).unwrap();
    let racer = dir.join("racer.sh");
    std::fs::write(
        &racer,
        format!("#!/bin/sh\nHOME={} KUBECONFIG={kubeconfig} kubectl annotate deployment web -n default touched=yes >/dev/null\nsed -i 's#nginx:1.28#nginx:9.9#' \"$1\"\n", home.display()),
    )
    .unwrap();
    std::fs::set_permissions(&racer, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = sb
        .cli_with_editor(
            racer.to_str().unwrap(),
            &["kubectl", "edit", "deployment", "web", "--connection", C, "-n", "default"],
        )
        .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("Error from server (Conflict)") && out.stderr.contains("the object has been modified"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing applied; your edit is in"), "{}", out.stderr);
    let y = ok(&sb, &["kubectl", "get", "deployment", "web", "--connection", C, "-n", "default", "-o", "yaml"]).await;
    assert!(!y.contains("nginx:9.9") && y.contains("touched:"), "{y}");

    // A validation error from the API is reported, nothing applied.
    let neg = dir.join("neg.sh");
    std::fs::write(&neg, "#!/bin/sh\nsed -i 's#^  replicas: 2#  replicas: -1#' \"$1\"\n").unwrap();
    std::fs::set_permissions(&neg, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = sb
        .cli_with_editor(
            neg.to_str().unwrap(),
            &["kubectl", "edit", "deployment", "web", "--connection", C, "-n", "default"],
        )
        .await;
    assert!(
        out.stderr.contains("Error from server (Invalid)") && out.stderr.contains("spec.replicas"),
        "{}",
        out.stderr
    );

    // apply -f (server-side) creates, then updates.
    let cm = dir.join("cm.yaml");
    std::fs::write(&cm, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: a}\n").unwrap();
    assert_eq!(
        ok(&sb, &["kubectl", "apply", "-f", cm.to_str().unwrap(), "--connection", C, "-n", "default"]).await.trim(),
        "configmap/settings serverside-applied"
    );
    std::fs::write(&cm, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: b}\n").unwrap();
    ok(&sb, &["kubectl", "apply", "-f", cm.to_str().unwrap(), "--connection", C, "-n", "default"]).await;
    let j =
        ok(&sb, &["kubectl", "get", "configmap", "settings", "--connection", C, "-n", "default", "-o", "json"]).await;
    assert!(j.contains("\"mode\": \"b\""), "{j}");
    // In developer mode, an object for another namespace is refused by the runner.
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\ndata: {mode: c}\n",
    )
    .unwrap();
    let e = fails(&sb, &["kubectl", "apply", "-f", cm.to_str().unwrap(), "-r", R]).await;
    assert!(e.contains("outside the resource's scope"), "{e}");
    sb.shutdown().await;
}

#[tokio::test]
async fn delete_asks_and_restart_rolls() {
    let (sb, _r) = setup().await;
    // No TTY and no --yes: refused, nothing deleted; the plan names the dependents.
    let out = sb.cli(&["kubectl", "delete", "deployment", "web", "--connection", C, "-n", "default"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("This deletes deployment.apps/web in namespace default and 3 dependent(s)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("replicaset/web-") && out.stderr.contains("pod/web-"), "{}", out.stderr);
    assert!(out.stderr.contains("refusing to delete deployment.apps/web without confirmation"), "{}", out.stderr);
    ok(&sb, &["kubectl", "get", "deployment", "web", "--connection", C, "-n", "default"]).await;

    let out = ok(&sb, &["kubectl", "delete", "deployment", "web", "--yes", "--connection", C, "-n", "default"]).await;
    assert_eq!(out.trim(), "deployment.apps/web deleted");
    let e = fails(&sb, &["kubectl", "get", "deployment", "web", "--connection", C, "-n", "default"]).await;
    assert!(e.contains("not found"), "{e}");
    let pods = ok(&sb, &["kubectl", "get", "pods", "--connection", C, "-n", "default"]).await;
    assert!(!pods.contains("web-"), "dependents were garbage-collected: {pods}");

    // Operators only: a viewer is refused, and the refusal is audited.
    let key = sb.principal_on_connection("viewer1", C, "viewer").await;
    let viewer = sb.as_user(&key);
    let out =
        viewer.cli(&["kubectl", "rollout", "restart", "deployment", "api", "--connection", C, "-n", "default"]).await;
    assert!(out.stderr.contains("needs the operator role"), "{}", out.stderr);
    assert_eq!(viewer.cli(&["kubectl", "get", "pods", "--connection", C]).await.code, 0);

    assert_eq!(
        ok(&sb, &["kubectl", "rollout", "restart", "deployment", "api", "--connection", C, "-n", "default"])
            .await
            .trim(),
        "deployment.apps/api restarted"
    );
    let y = ok(&sb, &["kubectl", "get", "deployment", "api", "--connection", C, "-n", "default", "-o", "yaml"]).await;
    assert!(y.contains("kubectl.kubernetes.io/restartedAt"), "{y}");
    let e = fails(&sb, &["kubectl", "rollout", "restart", "configmap", "x", "--connection", C]).await;
    assert!(e.contains("rollout restart works on deployments"), "{e}");
    // Developer mode reaches its own deployment only.
    ok(&sb, &["kubectl", "rollout", "restart", "deployment", "payments-api", "-r", R]).await;
    let e = fails(&sb, &["kubectl", "delete", "deployment", "api", "--yes", "-r", R]).await;
    assert!(e.contains("not found"), "{e}");
    sb.shutdown().await;
}

#[tokio::test]
async fn scale_rollout_history_and_undo() {
    let (sb, _r) = setup().await;
    fn run<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [args, &["--connection", C, "-n", "default"][..]].concat()
    }
    let scaled = ok(&sb, &run(&["kubectl", "scale", "deployment", "api", "--replicas", "3"])).await;
    assert_eq!(scaled.trim(), "deployment.apps/api scaled");
    let d: serde_json::Value =
        serde_json::from_str(&ok(&sb, &run(&["kubectl", "get", "deployment", "api", "-o", "json"])).await).unwrap();
    assert_eq!(d["spec"]["replicas"], 3, "{d}");
    let pods = ok(&sb, &run(&["kubectl", "get", "pods", "-o", "name"])).await;
    assert_eq!(pods.lines().filter(|l| l.starts_with("pod/api-")).count(), 3, "{pods}");

    // A restart makes revision 2; undo brings revision 1's template back (as revision 3).
    ok(&sb, &run(&["kubectl", "rollout", "restart", "deployment", "api"])).await;
    let h = ok(&sb, &run(&["kubectl", "rollout", "history", "deployment", "api"])).await;
    assert!(h.starts_with("deployment.apps/api\nREVISION"), "{h}");
    assert!(h.lines().any(|l| l.starts_with("1 ")) && h.lines().any(|l| l.starts_with("2 (current)")), "{h}");
    let undone = ok(&sb, &run(&["kubectl", "rollout", "undo", "deployment", "api"])).await;
    assert_eq!(undone.trim(), "deployment.apps/api rolled back (to revision 1)");
    let y = ok(&sb, &run(&["kubectl", "get", "deployment", "api", "-o", "yaml"])).await;
    assert!(
        !y.contains("kubectl.kubernetes.io/restartedAt"),
        "the restart's annotation is gone with its revision: {y}"
    );
    let h = ok(&sb, &run(&["kubectl", "rollout", "history", "deployment", "api"])).await;
    assert!(h.lines().any(|l| l.starts_with("3 (current)")), "{h}");
    let e = fails(&sb, &run(&["kubectl", "rollout", "undo", "deployment", "api", "--to-revision", "9"])).await;
    assert!(e.contains("has no revision 9 (it has: 2, 3)"), "{e}");
    let e = fails(&sb, &run(&["kubectl", "scale", "configmap", "x", "--replicas", "1"])).await;
    assert!(e.contains("cannot be scaled"), "{e}");

    // Reading the history is a viewer's; scaling and undoing are an operator's.
    let key = sb.principal_on_connection("viewer1", C, "viewer").await;
    let viewer = sb.as_user(&key);
    assert_eq!(viewer.cli(&run(&["kubectl", "rollout", "history", "deployment", "api"])).await.code, 0);
    for args in [
        &["kubectl", "scale", "deployment", "api", "--replicas", "0"][..],
        &["kubectl", "rollout", "undo", "deployment", "api"],
    ] {
        let out = viewer.cli(&run(args)).await;
        assert!(out.stderr.contains("needs the operator role"), "{args:?}: {}", out.stderr);
    }
    sb.shutdown().await;
}

/// StatefulSets and DaemonSets keep their history as ControllerRevisions, not ReplicaSets:
/// history reads them, and undo puts an earlier template back (the API server's controller
/// then renumbers that revision as the newest, as upstream's does).
#[tokio::test]
async fn statefulset_and_daemonset_history_and_undo() {
    let (sb, _r) = setup().await;
    fn run<'a>(args: &[&'a str]) -> Vec<&'a str> {
        [args, &["--connection", C, "-n", "default"][..]].concat()
    }
    for (kind, plural, extra) in
        [("StatefulSet", "statefulset", "serviceName: db\n  replicas: 2\n  "), ("DaemonSet", "daemonset", "")]
    {
        let name = format!("{plural}-x");
        let file = sb.dir.path().join(format!("{plural}.yaml"));
        let manifest = |image: &str| {
            format!(
                "apiVersion: apps/v1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec:\n  {extra}selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: main, image: \"{image}\"}}]}}\n"
            )
        };
        std::fs::write(&file, manifest("busybox:1.36")).unwrap();
        ok(&sb, &run(&["kubectl", "apply", "-f", file.to_str().unwrap()])).await;
        std::fs::write(&file, manifest("busybox:1.37")).unwrap();
        ok(&sb, &run(&["kubectl", "apply", "-f", file.to_str().unwrap()])).await;

        let h = ok(&sb, &run(&["kubectl", "rollout", "history", plural, &name])).await;
        assert!(h.starts_with(&format!("{plural}.apps/{name}\nREVISION")), "{h}");
        let row = |h: &str, start: &str, image: &str| h.lines().any(|l| l.starts_with(start) && l.ends_with(image));
        assert!(row(&h, "1 ", "busybox:1.36") && row(&h, "2 (current)", "busybox:1.37"), "{kind}: {h}");

        let undone = ok(&sb, &run(&["kubectl", "rollout", "undo", plural, &name])).await;
        assert_eq!(undone.trim(), format!("{plural}.apps/{name} rolled back (to revision 1)"));
        let o: serde_json::Value =
            serde_json::from_str(&ok(&sb, &run(&["kubectl", "get", plural, &name, "-o", "json"])).await).unwrap();
        assert_eq!(o["spec"]["template"]["spec"]["containers"][0]["image"], "busybox:1.36", "{kind}: {o}");
        assert!(o["spec"]["template"].get("$patch").is_none(), "the patch directive is not a template field: {o}");
        let h = ok(&sb, &run(&["kubectl", "rollout", "history", plural, &name])).await;
        assert!(row(&h, "2 ", "busybox:1.37") && row(&h, "3 (current)", "busybox:1.36"), "{kind}: {h}");
        assert!(!h.lines().any(|l| l.starts_with("1 ")), "revision 1 became 3: {h}");
        let e = fails(&sb, &run(&["kubectl", "rollout", "undo", plural, &name, "--to-revision", "9"])).await;
        assert!(e.contains("has no revision 9 (it has: 2, 3)"), "{kind}: {e}");
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn namespace_graph() {
    let (sb, _r) = setup().await;
    let j = ok(&sb, &["kubectl", "graph", "--connection", C, "-n", "shop", "-o", "json"]).await;
    let g: serde_json::Value = serde_json::from_str(&j).unwrap();
    let edges: std::collections::BTreeSet<(String, String, String)> = g["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap().into(),
                e["to"].as_str().unwrap().into(),
                e["relation"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: std::collections::BTreeSet<(String, String, String)> = [
        ("Deployment/shop", "ReplicaSet/shop-5d9c7", "owns"),
        ("ReplicaSet/shop-5d9c7", "Pod/shop-5d9c7-x2x4q", "owns"),
        ("Service/shop", "Pod/shop-5d9c7-x2x4q", "selects"),
        ("Pod/shop-5d9c7-x2x4q", "ConfigMap/shop-config", "mounts"),
        ("Pod/shop-5d9c7-x2x4q", "PersistentVolumeClaim/shop-data", "mounts"),
        ("Pod/shop-5d9c7-x2x4q", "Secret/shop-db", "env"),
        ("PersistentVolumeClaim/shop-data", "PersistentVolume/pv-shop-data", "binds"),
        ("Ingress/shop", "Service/shop", "routes"),
        ("Ingress/shop", "Secret/shop-tls", "tls"),
        ("HorizontalPodAutoscaler/shop", "Deployment/shop", "scales"),
        ("ServiceAccount/shop-sa", "Pod/shop-5d9c7-x2x4q", "runs-as"),
    ]
    .into_iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(edges, want);
    let tree = ok(&sb, &["kubectl", "graph", "--connection", C, "-n", "shop"]).await;
    for line in [
        "Ingress/shop\n",
        "\n  [routes] Service/shop\n    [selects] Pod/shop-5d9c7-x2x4q (Running)\n",
        "\n  [tls] Secret/shop-tls\n",
        "[binds] PersistentVolume/pv-shop-data",
    ] {
        assert!(tree.contains(line), "missing {line:?}:\n{tree}");
    }
    let dot = ok(&sb, &["kubectl", "graph", "--connection", C, "-n", "shop", "-o", "dot"]).await;
    assert!(dot.starts_with("digraph") && dot.contains("\"Ingress/shop\" -> \"Service/shop\""), "{dot}");
    // Developer mode: the resource's namespace, whatever else is asked.
    let g = ok(&sb, &["kubectl", "graph", "-r", R, "-o", "json"]).await;
    assert!(g.contains("Deployment/payments-api") && !g.contains("Deployment/shop"), "{g}");
    sb.shutdown().await;
}
